-- Discovery (workers/api/routes/recommendations.ts, categories.ts) and VOD highlights
-- (workers/api/routes/highlights.ts).
-- Categories are managed by operators (ADMIN_TOKEN): retired_at hides one from the listing and
-- from new streams while the streams that had it keep showing it; box_art_key is its image in R2
-- (box_art_url is the public path the API serves it at). The eight seeded in 0001 stay as they are.
ALTER TABLE categories ADD COLUMN retired_at INTEGER;
ALTER TABLE categories ADD COLUMN box_art_key TEXT;
CREATE UNIQUE INDEX idx_categories_name ON categories (name COLLATE NOCASE);
-- What a signed-in viewer watched, per category: bumped from the player's presence signal at most
-- once an hour per (user, category), so a viewer has at most one row per category.
CREATE TABLE category_views (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  category_id INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
  watches INTEGER NOT NULL DEFAULT 1,
  watched_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, category_id)
);
-- A saved range of a VOD, kept when the VOD expires: its playlists are its own (highlights/{id}/),
-- and the retention sweep leaves the segments first_msn..last_msn (and the inits) of its stream.
CREATE TABLE highlights (
  id TEXT PRIMARY KEY,
  vod_id TEXT NOT NULL REFERENCES vods(id) ON DELETE CASCADE,
  stream_id TEXT NOT NULL,
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  start_seconds REAL NOT NULL,
  duration_seconds REAL NOT NULL,
  first_msn INTEGER NOT NULL,
  last_msn INTEGER NOT NULL,
  view_count INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_highlights_stream ON highlights (stream_id);
CREATE INDEX idx_highlights_vod ON highlights (vod_id);
CREATE INDEX idx_highlights_channel ON highlights (channel_id, created_at DESC);
