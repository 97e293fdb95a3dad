-- Payments (docs/payments.md): orders priced by the server, every verified provider webhook recorded
-- before any effect, the money received, subscription state kept by the provider's events, the
-- bits ledger (double entry: every transaction's entries sum to zero) and the alerts overlay feed.

-- What a user asked to buy. The amount comes from the server's price table (PAYMENT_PRICES); a
-- webhook whose amount differs from the order's is refused with nothing changed.
CREATE TABLE payment_orders (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  channel_id TEXT REFERENCES channels(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('subscription', 'gift_subscription', 'bits', 'tip')),
  tier INTEGER CHECK (tier IN (1000, 2000, 3000)),
  bits INTEGER,
  recipient_id TEXT REFERENCES users(id) ON DELETE CASCADE,
  message TEXT NOT NULL DEFAULT '',
  amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
  currency TEXT NOT NULL,
  provider_session_id TEXT UNIQUE,
  -- Where the buyer returns after paying (a path of the web app).
  return_path TEXT NOT NULL DEFAULT '/',
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'refused')),
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_payment_orders_user ON payment_orders (user_id, created_at);

-- Every webhook whose signature verified, written before it is queued: the event id is the
-- dedupe key (Stripe retries), `created` orders subscription states (Stripe does not order events).
CREATE TABLE payment_events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  created INTEGER NOT NULL,
  payload TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  processed_at INTEGER,
  outcome TEXT
);

-- Money received, one row per provider payment (payment intent); source_id is the checkout
-- session or invoice that paid it. A refund or dispute marks it and reverses its effect once.
CREATE TABLE payments (
  payment_intent TEXT PRIMARY KEY,
  source_id TEXT NOT NULL UNIQUE,
  order_id TEXT NOT NULL REFERENCES payment_orders(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  user_id TEXT NOT NULL,
  channel_id TEXT,
  amount_cents INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('paid', 'refunded', 'disputed')),
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_payments_channel ON payments (channel_id, created_at);

-- A refund or dispute, kept even when it arrives before the payment it reverses.
CREATE TABLE payment_reversals (
  payment_intent TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('refunded', 'disputed')),
  created_at INTEGER NOT NULL
);

-- Subscription state from the provider. state_version is the `created` time of the latest
-- subscription event applied: an older event arriving late changes nothing.
ALTER TABLE subscriptions ADD COLUMN provider_subscription_id TEXT;
ALTER TABLE subscriptions ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE subscriptions ADD COLUMN streak_months INTEGER NOT NULL DEFAULT 1;
ALTER TABLE subscriptions ADD COLUMN cancel_at_period_end INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN state_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN gifted_by TEXT;
CREATE INDEX idx_subscriptions_provider ON subscriptions (provider_subscription_id);

-- One row per paid subscription month (an invoice or a gift): a month is counted once.
CREATE TABLE subscription_months (
  source_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  period_end INTEGER NOT NULL,
  nonce TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

-- The bits ledger. A balance never goes below zero except the issuance account, whose negative
-- balance is the bits sold and not yet refunded.
CREATE TABLE ledger_accounts (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('user_bits', 'channel_bits', 'issuance')),
  balance INTEGER NOT NULL DEFAULT 0,
  CHECK (kind = 'issuance' OR balance >= 0)
);
-- A transaction's id is its idempotency key (`purchase:<payment intent>`, `cheer:<message id>`).
CREATE TABLE ledger_transactions (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('purchase', 'cheer', 'refund')),
  reference TEXT NOT NULL,
  -- Written by the batch that inserted the row: its other statements apply only when it matches,
  -- so a repeated transaction changes nothing (workers/payments/ledger.ts).
  nonce TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE ledger_entries (
  transaction_id TEXT NOT NULL REFERENCES ledger_transactions(id),
  account_id TEXT NOT NULL REFERENCES ledger_accounts(id),
  amount INTEGER NOT NULL CHECK (amount != 0),
  PRIMARY KEY (transaction_id, account_id)
);
CREATE INDEX idx_ledger_entries_account ON ledger_entries (account_id);

-- What a channel's alerts overlay shows (sub, resub, gift, cheer, tip, raid), newest last.
CREATE TABLE channel_alerts (
  id TEXT PRIMARY KEY,
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('sub', 'resub', 'gift', 'cheer', 'tip', 'raid')),
  user_login TEXT NOT NULL,
  amount INTEGER NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_channel_alerts_channel ON channel_alerts (channel_id, created_at);
