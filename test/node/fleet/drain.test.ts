// Drain with a real process: main.ts as a fleet node (FLEET_NODE_ID, its node token), a real
// ffmpeg publisher over RTMP, an origin stand-in on loopback. SIGTERM tells the registry at once,
// the health check answers 503, the live stream continues until its publisher ends it (or the
// drain deadline ends it), then the node leaves the fleet and exits, leaving no ffmpeg behind.
import { afterEach, describe, expect, it } from 'vitest';
import { HeartbeatRequest } from '../../../protocol/fleet.ts';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';
import { findFreePort, type ManagedProcess, startTranscoder } from '../../../scripts/lib/platform.ts';
import { spawnPublisher, waitFor } from '../rtmp/helpers.ts';
import { type FakeOrigin, type RecordedRequest, startFakeOrigin } from '../upload/fake-origin.ts';

const GRANT: AuthorizeResponse = {
  channel_id: 'chan-drain',
  stream_id: 'stream-drain',
  publish_id: '22222222-2222-4222-8222-222222222222',
  tier: 'none',
  continued: false,
  next_msn: 0,
};

const kindOf = (request: RecordedRequest): string => request.path.split('/')[5] ?? '';
const isUpload = (r: RecordedRequest) => r.method === 'PUT';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('drain of a fleet node', () => {
  let origin: FakeOrigin | undefined;
  let transcoder: ManagedProcess | undefined;

  afterEach(async () => {
    await transcoder?.stop();
    await origin?.close();
  });

  async function startNode(drainDeadlineSeconds: number) {
    origin = await startFakeOrigin();
    origin.respond((request) => {
      if (request.path === '/internal/fleet/register')
        return {
          status: 200,
          body: JSON.stringify({
            session: '33333333-3333-4333-8333-333333333333',
            heartbeat_interval_ms: 2_000,
            node_timeout_ms: 6_000,
          }),
        };
      if (request.path === '/internal/fleet/heartbeat')
        return { status: 200, body: JSON.stringify({ state: 'active', foreign: [] }) };
      if (request.path.endsWith('/authorize')) return { status: 200, body: JSON.stringify(GRANT) };
      return { status: 204 };
    });
    const rtmpPort = await findFreePort();
    const httpPort = await findFreePort();
    transcoder = await startTranscoder({
      rtmpPort,
      httpPort,
      originUrl: origin.baseUrl,
      ingestSecret: 'fleet1.node-drain.0123456789abcdef',
      env: {
        RTMP_HOST: '127.0.0.1',
        TRANSCODER_ENCODER: 'x264',
        FLEET_NODE_ID: 'node-drain',
        DRAIN_DEADLINE_SECONDS: String(drainDeadlineSeconds),
      },
    });
    return { origin, transcoder, rtmpPort, httpPort };
  }

  const drainingBeats = (requests: RecordedRequest[]) =>
    requests
      .filter((r) => r.path === '/internal/fleet/heartbeat')
      .map((r) => HeartbeatRequest.parse(JSON.parse(r.body.toString())))
      .filter((beat) => beat.draining);

  it('on SIGTERM stops taking streams but lets a live one run to its end, then leaves and exits 0', async () => {
    const { origin, transcoder, rtmpPort, httpPort } = await startNode(60);
    const publisher = spawnPublisher(`rtmp://127.0.0.1:${rtmpPort}/live/live_drain_key`, 7);
    try {
      await waitFor(() => origin.requests.some((r) => kindOf(r) === 'part'), 20_000, 'a first part');
      const stats = (await (await fetch(`http://127.0.0.1:${httpPort}/stats`)).json()) as {
        streams: Array<{ ffmpegPid: number | null }>;
      };
      const ffmpegPid = stats.streams[0]?.ffmpegPid ?? null;
      expect(ffmpegPid).not.toBeNull();
      const signalledAt = Date.now();
      transcoder.child.kill('SIGTERM');
      await waitFor(() => drainingBeats(origin.requests).length > 0, 3_000, 'a draining heartbeat');
      const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ ok: false, draining: true, node_id: 'node-drain' });
      // The stream goes on: parts keep arriving after the signal.
      await waitFor(
        () =>
          origin.requests.some(
            (r) => isUpload(r) && kindOf(r) === 'part' && r.receivedAt > signalledAt + 1_000,
          ),
        5_000,
        'parts after SIGTERM',
      );
      expect(await publisher.exited).toBe(0);
      const code = await Promise.race([
        transcoder.exited,
        new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 15_000)),
      ]);
      expect(code).toBe(0);
      const ends = origin.requests.filter((r) => kindOf(r) === 'end');
      expect(ends.map((r) => JSON.parse(r.body.toString()))).toEqual([{ reason: 'publisher_closed' }]);
      const leave = origin.requests.findIndex((r) => r.path === '/internal/fleet/leave');
      expect(leave).toBeGreaterThan(origin.requests.indexOf(ends[0] as RecordedRequest));
      expect(isAlive(ffmpegPid ?? 0)).toBe(false);
    } finally {
      publisher.kill();
    }
  });

  it('ends the streams still live at the drain deadline, tells the origin, and leaves nothing running', async () => {
    const { origin, transcoder, rtmpPort, httpPort } = await startNode(1);
    const publisher = spawnPublisher(`rtmp://127.0.0.1:${rtmpPort}/live/live_drain_key`, 60);
    try {
      await waitFor(() => origin.requests.some((r) => kindOf(r) === 'part'), 20_000, 'a first part');
      const stats = (await (await fetch(`http://127.0.0.1:${httpPort}/stats`)).json()) as {
        streams: Array<{ ffmpegPid: number | null }>;
      };
      const ffmpegPid = stats.streams[0]?.ffmpegPid ?? 0;
      const signalledAt = Date.now();
      transcoder.child.kill('SIGTERM');
      const code = await Promise.race([
        transcoder.exited,
        new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 15_000)),
      ]);
      expect(code).toBe(0);
      expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(1_000);
      const ends = origin.requests.filter((r) => kindOf(r) === 'end');
      expect(ends.map((r) => JSON.parse(r.body.toString()))).toEqual([{ reason: 'transcoder_shutdown' }]);
      expect(origin.requests.some((r) => r.path === '/internal/fleet/leave')).toBe(true);
      expect(isAlive(ffmpegPid)).toBe(false);
      // The publisher's connection went with the node.
      const publisherCode = await Promise.race([
        publisher.exited,
        new Promise<'still publishing'>((resolve) => setTimeout(() => resolve('still publishing'), 10_000)),
      ]);
      expect(publisherCode).not.toBe('still publishing');
    } finally {
      publisher.kill();
    }
  });
});
