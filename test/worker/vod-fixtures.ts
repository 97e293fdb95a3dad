// Helpers for the VOD, clip and retention tests: a tiny fragmented-MP4 writer (an init with an H.264
// video track and an AAC audio track, and moof+mdat fragments whose samples are filler bytes at the
// offsets and sizes their truns state), and
// a fake transcoder that publishes such media through the real internal ingest endpoint.
import {
  createExecutionContext,
  createMessageBatch,
  env,
  getQueueResult,
  runDurableObjectAlarm,
  SELF,
} from 'cloudflare:test';
import { writeBox } from '../../media/mp4/boxes.ts';
import { createEvent } from '../../protocol/events.ts';
import { AuthorizeResponse, type RenditionName } from '../../protocol/ingest.ts';
import { consumeQueueBatch } from '../../workers/queues/index.ts';
import {
  createTestChannel,
  INGEST_AUTH,
  ORIGIN,
  runInTestLiveStream,
  type TestChannel,
} from './origin-fixtures.ts';

export const VIDEO_TIMESCALE = 90_000;
export const AUDIO_TIMESCALE = 48_000;
/** One part: 6 video frames at 30 fps, 10 audio frames of 960 samples: 0.2 s each. */
export const PART_SECONDS = 0.2;
export const PARTS_PER_SEGMENT = 10;
export const SEGMENT_SECONDS = PART_SECONDS * PARTS_PER_SEGMENT;
const VIDEO_SAMPLES = 6;
const VIDEO_SAMPLE_DURATION = 3000;
const AUDIO_SAMPLES = 10;
const AUDIO_SAMPLE_DURATION = 960;

function box(type: string, ...parts: Uint8Array[]): Uint8Array {
  return writeBox(type, parts);
}

/** Big-endian fields: [value, bytes] pairs. */
function fields(...values: Array<[number, 1 | 2 | 4 | 8]>): Uint8Array {
  const out = new Uint8Array(values.reduce((sum, [, n]) => sum + n, 0));
  const data = new DataView(out.buffer);
  let offset = 0;
  for (const [value, n] of values) {
    if (n === 1) data.setUint8(offset, value);
    else if (n === 2) data.setUint16(offset, value);
    else if (n === 4) data.setUint32(offset, value);
    else {
      data.setUint32(offset, Math.floor(value / 2 ** 32));
      data.setUint32(offset + 4, value % 2 ** 32);
    }
    offset += n;
  }
  return out;
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

/**
 * An esds for AAC-LC, 48 kHz, stereo: ES_Descriptor > DecoderConfigDescriptor (MPEG-4 Audio) >
 * DecoderSpecificInfo (AudioSpecificConfig 0x1190: object type 2), then SLConfigDescriptor
 * (ISO/IEC 14496-1 7.2.6). The codec string is read from it, never assumed.
 */
function esds(): Uint8Array {
  const decoderConfig = [0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 2, 0x11, 0x90];
  const es = [0x00, 0x01, 0x00, 0x04, decoderConfig.length, ...decoderConfig, 0x06, 1, 0x02];
  return box('esds', fields([0, 4]), new Uint8Array([0x03, es.length, ...es]));
}

function track(id: number, timescale: number, handler: 'vide' | 'soun'): Uint8Array {
  const tkhd = box('tkhd', fields([0x7, 4], [0, 4], [0, 4], [id, 4], [0, 4], [0, 4]), new Uint8Array(60));
  const mdhd = box('mdhd', fields([0, 4], [0, 4], [0, 4], [timescale, 4], [0, 4], [0x55c4, 2], [0, 2]));
  const hdlr = box('hdlr', fields([0, 4], [0, 4]), text(handler), new Uint8Array(12), text('x\0'));
  let entry: Uint8Array;
  if (handler === 'vide') {
    const avcC = box('avcC', fields([1, 1], [0x64, 1], [0, 1], [0x1f, 1], [0xff, 1], [0xe0, 1], [0, 1]));
    entry = box(
      'avc1',
      new Uint8Array(6),
      fields([1, 2]),
      new Uint8Array(16),
      fields([1280, 2], [720, 2]),
      new Uint8Array(50),
      avcC,
    );
  } else {
    entry = box(
      'mp4a',
      new Uint8Array(6),
      fields([1, 2]),
      new Uint8Array(8),
      fields([2, 2], [16, 2], [0, 4], [AUDIO_TIMESCALE * 65536, 4]),
      esds(),
    );
  }
  const stsd = box('stsd', fields([0, 4], [1, 4]), entry);
  const stbl = box('stbl', stsd);
  return box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', stbl)));
}

/** ftyp + moov with video track 1 (90 kHz) and audio track 2 (48 kHz), empty, with mvex. */
export function buildInit(): Uint8Array {
  const ftyp = box('ftyp', text('iso6'), fields([512, 4]), text('iso6cmfcdash'));
  const mvhd = box('mvhd', fields([0, 4], [0, 4], [0, 4], [1000, 4], [0, 4]), new Uint8Array(80));
  const trex = (id: number, duration: number) =>
    box('trex', fields([0, 4], [id, 4], [1, 4], [duration, 4], [0, 4], [0, 4]));
  const mvex = box('mvex', trex(1, VIDEO_SAMPLE_DURATION), trex(2, AUDIO_SAMPLE_DURATION));
  return new Uint8Array([
    ...ftyp,
    ...box('moov', mvhd, track(1, VIDEO_TIMESCALE, 'vide'), track(2, AUDIO_TIMESCALE, 'soun'), mvex),
  ]);
}

/** Bytes of each video and audio sample: the mdat holds the video samples, then the audio's. */
const VIDEO_SAMPLE_BYTES = 10;
const AUDIO_SAMPLE_BYTES = 4;

function traf(
  trackId: number,
  baseTime: number,
  samples: number,
  duration: number,
  sampleBytes: number,
  dataOffset: number,
  firstFlags: number | null,
): Uint8Array {
  // tfhd flags 0x020000: default-base-is-moof, as ffmpeg's +cmaf writes; trun data_offset counts
  // from the moof's first byte.
  const tfhd = box('tfhd', fields([0x020000, 4], [trackId, 4]));
  const tfdt = box('tfdt', fields([0x01000000, 4], [baseTime, 8]));
  const flags = 0x301 | (firstFlags === null ? 0 : 0x4);
  const head = [fields([flags, 4], [samples, 4], [dataOffset, 4])];
  if (firstFlags !== null) head.push(fields([firstFlags, 4]));
  const entries = Array.from({ length: samples }, () => fields([duration, 4], [sampleBytes, 4]));
  return box('traf', tfhd, tfdt, box('trun', ...head, ...entries));
}

/** One part (moof + mdat) starting `index` parts into the stream's media timeline. */
export function buildFragment(sequence: number, index: number): Uint8Array {
  const videoTime = index * VIDEO_SAMPLES * VIDEO_SAMPLE_DURATION;
  const audioTime = index * AUDIO_SAMPLES * AUDIO_SAMPLE_DURATION;
  const keyframe = index % PARTS_PER_SEGMENT === 0;
  const videoBytes = VIDEO_SAMPLES * VIDEO_SAMPLE_BYTES;
  const audioBytes = AUDIO_SAMPLES * AUDIO_SAMPLE_BYTES;
  const buildMoof = (dataStart: number) =>
    box(
      'moof',
      box('mfhd', fields([0, 4], [sequence, 4])),
      traf(
        1,
        videoTime,
        VIDEO_SAMPLES,
        VIDEO_SAMPLE_DURATION,
        VIDEO_SAMPLE_BYTES,
        dataStart,
        keyframe ? 0x02000000 : null,
      ),
      traf(
        2,
        audioTime,
        AUDIO_SAMPLES,
        AUDIO_SAMPLE_DURATION,
        AUDIO_SAMPLE_BYTES,
        dataStart + videoBytes,
        null,
      ),
    );
  // The offsets do not change the moof's size: measure it once, then write them.
  const moof = buildMoof(buildMoof(0).byteLength + 8);
  return new Uint8Array([...moof, ...box('mdat', new Uint8Array(videoBytes + audioBytes).fill(index % 251))]);
}

function ingestUrl(publish: AuthorizeResponse, path: string): string {
  return `${ORIGIN}/internal/ingest/${publish.channel_id}/${publish.publish_id}/${path}`;
}

async function put(publish: AuthorizeResponse, path: string, meta: unknown, body: Uint8Array): Promise<void> {
  const res = await SELF.fetch(ingestUrl(publish, path), {
    method: 'PUT',
    headers: { ...INGEST_AUTH, 'X-Ingest-Meta': JSON.stringify(meta) },
    body,
  });
  if (res.status !== 204) throw new Error(`PUT ${path} answered ${res.status}: ${await res.text()}`);
}

export async function authorize(streamKey: string): Promise<AuthorizeResponse> {
  const res = await SELF.fetch(`${ORIGIN}/internal/ingest/authorize`, {
    method: 'POST',
    headers: { ...INGEST_AUTH, 'Content-Type': 'application/json' },
    body: JSON.stringify({ stream_key: streamKey }),
  });
  if (res.status !== 200) throw new Error(`authorize answered ${res.status}`);
  return AuthorizeResponse.parse(await res.json());
}

export async function putRealInit(publish: AuthorizeResponse, rendition: RenditionName): Promise<void> {
  const meta =
    rendition === 'audio'
      ? {
          kind: 'init',
          rendition,
          part_target: PART_SECONDS,
          codecs: 'mp4a.40.2',
          bandwidth: 160_000,
          average_bandwidth: 128_000,
        }
      : {
          kind: 'init',
          rendition,
          part_target: PART_SECONDS,
          codecs: 'avc1.64001f,mp4a.40.2',
          bandwidth: 3_500_000,
          average_bandwidth: 3_000_000,
          width: 1280,
          height: 720,
          frame_rate: 30,
        };
  await put(publish, `init/${rendition}`, meta, buildInit());
}

/**
 * Publishes segment `msn` of each rendition: its parts (fragments numbered from `firstPart` of the
 * publish's media timeline), then the whole segment made of the same bytes.
 */
export async function publishRealSegment(
  publish: AuthorizeResponse,
  renditions: readonly RenditionName[],
  msn: number,
  mediaIndex: number,
  pdt: number,
): Promise<void> {
  for (const rendition of renditions) {
    const fragments: Uint8Array[] = [];
    for (let part = 0; part < PARTS_PER_SEGMENT; part++) {
      const fragment = buildFragment(
        mediaIndex * PARTS_PER_SEGMENT + part + 1,
        mediaIndex * PARTS_PER_SEGMENT + part,
      );
      fragments.push(fragment);
      const meta = {
        kind: 'part',
        rendition,
        msn,
        part,
        duration: PART_SECONDS,
        independent: part === 0,
        pdt: pdt + part * 200,
      };
      await put(publish, `part/${rendition}/${msn}/${part}`, meta, fragment);
    }
    const bytes = new Uint8Array(fragments.reduce((n, f) => n + f.byteLength, 0));
    let offset = 0;
    for (const fragment of fragments) {
      bytes.set(fragment, offset);
      offset += fragment.byteLength;
    }
    const meta = {
      kind: 'segment',
      rendition,
      msn,
      duration: SEGMENT_SECONDS,
      parts: PARTS_PER_SEGMENT,
      pdt,
    };
    await put(publish, `segment/${rendition}/${msn}`, meta, bytes);
  }
}

export async function postEnd(publish: AuthorizeResponse): Promise<void> {
  const res = await SELF.fetch(ingestUrl(publish, 'end'), {
    method: 'POST',
    headers: { ...INGEST_AUTH, 'Content-Type': 'application/json' },
    body: JSON.stringify({ reason: 'publisher_closed' }),
  });
  if (res.status !== 204) throw new Error(`end answered ${res.status}`);
}

export interface SyntheticStream {
  channel: TestChannel;
  streamId: string;
  /** Epoch ms of the first segment's first sample. */
  startPdt: number;
}

/**
 * A live stream with `segments` segments per rendition, each 2 s, ending at about now. With
 * `reconnectAfter`, the publisher drops after that many segments and a new publish continues the
 * stream (new inits, a discontinuity), 5 s of wall clock later.
 */
export async function startSyntheticStream(
  renditions: readonly RenditionName[],
  segments: number,
  options: { reconnectAfter?: number; channel?: TestChannel } = {},
): Promise<SyntheticStream> {
  const channel = options.channel ?? (await createTestChannel());
  const gapMs = options.reconnectAfter === undefined ? 0 : 5000;
  const startPdt = Date.now() - segments * SEGMENT_SECONDS * 1000 - gapMs;
  let publish = await authorize(channel.streamKey);
  for (const rendition of renditions) await putRealInit(publish, rendition);
  for (let msn = 0; msn < segments; msn++) {
    if (msn === options.reconnectAfter) {
      await postEnd(publish);
      publish = await authorize(channel.streamKey);
      if (!publish.continued || publish.next_msn !== msn)
        throw new Error('reconnect did not continue the stream');
      for (const rendition of renditions) await putRealInit(publish, rendition);
    }
    const afterGap = options.reconnectAfter !== undefined && msn >= options.reconnectAfter;
    // A new publisher's media timeline starts again at 0, as a restarted ffmpeg's does.
    const mediaIndex = afterGap ? msn - (options.reconnectAfter ?? 0) : msn;
    const pdt = startPdt + msn * SEGMENT_SECONDS * 1000 + (afterGap ? gapMs : 0);
    await publishRealSegment(publish, renditions, msn, mediaIndex, pdt);
  }
  return { channel, streamId: publish.stream_id, startPdt };
}

/** Ends the stream now: the publisher leaves and the reconnect window is cut to zero. */
export async function endSyntheticStream(stream: SyntheticStream): Promise<void> {
  const stub = env.LIVE_STREAM.getByName(stream.channel.channelId);
  const summary = await stub.getSummary();
  if (summary.status === 'live') {
    await runInTestLiveStream(stub, async (instance) => {
      instance.setTimings({ reconnectWindowMs: 0 });
      await instance.revokePublisher();
    });
  }
  await runInTestLiveStream(stub, (instance) => {
    instance.setTimings({ reconnectWindowMs: 0 });
  });
  await runDurableObjectAlarm(stub);
}

/** Delivers the stream's stream.ended to the queue consumer, which finalizes its VOD. */
export async function deliverStreamEnded(stream: SyntheticStream, durationSeconds: number): Promise<void> {
  await deliver('stream-events', [
    createEvent('stream.ended', {
      stream_id: stream.streamId,
      channel_id: stream.channel.channelId,
      duration_seconds: durationSeconds,
    }),
  ]);
}

let messageCounter = 0;

/** Delivers event bodies to the Worker's queue consumer as one batch; returns the acks. */
export async function deliver(
  queue: string,
  bodies: unknown[],
): Promise<{ acked: string[]; retried: string[] }> {
  const messages = bodies.map((body) => {
    messageCounter += 1;
    return {
      id: `vod-msg-${messageCounter}-${crypto.randomUUID()}`,
      timestamp: new Date(),
      attempts: 1,
      body,
    };
  });
  const batch = createMessageBatch(queue, messages);
  const ctx = createExecutionContext();
  await consumeQueueBatch(batch, env);
  const result = await getQueueResult(batch, ctx);
  return { acked: result.explicitAcks, retried: result.retryMessages.map((m) => m.msgId) };
}

/** Every R2 key under `prefix`. */
export async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await env.MEDIA.list({ prefix, cursor });
    keys.push(...page.objects.map((o) => o.key));
    if (!page.truncated) return keys;
    cursor = page.cursor;
  }
}
