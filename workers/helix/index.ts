// Helix under /helix/, shaped as api.twitch.tv/helix (docs/twitch-compat.md): every route needs
// Client-Id and a Bearer token of that client (auth.ts), is rate-limited per client and user, and
// answers `{data, pagination}` or Twitch's `{error, status, message}`. Routes not built answer 404
// in Twitch's shape. EventSub mounts its /eventsub routes into helixApp (workers/eventsub/).
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { eventSubApiApp } from '../eventsub/subscriptions-api.ts';
import {
  HelixError,
  type HelixVariables,
  helixErrorBody,
  helixErrorHandler,
  requireHelixToken,
} from './auth.ts';
import { helixChatContentApp } from './chat-content.ts';
import { helixChatModerationApp } from './chat-moderation.ts';
import { helixModerationRolesApp } from './moderation-roles.ts';
import { helixSubscriptionsBitsApp } from './subscriptions-bits.ts';
import { helixUsersChannelsApp } from './users-channels.ts';
import { helixVideosClipsRaidsApp } from './videos-clips-raids.ts';

export type { HelixVariables } from './auth.ts';
export {
  HelixError,
  helixErrorHandler,
  requireHelixToken,
  requireScope,
  requireSelf,
  requireTokenUser,
} from './auth.ts';

/** Helix bodies are small JSON objects; more than this is refused before it is read. */
export const MAX_HELIX_BODY_BYTES = 64 * 1024;

export const helixApp = new Hono<{ Bindings: Env; Variables: HelixVariables }>();
helixApp.onError(helixErrorHandler);
helixApp.use('*', async (c, next) => {
  await next();
  c.header('X-Content-Type-Options', 'nosniff');
});
helixApp.use(
  '*',
  bodyLimit({
    maxSize: MAX_HELIX_BODY_BYTES,
    onError: () => {
      throw new HelixError(413, 'Request body too large');
    },
  }),
);
helixApp.use('*', requireHelixToken);
helixApp.route('/', helixUsersChannelsApp);
helixApp.route('/', helixChatModerationApp);
helixApp.route('/', helixChatContentApp);
helixApp.route('/', helixVideosClipsRaidsApp);
helixApp.route('/', helixModerationRolesApp);
helixApp.route('/', helixSubscriptionsBitsApp);
helixApp.route('/', eventSubApiApp);

/** Unknown /helix/ paths: Twitch's 404 shape (mounted last in workers/index.ts). */
export function helixNotFound(c: Context): Response {
  return c.json(helixErrorBody(404, 'Not Found'), 404);
}

export type HelixApp = typeof helixApp;
