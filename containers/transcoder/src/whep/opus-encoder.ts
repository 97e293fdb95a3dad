// The audio of a watched stream for its WHEP viewers: WebRTC audio is Opus, the FLV's is AAC (or
// MP3), so one ffmpeg per stream with WHEP viewers decodes the FLV's audio and encodes Opus, 20 ms
// frames, into Ogg on stdout (RFC 7845). The Ogg pages are read here into Opus packets with their
// start on the 48 kHz clock: "the granule position [of a page] is the PCM sample position [...] of
// the last packet completed on the page" (RFC 7845 §4), so with 960-sample frames the packet k
// of the n completed on a page starts at granule - 960 * (n - k). The first two packets are the
// OpusHead and OpusTags headers (§5). close() kills ffmpeg; nothing outlives the stream's viewers.
import { FlvFedFfmpeg } from './flv-fed-ffmpeg.ts';

export interface OpusPacket {
  /** Start of the packet on the 48 kHz clock of the encoder's output. */
  readonly startSample: number;
  readonly data: Buffer;
}

/** `-frame_duration 20`: 960 samples at 48 kHz. */
export const OPUS_FRAME_SAMPLES = 960;
const OGG_PAGE_HEADER = 27;
/** Ogg pages are at most 65,307 bytes; more buffered means the stream is not Ogg. */
const MAX_BUFFERED_BYTES = 256 * 1024;
const HEADER_PACKETS = 2;

export function buildOpusArgs(): string[] {
  return [
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'error',
    // The FLV's start bytes carry the AAC sequence header: nothing to probe for.
    '-probesize',
    '32768',
    '-analyzeduration',
    '0',
    '-f',
    'flv',
    '-i',
    'pipe:0',
    '-vn',
    '-map',
    '0:a:0',
    '-c:a',
    'libopus',
    '-b:a',
    '96k',
    '-application',
    'lowdelay',
    '-frame_duration',
    '20',
    '-ar',
    '48000',
    '-ac',
    '2',
    '-f',
    'ogg',
    // A page per frame (the duration is in µs): packets leave as soon as they are encoded.
    '-page_duration',
    '20000',
    '-flush_packets',
    '1',
    'pipe:1',
  ];
}

/** Reads Ogg pages (RFC 3533 §6) from a byte stream into the Opus packets they complete. */
export class OggOpusReader {
  #buffered: Buffer = Buffer.alloc(0);
  /** Segments of a packet continued on the next page. */
  #partial: Buffer[] = [];
  #packets = 0;

  push(chunk: Buffer): OpusPacket[] {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    if (this.#buffered.length > MAX_BUFFERED_BYTES) throw new Error('not an Ogg stream');
    const out: OpusPacket[] = [];
    let offset = 0;
    while (offset + OGG_PAGE_HEADER <= this.#buffered.length) {
      if (this.#buffered.toString('latin1', offset, offset + 4) !== 'OggS') throw new Error('lost Ogg sync');
      const segments = this.#buffered[offset + 26] ?? 0;
      const bodyStart = offset + OGG_PAGE_HEADER + segments;
      if (bodyStart > this.#buffered.length) break;
      const lacing = this.#buffered.subarray(offset + OGG_PAGE_HEADER, bodyStart);
      const bodyEnd = bodyStart + lacing.reduce((sum, value) => sum + value, 0);
      if (bodyEnd > this.#buffered.length) break;
      const granule = Number(this.#buffered.readBigInt64LE(offset + 6));
      const completed: Buffer[] = [];
      let at = bodyStart;
      for (const size of lacing) {
        this.#partial.push(this.#buffered.subarray(at, at + size));
        at += size;
        // "A packet [ends with] a lacing value of less than 255".
        if (size < 255) {
          completed.push(Buffer.concat(this.#partial));
          this.#partial = [];
        }
      }
      completed.forEach((data, index) => {
        this.#packets += 1;
        if (this.#packets <= HEADER_PACKETS) return;
        out.push({ startSample: granule - OPUS_FRAME_SAMPLES * (completed.length - index), data });
      });
      offset = bodyEnd;
    }
    this.#buffered = Buffer.from(this.#buffered.subarray(offset));
    return out;
  }
}

export interface OpusEncoderOptions {
  readonly onPacket: (packet: OpusPacket) => void;
  readonly logError: (event: string, error: string) => void;
  readonly ffmpegPath?: string;
}

/** The stream's Opus encoder: push it the FLV from its start bytes on; it starts ffmpeg on the first. */
export function createOpusEncoder(options: OpusEncoderOptions): FlvFedFfmpeg {
  const reader = new OggOpusReader();
  return new FlvFedFfmpeg({
    args: buildOpusArgs(),
    onOutput: (chunk) => {
      for (const packet of reader.push(chunk)) options.onPacket(packet);
    },
    onFailure: options.logError,
    events: { stalled: 'whep.audio_stalled', failed: 'whep.audio_failed', exited: 'whep.audio_exited' },
    ...(options.ffmpegPath === undefined ? {} : { ffmpegPath: options.ffmpegPath }),
  });
}
