// Chat moderation over REST. Every route calls the same ChatRoom.moderate RPC that chat commands
// use, so "/ban name" in chat and POST /channels/{id}/bans obey one set of rules (who may, what
// happens, what is mirrored to D1).
import { createRoute, z } from '@hono/zod-openapi';
import {
  MAX_AUTO_SLOW_THRESHOLD,
  MAX_SAMPLE_PER_SECOND,
  MIN_SAMPLE_PER_SECOND,
} from '../../../durable-objects/chat/auto-slow.ts';
import { MAX_ALLOWED_DOMAINS } from '../../../durable-objects/chat/automod.ts';
import type { ModerationAction, ModerationOutcome } from '../../../durable-objects/chat/types.ts';
import { MAX_FOLLOWERS_MINUTES, MAX_SLOW_SECONDS, MAX_TIMEOUT_SECONDS } from '../../../protocol/chat.ts';
import { optionalUser, requireUser } from '../../shared/auth.ts';
import { ApiError, notFound, rateLimited } from '../../shared/errors.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
} from '../lib/router.ts';

const ChannelParams = z.object({
  id: pathParam('id'),
});
const ChannelUserParams = ChannelParams.extend({
  user: pathParam('user', 'user id or login'),
});
const ChannelMessageParams = ChannelParams.extend({
  msg_id: pathParam('msg_id'),
});

const BanSchema = z
  .object({
    user_id: z.string(),
    login: z.string(),
    kind: z.enum(['ban', 'timeout']),
    reason: z.string(),
    moderator_id: z.string().nullable(),
    created_at: z.number().int(),
    expires_at: z.number().int().nullable(),
  })
  .openapi('ChatBan');

const CreateBanBody = z
  .object({
    user_id: z.string().min(1).max(100).openapi({ description: 'user id or login' }),
    /** Absent or null: a permanent ban; a number: a timeout. */
    duration_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).nullable().optional(),
    reason: z.string().max(500).default(''),
  })
  .openapi('CreateChatBan');

const ChatSettingsSchema = z
  .object({
    slow_seconds: z.number().int().min(0).max(MAX_SLOW_SECONDS),
    subscribers_only: z.boolean(),
    emote_only: z.boolean(),
    followers_only_minutes: z.number().int().min(-1).max(MAX_FOLLOWERS_MINUTES),
    unique_chat: z.boolean(),
    banned_words: z.array(z.string().min(1).max(100)).max(500),
    automod: z.boolean().openapi({ description: 'Hold caps, repeated characters and links for a moderator' }),
    automod_allowed_domains: z
      .array(z.string().min(1).max(253))
      .max(MAX_ALLOWED_DOMAINS)
      .openapi({ description: 'Domains (and subdomains) links may point to without being held' }),
    auto_slow_messages_per_second: z
      .number()
      .int()
      .min(0)
      .max(MAX_AUTO_SLOW_THRESHOLD)
      .openapi({ description: 'Messages per second that turn slow mode on by itself; 0 is off' }),
    auto_slow_seconds: z.number().int().min(1).max(MAX_SLOW_SECONDS),
    sample_messages_per_second: z
      .number()
      .int()
      .min(MIN_SAMPLE_PER_SECOND)
      .max(MAX_SAMPLE_PER_SECOND)
      .openapi({ description: 'Messages per second each viewer reads before chat is sampled' }),
  })
  .openapi('ChatSettings');
// auto_slow_active is not in it: the room alone sets it (a client's copy is dropped unread).
const PatchSettingsBody = ChatSettingsSchema.partial().openapi('PatchChatSettings');
/** What moderators read: the settings and whether slow mode is on by the automatic rule now. */
const ModeratorChatSettingsSchema = ChatSettingsSchema.extend({
  auto_slow_active: z.boolean().openapi({ description: 'read-only: slow mode is on by the automatic rule' }),
}).openapi('ModeratorChatSettings');
/**
 * What anyone may read: the modes. Banned words, AutoMod and the automatic slow mode and sampling
 * thresholds are present only for the broadcaster and moderators.
 */
const PublicChatSettingsSchema = ModeratorChatSettingsSchema.partial()
  .required({
    slow_seconds: true,
    subscribers_only: true,
    emote_only: true,
    followers_only_minutes: true,
    unique_chat: true,
  })
  .openapi('PublicChatSettings');

const ResultSchema = z.object({ code: z.string(), message: z.string() }).openapi('ModerationResult');
const RaidBody = z.object({
  to_channel: z.string().min(1).max(100).openapi({ description: 'channel id or name' }),
});

/**
 * The room of a channel that exists in D1; 404 otherwise, before any object is touched, so a
 * random channel id never creates a ChatRoom (docs/security.md).
 */
export async function getRoom(env: Env, channelId: string) {
  const channel = await env.DB.prepare('SELECT id FROM channels WHERE id = ?').bind(channelId).first();
  if (!channel) throw notFound('Channel');
  return env.CHAT_ROOM.getByName(channelId);
}

/** The one place a moderation outcome becomes an HTTP status. */
const STATUS_BY_OUTCOME = { forbidden: 403, 'not-found': 404, rejected: 422 } as const;

/** A refused action becomes the matching error of the one taxonomy. */
function unwrapOutcome(outcome: ModerationOutcome): { code: string; message: string } {
  if (outcome.kind === 'done') return { code: outcome.code, message: outcome.message };
  if (outcome.kind === 'rate-limited') throw rateLimited(outcome.retryAfterMs / 1000, outcome.message);
  const status = STATUS_BY_OUTCOME[outcome.kind];
  throw new ApiError(status, status === 403 ? 'forbidden' : outcome.code, outcome.message, {
    details: { reason: outcome.code },
  });
}

async function moderate(env: Env, channelId: string, actorId: string, action: ModerationAction) {
  return unwrapOutcome(await (await getRoom(env, channelId)).moderate(channelId, actorId, action));
}

const RoleMemberSchema = z
  .object({ user_id: z.string(), username: z.string(), created_at: z.string() })
  .openapi('ChannelRoleMember');
const RoleMemberRow = z.object({ user_id: z.string(), username: z.string(), created_at: z.number() });
type ChannelRole = 'moderator' | 'vip';

const roleListRoute = (path: '/channels/{id}/moderators' | '/channels/{id}/vips') =>
  createRoute({
    method: 'get',
    path,
    tags: ['moderation'],
    summary: `The channel's ${path.endsWith('vips') ? 'VIPs' : 'moderators'} (broadcaster and moderators)`,
    security: BearerSecurity,
    middleware: [requireUser] as const,
    request: { params: ChannelParams },
    responses: {
      200: jsonContent(z.object({ data: z.array(RoleMemberSchema) }), 'Role holders, earliest grant first'),
      ...describeErrors(401, 403, 404),
    },
  });

/** Who holds `role` in the channel, for the broadcaster and its moderators (404, then 403). */
async function listRoleMembers(env: Env, channelId: string, actorId: string, role: ChannelRole) {
  // The room decides who moderates, as it does for bans, so the two lists obey one rule.
  if (!(await (await getRoom(env, channelId)).canModerate(channelId, actorId))) {
    throw new ApiError(403, 'forbidden', 'Only the broadcaster and moderators see channel roles');
  }
  const { results } = await env.DB.prepare(
    `SELECT r.user_id, u.username, r.created_at FROM channel_roles r JOIN users u ON u.id = r.user_id
     WHERE r.channel_id = ? AND r.role = ? ORDER BY r.created_at, u.username`,
  )
    .bind(channelId, role)
    .all();
  return results.map((row) => {
    const member = RoleMemberRow.parse(row);
    return { ...member, created_at: new Date(member.created_at).toISOString() };
  });
}

const roleRoute = (
  method: 'post' | 'delete',
  path: '/channels/{id}/moderators/{user}' | '/channels/{id}/vips/{user}',
) =>
  createRoute({
    method,
    path,
    tags: ['moderation'],
    summary: `${method === 'post' ? 'Grant' : 'Revoke'} a channel role (broadcaster only)`,
    security: BearerSecurity,
    middleware: [requireUser] as const,
    request: { params: ChannelUserParams },
    responses: { 200: jsonContent(ResultSchema, 'Done'), ...describeErrors(401, 403, 404, 422) },
  });

export const moderationApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/bans',
      tags: ['moderation'],
      summary: 'Active bans and timeouts of a channel (moderators)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: {
        200: jsonContent(z.object({ bans: z.array(BanSchema) }), 'Bans'),
        ...describeErrors(401, 403, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const room = await getRoom(c.env, id);
      // Bans are a moderator's view of the channel, as on Twitch.
      const allowed = await room.canModerate(id, c.var.user.id);
      if (!allowed) throw new ApiError(403, 'forbidden', 'Only the broadcaster and moderators see bans');
      return c.json({ bans: (await room.listBans(id)) ?? [] }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/bans',
      tags: ['moderation'],
      summary: 'Ban (no duration) or time out (duration_seconds) a user in chat',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams, body: jsonBody(CreateBanBody) },
      responses: { 201: jsonContent(ResultSchema, 'Banned'), ...describeErrors(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const action: ModerationAction =
        body.duration_seconds === undefined || body.duration_seconds === null
          ? { kind: 'ban', target: body.user_id, reason: body.reason }
          : { kind: 'timeout', target: body.user_id, seconds: body.duration_seconds, reason: body.reason };
      return c.json(await moderate(c.env, id, c.var.user.id, action), 201);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/channels/{id}/bans/{user}',
      tags: ['moderation'],
      summary: 'Lift a ban or timeout',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelUserParams },
      responses: { 200: jsonContent(ResultSchema, 'Unbanned'), ...describeErrors(401, 403, 404) },
    }),
    async (c) => {
      const { id, user } = c.req.valid('param');
      return c.json(await moderate(c.env, id, c.var.user.id, { kind: 'unban', target: user }), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/channels/{id}/chat/messages/{msg_id}',
      tags: ['moderation'],
      summary: 'Delete one chat message',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelMessageParams },
      responses: { 200: jsonContent(ResultSchema, 'Deleted'), ...describeErrors(401, 403, 404) },
    }),
    async (c) => {
      const { id, msg_id } = c.req.valid('param');
      return c.json(await moderate(c.env, id, c.var.user.id, { kind: 'delete', messageId: msg_id }), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/chat/settings',
      tags: ['moderation'],
      summary: 'Chat modes of a channel; banned words too for its broadcaster and moderators',
      middleware: [optionalUser] as const,
      request: { params: ChannelParams },
      responses: { 200: jsonContent(PublicChatSettingsSchema, 'Settings'), ...describeErrors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const room = await getRoom(c.env, id);
      const settings = await room.getSettings(id);
      if (!settings) throw notFound('Channel');
      // Banned words tell a troll what to misspell: moderators' eyes only (Twitch's blocked terms).
      const user = c.var.user;
      if (user && (await room.canModerate(id, user.id))) return c.json(settings, 200);
      const { slow_seconds, subscribers_only, emote_only, followers_only_minutes, unique_chat } = settings;
      return c.json({ slow_seconds, subscribers_only, emote_only, followers_only_minutes, unique_chat }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'patch',
      path: '/channels/{id}/chat/settings',
      tags: ['moderation'],
      summary: 'Change chat modes and banned words (moderators)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams, body: jsonBody(PatchSettingsBody) },
      responses: {
        200: jsonContent(ModeratorChatSettingsSchema, 'Updated'),
        ...describeErrors(400, 401, 403, 404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await moderate(c.env, id, c.var.user.id, { kind: 'settings', patch: c.req.valid('json') });
      const settings = await (await getRoom(c.env, id)).getSettings(id);
      if (!settings) throw notFound('Channel');
      return c.json(settings, 200);
    },
  )
  .openapi(roleListRoute('/channels/{id}/moderators'), async (c) => {
    const { id } = c.req.valid('param');
    return c.json({ data: await listRoleMembers(c.env, id, c.var.user.id, 'moderator') }, 200);
  })
  .openapi(roleListRoute('/channels/{id}/vips'), async (c) => {
    const { id } = c.req.valid('param');
    return c.json({ data: await listRoleMembers(c.env, id, c.var.user.id, 'vip') }, 200);
  })
  .openapi(roleRoute('post', '/channels/{id}/moderators/{user}'), async (c) => {
    const { id, user } = c.req.valid('param');
    const action: ModerationAction = { kind: 'role', role: 'moderator', grant: true, target: user };
    return c.json(await moderate(c.env, id, c.var.user.id, action), 200);
  })
  .openapi(roleRoute('delete', '/channels/{id}/moderators/{user}'), async (c) => {
    const { id, user } = c.req.valid('param');
    const action: ModerationAction = { kind: 'role', role: 'moderator', grant: false, target: user };
    return c.json(await moderate(c.env, id, c.var.user.id, action), 200);
  })
  .openapi(roleRoute('post', '/channels/{id}/vips/{user}'), async (c) => {
    const { id, user } = c.req.valid('param');
    const action: ModerationAction = { kind: 'role', role: 'vip', grant: true, target: user };
    return c.json(await moderate(c.env, id, c.var.user.id, action), 200);
  })
  .openapi(roleRoute('delete', '/channels/{id}/vips/{user}'), async (c) => {
    const { id, user } = c.req.valid('param');
    const action: ModerationAction = { kind: 'role', role: 'vip', grant: false, target: user };
    return c.json(await moderate(c.env, id, c.var.user.id, action), 200);
  })
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/raids',
      tags: ['moderation'],
      summary: "Raid another channel with this channel's audience (broadcaster only)",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams, body: jsonBody(RaidBody) },
      responses: {
        201: jsonContent(ResultSchema, 'Raid started'),
        ...describeErrors(400, 401, 403, 404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const action: ModerationAction = { kind: 'raid', target: c.req.valid('json').to_channel };
      return c.json(await moderate(c.env, id, c.var.user.id, action), 201);
    },
  );

export type ModerationApp = typeof moderationApp;
