-- The affiliate/partner program (workers/api/lib/tier-program.ts): a channel's tier follows its
-- audience, evaluated by the cron trigger, unless an operator set an override. Average viewers come
-- from viewer_seconds, the time-weighted sum of the 10 s viewer counts of each stream.
ALTER TABLE channels ADD COLUMN tier_override TEXT CHECK (tier_override IN ('none', 'affiliate', 'partner'));
ALTER TABLE channels ADD COLUMN tier_evaluated_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE streams ADD COLUMN viewer_seconds INTEGER NOT NULL DEFAULT 0;
-- The cron sweep finds the channels to evaluate from the streams that ended lately.
CREATE INDEX idx_streams_ended ON streams (ended_at);
