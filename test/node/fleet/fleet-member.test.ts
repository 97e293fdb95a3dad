// A node's fleet membership against an origin stand-in on loopback: it registers, heart-beats with
// a sequence that only grows, registers again when the registry refuses its session, announces a
// drain at once, leaves on close, and refuses to start with a master secret in place of its token.
import { afterEach, describe, expect, it } from 'vitest';
import { FleetClient } from '../../../containers/transcoder/src/fleet/fleet-client.ts';
import { readFleetConfig } from '../../../containers/transcoder/src/fleet/fleet-config.ts';
import { FleetMember } from '../../../containers/transcoder/src/fleet/fleet-member.ts';
import { readFleetRefusal } from '../../../containers/transcoder/src/fleet/fleet-refusal.ts';
import type { LogEvent } from '../../../containers/transcoder/src/log.ts';
import { HeartbeatRequest, RegisterRequest } from '../../../protocol/fleet.ts';
import { waitFor } from '../rtmp/helpers.ts';
import { type FakeOrigin, type RecordedRequest, startFakeOrigin } from '../upload/fake-origin.ts';

const TOKEN = 'fleet1.node-a.0123456789abcdef';

function sessionFor(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

function heartbeatsOf(requests: RecordedRequest[]): HeartbeatRequest[] {
  return requests
    .filter((r) => r.path === '/internal/fleet/heartbeat')
    .map((r) => HeartbeatRequest.parse(JSON.parse(r.body.toString())));
}

describe('fleet membership of a node', () => {
  let origin: FakeOrigin | undefined;
  let member: FleetMember | undefined;

  afterEach(async () => {
    await member?.close();
    await origin?.close();
  });

  async function startMember(options: { claims?: () => string[]; intervalMs?: number } = {}) {
    origin = await startFakeOrigin();
    let registrations = 0;
    let refuseNextHeartbeat = false;
    origin.respond((request) => {
      if (request.path === '/internal/fleet/register') {
        registrations += 1;
        return {
          status: 200,
          body: JSON.stringify({
            session: sessionFor(registrations),
            heartbeat_interval_ms: options.intervalMs ?? 100,
            node_timeout_ms: 300,
          }),
        };
      }
      if (request.path === '/internal/fleet/heartbeat') {
        if (refuseNextHeartbeat) {
          refuseNextHeartbeat = false;
          return { status: 409, body: '{"error":{"code":"conflict","message":"register again"}}' };
        }
        return { status: 200, body: JSON.stringify({ state: 'active', foreign: [] }) };
      }
      return { status: 204 };
    });
    const logs: LogEvent[] = [];
    member = new FleetMember({
      client: new FleetClient({ originUrl: origin.baseUrl, token: TOKEN }),
      nodeId: 'node-a',
      region: 'local',
      ingestUrls: ['rtmp://127.0.0.2:1935/live'],
      capacity: { encode_slots: 4, max_streams: 8, gpu: false },
      load: () => ({ streams: 1, active_encodes: 2 }),
      claims: options.claims ?? (() => []),
      onForeign: () => {},
      log: (fields) => logs.push(fields),
      retryMs: 50,
    });
    member.start();
    return { origin, member, logs, refuse: () => (refuseNextHeartbeat = true) };
  }

  it('registers with its id, addresses and capacity under its node token, then heart-beats with a growing sequence', async () => {
    const { origin } = await startMember({ claims: () => ['11111111-1111-4111-8111-111111111111'] });
    await waitFor(() => heartbeatsOf(origin.requests).length >= 3, 5_000, 'three heartbeats');
    const register = origin.requests.find((r) => r.path === '/internal/fleet/register');
    expect(register?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(RegisterRequest.parse(JSON.parse(register?.body.toString() ?? ''))).toEqual({
      node_id: 'node-a',
      region: 'local',
      ingest_urls: ['rtmp://127.0.0.2:1935/live'],
      capacity: { encode_slots: 4, max_streams: 8, gpu: false },
    });
    const beats = heartbeatsOf(origin.requests);
    expect(beats.map((b) => b.seq).slice(0, 3)).toEqual([1, 2, 3]);
    expect(beats[0]).toMatchObject({
      session: sessionFor(1),
      load: { streams: 1, active_encodes: 2 },
      claims: ['11111111-1111-4111-8111-111111111111'],
      draining: false,
    });
  });

  it('registers again when the registry refuses its session, and counts from 1 in the new one', async () => {
    const { origin, refuse } = await startMember();
    await waitFor(() => heartbeatsOf(origin.requests).length >= 2, 5_000, 'two heartbeats');
    refuse();
    await waitFor(
      () => heartbeatsOf(origin.requests).some((b) => b.session === sessionFor(2)),
      5_000,
      'a heartbeat in a new session',
    );
    const fresh = heartbeatsOf(origin.requests).filter((b) => b.session === sessionFor(2));
    expect(fresh[0]?.seq).toBe(1);
  });

  it('announces a drain with an immediate heartbeat and leaves the fleet on close', async () => {
    // Heartbeats 2 s apart: the draining one comes at once, not at the next tick.
    const { origin, member } = await startMember({ intervalMs: 2_000 });
    await waitFor(() => heartbeatsOf(origin.requests).length >= 1, 5_000, 'a heartbeat');
    const before = origin.requests.length;
    const drainedAt = Date.now();
    member.drain();
    await waitFor(
      () => heartbeatsOf(origin.requests.slice(before)).some((b) => b.draining),
      5_000,
      'a draining heartbeat',
    );
    const draining = origin.requests.slice(before).find((r) => r.path === '/internal/fleet/heartbeat');
    expect((draining?.receivedAt ?? Number.POSITIVE_INFINITY) - drainedAt).toBeLessThan(500);
    await member.close();
    const leave = origin.requests.find((r) => r.path === '/internal/fleet/leave');
    expect(JSON.parse(leave?.body.toString() ?? '{}')).toEqual({ node_id: 'node-a', session: sessionFor(1) });
    const count = origin.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(origin.requests.length).toBe(count);
  });

  it('keeps trying to register while the origin is down, without piling up requests', async () => {
    const { origin, logs } = await startMember();
    await origin.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(logs.some((l) => l.event === 'fleet.heartbeat_failed')).toBe(true);
  });
});

describe('fleet settings and refusals', () => {
  it('is a lone transcoder without FLEET_NODE_ID and refuses a node whose secret is not its own token', () => {
    expect(readFleetConfig({ INGEST_SECRET: 'master-secret' })).toBeNull();
    expect(() => readFleetConfig({ FLEET_NODE_ID: 'node-a', INGEST_SECRET: 'master-secret' })).toThrow(
      /node token/,
    );
    expect(() => readFleetConfig({ FLEET_NODE_ID: 'node-a', INGEST_SECRET: 'fleet1.node-b.00' })).toThrow(
      /node token/,
    );
    expect(() => readFleetConfig({ FLEET_NODE_ID: 'Node A!', INGEST_SECRET: TOKEN })).toThrow(
      /FLEET_NODE_ID/,
    );
    expect(
      readFleetConfig({
        FLEET_NODE_ID: 'node-a',
        INGEST_SECRET: TOKEN,
        FLEET_INGEST_URLS: 'rtmp://a:1935/live, rtmps://a:1936/live',
        DRAIN_DEADLINE_SECONDS: '5',
      }),
    ).toEqual({
      nodeId: 'node-a',
      region: 'local',
      ingestUrls: ['rtmp://a:1935/live', 'rtmps://a:1936/live'],
      maxStreams: 16,
      drainDeadlineMs: 5_000,
      httpHost: '127.0.0.1',
    });
  });

  it('reads a full-fleet refusal from a 503 and nothing else', () => {
    const full = readFleetRefusal(
      503,
      '{"error":{"code":"fleet_full","message":"Every ingest server is full"}}',
    );
    expect(full?.code).toBe('fleet_full');
    expect(full?.message).toBe('Every ingest server is full');
    expect(readFleetRefusal(503, '{"error":{"code":"unavailable","message":"x"}}')).toBeNull();
    expect(readFleetRefusal(409, '{"error":{"code":"fleet_full","message":"x"}}')).toBeNull();
    expect(readFleetRefusal(503, 'not json')).toBeNull();
  });
});
