// Helpers for the origin tests: a channel with a real derived stream key, and a fake transcoder
// that speaks the internal ingest API through SELF with small synthetic payloads.
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { LiveStream as ProductionLiveStream } from '../../durable-objects/live-stream/live-stream.ts';
import { AuthorizeResponse, type InitMeta, type RenditionName } from '../../protocol/ingest.ts';
import { deriveStreamKey, hashStreamKey } from '../../workers/shared/stream-keys.ts';
import { LiveStream } from './test-entry.ts';

export const ORIGIN = 'http://localhost';
export const INGEST_AUTH = { Authorization: `Bearer ${env.INGEST_SECRET}` };
export const PART_TARGET = 0.2;

export interface TestChannel {
  channelId: string;
  userId: string;
  streamKey: string;
}

/**
 * Runs `fn` inside a channel's LiveStream object as the test subclass (test-entry.ts), which can
 * change its timings or queue for one scenario. Checked, not cast: the Worker under test must be
 * the test entry.
 */
export function runInTestLiveStream<R>(
  stub: DurableObjectStub<ProductionLiveStream>,
  fn: (instance: LiveStream) => R | Promise<R>,
): Promise<R> {
  return runInDurableObject(stub, (instance) => {
    if (!(instance instanceof LiveStream))
      throw new Error('the Worker under test is not test/worker/test-entry.ts');
    return fn(instance);
  });
}

type Counted = 'waitForPart' | 'checkPublisher' | 'getMediaPlaylist' | 'commitPart';
const restores: Array<() => void> = [];

/**
 * Counts calls of one LiveStream method (through RPC too) until restoreCounters: the narrowest
 * seam there is for "this request never reached the object".
 */
export function countCalls(method: Counted): { count: number } {
  const counter = { count: 0 };
  const prototype = ProductionLiveStream.prototype as unknown as Record<
    Counted,
    (...args: unknown[]) => unknown
  >;
  const original = prototype[method];
  prototype[method] = function (this: ProductionLiveStream, ...args: unknown[]) {
    counter.count += 1;
    return original.apply(this, args);
  };
  restores.push(() => {
    prototype[method] = original;
  });
  return counter;
}

/** Puts back every method countCalls wrapped (an afterEach). */
export function restoreCounters(): void {
  for (const restore of restores.splice(0)) restore();
}

export async function createTestChannel(
  options: { title?: string; tier?: string } = {},
): Promise<TestChannel> {
  const userId = crypto.randomUUID();
  const channelId = crypto.randomUUID();
  const name = `ch${channelId.slice(0, 8)}`;
  const streamKey = await deriveStreamKey(env.STREAM_KEY_SECRET, channelId, 1);
  await env.DB.batch([
    env.DB.prepare('INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)').bind(
      userId,
      name,
      'x',
      Date.now(),
    ),
    env.DB.prepare(
      `INSERT INTO channels (id, user_id, name, display_name, stream_key_hash, tier, title, category_id, language, tags, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 2, 'de', '["lofi","chill"]', ?)`,
    ).bind(
      channelId,
      userId,
      name,
      name,
      await hashStreamKey(streamKey),
      options.tier ?? 'partner',
      options.title ?? 'Default title',
      Date.now(),
    ),
  ]);
  return { channelId, userId, streamKey };
}

export async function authorizePublish(streamKey: string): Promise<AuthorizeResponse> {
  const res = await SELF.fetch(`${ORIGIN}/internal/ingest/authorize`, {
    method: 'POST',
    headers: { ...INGEST_AUTH, 'Content-Type': 'application/json' },
    body: JSON.stringify({ stream_key: streamKey }),
  });
  if (res.status !== 200) throw new Error(`authorize answered ${res.status}: ${await res.text()}`);
  return AuthorizeResponse.parse(await res.json());
}

const RENDITION_FACTS: Record<RenditionName, Omit<InitMeta, 'rendition' | 'part_target'>> = {
  source: {
    codecs: 'avc1.640028,mp4a.40.2',
    bandwidth: 6_500_000,
    average_bandwidth: 6_000_000,
    width: 1920,
    height: 1080,
    frame_rate: 60,
  },
  '720p60': {
    codecs: 'avc1.64001f,mp4a.40.2',
    bandwidth: 3_500_000,
    average_bandwidth: 3_000_000,
    width: 1280,
    height: 720,
    frame_rate: 60,
  },
  '480p30': {
    codecs: 'avc1.4d401e,mp4a.40.2',
    bandwidth: 1_600_000,
    average_bandwidth: 1_400_000,
    width: 852,
    height: 480,
    frame_rate: 30,
  },
  '360p30': {
    codecs: 'avc1.4d401e,mp4a.40.2',
    bandwidth: 900_000,
    average_bandwidth: 800_000,
    width: 640,
    height: 360,
    frame_rate: 30,
  },
  '160p30': {
    codecs: 'avc1.4d400c,mp4a.40.2',
    bandwidth: 300_000,
    average_bandwidth: 250_000,
    width: 284,
    height: 160,
    frame_rate: 30,
  },
  audio: { codecs: 'mp4a.40.2', bandwidth: 160_000, average_bandwidth: 128_000 },
};

/** Synthetic bytes: the origin never looks inside them. */
export function makePayload(label: string, size = 64): Uint8Array {
  const bytes = new Uint8Array(size);
  const text = new TextEncoder().encode(label);
  bytes.set(text.subarray(0, size));
  return bytes;
}

function ingestUrl(publish: AuthorizeResponse, path: string): string {
  return `${ORIGIN}/internal/ingest/${publish.channel_id}/${publish.publish_id}/${path}`;
}

export function putInit(
  publish: AuthorizeResponse,
  rendition: RenditionName,
  partTarget = PART_TARGET,
): Promise<Response> {
  const meta = { kind: 'init', rendition, part_target: partTarget, ...RENDITION_FACTS[rendition] };
  return SELF.fetch(ingestUrl(publish, `init/${rendition}`), {
    method: 'PUT',
    headers: { ...INGEST_AUTH, 'X-Ingest-Meta': JSON.stringify(meta) },
    body: makePayload(`init ${rendition}`),
  });
}

export function putPart(
  publish: AuthorizeResponse,
  rendition: RenditionName,
  msn: number,
  part: number,
  options: { duration?: number; pdt?: number; body?: Uint8Array } = {},
): Promise<Response> {
  const meta = {
    kind: 'part',
    rendition,
    msn,
    part,
    duration: options.duration ?? PART_TARGET,
    independent: part === 0,
    pdt: options.pdt ?? Date.now(),
  };
  return SELF.fetch(ingestUrl(publish, `part/${rendition}/${msn}/${part}`), {
    method: 'PUT',
    headers: { ...INGEST_AUTH, 'X-Ingest-Meta': JSON.stringify(meta) },
    body: options.body ?? makePayload(`part ${rendition} ${msn}.${part}`),
  });
}

export function putSegment(
  publish: AuthorizeResponse,
  rendition: RenditionName,
  msn: number,
  options: { duration?: number; parts?: number; pdt?: number } = {},
): Promise<Response> {
  const meta = {
    kind: 'segment',
    rendition,
    msn,
    duration: options.duration ?? 2,
    parts: options.parts ?? 10,
    pdt: options.pdt ?? Date.now(),
  };
  return SELF.fetch(ingestUrl(publish, `segment/${rendition}/${msn}`), {
    method: 'PUT',
    headers: { ...INGEST_AUTH, 'X-Ingest-Meta': JSON.stringify(meta) },
    body: makePayload(`segment ${rendition} ${msn}`, 256),
  });
}

export function postIngest(
  publish: AuthorizeResponse,
  path: 'heartbeat' | 'end',
  body?: unknown,
): Promise<Response> {
  return SELF.fetch(ingestUrl(publish, path), {
    method: 'POST',
    headers: { ...INGEST_AUTH, 'Content-Type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
}

/** Uploads a whole segment the way the transcoder does: its parts, then the segment. */
export async function publishSegment(
  publish: AuthorizeResponse,
  rendition: RenditionName,
  msn: number,
  options: { parts?: number; pdt?: number } = {},
): Promise<void> {
  const parts = options.parts ?? 10;
  const pdt = options.pdt ?? Date.now();
  for (let part = 0; part < parts; part++) {
    const res = await putPart(publish, rendition, msn, part, { pdt: pdt + part * PART_TARGET * 1000 });
    if (res.status !== 204) throw new Error(`part ${msn}.${part} answered ${res.status}`);
  }
  const res = await putSegment(publish, rendition, msn, { duration: parts * PART_TARGET, parts, pdt });
  if (res.status !== 204) throw new Error(`segment ${msn} answered ${res.status}`);
}

/** Authorizes a publish and uploads inits for `renditions` and `segments` whole segments each. */
export async function startTestStream(
  channel: TestChannel,
  renditions: RenditionName[],
  segments: number,
): Promise<AuthorizeResponse> {
  const publish = await authorizePublish(channel.streamKey);
  for (const rendition of renditions) {
    const res = await putInit(publish, rendition);
    if (res.status !== 204) throw new Error(`init ${rendition} answered ${res.status}`);
  }
  const start = Date.now() - segments * 2000;
  for (let msn = 0; msn < segments; msn++) {
    for (const rendition of renditions)
      await publishSegment(publish, rendition, msn, { pdt: start + msn * 2000 });
  }
  return publish;
}

export function getPlaylist(channelId: string, name: string, query = ''): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/live/${channelId}/${name}${query}`);
}

/** The lines of a playlist that start with `tag`. */
export function findTags(playlist: string, tag: string): string[] {
  return playlist.split('\n').filter((line) => line.startsWith(tag));
}

/** Attribute values of a tag line: `#EXT-X-PART:DURATION=0.2,URI="a"` → {DURATION: '0.2', URI: 'a'}. */
export function readAttributes(line: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  const list = line.slice(line.indexOf(':') + 1);
  for (const match of list.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) {
    const [, key = '', value = ''] = match;
    attributes[key] = value.replace(/^"|"$/g, '');
  }
  return attributes;
}
