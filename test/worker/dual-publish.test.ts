// A dual publish in workerd (docs/deploy.md, "Dual publish"): the encoder's backup publish
// (`backup: true`) is admitted beside a live one as its warm standby on another node, nothing it
// sends is listed, and its claim puts it on air once the live publish went silent: the same
// stream after a discontinuity, the silent publish cut off and its node's placement given back.
// An encoder that stopped streaming does not put its standby on air; a key reset ends the standby.
import { env, SELF } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AuthorizeResponse } from '../../protocol/ingest.ts';
import { registerNode, resetRegistry, type TestNode } from './fleet-fixtures.ts';
import {
  createTestChannel,
  findTags,
  getPlaylist,
  ORIGIN,
  postIngest,
  publishSegment,
  putInit,
  putPart,
  runInTestLiveStream,
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

const authorize = (node: TestNode, streamKey: string, backup: boolean) =>
  authorizeOn(node, streamKey, { backup });
const admit = (node: TestNode, streamKey: string, backup: boolean) => admitOn(node, streamKey, { backup });
const claim = (node: TestNode, publish: AuthorizeResponse) => callPublish(node, publish, 'standby');
const silence = setTakeoverSilence;
const placements = listPlacements;

describe('dual publish', () => {
  it('keeps the backup publish warm and unlisted on another node, then puts it on air once the live publish goes silent', async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    const primary = await admit(a, channel.streamKey, false);
    expect((await putInit(primary, 'source')).status).toBe(204);
    const start = Date.now() - 4_000;
    await publishSegment(primary, 'source', 0, { pdt: start });
    expect((await putPart(primary, 'source', 1, 0, { pdt: start + 2_000 })).status).toBe(204);
    expect((await putPart(primary, 'source', 1, 1, { pdt: start + 2_200 })).status).toBe(204);
    await silence(channel.channelId, 60_000);

    const backup = await admit(b, channel.streamKey, true);
    expect(backup).toMatchObject({ stream_id: primary.stream_id, standby: true });
    expect(backup.publish_id).not.toBe(primary.publish_id);
    expect(await placements()).toEqual([
      ['node-a', primary.publish_id],
      ['node-b', backup.publish_id],
    ]);
    // One standby at a time, and a second publish without the flag is refused as before.
    expect((await authorize(b, channel.streamKey, true)).status).toBe(409);
    expect((await authorize(a, channel.streamKey, false)).status).toBe(409);
    expect(await placements()).toHaveLength(2);

    // Warm: its claims say wait, its heartbeats are accepted, anything it would upload is refused.
    expect(await readClaim(b, backup)).toEqual({ state: 'standby' });
    expect((await postIngest(backup, 'heartbeat')).status).toBe(204);
    expect((await putInit(backup, 'source')).status).toBe(409);
    // Only the node it was placed on may claim for it.
    expect((await claim(a, backup)).status).toBe(409);

    // node-a dies: nothing uploaded since. The next claim puts the backup on air.
    await silence(channel.channelId, 0);
    const promoted = await readClaim(b, backup);
    expect(promoted).toEqual({ state: 'promoted', next_msn: 2, after_pdt: start + 2_400 });
    expect(await placements()).toEqual([['node-b', backup.publish_id]]);
    expect((await putPart(primary, 'source', 1, 2)).status).toBe(409);
    expect((await putInit(backup, 'source')).status).toBe(204);
    expect((await putPart(backup, 'source', 2, 0, { pdt: start + 2_000 })).status).toBe(204);
    const playlist = await (await getPlaylist(channel.channelId, 'source.m3u8')).text();
    expect(findTags(playlist, '#EXT-X-DISCONTINUITY')).toHaveLength(1);
    expect(playlist.slice(playlist.indexOf('#EXT-X-DISCONTINUITY'))).toContain('#EXT-X-PART:');
    // A claim repeated on air (its answer lost on the way) gets the same answer again.
    expect(await readClaim(b, backup)).toEqual(promoted);
  });

  it("admits the encoder's primary as the standby of a publish that came as the backup", async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    const backup = await admit(b, channel.streamKey, true);
    expect(backup.standby).toBeUndefined();
    expect((await putInit(backup, 'source')).status).toBe(204);
    const primary = await admit(a, channel.streamKey, false);
    expect(primary).toMatchObject({ stream_id: backup.stream_id, standby: true });
    expect(await readClaim(a, primary)).toEqual({ state: 'standby' });
  });

  it('keeps the standby off air when the encoder stopped the stream itself, and ends it with a key reset', async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    const primary = await admit(a, channel.streamKey, false);
    expect((await putInit(primary, 'source')).status).toBe(204);
    await publishSegment(primary, 'source', 0);
    const backup = await admit(b, channel.streamKey, true);
    expect(backup.standby).toBe(true);
    expect((await postIngest(primary, 'end', { reason: 'publisher_closed' })).status).toBe(204);
    expect(await readClaim(b, backup)).toEqual({ state: 'standby' });

    const second = await createTestChannel({ tier: 'none' });
    const live = await admit(a, second.streamKey, false);
    expect((await putInit(live, 'source')).status).toBe(204);
    const standby = await admit(b, second.streamKey, true);
    await env.LIVE_STREAM.getByName(second.channelId).revokePublisher();
    expect((await claim(b, standby)).status).toBe(409);
  });

  it('puts the standby on air when the live publish dropped without its encoder stopping (its connection lost)', async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    const primary = await admit(a, channel.streamKey, false);
    expect((await putInit(primary, 'source')).status).toBe(204);
    await publishSegment(primary, 'source', 0);
    const backup = await admit(b, channel.streamKey, true);
    expect((await postIngest(primary, 'end', { reason: 'publisher_lost' })).status).toBe(204);
    expect(await readClaim(b, backup)).toMatchObject({ state: 'promoted', next_msn: 1 });
  });

  it('answers a claim that comes while the live publish is being dropped only once its open segment is sealed', async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    const primary = await admit(a, channel.streamKey, false);
    expect((await putInit(primary, 'source')).status).toBe(204);
    const start = Date.now() - 4_000;
    await publishSegment(primary, 'source', 0, { pdt: start });
    for (let part = 0; part < 3; part++)
      expect((await putPart(primary, 'source', 1, part, { pdt: start + 2_000 + part * 200 })).status).toBe(
        204,
      );
    const backup = await admit(b, channel.streamKey, true);
    // The node on air reports its encoder's connection lost, and the standby's claim comes in while
    // the object still seals the open segment 1 (R2 reads and writes).
    const claimed = await runInTestLiveStream(
      env.LIVE_STREAM.getByName(channel.channelId),
      async (instance) => {
        const ending = instance.endPublish(primary.publish_id);
        const claiming = instance.claimStandby(backup.publish_id);
        await ending;
        return claiming;
      },
    );
    expect(claimed).toEqual({
      kind: 'promoted',
      nextMsn: 2,
      afterPdt: start + 2_600,
      replaced: null,
      demoted: false,
    });
  });

  it('lets a new backup publish replace a standby that stopped claiming', async () => {
    const a = await registerNode('node-a');
    const b = await registerNode('node-b');
    const channel = await createTestChannel({ tier: 'none' });
    const primary = await admit(a, channel.streamKey, false);
    expect((await putInit(primary, 'source')).status).toBe(204);
    const first = await admit(b, channel.streamKey, true);
    expect(first.standby).toBe(true);
    expect((await authorize(b, channel.streamKey, true)).status).toBe(409);
    // Its node died: no claim for over 2 s (ten claim intervals).
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await putPart(primary, 'source', 0, 0)).status).toBe(204);
    const second = await admit(b, channel.streamKey, true);
    expect(second.standby).toBe(true);
    expect(await placements()).toHaveLength(3);
    // The replaced standby's next claim is refused and its slots are freed at once.
    expect((await claim(b, first)).status).toBe(409);
    expect(await placements()).toEqual([
      ['node-a', primary.publish_id],
      ['node-b', second.publish_id],
    ]);
    expect(await readClaim(b, second)).toEqual({ state: 'standby' });
  });

  it('refuses a claim for a publish that is no standby, and a malformed one', async () => {
    const a = await registerNode('node-a');
    const channel = await createTestChannel({ tier: 'none' });
    const primary = await admit(a, channel.streamKey, false);
    expect((await claim(a, primary)).status).toBe(409);
    // The publisher's own claim frees nothing.
    expect(await placements()).toEqual([['node-a', primary.publish_id]]);
    const stranger = { ...primary, publish_id: crypto.randomUUID() };
    expect((await claim(a, stranger)).status).toBe(409);
    const malformed = await SELF.fetch(`${ORIGIN}/internal/ingest/${channel.channelId}/not-a-uuid/standby`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${a.token}` },
    });
    expect(malformed.status).toBe(400);
  });
});
