// The local fleet of `npm start -- --nodes N` with real parts: HAProxy (Debian's haproxy) as the
// front address over real transcoder nodes, real ffmpeg publishers, an origin stand-in on loopback.
// The front spreads publishers over the nodes (each authorizes with its own node token), and a
// draining node (/healthz 503) gets no new publisher while the other nodes do.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';
import {
  type LocalFleet,
  planFleetNodes,
  renderHaproxyConfig,
  startLocalFleet,
} from '../../../scripts/lib/fleet.ts';
import { findFreePort, findFreePortBlock, stopAllManaged } from '../../../scripts/lib/platform.ts';
import { type Publisher, spawnPublisher, waitFor } from '../rtmp/helpers.ts';
import { type FakeOrigin, type RecordedRequest, startFakeOrigin } from '../upload/fake-origin.ts';

const SECRET = 'local-fleet-master-secret';

function nodeOf(request: RecordedRequest): string {
  return /^Bearer fleet1\.([a-z0-9-]+)\./.exec(String(request.headers.authorization))?.[1] ?? 'master';
}

describe('local fleet behind HAProxy', () => {
  let origin: FakeOrigin | undefined;
  const publishers: Publisher[] = [];

  afterEach(async () => {
    for (const publisher of publishers.splice(0)) publisher.kill();
    await stopAllManaged();
    await origin?.close();
  });

  it('writes an HAProxy configuration that haproxy itself accepts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-haproxy-'));
    const path = join(dir, 'haproxy.cfg');
    const config = renderHaproxyConfig(planFleetNodes(3), { rtmp: 1935, rtmps: 1936, backupRtmp: 1945 });
    execFileSync('bash', ['-c', `cat > ${path}`], { input: config });
    expect(() => execFileSync('haproxy', ['-c', '-q', '-f', path], { stdio: 'pipe' })).not.toThrow();
    expect(config.match(/server node-\d/g)).toHaveLength(6);
    expect(() => planFleetNodes(0)).toThrow();
    expect(() => planFleetNodes(9)).toThrow();
  });

  it('spreads publishers over the nodes and sends none to a draining node', async () => {
    origin = await startFakeOrigin();
    let grants = 0;
    origin.respond((request) => {
      if (request.path === '/internal/fleet/register')
        return {
          status: 200,
          body: JSON.stringify({
            session: '44444444-4444-4444-8444-444444444444',
            heartbeat_interval_ms: 2_000,
            node_timeout_ms: 6_000,
          }),
        };
      if (request.path === '/internal/fleet/heartbeat')
        return { status: 200, body: JSON.stringify({ state: 'active', foreign: [] }) };
      if (request.path.endsWith('/authorize')) {
        grants += 1;
        const grant: AuthorizeResponse = {
          channel_id: `chan-${grants}`,
          stream_id: `stream-${grants}`,
          publish_id: `55555555-5555-4555-8555-${String(grants).padStart(12, '0')}`,
          tier: 'none',
          continued: false,
          next_msn: 0,
        };
        return { status: 200, body: JSON.stringify(grant) };
      }
      return { status: 204 };
    });
    const base = await findFreePortBlock(30);
    const front = {
      rtmp: await findFreePort(),
      rtmps: await findFreePort(),
      backupRtmp: await findFreePort(),
    };
    // Node ports from a free block upward (the plan adds 1, 2, ...), apart from each other.
    const fleet: LocalFleet = await startLocalFleet({
      nodes: 2,
      front,
      originUrl: origin.baseUrl,
      ingestSecret: SECRET,
      stateDir: mkdtempSync(join(tmpdir(), 'fleet-state-')),
      env: { TRANSCODER_ENCODER: 'x264', DRAIN_DEADLINE_SECONDS: '60' },
      basePorts: { rtmp: base, rtmps: base + 10, http: base + 20 },
    });
    const authorizations = () => origin?.requests.filter((r) => r.path.endsWith('/authorize')) ?? [];

    publishers.push(spawnPublisher(`rtmp://127.0.0.1:${front.rtmp}/live/live_one`, 30));
    await waitFor(() => authorizations().length === 1, 15_000, 'the first publish');
    publishers.push(spawnPublisher(`rtmp://127.0.0.1:${front.backupRtmp}/live/live_two`, 30));
    await waitFor(() => authorizations().length === 2, 15_000, 'the second publish');
    // Least connections: the second publisher went to the other node.
    expect(new Set(authorizations().map(nodeOf))).toEqual(new Set(['node-1', 'node-2']));

    // node-1 drains: HAProxy's check sees 503 and the next publishers all go to node-2.
    const draining = fleet.nodes[0];
    draining?.process.child.kill('SIGTERM');
    const health = async () => (await fetch(`http://127.0.0.1:${draining?.httpPort}/healthz`)).status;
    const deadline = Date.now() + 5_000;
    while ((await health()) !== 503 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await health()).toBe(503);
    // inter 1s fall 2: HAProxy marks it down within ~2 s of the first 503.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    publishers.push(spawnPublisher(`rtmp://127.0.0.1:${front.rtmp}/live/live_three`, 30));
    publishers.push(spawnPublisher(`rtmp://127.0.0.1:${front.rtmp}/live/live_four`, 30));
    await waitFor(() => authorizations().length === 4, 15_000, 'two more publishes');
    expect(authorizations().slice(2).map(nodeOf)).toEqual(['node-2', 'node-2']);
    // The drained node's stream is still live: its publisher is still connected.
    expect(publishers[0]?.child.exitCode).toBeNull();
  });
});
