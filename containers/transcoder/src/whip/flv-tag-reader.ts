// Reads an FLV byte stream as it arrives (ffmpeg's stdout in the WHIP bridge) and yields whole tags,
// so each one can go through the same FlvMuxer an RTMP publish goes through. "The FLV header [...]
// DataOffset UI32: the length of this header in bytes", then PreviousTagSize0, then tags of 11 header
// bytes + DataSize + a PreviousTagSize UI32 (Adobe FLV spec v10.1, annex E). What it holds is bounded
// by one tag; a tag over MAX_TAG_BYTES means the producer is broken, and reading stops with an error.
import type { ChildProcess } from 'node:child_process';
import type { FlvTag } from '../rtmp/flv.ts';

const MAX_TAG_BYTES = 8 * 1024 * 1024;
const TAG_HEADER_SIZE = 11;

export class FlvTagReader {
  #buffered: Buffer = Buffer.alloc(0);
  #headerRead = false;

  /** Appends bytes and returns every tag now complete. Throws on a malformed stream. */
  push(chunk: Buffer): FlvTag[] {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const tags: FlvTag[] = [];
    let offset = 0;
    if (!this.#headerRead) {
      if (this.#buffered.length < 9) return tags;
      if (this.#buffered.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV stream');
      const headerEnd = this.#buffered.readUInt32BE(5) + 4;
      if (headerEnd > 64) throw new Error('FLV header too long');
      if (this.#buffered.length < headerEnd) return tags;
      offset = headerEnd;
      this.#headerRead = true;
    }
    while (offset + TAG_HEADER_SIZE <= this.#buffered.length) {
      const size = this.#buffered.readUIntBE(offset + 1, 3);
      if (size > MAX_TAG_BYTES) throw new Error(`FLV tag of ${size} bytes`);
      const end = offset + TAG_HEADER_SIZE + size;
      if (end + 4 > this.#buffered.length) break;
      const timestamp =
        (this.#buffered.readUIntBE(offset + 4, 3) | ((this.#buffered[offset + 7] ?? 0) << 24)) >>> 0;
      tags.push({
        type: this.#buffered[offset] ?? 0,
        timestamp,
        // A copy: the tag outlives this buffer, which is sliced away below.
        payload: Buffer.from(this.#buffered.subarray(offset + TAG_HEADER_SIZE, end)),
      });
      offset = end + 4;
    }
    this.#buffered = this.#buffered.subarray(offset);
    return tags;
  }

  get bufferedBytes(): number {
    return this.#buffered.length;
  }
}

/**
 * Wires a bridge ffmpeg that writes FLV on stdout (the WHIP RTP bridge, the SRT MPEG-TS bridge):
 * its stdout read into tags for `onTag`, the last `stderrLines` of its stderr kept in `stderr`, and
 * every way it can fail (unreadable FLV, a failed spawn, an exit) reported once through `onFail`.
 */
export function wireFlvBridge(
  child: ChildProcess,
  options: {
    reader: FlvTagReader;
    stderr: string[];
    stderrLines: number;
    onTag: (tag: FlvTag) => void;
    onFail: (error: string) => void;
  },
): void {
  const { reader, stderr, stderrLines, onTag, onFail } = options;
  child.stdin?.on('error', () => {});
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr.push(...text.split('\n').filter((line) => line !== ''));
    stderr.splice(0, Math.max(0, stderr.length - stderrLines));
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    let tags: FlvTag[];
    try {
      tags = reader.push(chunk);
    } catch (error) {
      onFail(`unreadable FLV from the bridge: ${String(error)}`);
      return;
    }
    for (const tag of tags) onTag(tag);
  });
  child.on('error', (error) => onFail(`bridge ffmpeg failed to start: ${error.message}`));
  child.on('exit', (code, signal) => onFail(`bridge ffmpeg exited (${code ?? signal})`));
}
