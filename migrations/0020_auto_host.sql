-- Auto-host (workers/api/routes/auto-host.ts): the channels an offline channel plays, in priority
-- order (position 0 first); at most 10 per channel, enforced by the API.
CREATE TABLE channel_auto_host (
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  target_channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  PRIMARY KEY (channel_id, position)
);
CREATE INDEX idx_channel_auto_host_target ON channel_auto_host (target_channel_id);
