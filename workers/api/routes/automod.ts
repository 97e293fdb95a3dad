// AutoMod's queue over HTTP (durable-objects/chat/automod.ts, chat-room/automod-queue.ts): the
// broadcaster and moderators list the messages it holds and approve (sent to everyone) or deny
// (dropped) each one. A message decided once is gone: a second decision is a 404.
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../shared/auth.ts';
import { forbidden, notFound } from '../../shared/errors.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
} from '../lib/router.ts';
import { getRoom } from './moderation.ts';

const ChannelParams = z.object({ id: pathParam('id', 'The channel id') });
const HeldParams = z.object({ id: pathParam('id', 'The channel id'), msg_id: pathParam('msg_id') });
const HeldMessageSchema = z
  .object({
    id: z.string(),
    user: z.object({ id: z.string(), name: z.string(), display_name: z.string() }),
    content: z.string(),
    reason: z.enum(['caps', 'repeated_characters', 'link']),
    detail: z.string(),
    held_at: z.string(),
  })
  .openapi('AutomodHeldMessage');
const DecisionBody = z
  .object({ action: z.enum(['approve', 'deny']) })
  .strict()
  .openapi('AutomodDecision');
const ResultSchema = z.object({ code: z.string(), message: z.string() }).openapi('AutomodResult');

export const automodApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/chat/automod',
      tags: ['moderation'],
      summary: 'Messages AutoMod holds for a decision, oldest first (broadcaster and moderators)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: {
        200: jsonContent(z.object({ data: z.array(HeldMessageSchema) }), 'Held messages'),
        ...describeErrors(401, 403, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const held = await (await getRoom(c.env, id)).listHeldMessages(id, c.var.user.id);
      if (held === null) throw notFound('Channel');
      if (held === 'forbidden') throw forbidden('Only the broadcaster and moderators see held messages');
      return c.json(
        {
          data: held.map((h) => ({
            id: h.message.id,
            user: {
              id: h.message.user.id,
              name: h.message.user.name,
              display_name: h.message.user.display_name,
            },
            content: h.message.content,
            reason: h.reason,
            detail: h.detail,
            held_at: new Date(h.held_at).toISOString(),
          })),
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/chat/automod/{msg_id}',
      tags: ['moderation'],
      summary: 'Approve (send) or deny (drop) a held message',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: HeldParams, body: jsonBody(DecisionBody) },
      responses: { 200: jsonContent(ResultSchema, 'Decided'), ...describeErrors(400, 401, 403, 404) },
    }),
    async (c) => {
      const { id, msg_id } = c.req.valid('param');
      const room = await getRoom(c.env, id);
      const outcome = await room.resolveHeldMessage(
        id,
        c.var.user.id,
        msg_id,
        c.req.valid('json').action === 'approve',
      );
      if (outcome.kind === 'forbidden') throw forbidden(outcome.message);
      if (outcome.kind === 'not-found') throw notFound('Held message');
      return c.json({ code: outcome.code, message: outcome.message }, 200);
    },
  );
