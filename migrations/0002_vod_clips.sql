-- Past broadcasts, clips and chat replay: what a VOD needs beyond its vods row, chat tombstones
-- for the replay, and the retention sweeps' resumable cursors.

-- How a VOD's position maps to wall clock: one run per stretch without a reconnect, so a clip at
-- "VOD second N" and a chat message's sent_at land at the same place. runs is JSON
-- [{start_seconds, pdt, duration_seconds}]; renditions is the JSON list of rendition names.
CREATE TABLE vod_timelines (
  vod_id TEXT PRIMARY KEY REFERENCES vods(id) ON DELETE CASCADE,
  stream_id TEXT NOT NULL,
  first_pdt INTEGER NOT NULL,
  runs TEXT NOT NULL,
  renditions TEXT NOT NULL,
  clip_rendition TEXT NOT NULL
);

-- Chat messages removed after they were archived (chat.message_deleted); the replay leaves them out.
CREATE TABLE chat_tombstones (
  channel_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (channel_id, message_id)
);

-- Where a batched retention sweep stopped, so the next cron run resumes there.
CREATE TABLE retention_cursors (
  name TEXT PRIMARY KEY,
  cursor TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
