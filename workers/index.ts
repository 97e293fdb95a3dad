// The single deployable Worker: the API under /api/v1, playback and the internal ingest endpoint
// (origin), the chat sockets, and the web app's static assets for everything else. It also exports
// the Durable Object classes, the queue consumer and the cron handler.
import { Hono } from 'hono';
import { apiApp } from './api/index.ts';
import { chatApp } from './chat/index.ts';
import { runScheduled } from './cron.ts';
import { eventSubWsApp } from './eventsub/websocket.ts';
import { helixApp, helixNotFound } from './helix/index.ts';
import { consumeWithMetrics, metricsApp, recordRequestMetrics } from './metrics/index.ts';
import { developerAppsApp } from './oauth/developer-apps.ts';
import { oauth2App } from './oauth/index.ts';
import { originApp } from './origin/index.ts';
import { vodPlaybackApp } from './origin/vod-playback.ts';
import { consumeQueueBatch } from './queues/index.ts';
import { handleError, handleNotFound } from './shared/errors.ts';
import { allowWhepConnect, readWhepOrigin } from './shared/web-csp.ts';

export { ChannelEngagement } from '../durable-objects/channel-engagement/channel-engagement.ts';
export { ChatRoom } from '../durable-objects/chat-room/chat-room.ts';
export { ChatShard } from '../durable-objects/chat-shard/chat-shard.ts';
export { EventSubSession } from '../durable-objects/eventsub/eventsub-session.ts';
export { EventSubWebhook } from '../durable-objects/eventsub/eventsub-webhook.ts';
export { FleetRegistry } from '../durable-objects/fleet/fleet-registry.ts';
export { LiveStream } from '../durable-objects/live-stream/live-stream.ts';
export { PlatformMetrics } from '../durable-objects/metrics/platform-metrics.ts';
export { RateLimiter } from '../durable-objects/rate-limiter.ts';
export { TranscoderContainer } from '../durable-objects/transcoder-container.ts';

const app = new Hono<{ Bindings: Env }>();
app.onError(handleError);
app.use('*', recordRequestMetrics);
// API answers are JSON or images we label ourselves: browsers must not sniff them into something
// else (docs/security.md). The web app's own headers come from web/public/_headers.
app.use('/api/*', async (c, next) => {
  await next();
  c.header('X-Content-Type-Options', 'nosniff');
});
app.get('/api/v1/health', (c) => c.json({ ok: true }));
app.route('/api/v1/developer/apps', developerAppsApp);
app.route('/api/v1', apiApp);
// Twitch-compatible surfaces (docs/twitch-compat.md): id.twitch.tv/oauth2 and api.twitch.tv/helix.
app.route('/oauth2', oauth2App);
app.route('/helix', helixApp);
// EventSub over WebSocket, as wss://eventsub.wss.twitch.tv/ws (workers/eventsub/websocket.ts).
app.route('/', eventSubWsApp);
app.route('/', originApp);
app.route('/', vodPlaybackApp);
app.route('/', chatApp);
app.route('/', metricsApp);
// Unknown API, playback and internal paths are JSON 404s, never the web app's index.html.
app.all('/api/*', handleNotFound);
app.all('/internal/*', handleNotFound);
app.all('/oauth2/*', handleNotFound);
app.all('/helix/*', helixNotFound);
// The web app's documents: their CSP gets the WHEP endpoint's origin (workers/shared/web-csp.ts).
app.all('*', async (c) =>
  allowWhepConnect(await c.env.ASSETS.fetch(c.req.raw), c.req.path, readWhepOrigin(c.env.WHIP_INGEST_URL)),
);

export default {
  fetch: app.fetch,
  queue: (batch, env, ctx) => consumeWithMetrics(batch, env, ctx, consumeQueueBatch),
  scheduled: runScheduled,
} satisfies ExportedHandler<Env>;

export type App = typeof app;
