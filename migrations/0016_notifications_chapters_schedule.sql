-- Web Push for "went live" (workers/notifications/): the browsers a user subscribed, and a
-- per-follow switch for notifications (in-app and push) from that channel.
ALTER TABLE follows ADD COLUMN notifications INTEGER NOT NULL DEFAULT 1 CHECK (notifications IN (0, 1));
CREATE TABLE push_subscriptions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- The push service's URL for one browser (RFC 8030), on an allowed push service's host only.
  endpoint TEXT NOT NULL UNIQUE,
  -- The browser's P-256 public key (65 bytes, uncompressed) and auth secret (16 bytes), base64url
  -- (RFC 8291 section 3).
  p256dh TEXT NOT NULL,
  auth TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_push_subscriptions_user ON push_subscriptions (user_id, id);
-- VOD chapters (workers/api/lib/stream-info.ts, workers/api/routes/vods.ts): every category a
-- live stream had, from when (epoch ms). The first row is the category the stream went live with.
CREATE TABLE stream_chapters (
  stream_id TEXT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  category_id INTEGER REFERENCES categories(id),
  PRIMARY KEY (stream_id, at)
);
-- A streamer's weekly schedule (workers/api/routes/schedule.ts): the time zone its times are in and
-- its segments as JSON (validated by the API on write and parsed on read).
CREATE TABLE channel_schedules (
  channel_id TEXT PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
  timezone TEXT NOT NULL,
  segments TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
