-- Monetization on the Twitch developer surface (docs/twitch-compat.md, docs/payments.md).
--
-- The EventSub outbox: platform events (protocol/events.ts) a payment or a cheer produced, written
-- in the same D1 batch as the effect they report, so an effect that committed always has its event.
-- The writer sends them to the stream-events queue right after the commit and deletes them; the
-- cron sends any left behind (a failed send, a crash between commit and send). id is the event's
-- id, derived from what it reports, so a second write or send is the same event to the consumers.
CREATE TABLE eventsub_outbox (
  id TEXT PRIMARY KEY,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_eventsub_outbox_created ON eventsub_outbox (created_at);

-- Resub messages shared in chat: one per subscriber, channel and renewal (cumulative_months, the
-- month the renewal made), so a renewal is shared once (docs/payments.md, "Sharing a resub").
CREATE TABLE resub_shares (
  user_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  cumulative_months INTEGER NOT NULL,
  message TEXT NOT NULL,
  shared_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, channel_id, cumulative_months)
);
