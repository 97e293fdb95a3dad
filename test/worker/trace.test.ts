// One trace id through the live path (docs/operations.md): the transcoder's `traceparent` on the
// ingest calls reaches the ingest endpoint's lines, the LiveStream object's lines and record, the
// stream's queue events and the consumer's lines; a malformed header is ignored, never a 500. The
// lines are read where they are written (console, which Workers Logs reads); the Worker, its
// objects and this test share one isolate under the vitest pool.
import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTraceId, formatTraceparent } from '../../common/trace.ts';
import { createEvent } from '../../protocol/events.ts';
import { AuthorizeResponse, type RenditionName } from '../../protocol/ingest.ts';
import { consumeQueueBatch } from '../../workers/queues/index.ts';
import {
  createTestChannel,
  INGEST_AUTH,
  makePayload,
  ORIGIN,
  PART_TARGET,
  runInTestLiveStream,
} from './origin-fixtures.ts';

type Line = Record<string, unknown>;

/** Every JSON line logged while a test runs. */
const lines: Line[] = [];
const spies: Array<{ mockRestore(): void }> = [];

beforeEach(() => {
  lines.length = 0;
  for (const method of ['log', 'warn', 'error'] as const) {
    spies.push(
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        const text = args.map(String).join(' ');
        try {
          lines.push(JSON.parse(text) as Line);
        } catch {
          lines.push({ text });
        }
      }),
    );
  }
});

afterEach(() => {
  for (const spy of spies.splice(0)) spy.mockRestore();
});

const linesOf = (traceId: string): Line[] => lines.filter((line) => line.trace_id === traceId);
const eventsOf = (traceId: string): unknown[] => linesOf(traceId).map((line) => line.event);

/** An ingest call as the transcoder makes it: the secret and, when given, a traceparent. */
function callIngest(
  method: 'POST' | 'PUT',
  path: string,
  options: { traceparent?: string; meta?: unknown; json?: unknown; body?: Uint8Array } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...INGEST_AUTH };
  if (options.traceparent !== undefined) headers.traceparent = options.traceparent;
  if (options.meta !== undefined) headers['X-Ingest-Meta'] = JSON.stringify(options.meta);
  if (options.json !== undefined) headers['Content-Type'] = 'application/json';
  return SELF.fetch(`${ORIGIN}/internal/ingest/${path}`, {
    method,
    headers,
    body: options.json !== undefined ? JSON.stringify(options.json) : (options.body ?? null),
  });
}

async function authorize(streamKey: string, traceparent?: string): Promise<AuthorizeResponse> {
  const res = await callIngest('POST', 'authorize', {
    json: { stream_key: streamKey },
    ...(traceparent === undefined ? {} : { traceparent }),
  });
  expect(res.status).toBe(200);
  return AuthorizeResponse.parse(await res.json());
}

const publishPath = (publish: AuthorizeResponse): string => `${publish.channel_id}/${publish.publish_id}`;

function putInit(publish: AuthorizeResponse, rendition: RenditionName, traceparent: string) {
  const meta = {
    kind: 'init',
    rendition,
    codecs: 'avc1.64001f,mp4a.40.2',
    bandwidth: 3_500_000,
    average_bandwidth: 3_000_000,
    width: 1280,
    height: 720,
    frame_rate: 30,
    part_target: PART_TARGET,
  };
  return callIngest('PUT', `${publishPath(publish)}/init/${rendition}`, {
    traceparent,
    meta,
    body: makePayload('init'),
  });
}

function putPart(publish: AuthorizeResponse, msn: number, part: number, traceparent: string) {
  const meta = {
    kind: 'part',
    rendition: 'source',
    msn,
    part,
    duration: PART_TARGET,
    independent: part === 0,
    pdt: Date.now(),
  };
  return callIngest('PUT', `${publishPath(publish)}/part/source/${msn}/${part}`, {
    traceparent,
    meta,
    body: makePayload(`part ${msn}.${part}`),
  });
}

/** Replaces the object's STREAM_EVENTS with a recorder (the test subclass's seam, test-entry.ts). */
async function recordStreamEvents(channelId: string): Promise<unknown[]> {
  const sent: unknown[] = [];
  const queue = { send: async (message: unknown) => void sent.push(message) };
  await runInTestLiveStream(env.LIVE_STREAM.getByName(channelId), (instance) => {
    instance.setStreamEvents(queue as unknown as Queue);
  });
  return sent;
}

async function deliverStreamEvents(bodies: unknown[]) {
  const batch = createMessageBatch(
    'stream-events',
    bodies.map((body) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await consumeQueueBatch(batch, env);
  return getQueueResult(batch, ctx);
}

describe('one trace id through the live path', () => {
  it("follows a publish from authorize to the stream's end: ingest lines, the LiveStream object and the queue events", async () => {
    const channel = await createTestChannel();
    const traceId = createTraceId();
    // A span per call, as the transcoder sends them: only the trace id is common.
    const publish = await authorize(channel.streamKey, formatTraceparent(traceId));
    const events = await recordStreamEvents(channel.channelId);
    expect((await putInit(publish, 'source', formatTraceparent(traceId))).status).toBe(204);
    expect((await putPart(publish, 0, 0, formatTraceparent(traceId))).status).toBe(204);
    expect((await putPart(publish, 0, 1, formatTraceparent(traceId))).status).toBe(204);
    const beat = await callIngest('POST', `${publishPath(publish)}/heartbeat`, {
      traceparent: formatTraceparent(traceId),
    });
    expect(beat.status).toBe(204);
    const end = await callIngest('POST', `${publishPath(publish)}/end`, {
      traceparent: formatTraceparent(traceId),
      json: { reason: 'publisher_closed' },
    });
    expect(end.status).toBe(204);
    // The reconnect window passes: the object ends the stream on its own, long after the last call.
    await runInTestLiveStream(env.LIVE_STREAM.getByName(channel.channelId), async (instance) => {
      instance.setTimings({ reconnectWindowMs: 0 });
      await instance.alarm();
    });

    expect(eventsOf(traceId)).toEqual([
      'publish_begun',
      'publish_authorized',
      'ingest_init_committed',
      'stream_live',
      'publisher_dropped',
      'publish_ended',
      'stream_ending',
      'stream_ended',
    ]);
    for (const line of linesOf(traceId)) {
      expect(line, String(line.event)).toMatchObject({ channel_id: channel.channelId });
    }
    expect(linesOf(traceId).find((line) => line.event === 'publish_authorized')).toMatchObject({
      component: 'ingest',
      stream_id: publish.stream_id,
      publish_id: publish.publish_id,
    });
    expect(linesOf(traceId).find((line) => line.event === 'publisher_dropped')).toMatchObject({
      class: 'LiveStream',
      reason: 'ended',
    });

    // The stream's events carry it to the queue, and the consumer's lines name it.
    expect(events).toEqual([
      expect.objectContaining({ type: 'stream.started', trace_id: traceId }),
      expect.objectContaining({ type: 'stream.ended', trace_id: traceId }),
    ]);
    const result = await deliverStreamEvents(events.slice(0, 1));
    expect(result.explicitAcks).toHaveLength(1);
    expect(linesOf(traceId).at(-1)).toMatchObject({
      component: 'queues',
      event: 'event_applied',
      type: 'stream.started',
    });
  });

  it("links a reconnect's new trace id to the one before it", async () => {
    const channel = await createTestChannel();
    const firstTrace = createTraceId();
    const first = await authorize(channel.streamKey, formatTraceparent(firstTrace));
    expect((await putInit(first, 'source', formatTraceparent(firstTrace))).status).toBe(204);
    expect((await putPart(first, 0, 0, formatTraceparent(firstTrace))).status).toBe(204);
    const end = await callIngest('POST', `${publishPath(first)}/end`, {
      traceparent: formatTraceparent(firstTrace),
      json: { reason: 'publisher_lost' },
    });
    expect(end.status).toBe(204);
    const secondTrace = createTraceId();
    const second = await authorize(channel.streamKey, formatTraceparent(secondTrace));
    expect(second).toMatchObject({ continued: true, stream_id: first.stream_id });
    expect(linesOf(secondTrace).find((line) => line.event === 'publish_begun')).toMatchObject({
      continued: true,
      previous_trace_id: firstTrace,
      publish_id: second.publish_id,
    });
  });

  it('logs a refused call with its trace id: an upload for a publish that is no longer current gets 409', async () => {
    const channel = await createTestChannel();
    const publish = await authorize(channel.streamKey);
    const traceId = createTraceId();
    const stale = { ...publish, publish_id: crypto.randomUUID() };
    const res = await putPart(stale, 0, 0, formatTraceparent(traceId));
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: 'conflict' } });
    expect(linesOf(traceId)).toEqual([
      expect.objectContaining({
        level: 'warn',
        event: 'ingest_call_refused',
        status: 409,
        code: 'conflict',
        call: 'part',
        channel_id: channel.channelId,
        publish_id: stale.publish_id,
      }),
    ]);
  });

  it('ignores a malformed traceparent: the publish goes on without a trace id, never a 500', async () => {
    const good = createTraceId();
    const malformed = [
      'garbage',
      `00-${good.toUpperCase()}-00f067aa0ba902b7-01`,
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-${good}-${'0'.repeat(16)}-01`,
      `ff-${good}-00f067aa0ba902b7-01`,
      `00-${good}-00f067aa0ba902b7-01-extra`,
      `00-${good}-00f067aa0ba902b7-01`.padEnd(4_000, 'x'),
      `00-${good.slice(0, 31)}g-00f067aa0ba902b7-01`,
    ];
    for (const value of malformed) {
      const channel = await createTestChannel();
      lines.length = 0;
      const traceparent = value;
      const publish = await authorize(channel.streamKey, traceparent);
      const init = await putInit(publish, 'source', traceparent);
      expect(init.status, value.slice(0, 60)).toBe(204);
      const beat = await callIngest('POST', `${publishPath(publish)}/heartbeat`, { traceparent });
      expect(beat.status).toBe(204);
      const authorized = lines.find((line) => line.event === 'publish_authorized');
      expect(authorized).toBeDefined();
      expect(authorized).not.toHaveProperty('trace_id');
      expect(lines.filter((line) => 'trace_id' in line)).toEqual([]);
      expect(JSON.stringify(lines)).not.toContain(good);
    }
  });

  it('keeps a stream event whose trace id is malformed, dropping only the trace id', async () => {
    const channel = await createTestChannel();
    const updated = createEvent('stream.updated', {
      stream_id: crypto.randomUUID(),
      channel_id: channel.channelId,
    });
    const result = await deliverStreamEvents([{ ...updated, trace_id: 'not-a-trace-id' }]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(lines.map((line) => line.event)).toContain('event_applied');
    expect(lines.map((line) => line.event)).not.toContain('event_unparseable');
    expect(lines.filter((line) => 'trace_id' in line)).toEqual([]);
  });
});
