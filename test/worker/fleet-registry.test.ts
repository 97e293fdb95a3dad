// The fleet registry in workerd: node registration and heartbeats (forged, replayed and stale ones
// refused), a silent node leaving rotation through the alarm, placement by tier and free capacity
// at the publish authorization, a node that may touch only the streams placed on it, and a
// publisher reconnecting through another node while the fleet still thinks its dead node holds it.
import { env, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { NODE_TIMEOUT_MS } from '../../protocol/fleet.ts';
import { deriveNodeToken } from '../../workers/origin/fleet-credentials.ts';
import {
  ageNode,
  authorizeOnNode,
  heartbeat,
  placeOnNode,
  postFleet,
  registerNode,
  registryStub,
  resetRegistry,
  type TestNode,
} from './fleet-fixtures.ts';
import { createTestChannel, INGEST_AUTH, ORIGIN, runInTestLiveStream } from './origin-fixtures.ts';

beforeEach(resetRegistry);

function putInitAs(token: string, channelId: string, publishId: string): Promise<Response> {
  const meta = {
    kind: 'init',
    rendition: 'source',
    part_target: 0.2,
    codecs: 'avc1.640028,mp4a.40.2',
    bandwidth: 6_500_000,
    average_bandwidth: 6_000_000,
  };
  return SELF.fetch(`${ORIGIN}/internal/ingest/${channelId}/${publishId}/init/source`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}`, 'X-Ingest-Meta': JSON.stringify(meta) },
    body: new Uint8Array(64),
  });
}

describe('fleet registration and heartbeats', () => {
  it('registers a node and accepts heartbeats whose sequence increases', async () => {
    const node = await registerNode('node-a');
    for (let i = 0; i < 3; i += 1) {
      const res = await heartbeat(node);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ state: 'active', foreign: [] });
    }
    const snapshot = await registryStub().snapshot();
    expect(snapshot.nodes.map((n) => [n.nodeId, n.state])).toEqual([['node-a', 'active']]);
    // Operators read the same with the master secret; a node token cannot.
    const status = await SELF.fetch(`${ORIGIN}/internal/fleet/nodes`, { headers: INGEST_AUTH });
    expect(await status.json()).toMatchObject({ nodes: [{ nodeId: 'node-a', state: 'active' }] });
    const asNode = await SELF.fetch(`${ORIGIN}/internal/fleet/nodes`, {
      headers: { Authorization: `Bearer ${node.token}` },
    });
    expect(asNode.status).toBe(403);
  });

  it('refuses a forged heartbeat: a token signed with another secret, or a token of another node', async () => {
    const node = await registerNode('node-a');
    const forged = await deriveNodeToken('not-the-ingest-secret', 'node-a');
    const body = {
      node_id: 'node-a',
      session: node.session,
      seq: 1,
      load: { streams: 0, active_encodes: 0 },
      claims: [],
      draining: false,
    };
    const wrongSecret = await postFleet('heartbeat', forged, body);
    expect(wrongSecret.status).toBe(401);
    expect(await wrongSecret.json()).toMatchObject({ error: { code: 'unauthorized' } });
    // node-b holds a valid token, but only for itself.
    const otherNode = await postFleet(
      'heartbeat',
      await deriveNodeToken('test-ingest-secret', 'node-b'),
      body,
    );
    expect(otherNode.status).toBe(403);
    // The master secret is not a node: it cannot heart-beat as one either.
    const master = await SELF.fetch(`${ORIGIN}/internal/fleet/heartbeat`, {
      method: 'POST',
      headers: { ...INGEST_AUTH, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(master.status).toBe(403);
    // None of them counted: the real node's first heartbeat is still seq 1.
    expect((await heartbeat(node, { seq: 1 })).status).toBe(200);
  });

  it('refuses a replayed heartbeat (a sequence already seen) and one from an earlier session', async () => {
    const node = await registerNode('node-a');
    expect((await heartbeat(node)).status).toBe(200);
    expect((await heartbeat(node)).status).toBe(200);
    const replay = await heartbeat(node, { seq: 2 });
    expect(replay.status).toBe(409);
    expect(await replay.json()).toMatchObject({
      error: { code: 'stale_sequence', details: { last_seq: 2 } },
    });
    const older = await heartbeat(node, { seq: 1 });
    expect(older.status).toBe(409);
    // The node restarts: the old run's heartbeats, even with a higher sequence, are refused.
    const restarted = await registerNode('node-a');
    const fromOldRun = await heartbeat(node, { seq: 99 });
    expect(fromOldRun.status).toBe(409);
    expect(await fromOldRun.json()).toMatchObject({ error: { code: 'conflict' } });
    expect((await heartbeat(restarted)).status).toBe(200);
  });

  it('takes a silent node out of rotation at its alarm and marks its streams orphaned', async () => {
    const quiet = await registerNode('node-quiet');
    const channel = await createTestChannel({ tier: 'affiliate' });
    const publish = await placeOnNode(quiet, channel.streamKey);
    await ageNode('node-quiet', NODE_TIMEOUT_MS + 1);
    expect(await runDurableObjectAlarm(registryStub())).toBe(true);
    const snapshot = await registryStub().snapshot();
    expect(snapshot.nodes.find((n) => n.nodeId === 'node-quiet')?.state).toBe('lost');
    expect(snapshot.placements).toMatchObject([
      { publishId: publish.publish_id, streamId: publish.stream_id, nodeId: 'node-quiet', state: 'orphaned' },
    ]);
    // Out of rotation: its heartbeats are refused until it registers again, and it takes no publish.
    expect((await heartbeat(quiet)).status).toBe(409);
    const other = await createTestChannel({ tier: 'none' });
    const refused = await authorizeOnNode(quiet, other.streamKey);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: 'node_unknown' } });
    // Its stream is in the reconnect window at once: the encoder's retry, landing on another node,
    // continues the same stream (without waiting for the publisher timeout).
    const survivor = await registerNode('node-survivor');
    const continued = await placeOnNode(survivor, channel.streamKey);
    expect(continued).toMatchObject({ stream_id: publish.stream_id, continued: true });
  });

  it('keeps a node that heart-beats in rotation when the alarm runs', async () => {
    const node = await registerNode('node-a');
    await ageNode('node-a', NODE_TIMEOUT_MS - 2_000);
    expect((await heartbeat(node)).status).toBe(200);
    await runDurableObjectAlarm(registryStub());
    expect((await registryStub().snapshot()).nodes[0]?.state).toBe('active');
  });
});

describe('placement at the publish authorization', () => {
  it('places a publish on the node that received it and records which node holds it', async () => {
    const node = await registerNode('node-a', { encode_slots: 8 });
    const channel = await createTestChannel({ tier: 'partner' });
    const publish = await placeOnNode(node, channel.streamKey);
    const snapshot = await registryStub().snapshot();
    expect(snapshot.placements).toMatchObject([
      { nodeId: 'node-a', publishId: publish.publish_id, tier: 'partner', encodeSlots: 4, state: 'placed' },
    ]);
    expect(snapshot.nodes[0]?.use).toEqual({ streams: 1, encodeSlots: 4 });
    expect(await registryStub().findHolder(publish.publish_id)).toEqual({
      nodeId: 'node-a',
      state: 'placed',
    });
  });

  it('refuses a publish on a full fleet with the reason and Retry-After, creating nothing', async () => {
    const node = await registerNode('node-a', { max_streams: 1 });
    const first = await createTestChannel({ tier: 'none' });
    await placeOnNode(node, first.streamKey);
    const second = await createTestChannel({ tier: 'none' });
    const res = await authorizeOnNode(node, second.streamKey);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('fleet_full');
    expect(body.error.message).toMatch(/full/);
    expect((await registryStub().snapshot()).placements).toHaveLength(1);
  });

  it('refuses a partner on a node without four free encode slots while another node has them', async () => {
    const small = await registerNode('node-small', { encode_slots: 3 });
    await registerNode('node-big', { encode_slots: 8 });
    const partner = await createTestChannel({ tier: 'partner' });
    const res = await authorizeOnNode(small, partner.streamKey);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'node_full' } });
    // An affiliate shares the pool: it fits on the small node.
    const affiliate = await createTestChannel({ tier: 'affiliate' });
    await placeOnNode(small, affiliate.streamKey);
  });

  it('places an affiliate source-only when the encode pool is spent, never over the slots', async () => {
    const node = await registerNode('node-a', { encode_slots: 1, max_streams: 4 });
    const one = await placeOnNode(node, (await createTestChannel({ tier: 'affiliate' })).streamKey);
    const two = await placeOnNode(node, (await createTestChannel({ tier: 'affiliate' })).streamKey);
    const { placements, nodes } = await registryStub().snapshot();
    expect(placements.map((p) => [p.publishId, p.encodeSlots])).toEqual([
      [one.publish_id, 1],
      [two.publish_id, 0],
    ]);
    expect(nodes[0]?.use).toEqual({ streams: 2, encodeSlots: 1 });
  });

  it('refuses new publishes on a draining node and frees the slots of a publish that ended', async () => {
    const node = await registerNode('node-a', { max_streams: 1 });
    const channel = await createTestChannel({ tier: 'none' });
    const publish = await placeOnNode(node, channel.streamKey);
    const end = await SELF.fetch(`${ORIGIN}/internal/ingest/${channel.channelId}/${publish.publish_id}/end`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${node.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason: 'publisher_closed' }),
    });
    expect(end.status).toBe(204);
    expect((await registryStub().snapshot()).placements).toEqual([]);
    expect(await (await heartbeat(node, { draining: true })).json()).toMatchObject({ state: 'draining' });
    const refused = await authorizeOnNode(node, (await createTestChannel({ tier: 'none' })).streamKey);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: 'node_draining' } });
  });

  it('gives the reservation back when the channel already has a publisher', async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    await placeOnNode(a, channel.streamKey);
    const second = await authorizeOnNode(b, channel.streamKey);
    expect(second.status).toBe(409);
    expect((await registryStub().snapshot()).placements.map((p) => p.nodeId)).toEqual(['node-a']);
  });
});

describe('a node touches only the streams placed on it', () => {
  let holder: TestNode;
  let intruder: TestNode;

  beforeEach(async () => {
    holder = await registerNode('node-holder');
    intruder = await registerNode('node-intruder');
  });

  it('answers 409 to a node uploading to a stream placed on another node, and lists nothing', async () => {
    const channel = await createTestChannel({ tier: 'none' });
    const publish = await placeOnNode(holder, channel.streamKey);
    const foreign = await putInitAs(intruder.token, channel.channelId, publish.publish_id);
    expect(foreign.status).toBe(409);
    const part = await SELF.fetch(
      `${ORIGIN}/internal/ingest/${channel.channelId}/${publish.publish_id}/heartbeat`,
      { method: 'POST', headers: { Authorization: `Bearer ${intruder.token}` } },
    );
    expect(part.status).toBe(409);
    const master = await SELF.fetch(`${ORIGIN}/live/${channel.channelId}/master.m3u8`);
    expect(master.status).not.toBe(200);
    expect((await putInitAs(holder.token, channel.channelId, publish.publish_id)).status).toBe(204);
  });

  it('answers 409 to a node uploading to a publish the fleet never placed', async () => {
    const channel = await createTestChannel({ tier: 'none' });
    const res = await SELF.fetch(`${ORIGIN}/internal/ingest/authorize`, {
      method: 'POST',
      headers: { ...INGEST_AUTH, 'Content-Type': 'application/json' },
      body: JSON.stringify({ stream_key: channel.streamKey }),
    });
    const publish = (await res.json()) as { publish_id: string };
    expect((await putInitAs(intruder.token, channel.channelId, publish.publish_id)).status).toBe(409);
  });

  it('names the claims a node makes for streams it does not hold as foreign', async () => {
    const channel = await createTestChannel({ tier: 'none' });
    const publish = await placeOnNode(holder, channel.streamKey);
    const res = await heartbeat(intruder, { claims: [publish.publish_id] });
    expect(await res.json()).toEqual({ state: 'active', foreign: [publish.publish_id] });
    const own = await heartbeat(holder, { claims: [publish.publish_id] });
    expect(await own.json()).toEqual({ state: 'active', foreign: [] });
  });
});

describe('a publisher reconnecting through another node before its dead node is detected', () => {
  it('refuses it while the old publish still uploads, then hands it the same stream once the old one is silent, cutting the old node off and freeing its slots', async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    const first = await placeOnNode(a, channel.streamKey);
    expect((await putInitAs(a.token, channel.channelId, first.publish_id)).status).toBe(204);
    const stream = env.LIVE_STREAM.getByName(channel.channelId);

    // A second encoder with the key while the publish uploads: refused, nothing placed for it.
    await runInTestLiveStream(stream, (instance) => instance.setTimings({ takeoverSilenceMs: 60_000 }));
    const duplicate = await authorizeOnNode(b, channel.streamKey);
    expect(duplicate.status).toBe(409);
    expect(await duplicate.json()).toMatchObject({ error: { code: 'already_publishing' } });
    expect((await registryStub().snapshot()).placements.map((p) => p.nodeId)).toEqual(['node-a']);

    // node-a dies: no upload since. node-a is still 'active' in the registry (not yet 6 s silent).
    await runInTestLiveStream(stream, (instance) => instance.setTimings({ takeoverSilenceMs: 0 }));
    const reconnect = await placeOnNode(b, channel.streamKey);
    expect(reconnect).toMatchObject({ stream_id: first.stream_id, continued: true });
    expect(reconnect.publish_id).not.toBe(first.publish_id);
    const snapshot = await registryStub().snapshot();
    expect(snapshot.nodes.find((n) => n.nodeId === 'node-a')?.state).toBe('active');
    expect(snapshot.placements.map((p) => [p.nodeId, p.publishId])).toEqual([
      ['node-b', reconnect.publish_id],
    ]);
    // Were node-a only cut off from the origin, its next upload is refused and it drops the publisher.
    expect((await putInitAs(a.token, channel.channelId, first.publish_id)).status).toBe(409);
    expect((await putInitAs(b.token, channel.channelId, reconnect.publish_id)).status).toBe(204);
  });

  it('never displaces a publish that has not uploaded yet before the publisher timeout (its node may still be starting it)', async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    await placeOnNode(a, channel.streamKey);
    const stream = env.LIVE_STREAM.getByName(channel.channelId);
    await runInTestLiveStream(stream, (instance) => instance.setTimings({ takeoverSilenceMs: 0 }));
    const second = await authorizeOnNode(b, channel.streamKey);
    expect(second.status).toBe(409);
    expect((await registryStub().snapshot()).placements.map((p) => p.nodeId)).toEqual(['node-a']);
  });
});
