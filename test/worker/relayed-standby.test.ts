// A relayed standby in workerd (docs/deploy.md, "Relayed standby"): the fleet node holding the
// encoder's connection relays the source to another node (`relay: true`), admitted only as the
// stream's warm standby. The publish on air whose transcode fails yields: the standby goes on air
// and the yielding publish becomes its standby, keeping its node's placement. A relay's source that
// falls silent is demoted the same way rather than cut off; a relay replaced on air is cut off.
import { beforeEach, describe, expect, it } from 'vitest';
import { type AuthorizeResponse, RelayTargetResponse, YieldResponse } from '../../protocol/ingest.ts';
import { registerNode, resetRegistry, type TestNode } from './fleet-fixtures.ts';
import {
  createTestChannel,
  findTags,
  getPlaylist,
  postIngest,
  publishSegment,
  putInit,
  putPart,
} from './origin-fixtures.ts';
import {
  admitOn,
  authorizeOn,
  callPublish,
  listPlacements,
  readClaim,
  setTakeoverSilence,
} from './standby-fixtures.ts';

beforeEach(resetRegistry);

const authorize = (node: TestNode, streamKey: string, relay = false) =>
  authorizeOn(node, streamKey, { relay });
const admit = (node: TestNode, streamKey: string, relay = false) => admitOn(node, streamKey, { relay });
const call = callPublish;
const silence = setTakeoverSilence;
const placements = listPlacements;

async function readYield(node: TestNode, publish: AuthorizeResponse): Promise<YieldResponse> {
  const res = await call(node, publish, 'yield');
  if (res.status !== 200) throw new Error(`yield answered ${res.status}: ${await res.text()}`);
  return YieldResponse.parse(await res.json());
}

/** A publish on air on `node` with a segment and two parts listed, its last part ending at the result. */
async function goLive(publish: AuthorizeResponse): Promise<number> {
  expect((await putInit(publish, 'source')).status).toBe(204);
  const start = Date.now() - 4_000;
  await publishSegment(publish, 'source', 0, { pdt: start });
  expect((await putPart(publish, 'source', 1, 0, { pdt: start + 2_000 })).status).toBe(204);
  expect((await putPart(publish, 'source', 1, 1, { pdt: start + 2_200 })).status).toBe(204);
  return start + 2_400;
}

/** A stream on air on `source` with its relay's standby warm (it has claimed) on `standby`. */
async function liveWithRelay(source: TestNode, standby: TestNode) {
  const channel = await createTestChannel({ tier: 'none' });
  const primary = await admit(source, channel.streamKey);
  await goLive(primary);
  await silence(channel.channelId, 60_000);
  const relay = await admit(standby, channel.streamKey, true);
  expect(await readClaim(standby, relay)).toEqual({ state: 'standby' });
  return { channel, primary, relay };
}

describe('relayed standby', () => {
  it('tells a node where to relay: another active node with room, never itself, nothing for a publish not placed on it', async () => {
    const a = await registerNode('node-a');
    const channel = await createTestChannel({ tier: 'partner' });
    const primary = await admit(a, channel.streamKey);
    const target = async (node: TestNode | null) =>
      RelayTargetResponse.parse(await (await call(node, primary, 'relay-target')).json()).rtmp_url;
    // Alone in the fleet: nowhere.
    expect(await target(a)).toBeNull();
    const b = await registerNode('node-b', { encode_slots: 8 });
    // A node without room for a partner's 4 slots is passed over.
    await registerNode('node-c', { encode_slots: 2 });
    expect(await target(a)).toBe('rtmp://node-b.ingest.test:1935/live');
    // Another node may not ask for a publish it does not hold (409), the master secret has no fleet.
    expect((await call(b, primary, 'relay-target')).status).toBe(409);
    expect(await target(null)).toBeNull();
  });

  it('admits a relay only as the standby of a live publish, one at a time', async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    // Nothing on air: a relay starts nothing.
    expect((await authorize(b, channel.streamKey, true)).status).toBe(409);
    const primary = await admit(a, channel.streamKey);
    await goLive(primary);
    await silence(channel.channelId, 60_000);
    const relay = await admit(b, channel.streamKey, true);
    expect(relay).toMatchObject({ stream_id: primary.stream_id, standby: true });
    expect((await authorize(b, channel.streamKey, true)).status).toBe(409);
    expect(await readClaim(b, relay)).toEqual({ state: 'standby' });
    expect((await putInit(relay, 'source')).status).toBe(409);
  });

  it('puts the standby on air when the publish on air yields, which then waits as its standby and goes back on air when the other falls silent', async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    const primary = await admit(a, channel.streamKey);
    const listedEnd = await goLive(primary);
    await silence(channel.channelId, 60_000);
    // No standby yet: the publish keeps the air while its ffmpeg restarts.
    expect(await readYield(a, primary)).toEqual({ state: 'kept' });
    const relay = await admit(b, channel.streamKey, true);
    // Admitted but not claiming yet (its transcode has not started): nothing to hand over to.
    expect(await readYield(a, primary)).toEqual({ state: 'kept' });
    expect(await readClaim(b, relay)).toEqual({ state: 'standby' });

    // Its ffmpeg died: the relay goes on air at its next claim, the yielding publish is its standby.
    expect(await readYield(a, primary)).toEqual({ state: 'standby' });
    expect(await readClaim(a, primary)).toEqual({ state: 'standby' });
    const promoted = await readClaim(b, relay);
    expect(promoted).toEqual({ state: 'promoted', next_msn: 2, after_pdt: listedEnd });
    // Both keep their slots: the node holding the encoder still runs the stream's standby.
    expect(await placements()).toEqual([
      ['node-a', primary.publish_id],
      ['node-b', relay.publish_id],
    ]);
    expect((await putPart(primary, 'source', 2, 0)).status).toBe(409);
    expect((await postIngest(primary, 'heartbeat')).status).toBe(204);
    // Only the publish on air yields.
    expect((await call(a, primary, 'yield')).status).toBe(409);
    expect((await putInit(relay, 'source')).status).toBe(204);
    expect((await putPart(relay, 'source', 2, 0, { pdt: listedEnd - 400 })).status).toBe(204);

    // node-b dies (nothing uploaded since): the encoder's node goes back on air, the relay is cut off.
    await silence(channel.channelId, 0);
    const back = await readClaim(a, primary);
    expect(back.state).toBe('promoted');
    expect(await placements()).toEqual([['node-a', primary.publish_id]]);
    expect((await call(b, relay, 'standby')).status).toBe(409);
    expect((await putInit(primary, 'source')).status).toBe(204);
    expect((await putPart(primary, 'source', 3, 0)).status).toBe(204);
    const playlist = await (await getPlaylist(channel.channelId, 'source.m3u8')).text();
    expect(findTags(playlist, '#EXT-X-DISCONTINUITY')).toHaveLength(2);
  });

  it("demotes a relay's silent source to its standby instead of cutting it off", async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const { channel, primary, relay } = await liveWithRelay(a, b);
    // The source's uploads stalled (its node cannot reach the origin a moment): the relay takes over.
    await silence(channel.channelId, 0);
    expect((await readClaim(b, relay)).state).toBe('promoted');
    await silence(channel.channelId, 60_000);
    // The source keeps its slots and its encoder's connection, as the relay's standby.
    expect(await readClaim(a, primary)).toEqual({ state: 'standby' });
    expect(await placements()).toEqual([
      ['node-a', primary.publish_id],
      ['node-b', relay.publish_id],
    ]);
  });

  it("drops a relay whose source was taken over by the encoder's reconnect, and never waits an encoder's publish beside a relay on air", async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const c = await registerNode('node-c');
    const { channel, primary, relay } = await liveWithRelay(a, b);
    // The source's connection went half-open; the encoder reconnects on node-c and takes over.
    await silence(channel.channelId, 0);
    const reconnect = await admit(c, channel.streamKey);
    expect(reconnect.stream_id).toBe(primary.stream_id);
    // The relay had lost its source: it is no standby any more, and must not take the air.
    expect((await call(b, relay, 'standby')).status).toBe(409);
    await silence(channel.channelId, 60_000);
    expect(await listPlacements()).toEqual([['node-c', reconnect.publish_id]]);

    // node-c relays in turn and yields to its relay: the encoder's next publish is refused, not
    // admitted as a standby beside the relay (which is not the encoder's backup).
    const relay2 = await admit(a, channel.streamKey, true);
    expect(await readClaim(a, relay2)).toEqual({ state: 'standby' });
    expect(await readYield(c, reconnect)).toEqual({ state: 'standby' });
    expect((await readClaim(a, relay2)).state).toBe('promoted');
    expect((await authorize(b, channel.streamKey)).status).toBe(409);
  });
});
