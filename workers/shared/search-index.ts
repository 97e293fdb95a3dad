// The FTS5 search_index: one row per channel with its names and, while it is live, the stream's
// title and tags. Written by the API (signup, channel and stream edits) and the stream-events
// consumer. Each row's rowid is the channel's search_documents id: FTS5 finds a row quickly only by
// rowid or by MATCH, so keying rows by the UNINDEXED channel_id would scan the whole index.

/**
 * Statements that rebuild the channel's row, to be run in the caller's D1 batch. FTS5 has no
 * upsert, so the row is deleted and re-inserted, both by rowid.
 */
export function prepareSearchIndexRefresh(db: D1Database, channelId: string): D1PreparedStatement[] {
  return [
    db
      .prepare('INSERT INTO search_documents (channel_id) VALUES (?) ON CONFLICT (channel_id) DO NOTHING')
      .bind(channelId),
    db
      .prepare(
        'DELETE FROM search_index WHERE rowid = (SELECT id FROM search_documents WHERE channel_id = ?)',
      )
      .bind(channelId),
    db
      .prepare(
        `INSERT INTO search_index (rowid, channel_id, name, display_name, title, tags)
         SELECT d.id, c.id, c.name, c.display_name, coalesce(s.title, ''),
                coalesce((SELECT group_concat(value, ' ') FROM json_each(s.tags)), '')
         FROM channels c
         JOIN search_documents d ON d.channel_id = c.id
         LEFT JOIN streams s ON s.channel_id = c.id AND s.status = 'live'
         WHERE c.id = ?
         LIMIT 1`,
      )
      .bind(channelId),
  ];
}

const MAX_QUERY_TERMS = 8;

/**
 * Turns free text into a safe FTS5 query: every term is quoted (so FTS5 operators and column
 * filters in user input are inert) and prefix-matched; terms are ANDed. Null when nothing is left.
 */
export function buildFtsQuery(text: string): string | null {
  const terms = text.match(/[\p{L}\p{N}_]+/gu)?.slice(0, MAX_QUERY_TERMS) ?? [];
  if (terms.length === 0) return null;
  return terms.map((term) => `"${term.replaceAll('"', '""')}"*`).join(' ');
}
