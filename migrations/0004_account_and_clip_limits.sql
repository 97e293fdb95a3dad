-- Hardening of accounts and clips (docs/api.md, "Limits"): failed-login counts per account, the
-- networks an account has logged in from, a session's user agent for the session list, and the
-- channel setting that turns clipping off.

-- Failed logins per username (existing or not, so the answer does not reveal which names exist).
-- Past `failures` of LIMITS.login_account_lockout, logins from unfamiliar networks wait until
-- locked_until.
CREATE TABLE login_failures (
  username TEXT PRIMARY KEY COLLATE NOCASE,
  failures INTEGER NOT NULL,
  last_failure_at INTEGER NOT NULL,
  locked_until INTEGER NOT NULL DEFAULT 0
);

-- Networks (an IPv4 address or an IPv6 /64) an account signed up or logged in from, stored as
-- SHA-256("<user id>:<network>") so the table holds no addresses. A known network is never
-- locked out by failures from elsewhere.
CREATE TABLE known_networks (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  network_hash TEXT NOT NULL,
  last_login_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, network_hash)
);

-- What the session list shows for each session (the browser or tool that logged in).
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';

-- A channel can turn clipping off; clips already made stay.
ALTER TABLE channels ADD COLUMN clips_enabled INTEGER NOT NULL DEFAULT 1;

-- Follower notifications fan out in pages keyed by follower id (workers/queues/notify-followers.ts),
-- so no statement or queue message writes more than a bounded number of rows however large the
-- channel; this row holds where the fan-out of a stream has got to.
CREATE TABLE notification_fanouts (
  stream_id TEXT PRIMARY KEY,
  after_user_id TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX idx_follows_channel_user ON follows (channel_id, user_id);
