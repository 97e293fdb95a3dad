-- Payments, second part (docs/payments.md): community gift subscriptions and partial refunds.

-- How many subscriptions a gift order buys: 1 for a named recipient, up to MAX_COMMUNITY_GIFTS for
-- a community gift to viewers present in chat.
ALTER TABLE payment_orders ADD COLUMN quantity INTEGER NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 100);

-- One row per subscription of a community gift, written when its payment is applied. Its id
-- (`<payment intent>:gift:<n>`) is also the month's subscription_months source, so a gift slot is
-- granted once whatever event delivers it. recipient_id is null when no eligible viewer was
-- present for that slot (docs/payments.md says what happens to it).
CREATE TABLE subscription_gifts (
  id TEXT PRIMARY KEY,
  payment_intent TEXT NOT NULL,
  gifter_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  recipient_id TEXT,
  tier INTEGER NOT NULL,
  nonce TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_subscription_gifts_payment ON subscription_gifts (payment_intent);

-- Partial refunds: Stripe's charge.refunded carries the cumulative amount refunded. The payment
-- keeps the largest applied (an older, smaller event arriving late changes nothing); a reversal
-- recorded before its payment keeps it too (null: the whole payment).
ALTER TABLE payments ADD COLUMN refunded_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payment_reversals ADD COLUMN refunded_cents INTEGER;

-- Each refund step applied to a payment: from the amount refunded before to the new cumulative
-- amount, the bits it took back and the bits already cheered that it could not. The key makes a
-- step a compare-and-set: two deliveries computed from the same starting point cannot both commit
-- (the second fails its batch and is retried from the new state).
CREATE TABLE payment_refunds (
  payment_intent TEXT NOT NULL,
  from_cents INTEGER NOT NULL,
  to_cents INTEGER NOT NULL,
  bits_taken INTEGER NOT NULL DEFAULT 0,
  bits_unrecovered INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (payment_intent, from_cents)
);

-- The subscriber-count sweep finds subscriptions that ran out since its last run (workers/cron.ts).
CREATE INDEX idx_subscriptions_expiry ON subscriptions (expires_at);

-- Ad breaks a streamer started (docs/payments.md, "Ads") and their impressions: one per viewer per
-- break, counted when a player fetches the break's asset list and is not a subscriber.
CREATE TABLE ad_breaks (
  id TEXT PRIMARY KEY,
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  stream_id TEXT NOT NULL,
  duration_seconds INTEGER NOT NULL CHECK (duration_seconds IN (30, 60, 90, 180)),
  started_at INTEGER NOT NULL
);
CREATE INDEX idx_ad_breaks_channel ON ad_breaks (channel_id, started_at);
CREATE TABLE ad_impressions (
  break_id TEXT NOT NULL REFERENCES ad_breaks(id) ON DELETE CASCADE,
  viewer_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (break_id, viewer_key)
);
