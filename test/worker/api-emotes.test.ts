// Emote uploads racing each other: two uploads of one name at once must leave one emote, one image
// in R2 and a 409 for the loser, never a 500 and an image that no row points to; a malformed
// multipart body is a 400, never a 500.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { callApi, readError, signUp } from './api-helpers.ts';

/** A 1x1 PNG. */
const PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

async function countEmoteImages(): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const listed = await env.MEDIA.list({ prefix: 'emotes/', ...(cursor === undefined ? {} : { cursor }) });
    count += listed.objects.length;
    if (!listed.truncated) break;
    cursor = listed.cursor;
  }
  return count;
}

describe('emote uploads', () => {
  it('answers concurrent uploads of one name with one 201 and 409s, leaving no orphaned image', async () => {
    const owner = await signUp('emoterace');
    const before = await countEmoteImages();
    const uploads = await Promise.all(
      Array.from({ length: 5 }, () =>
        callApi(`/channels/${owner.channel.id}/emotes`, {
          method: 'POST',
          token: owner.token,
          body: { name: 'raceEmote', image_base64: PNG_BASE64 },
        }),
      ),
    );
    const statuses = uploads.map((res) => res.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409]);
    for (const res of uploads.filter((r) => r.status === 409)) {
      expect((await readError(res)).code).toBe('conflict');
    }
    const rows = await env.DB.prepare('SELECT image_key FROM emotes WHERE channel_id = ?')
      .bind(owner.channel.id)
      .all<{ image_key: string }>();
    expect(rows.results).toHaveLength(1);
    expect(await countEmoteImages()).toBe(before + 1);
    expect(await env.MEDIA.head(rows.results[0]?.image_key ?? '')).not.toBeNull();
  });

  it('answers a multipart body with a missing or wrong boundary 400 with the JSON error body, never 500', async () => {
    const owner = await signUp('emotebad');
    for (const [contentType, body] of [
      ['multipart/form-data; boundary=xyz', 'not a multipart body'],
      ['multipart/form-data', '--abc\r\nContent-Disposition: form-data; name="name"\r\n\r\nx'],
    ] as const) {
      const res = await SELF.fetch(`http://localhost/api/v1/channels/${owner.channel.id}/emotes`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${owner.token}`, 'Content-Type': contentType },
        body,
      });
      expect(res.status).toBe(400);
      expect((await readError(res)).code).toBe('bad_request');
    }
  });
});
