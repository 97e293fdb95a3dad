// Categories managed by operators: create, rename, box art (type, size, cache headers), retire, all
// behind ADMIN_TOKEN with the API's JSON errors; the eight seeded ones keep working, and a retired
// category stays on the streams that had it while no new stream can take it.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MAX_BOX_ART_BYTES } from '../../protocol/limits.ts';
import { callApi, readError, signUp } from './api-helpers.ts';
import { createUserToken, helix } from './oauth-helpers.ts';

const ADMIN = { Authorization: 'Bearer test-admin-token' };
const AdminCategory = z.object({
  id: z.number(),
  slug: z.string(),
  name: z.string(),
  box_art_url: z.string().nullable(),
  retired: z.boolean(),
});
const Listing = z.object({ data: z.array(z.looseObject({ id: z.number(), slug: z.string() })) });

const PNG = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
]);
const JPEG = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0]);

function uniqueName(prefix: string): string {
  return `${prefix} ${crypto.randomUUID().slice(0, 8)}`;
}

async function createCategory(name: string): Promise<z.infer<typeof AdminCategory>> {
  const res = await callApi('/categories/admin', { method: 'POST', headers: ADMIN, body: { name } });
  expect(res.status).toBe(201);
  return AdminCategory.parse(await res.json());
}

function putBoxArt(
  id: number,
  body: Uint8Array,
  contentType: string,
  headers: Record<string, string> = ADMIN,
) {
  return SELF.fetch(`http://localhost/api/v1/categories/admin/${id}/box-art`, {
    method: 'PUT',
    headers: { ...headers, 'Content-Type': contentType, 'CF-Connecting-IP': '203.0.113.9' },
    body,
  });
}

describe('categories managed by operators', () => {
  it('keeps the seeded categories listed, each with its slug', async () => {
    const listing = Listing.parse(await (await callApi('/categories')).json());
    const slugs = listing.data.map((c) => c.slug);
    expect(slugs).toEqual(expect.arrayContaining(['just-chatting', 'music', 'fortnite', 'irl']));
  });

  it('refuses every admin route without the operator token, with the JSON error body', async () => {
    const user = await signUp('notadmin');
    const attempts = [
      callApi('/categories/admin', { method: 'POST', body: { name: uniqueName('Nope') } }),
      callApi('/categories/admin', { method: 'POST', token: user.token, body: { name: uniqueName('Nope') } }),
      callApi('/categories/admin/1', { method: 'PATCH', token: user.token, body: { name: 'Hijacked' } }),
      callApi('/categories/admin/1', { method: 'DELETE', headers: { Authorization: 'Bearer wrong' } }),
      putBoxArt(1, PNG, 'image/png', { Authorization: `Bearer ${user.token}` }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(401);
      expect((await readError(res)).code).toBe('unauthorized');
    }
    const justChatting = await env.DB.prepare(
      'SELECT name, retired_at, box_art_key FROM categories WHERE id = 1',
    ).first();
    expect(justChatting).toEqual({ name: 'Just Chatting', retired_at: null, box_art_key: null });
  });

  it('creates a category with a slug from its name, lists it, renames it, and refuses duplicates', async () => {
    const name = uniqueName('Retro Games');
    const created = await createCategory(name);
    expect(created.slug).toBe(name.toLowerCase().replaceAll(' ', '-'));
    expect(created.retired).toBe(false);
    const listing = Listing.parse(await (await callApi('/categories')).json());
    expect(listing.data.some((c) => c.id === created.id)).toBe(true);

    const duplicate = await callApi('/categories/admin', {
      method: 'POST',
      headers: ADMIN,
      body: { name: name.toUpperCase() },
    });
    expect(duplicate.status).toBe(409);
    expect((await readError(duplicate)).code).toBe('conflict');
    const takenSlug = await callApi(`/categories/admin/${created.id}`, {
      method: 'PATCH',
      headers: ADMIN,
      body: { slug: 'just-chatting' },
    });
    expect(takenSlug.status).toBe(409);

    const renamed = await callApi(`/categories/admin/${created.id}`, {
      method: 'PATCH',
      headers: ADMIN,
      body: { name: `${name} Classics` },
    });
    expect(renamed.status).toBe(200);
    expect(AdminCategory.parse(await renamed.json())).toMatchObject({
      name: `${name} Classics`,
      slug: created.slug,
    });

    const bad = await callApi('/categories/admin', {
      method: 'POST',
      headers: ADMIN,
      body: { name: 'Bad\u200bName' },
    });
    expect(bad.status).toBe(400);
    expect((await readError(bad)).code).toBe('validation_failed');
    const unknown = await callApi('/categories/admin/987654', {
      method: 'PATCH',
      headers: ADMIN,
      body: { name: uniqueName('X') },
    });
    expect(unknown.status).toBe(404);
    expect((await readError(unknown)).code).toBe('not_found');
  });

  it('stores box art in R2 and serves it immutable, with its type, under a new URL per upload', async () => {
    const category = await createCategory(uniqueName('Box Art'));
    const res = await putBoxArt(category.id, PNG, 'image/png');
    expect(res.status).toBe(200);
    const withArt = AdminCategory.parse(await res.json());
    expect(withArt.box_art_url).toMatch(
      new RegExp(`^/api/v1/categories/${category.id}/box-art/[0-9a-f]{32}$`),
    );
    const image = await SELF.fetch(`http://localhost${withArt.box_art_url}`);
    expect(image.status).toBe(200);
    expect(image.headers.get('Content-Type')).toBe('image/png');
    expect(image.headers.get('Cache-Control')).toBe('public, max-age=31536000, immutable');
    expect(image.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(new Uint8Array(await image.arrayBuffer())).toEqual(PNG);
    // The listing shows it.
    const listing = Listing.parse(await (await callApi('/categories')).json());
    expect(listing.data.find((c) => c.id === category.id)).toMatchObject({
      box_art_url: withArt.box_art_url,
    });

    const replaced = AdminCategory.parse(await (await putBoxArt(category.id, JPEG, 'image/jpeg')).json());
    expect(replaced.box_art_url).not.toBe(withArt.box_art_url);
    expect((await SELF.fetch(`http://localhost${replaced.box_art_url}`)).headers.get('Content-Type')).toBe(
      'image/jpeg',
    );
    // The old object is gone from R2.
    expect((await SELF.fetch(`http://localhost${withArt.box_art_url}`)).status).toBe(404);
  });

  it('refuses oversized box art, a type that is not an image, and bytes that are not the declared type', async () => {
    const category = await createCategory(uniqueName('Refusals'));
    const huge = new Uint8Array(MAX_BOX_ART_BYTES + 1);
    huge.set(PNG);
    const tooLarge = await putBoxArt(category.id, huge, 'image/png');
    expect(tooLarge.status).toBe(413);
    expect((await readError(tooLarge)).code).toBe('payload_too_large');

    const svg = await putBoxArt(
      category.id,
      new TextEncoder().encode('<svg onload="alert(1)"/>'),
      'image/svg+xml',
    );
    expect(svg.status).toBe(415);
    expect((await readError(svg)).code).toBe('unsupported_media_type');
    const lying = await putBoxArt(
      category.id,
      new TextEncoder().encode('<html><script>x</script>'),
      'image/png',
    );
    expect(lying.status).toBe(415);
    const mismatched = await putBoxArt(category.id, JPEG, 'image/png');
    expect(mismatched.status).toBe(415);

    const row = await env.DB.prepare('SELECT box_art_key FROM categories WHERE id = ?')
      .bind(category.id)
      .first();
    expect(row).toEqual({ box_art_key: null });
    expect((await env.MEDIA.list({ prefix: `box-art/${category.id}/` })).objects).toEqual([]);
  });

  it('retires a category: off the listing and refused for new streams, still shown on the stream that had it', async () => {
    const category = await createCategory(uniqueName('Retiring'));
    const owner = await signUp('retire');
    const start = await callApi('/streams/start', {
      method: 'POST',
      token: owner.token,
      body: { channel_id: owner.channel.id, category: category.id },
    });
    expect(start.status).toBe(200);
    const { stream_id } = z.object({ stream_id: z.string() }).parse(await start.json());
    await env.DB.prepare("UPDATE streams SET status = 'live', started_at = ? WHERE id = ?")
      .bind(Date.now(), stream_id)
      .run();

    const retired = await callApi(`/categories/admin/${category.id}`, { method: 'DELETE', headers: ADMIN });
    expect(retired.status).toBe(200);
    expect(AdminCategory.parse(await retired.json()).retired).toBe(true);

    const listing = Listing.parse(await (await callApi('/categories')).json());
    expect(listing.data.some((c) => c.id === category.id)).toBe(false);
    const live = z
      .object({ category: z.object({ id: z.number(), name: z.string() }).nullable() })
      .parse(await (await callApi(`/streams/${owner.channel.id}/live`)).json());
    expect(live.category).toEqual(expect.objectContaining({ id: category.id, name: category.name }));
    // Old links to the category page keep working.
    expect((await callApi(`/categories/${category.slug}`)).status).toBe(200);

    const other = await signUp('retire2');
    const refused = await callApi('/streams/start', {
      method: 'POST',
      token: other.token,
      body: { channel_id: other.channel.id, category: category.slug },
    });
    expect(refused.status).toBe(422);
    expect((await readError(refused)).message).toContain('Unknown category');
  });

  it('gives Helix clients the box art as an absolute URL and leaves retired categories out of top games and search', async () => {
    const name = uniqueName('Helix Art');
    const category = await createCategory(name);
    const withArt = AdminCategory.parse(await (await putBoxArt(category.id, PNG, 'image/png')).json());
    const { app, tokens } = await createUserToken([]);
    const auth = { clientId: app.client_id, token: tokens.access_token };
    const Games = z.object({
      data: z.array(z.object({ id: z.string(), name: z.string(), box_art_url: z.string() })),
    });
    const games = Games.parse(await (await helix(`/games?id=${category.id}`, auth)).json());
    expect(games.data).toEqual([
      expect.objectContaining({ name, box_art_url: `http://localhost${withArt.box_art_url}` }),
    ]);
    const query = encodeURIComponent(name.split(' ').at(-1) ?? '');
    expect(
      Games.parse(await (await helix(`/search/categories?query=${query}`, auth)).json()).data,
    ).toHaveLength(1);

    expect(
      (await callApi(`/categories/admin/${category.id}`, { method: 'DELETE', headers: ADMIN })).status,
    ).toBe(200);
    expect(Games.parse(await (await helix(`/search/categories?query=${query}`, auth)).json()).data).toEqual(
      [],
    );
    const top = Games.parse(await (await helix('/games/top?first=100', auth)).json());
    expect(top.data.some((g) => g.id === String(category.id))).toBe(false);
    // Looked up by id it is still there: streams and VODs that had it name it.
    expect(Games.parse(await (await helix(`/games?id=${category.id}`, auth)).json()).data).toHaveLength(1);
  });
});
