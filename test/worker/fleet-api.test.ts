// What the streamer sees of the fleet through the API: POST /streams/start names a backup ingest
// address beside the front one, and the dashboard's stream-key answer carries the reason the
// fleet refused the channel's last publish until a publish is placed again.
import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callApi, signUp } from './api-helpers.ts';
import { authorizeOnNode, placeOnNode, registerNode, resetRegistry } from './fleet-fixtures.ts';
import { createTestChannel } from './origin-fixtures.ts';

const Started = z.object({ stream_key: z.string(), ingest_url: z.string(), backup_ingest_url: z.string() });
const StreamKey = z.object({
  stream_key: z.string(),
  ingest_notice: z.object({ code: z.string(), message: z.string(), at: z.number() }).nullable(),
});

beforeEach(resetRegistry);

describe('the fleet as the streamer sees it', () => {
  it('names the front and the backup ingest addresses when a stream starts', async () => {
    const user = await signUp('fleetstart');
    const res = await callApi('/streams/start', {
      method: 'POST',
      token: user.token,
      body: { channel_id: user.channel.id },
    });
    expect(res.status).toBe(200);
    const body = Started.parse(await res.json());
    expect(body.ingest_url).toBe(env.RTMP_INGEST_URL);
    expect(body.backup_ingest_url).toBe(env.BACKUP_RTMP_INGEST_URL);
  });

  it('shows the owner why the fleet refused the last publish, and clears it once a publish is placed', async () => {
    const user = await signUp('fleetnotice');
    const readKey = async () =>
      StreamKey.parse(
        await (await callApi(`/channels/${user.channel.id}/stream-key`, { token: user.token })).json(),
      );
    const { stream_key } = await readKey();
    expect((await readKey()).ingest_notice).toBeNull();

    const node = await registerNode('node-a', { max_streams: 1 });
    const other = await createTestChannel({ tier: 'none' });
    const holding = await placeOnNode(node, other.streamKey);
    const refused = await authorizeOnNode(node, stream_key);
    expect(refused.status).toBe(503);
    const notice = (await readKey()).ingest_notice;
    expect(notice).toMatchObject({ code: 'fleet_full', message: expect.stringMatching(/full/) });
    expect(Math.abs((notice?.at ?? 0) - Date.now())).toBeLessThan(60_000);

    // The other stream ends; the streamer's retry is placed and the notice goes.
    await env.FLEET_REGISTRY.getByName('global').releasePublish(holding.publish_id);
    await placeOnNode(node, stream_key);
    expect((await readKey()).ingest_notice).toBeNull();
  });
});
