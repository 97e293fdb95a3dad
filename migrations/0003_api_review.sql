-- API review fixes: search rows keyed by a stable integer, an order guard for the bans mirror and
-- for viewer counts, and the credential an idempotent replay re-issues instead of storing it.

-- One stable integer per channel for its search_index row. FTS5 looks rows up fast only by rowid
-- (channel_id is UNINDEXED, so deleting by it scans the whole index), and a rowid of channels
-- itself may change on VACUUM because channels has no INTEGER PRIMARY KEY.
CREATE TABLE search_documents (
  id INTEGER PRIMARY KEY,
  channel_id TEXT NOT NULL UNIQUE REFERENCES channels(id) ON DELETE CASCADE
);

-- Existing index rows keep their rowids as their document ids; a duplicate row of a channel (none
-- is expected) is dropped so that every channel has exactly one.
INSERT OR IGNORE INTO search_documents (id, channel_id) SELECT rowid, channel_id FROM search_index;
DELETE FROM search_index WHERE rowid NOT IN (SELECT id FROM search_documents);

-- When the newest moderation event applied to (channel, user) happened: the bans mirror applies a
-- ban or unban only if it is newer, so retries that reorder them cannot resurrect a lifted ban.
-- No foreign keys: an unban may name a user deleted since, and that must not fail the batch.
CREATE TABLE ban_versions (
  channel_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  PRIMARY KEY (channel_id, user_id)
);

-- When the viewer_count was measured: a late, older viewer.count does not overwrite a newer one.
ALTER TABLE streams ADD COLUMN viewer_count_at INTEGER NOT NULL DEFAULT 0;

-- idempotency_keys gains `reissue`: what a replay re-issues in place of a credential the stored
-- response leaves out. Rebuilt rather than altered: ADD COLUMN would place the column after the
-- PRIMARY KEY constraint, which schema.sql could not spell.
ALTER TABLE idempotency_keys RENAME TO idempotency_keys_0002;
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status INTEGER NOT NULL,
  response_body TEXT NOT NULL,
  reissue TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
);
INSERT INTO idempotency_keys (scope, key, request_hash, status, response_body, created_at)
  SELECT scope, key, request_hash, status, response_body, created_at FROM idempotency_keys_0002;
DROP TABLE idempotency_keys_0002;
