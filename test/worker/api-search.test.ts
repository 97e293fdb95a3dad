// Search: the FTS5 rows keyed by rowid, and live streams found however many offline channels
// outrank them.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { prepareSearchIndexRefresh } from '../../workers/shared/search-index.ts';
import { callApi, signUp } from './api-helpers.ts';

/** A channel (and its user) written straight to D1 and indexed, far cheaper than a signup. */
async function seedChannel(name: string, displayName = name): Promise<string> {
  const userId = crypto.randomUUID();
  const channelId = crypto.randomUUID();
  const now = Date.now();
  const db = env.DB;
  await db.batch([
    db
      .prepare("INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, 'x', ?)")
      .bind(userId, name, now),
    db
      .prepare(
        'INSERT INTO channels (id, user_id, name, display_name, stream_key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .bind(channelId, userId, name, displayName, `hash-${channelId}`, now),
    ...prepareSearchIndexRefresh(db, channelId),
  ]);
  return channelId;
}

function createWord(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replaceAll('-', '').slice(0, 8)}`;
}

const SearchResults = z.object({
  channels: z.array(z.object({ id: z.string() })),
  streams: z.array(z.object({ stream_id: z.string() })),
});

describe('search index rows', () => {
  it('keeps one row per channel whose rowid is its search_documents id, through repeated refreshes', async () => {
    const owner = await signUp('rowid');
    for (const display_name of ['First', 'Second']) {
      await callApi(`/channels/${owner.channel.id}`, {
        method: 'PATCH',
        token: owner.token,
        body: { display_name },
      });
    }
    const rows = await env.DB.prepare(
      `SELECT i.rowid AS rowid, d.id AS document_id, i.display_name FROM search_index i
       JOIN search_documents d ON d.channel_id = i.channel_id WHERE d.channel_id = ?`,
    )
      .bind(owner.channel.id)
      .all<{ rowid: number; document_id: number; display_name: string }>();
    expect(rows.results).toHaveLength(1);
    expect(rows.results[0]?.rowid).toBe(rows.results[0]?.document_id);
    expect(rows.results[0]?.display_name).toBe('Second');
  });

  it('deletes the old row by rowid, reading a handful of rows rather than the whole index', async () => {
    for (let i = 0; i < 30; i++) await seedChannel(createWord('filler_'));
    const channelId = await seedChannel(createWord('target_'));
    const total = await env.DB.prepare('SELECT count(*) AS n FROM search_index').first<{ n: number }>();
    expect(total?.n).toBeGreaterThan(30);
    const results = await env.DB.batch(prepareSearchIndexRefresh(env.DB, channelId));
    const deleted = results[1];
    expect(deleted?.meta.changes).toBeGreaterThan(0);
    // Deleting by the UNINDEXED channel_id reads every row of the index (31 and more here).
    expect(deleted?.meta.rows_read).toBeLessThan(10);
  });
});

describe('search results', () => {
  it('finds a live stream by its title even when more than 20 offline channels rank higher', async () => {
    const word = createWord('Capybara');
    // Offline channels whose name and display name both hold the word outrank a title-only match.
    for (let i = 0; i < 22; i++) await seedChannel(`${word}_${i}`, `${word} ${word}`);
    const streamer = await signUp('quietname');
    const start = await callApi('/streams/start', {
      method: 'POST',
      token: streamer.token,
      body: { channel_id: streamer.channel.id, title: `Live ${word}` },
    });
    const { stream_id } = z.object({ stream_id: z.string() }).parse(await start.json());
    await env.DB.batch([
      env.DB.prepare("UPDATE streams SET status = 'live', started_at = ? WHERE id = ?").bind(
        Date.now(),
        stream_id,
      ),
      ...prepareSearchIndexRefresh(env.DB, streamer.channel.id),
    ]);

    const results = SearchResults.parse(await (await callApi(`/search?q=${word.toLowerCase()}`)).json());
    expect(results.channels).toHaveLength(20);
    expect(results.channels.map((c) => c.id)).not.toContain(streamer.channel.id);
    expect(results.streams.map((s) => s.stream_id)).toEqual([stream_id]);
  });
});
