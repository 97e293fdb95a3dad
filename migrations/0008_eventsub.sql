-- EventSub (docs/twitch-compat.md, "EventSub"): subscriptions as Helix's
-- /eventsub/subscriptions lists them, and the WebSocket sessions they may be delivered to.
-- Notifications are not stored here: a webhook subscription's pending messages live in its
-- EventSubWebhook object (durable-objects/eventsub/), a WebSocket's in nothing (Twitch does not
-- retry WebSocket notifications either).

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
