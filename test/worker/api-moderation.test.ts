// The channel role lists (GET /channels/{id}/moderators and /vips) through the real Worker, with
// roles granted by the same REST routes the web app uses.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callApi, readError, signUp } from './api-helpers.ts';

const RoleList = z.object({
  data: z.array(z.object({ user_id: z.string(), username: z.string(), created_at: z.iso.datetime() })),
});

describe('channel role lists', () => {
  it('lists moderators and VIPs with their names to the broadcaster and to moderators', async () => {
    const owner = await signUp('rolesown');
    const mod = await signUp('rolesmod');
    const vip = await signUp('rolesvip');
    const base = `/channels/${owner.channel.id}`;
    for (const path of [`${base}/moderators/${mod.user.id}`, `${base}/vips/${vip.user.id}`]) {
      expect((await callApi(path, { method: 'POST', token: owner.token })).status).toBe(200);
    }
    for (const reader of [owner, mod]) {
      const mods = RoleList.parse(
        await (await callApi(`${base}/moderators`, { token: reader.token })).json(),
      );
      expect(mods.data.map(({ user_id, username }) => ({ user_id, username }))).toEqual([
        { user_id: mod.user.id, username: mod.user.username },
      ]);
      const vips = RoleList.parse(await (await callApi(`${base}/vips`, { token: reader.token })).json());
      expect(vips.data.map((m) => m.user_id)).toEqual([vip.user.id]);
    }

    await callApi(`${base}/vips/${vip.user.id}`, { method: 'DELETE', token: owner.token });
    const after = RoleList.parse(await (await callApi(`${base}/vips`, { token: owner.token })).json());
    expect(after.data).toEqual([]);
  });

  it('refuses the lists to VIPs and viewers (403), anonymous callers (401) and unknown channels (404)', async () => {
    const owner = await signUp('rolesown2');
    const vip = await signUp('rolesvip2');
    const viewer = await signUp('rolesview');
    const base = `/channels/${owner.channel.id}`;
    await callApi(`${base}/vips/${vip.user.id}`, { method: 'POST', token: owner.token });
    for (const list of ['moderators', 'vips']) {
      for (const outsider of [vip, viewer]) {
        const res = await callApi(`${base}/${list}`, { token: outsider.token });
        expect(res.status).toBe(403);
        expect((await readError(res)).code).toBe('forbidden');
      }
      expect((await callApi(`${base}/${list}`)).status).toBe(401);
      const missing = await callApi(`/channels/no-such-channel/${list}`, { token: owner.token });
      expect(missing.status).toBe(404);
      expect((await readError(missing)).code).toBe('not_found');
    }
  });
});
