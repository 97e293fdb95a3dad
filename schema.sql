-- The D1 schema, readable whole. migrations/ evolve it; test/worker/schema.test.ts keeps the two
-- equal. Times are Unix epoch milliseconds (INTEGER); ids are UUID strings.

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  -- "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>"
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

-- Bearer tokens are random; only their SHA-256 is stored.
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
  -- What the session list shows (added by ALTER TABLE in 0004, hence the placement).
  , user_agent TEXT NOT NULL DEFAULT '');
CREATE INDEX idx_sessions_user ON sessions (user_id);

-- Failed logins per username (0004; docs/api.md, "Limits"), existing or not, so the answer does
-- not reveal which names exist. Past LIMITS.login_account_lockout.failures, logins from
-- unfamiliar networks wait until locked_until.
CREATE TABLE login_failures (
  username TEXT PRIMARY KEY COLLATE NOCASE,
  failures INTEGER NOT NULL,
  last_failure_at INTEGER NOT NULL,
  locked_until INTEGER NOT NULL DEFAULT 0
);

-- Networks an account signed up or logged in from (0004), as SHA-256("<user id>:<network>"): a
-- known network is never locked out by failures from elsewhere.
CREATE TABLE known_networks (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  network_hash TEXT NOT NULL,
  last_login_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, network_hash)
);

CREATE TABLE categories (
  id INTEGER PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  box_art_url TEXT
  -- Operators manage categories (0018): retired_at hides one from the listing and from new streams
  -- (streams that had it keep showing it); box_art_key is its image in R2, box_art_url the public
  -- path it is served at. Added by ALTER TABLE, hence the placement.
, retired_at INTEGER, box_art_key TEXT);
CREATE UNIQUE INDEX idx_categories_name ON categories (name COLLATE NOCASE);

-- What a signed-in viewer watched, per category (0018): bumped from the player's presence signal
-- at most once an hour per (user, category); read by the recommendations.
CREATE TABLE category_views (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  category_id INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
  watches INTEGER NOT NULL DEFAULT 1,
  watched_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, category_id)
);

CREATE TABLE channels (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  display_name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  avatar_url TEXT,
  banner_url TEXT,
  -- The stream key is never stored: keys are derived with HMAC(STREAM_KEY_SECRET, id:version)
  -- so the owner can see theirs again, and only their SHA-256 is kept for the ingest lookup.
  stream_key_hash TEXT NOT NULL UNIQUE,
  stream_key_version INTEGER NOT NULL DEFAULT 1,
  follower_count INTEGER NOT NULL DEFAULT 0,
  subscriber_count INTEGER NOT NULL DEFAULT 0,
  tier TEXT NOT NULL DEFAULT 'none' CHECK (tier IN ('none', 'affiliate', 'partner')),
  -- The stream info a publish without POST /streams/start goes live with.
  title TEXT NOT NULL DEFAULT '',
  category_id INTEGER REFERENCES categories(id),
  language TEXT NOT NULL DEFAULT 'en',
  tags TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL
  -- The channel's clipping switch (0004) and the affiliate/partner program (0012: an operator's
  -- override wins over the evaluated tier), added by ALTER TABLE, hence the placement.
  , clips_enabled INTEGER NOT NULL DEFAULT 1, tier_override TEXT CHECK (tier_override IN ('none', 'affiliate', 'partner')), tier_evaluated_at INTEGER NOT NULL DEFAULT 0);

-- status: 'pending' (created by POST /streams/start, no media yet) -> 'live' (first part) -> 'ended'.
CREATE TABLE streams (
  id TEXT PRIMARY KEY,
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  title TEXT NOT NULL DEFAULT '',
  category_id INTEGER REFERENCES categories(id),
  language TEXT NOT NULL DEFAULT 'en',
  tags TEXT NOT NULL DEFAULT '[]',
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'live', 'ended')),
  viewer_count INTEGER NOT NULL DEFAULT 0,
  peak_viewers INTEGER NOT NULL DEFAULT 0,
  unique_viewers INTEGER NOT NULL DEFAULT 0,
  renditions TEXT NOT NULL DEFAULT '[]',
  started_at INTEGER,
  ended_at INTEGER,
  duration_seconds INTEGER,
  vod_url TEXT,
  thumbnail_url TEXT,
  created_at INTEGER NOT NULL
  -- When viewer_count was measured: a late, older viewer.count does not overwrite a newer one.
  -- (Added by ALTER TABLE in 0003, hence the placement SQLite gives it.)
  -- viewer_seconds (0012) is the time-weighted sum of the viewer counts: average = viewer_seconds / duration.
  , viewer_count_at INTEGER NOT NULL DEFAULT 0, viewer_seconds INTEGER NOT NULL DEFAULT 0);
CREATE INDEX idx_streams_channel ON streams (channel_id, started_at DESC);
CREATE INDEX idx_streams_category_live ON streams (category_id, status, viewer_count DESC);
CREATE INDEX idx_streams_live_viewers ON streams (status, viewer_count DESC);
CREATE INDEX idx_streams_live_started ON streams (status, started_at DESC);
-- The audience-tier sweep (0012) reads the streams that ended lately.
CREATE INDEX idx_streams_ended ON streams (ended_at);

CREATE TABLE follows (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  -- notifications (0016): the follower's switch for "went live" from this channel, in-app and
  -- push; added by ALTER TABLE, which puts it after the last column, hence the placement.
  created_at INTEGER NOT NULL, notifications INTEGER NOT NULL DEFAULT 1 CHECK (notifications IN (0, 1)),
  PRIMARY KEY (user_id, channel_id)
);
CREATE INDEX idx_follows_channel ON follows (channel_id);
-- Keyset pages of a channel's followers for the notification fan-out (0004).
CREATE INDEX idx_follows_channel_user ON follows (channel_id, user_id);

-- Kept by the payment webhooks (workers/payments/, 0006 adds the provider columns).
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  tier INTEGER NOT NULL CHECK (tier IN (1000, 2000, 3000)),
  cumulative_months INTEGER NOT NULL DEFAULT 1,
  started_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  UNIQUE (user_id, channel_id)
);
CREATE INDEX idx_subscriptions_channel ON subscriptions (channel_id, expires_at);

CREATE TABLE channel_roles (
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('moderator', 'vip')),
  granted_by TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (channel_id, user_id, role)
);

-- The durable record of chat bans and timeouts (the ChatRoom DO is the authority; this mirrors it
-- through the moderation-events queue). expires_at is NULL for a permanent ban.
CREATE TABLE bans (
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('ban', 'timeout')),
  reason TEXT NOT NULL DEFAULT '',
  moderator_id TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (channel_id, user_id)
);

-- When the newest moderation event applied to (channel, user) happened: the bans mirror applies a
-- ban or unban only if it is newer, so retries that reorder them cannot resurrect a lifted ban.
-- No foreign keys: an unban may name a user deleted since, and that must not fail the batch.
CREATE TABLE ban_versions (
  channel_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  PRIMARY KEY (channel_id, user_id)
);

-- channel_id NULL: a global emote.
CREATE TABLE emotes (
  id TEXT PRIMARY KEY,
  channel_id TEXT REFERENCES channels(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  image_key TEXT NOT NULL,
  subscriber_only INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX idx_emotes_name ON emotes (coalesce(channel_id, ''), name);

CREATE TABLE vods (
  id TEXT PRIMARY KEY,
  stream_id TEXT NOT NULL UNIQUE REFERENCES streams(id) ON DELETE CASCADE,
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  title TEXT NOT NULL DEFAULT '',
  duration_seconds REAL NOT NULL DEFAULT 0,
  thumbnail_url TEXT,
  status TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'deleting', 'deleted')),
  view_count INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX idx_vods_channel ON vods (channel_id, created_at DESC);
CREATE INDEX idx_vods_expiry ON vods (status, expires_at);

-- Highlights (0018): a saved range of a VOD, kept when the VOD expires. Its playlists are its own
-- (highlights/{id}/ in R2); the retention sweep leaves its stream's segments first_msn..last_msn
-- and the inits (workers/vod/retention.ts).
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

CREATE TABLE clips (
  id TEXT PRIMARY KEY,
  stream_id TEXT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  vod_id TEXT,
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  creator_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  duration_seconds REAL NOT NULL,
  offset_seconds REAL NOT NULL,
  -- Wall-clock window the clip covers (epoch ms), fixed when the clip is requested.
  window_start INTEGER NOT NULL,
  window_end INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'ready', 'failed')),
  failure_reason TEXT,
  view_count INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  ready_at INTEGER
);
CREATE INDEX idx_clips_channel_recent ON clips (channel_id, created_at DESC);
CREATE INDEX idx_clips_channel_top ON clips (channel_id, view_count DESC);

-- How a VOD's position maps to wall clock: one run per stretch without a reconnect, so a clip at
-- "VOD second N" and a chat message's sent_at land at the same place. runs is JSON
-- [{start_seconds, pdt, duration_seconds}]; renditions is the JSON list of rendition names.
-- VOD chapters (0016): every category a live stream had, from when (epoch ms); the first row is
-- the category it went live with. Written by workers/api/lib/stream-info.ts, read by the VOD API.
CREATE TABLE stream_chapters (
  stream_id TEXT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  category_id INTEGER REFERENCES categories(id),
  PRIMARY KEY (stream_id, at)
);

-- A streamer's weekly schedule (0016; workers/api/routes/schedule.ts): its time zone and its
-- segments as JSON, validated by the API on write and parsed on read.
CREATE TABLE channel_schedules (
  channel_id TEXT PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
  timezone TEXT NOT NULL,
  segments TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

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

-- A POST with an Idempotency-Key replays its first response; the same key with another body is 422.
-- Credentials are never stored: see workers/api/middleware/idempotency.ts.
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status INTEGER NOT NULL,
  response_body TEXT NOT NULL,
  -- What a replay re-issues in place of a credential the stored response leaves out (JSON, e.g.
  -- {"stream_key": "<channel id>"}); NULL when the response carries none.
  reissue TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
);

-- Queue consumers record each event id they have applied, so redeliveries change nothing.
CREATE TABLE processed_events (
  event_id TEXT NOT NULL,
  consumer TEXT NOT NULL,
  processed_at INTEGER NOT NULL,
  PRIMARY KEY (event_id, consumer)
);

-- Messages that exhausted their retries, kept for operators.
CREATE TABLE dead_letters (
  id TEXT PRIMARY KEY,
  queue TEXT NOT NULL,
  body TEXT NOT NULL,
  received_at INTEGER NOT NULL
);

CREATE TABLE notifications (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  channel_id TEXT REFERENCES channels(id) ON DELETE CASCADE,
  stream_id TEXT,
  message TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  read_at INTEGER,
  UNIQUE (user_id, kind, stream_id)
);
CREATE INDEX idx_notifications_user ON notifications (user_id, created_at DESC);

-- The browsers a user subscribed to Web Push (0016; workers/notifications/): the push service's
-- endpoint (allowed hosts only) and the browser's P-256 key and auth secret (RFC 8291), base64url.
CREATE TABLE push_subscriptions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  endpoint TEXT NOT NULL UNIQUE,
  p256dh TEXT NOT NULL,
  auth TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_push_subscriptions_user ON push_subscriptions (user_id, id);

-- Where the follower fan-out of a stream has got to (0004; workers/queues/notify-followers.ts).
CREATE TABLE notification_fanouts (
  stream_id TEXT PRIMARY KEY,
  after_user_id TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Full-text search over channel names and live titles/tags. One row per channel, its rowid the
-- channel's search_documents id, kept current by the API when a channel or its live stream changes.
CREATE VIRTUAL TABLE search_index USING fts5 (
  channel_id UNINDEXED,
  name,
  display_name,
  title,
  tags,
  tokenize = 'unicode61 remove_diacritics 2'
);

-- One stable integer per channel: the rowid of its search_index row. FTS5 looks rows up fast only
-- by rowid (channel_id is UNINDEXED), and a rowid of channels itself may change on VACUUM because
-- channels has no INTEGER PRIMARY KEY.
CREATE TABLE search_documents (
  id INTEGER PRIMARY KEY,
  channel_id TEXT NOT NULL UNIQUE REFERENCES channels(id) ON DELETE CASCADE
);

-- OAuth2 applications, grants, tokens, codes and the Helix rate buckets (0007).
-- A registered application. redirect_uris is a JSON array of exact URIs (RFC 6749 section 3.1.2:
-- the authorization server compares the redirect URI with the registered ones). A public client
-- (a browser or device app) has no secret and must use PKCE or the device flow.
CREATE TABLE oauth_apps (
  client_id TEXT PRIMARY KEY,
  owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  client_secret_hash TEXT,
  client_type TEXT NOT NULL DEFAULT 'confidential' CHECK (client_type IN ('confidential', 'public')),
  redirect_uris TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_oauth_apps_owner ON oauth_apps (owner_id);

-- One grant: what a user (or, user_id NULL, the application itself) allowed an application. Its
-- access and refresh tokens hang off it, so revoking any of them ends the grant as a whole.
CREATE TABLE oauth_grants (
  id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL REFERENCES oauth_apps(client_id) ON DELETE CASCADE,
  user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
  scopes TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_oauth_grants_client ON oauth_grants (client_id);
CREATE INDEX idx_oauth_grants_user ON oauth_grants (user_id);

-- kind 'access' or 'refresh'. Refresh tokens rotate: a refresh deletes the old one.
CREATE TABLE oauth_tokens (
  token_hash TEXT PRIMARY KEY,
  grant_id TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX idx_oauth_tokens_grant ON oauth_tokens (grant_id);

-- An authorization code (RFC 6749 section 4.1) with its PKCE challenge (RFC 7636 section 4.3);
-- used once, short-lived.
CREATE TABLE oauth_codes (
  code_hash TEXT PRIMARY KEY,
  client_id TEXT NOT NULL REFERENCES oauth_apps(client_id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  scopes TEXT NOT NULL DEFAULT '[]',
  redirect_uri TEXT NOT NULL,
  code_challenge TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
-- 0013: the OpenID Connect nonce the code's id_token carries back.
ALTER TABLE oauth_codes ADD COLUMN nonce TEXT;

-- A device authorization (RFC 8628): the device polls with device_code; the user enters user_code
-- on /activate. user_id is set when the user approves.
CREATE TABLE oauth_device_codes (
  device_code_hash TEXT PRIMARY KEY,
  user_code TEXT NOT NULL UNIQUE,
  client_id TEXT NOT NULL REFERENCES oauth_apps(client_id) ON DELETE CASCADE,
  scopes TEXT NOT NULL DEFAULT '[]',
  user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
  last_polled_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);

-- Helix's rate limit, a token bucket per client id (and user) as Twitch keeps it: `points` left at
-- `updated_at`, refilled continuously; allowed says whether the last request took a point.
CREATE TABLE helix_rate_buckets (
  bucket TEXT PRIMARY KEY,
  points REAL NOT NULL,
  allowed INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Payments (0006, docs/payments.md).
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

INSERT INTO categories (id, slug, name) VALUES
  (1, 'just-chatting', 'Just Chatting'),
  (2, 'music', 'Music'),
  (3, 'software-and-game-development', 'Software and Game Development'),
  (4, 'fortnite', 'Fortnite'),
  (5, 'minecraft', 'Minecraft'),
  (6, 'art', 'Art'),
  (7, 'sports', 'Sports'),
  (8, 'irl', 'IRL');

-- 0008_eventsub.sql
-- broadcaster_id is the user id the subscription's condition names as its channel
-- (broadcaster_user_id, or to_/from_broadcaster_user_id): the queue consumer finds the
-- subscriptions of one event with (type, broadcaster_id, status). condition is the JSON object the
-- client sent, checked against the type's schema (workers/eventsub/catalog.ts). secret is the
-- webhook's signing secret: kept, like Twitch keeps it, because every message is signed with it.
CREATE TABLE eventsub_subscriptions (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  version TEXT NOT NULL,
  status TEXT NOT NULL,
  condition TEXT NOT NULL,
  broadcaster_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  user_id TEXT,
  transport_method TEXT NOT NULL CHECK (transport_method IN ('webhook', 'websocket')),
  callback TEXT,
  secret TEXT,
  session_id TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_eventsub_dispatch ON eventsub_subscriptions (type, broadcaster_id, status);
CREATE INDEX idx_eventsub_client ON eventsub_subscriptions (client_id, created_at);
CREATE INDEX idx_eventsub_session ON eventsub_subscriptions (session_id);

-- A connected EventSub WebSocket: which object holds it (it changes when the session moves, see
-- session_reconnect) and, once its first subscription is made, whose it is: a session takes
-- subscriptions of one client and user only.
CREATE TABLE eventsub_sessions (
  id TEXT PRIMARY KEY,
  object_name TEXT NOT NULL,
  client_id TEXT,
  user_id TEXT,
  connected_at INTEGER NOT NULL
);
CREATE INDEX idx_eventsub_sessions_owner ON eventsub_sessions (client_id, user_id);

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

-- Auto-host (0020): the channels an offline channel plays, in priority order.
CREATE TABLE channel_auto_host (
  channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  target_channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  PRIMARY KEY (channel_id, position)
);
CREATE INDEX idx_channel_auto_host_target ON channel_auto_host (target_channel_id);
