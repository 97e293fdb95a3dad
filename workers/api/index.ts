// The API under /api/v1: one sub-app per resource, body limits, the Idempotency-Key middleware for POSTs, and
// the OpenAPI document generated from the same zod schemas the validators use.

import { paymentsApp } from '../payments/routes.ts';
import { handleError, handleNotFound } from '../shared/errors.ts';
import { createApiRouter } from './lib/router.ts';
import { limitRequestBody } from './middleware/body-limits.ts';
import { handleIdempotencyKey } from './middleware/idempotency.ts';
import { authApp } from './routes/auth.ts';
import { autoHostApp } from './routes/auto-host.ts';
import { automodApp } from './routes/automod.ts';
import { categoriesApp } from './routes/categories.ts';
import { channelRewardsApp } from './routes/channel-rewards.ts';
import { channelsApp } from './routes/channels.ts';
import { clipsApp } from './routes/clips.ts';
import { emotesApp } from './routes/emotes.ts';
import { engagementApp } from './routes/engagement.ts';
import { followsApp } from './routes/follows.ts';
import { highlightsApp } from './routes/highlights.ts';
import { moderationApp } from './routes/moderation.ts';
import { notificationsApp } from './routes/notifications.ts';
import { presenceApp } from './routes/presence.ts';
import { recommendationsApp } from './routes/recommendations.ts';
import { scheduleApp } from './routes/schedule.ts';
import { searchApp } from './routes/search.ts';
import { sessionsApp } from './routes/sessions.ts';
import { streamsApp } from './routes/streams.ts';
import { tierProgramApp } from './routes/tier-program.ts';
import { usersApp } from './routes/users.ts';
import { vodsApp } from './routes/vods.ts';

const app = createApiRouter();
app.onError(handleError);
app.notFound(handleNotFound);
// The body limit comes first: nothing, the Idempotency-Key hash included, reads an oversized body.
app.use('*', limitRequestBody);
app.use('*', handleIdempotencyKey);
app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer' });

export const apiApp = app
  .route('/auth', authApp)
  .route('/auth', sessionsApp)
  .route('/users', usersApp)
  .route('/', followsApp)
  .route('/', moderationApp)
  .route('/', automodApp)
  .route('/', emotesApp)
  .route('/channels', channelsApp)
  .route('/streams', streamsApp)
  .route('/categories', categoriesApp)
  .route('/search', searchApp)
  .route('/notifications', notificationsApp)
  .route('/payments', paymentsApp)
  .route('/', vodsApp)
  .route('/', highlightsApp)
  .route('/', clipsApp)
  .route('/', tierProgramApp)
  .route('/', presenceApp)
  .route('/', scheduleApp)
  .route('/', autoHostApp)
  .route('/', engagementApp)
  .route('/', channelRewardsApp)
  .route('/', recommendationsApp)
  .doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'edgestream API', version: '1.0.0' },
    servers: [{ url: '/api/v1' }],
  });

/** For Hono's typed client: `hc<ApiApp>('https://host/api/v1')`. */
export type ApiApp = typeof apiApp;
