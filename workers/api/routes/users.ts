// The signed-in user.
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../shared/auth.ts';
import { BearerSecurity, createApiRouter, describeErrors, jsonContent } from '../lib/router.ts';
import { ChannelSchema, findChannelOfUser, toUser, UserRow, UserSchema } from '../lib/views.ts';

const MeSchema = z.object({ user: UserSchema, channel: ChannelSchema }).openapi('Me');

export const usersApp = createApiRouter().openapi(
  createRoute({
    method: 'get',
    path: '/me',
    tags: ['users'],
    summary: 'The signed-in user and their channel',
    security: BearerSecurity,
    middleware: [requireUser] as const,
    responses: { 200: jsonContent(MeSchema, 'The user and their channel'), ...describeErrors(401) },
  }),
  async (c) => {
    const { id } = c.var.user;
    const row = UserRow.parse(
      await c.env.DB.prepare('SELECT id, username, created_at FROM users WHERE id = ?').bind(id).first(),
    );
    return c.json({ user: toUser(row), channel: await findChannelOfUser(c, id) }, 200);
  },
);
