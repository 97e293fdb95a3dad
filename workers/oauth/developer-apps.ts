// The dashboard's "Developer applications" (docs/twitch-compat.md, "OAuth2"), under
// /api/v1/developer/apps: register, list, edit redirect URIs, reset the secret, delete. The client
// secret is in the answer only when it is created or reset.
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { type AuthVariables, requireUser } from '../shared/auth.ts';
import { badRequest, notFound, unprocessable } from '../shared/errors.ts';
import {
  AppInput,
  AppUpdate,
  createApp,
  deleteApp,
  describeApp,
  findApp,
  listApps,
  MAX_APPS_PER_USER,
  type OAuthApp,
  resetAppSecret,
  updateApp,
} from './apps.ts';

const validationHook = (result: { success: boolean; error?: { issues: unknown } }) => {
  if (!result.success) throw badRequest('Request validation failed', result.error?.issues);
};

/** The caller's own app; another account's is 404, so client ids cannot be probed for owners. */
async function requireOwnApp(db: D1Database, clientId: string, userId: string): Promise<OAuthApp> {
  const app = await findApp(db, clientId);
  if (app === null || app.ownerId !== userId) throw notFound('Application');
  return app;
}

export const developerAppsApp = new Hono<{ Bindings: Env; Variables: AuthVariables }>()
  .use('*', requireUser)
  .get('/', async (c) => c.json({ data: (await listApps(c.env.DB, c.get('user').id)).map(describeApp) }))
  .post('/', zValidator('json', AppInput, validationHook), async (c) => {
    const outcome = await createApp(c.env.DB, c.get('user').id, c.req.valid('json'));
    if (outcome.kind === 'too-many')
      throw unprocessable(`At most ${MAX_APPS_PER_USER} applications per account`);
    return c.json({ ...describeApp(outcome.app), client_secret: outcome.clientSecret }, 201);
  })
  .patch('/:clientId', zValidator('json', AppUpdate, validationHook), async (c) => {
    const app = await requireOwnApp(c.env.DB, c.req.param('clientId'), c.get('user').id);
    return c.json(describeApp(await updateApp(c.env.DB, app, c.req.valid('json'))));
  })
  .post('/:clientId/secret', async (c) => {
    const app = await requireOwnApp(c.env.DB, c.req.param('clientId'), c.get('user').id);
    return c.json({ ...describeApp(app), client_secret: await resetAppSecret(c.env.DB, app) });
  })
  .delete('/:clientId', async (c) => {
    const app = await requireOwnApp(c.env.DB, c.req.param('clientId'), c.get('user').id);
    await deleteApp(c.env.DB, app);
    return c.body(null, 204);
  });
