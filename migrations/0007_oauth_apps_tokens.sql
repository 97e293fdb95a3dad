-- OAuth2 for third-party tools (docs/twitch-compat.md): applications developers register, the
-- authorization codes and device codes of the flows in progress, and the access and refresh tokens
-- they end in. Like sessions, every secret (client secret, code, token) is stored only as its
-- SHA-256, so a leaked database yields nothing usable.

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
