// Custom channel-points rewards and their redemption queue over HTTP (docs/engagement.md). The
// broadcaster manages rewards; any signed-in viewer redeems one with a request id (the same id
// again is the same redemption, charged once); the broadcaster and moderators see the pending
// queue and fulfill or reject each redemption, a rejection refunding the points exactly once.
import { createRoute, z } from '@hono/zod-openapi';
import {
  MAX_REDEMPTION_INPUT_LENGTH,
  MAX_REWARD_COOLDOWN_SECONDS,
  MAX_REWARD_COST,
  MAX_REWARD_PROMPT_LENGTH,
  MAX_REWARD_REDEMPTIONS_PER_STREAM,
  MAX_REWARD_TITLE_LENGTH,
} from '../../../protocol/engagement.ts';
import { requireUser } from '../../shared/auth.ts';
import {
  ENGAGEMENT_ADMIN_RATE,
  ENGAGEMENT_RATE,
  getEngagement,
  limitEngagement,
  RedemptionSchema,
  RequestId,
  RewardSchema,
  requireModerator,
  requireOwner,
  unwrapOutcome,
} from '../lib/engagement.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
} from '../lib/router.ts';

const ChannelParams = z.object({ id: pathParam('id', 'The channel id') });
const RewardParams = z.object({ id: pathParam('id', 'The channel id'), reward_id: pathParam('reward_id') });
const RedemptionParams = z.object({
  id: pathParam('id', 'The channel id'),
  redemption_id: pathParam('redemption_id'),
});

const Limit = z.number().int().min(1).max(MAX_REWARD_REDEMPTIONS_PER_STREAM).nullable();
const RewardFields = {
  title: z.string().trim().min(1).max(MAX_REWARD_TITLE_LENGTH),
  cost: z.number().int().min(1).max(MAX_REWARD_COST),
  /** A question for the viewer: the redemption then needs `input`. Null: no input. */
  prompt: z.string().trim().min(1).max(MAX_REWARD_PROMPT_LENGTH).nullable(),
  enabled: z.boolean(),
  max_per_stream: Limit,
  max_per_user_per_stream: Limit,
  cooldown_seconds: z.number().int().min(0).max(MAX_REWARD_COOLDOWN_SECONDS),
};
const RewardCreate = z
  .object({
    title: RewardFields.title,
    cost: RewardFields.cost,
    prompt: RewardFields.prompt.optional(),
    enabled: RewardFields.enabled.optional(),
    max_per_stream: RewardFields.max_per_stream.optional(),
    max_per_user_per_stream: RewardFields.max_per_user_per_stream.optional(),
    cooldown_seconds: RewardFields.cooldown_seconds.optional(),
  })
  .strict()
  .openapi('CustomRewardCreate');
const RewardPatch = z
  .object(RewardFields)
  .partial()
  .strict()
  .refine((patch) => Object.keys(patch).length > 0, 'Change at least one field')
  .openapi('CustomRewardUpdate');
const RedeemBody = z
  .object({
    request_id: RequestId,
    /** The viewer's answer to the reward's prompt (required when it has one, refused otherwise). */
    input: z.string().trim().min(1).max(MAX_REDEMPTION_INPUT_LENGTH).optional(),
  })
  .strict()
  .openapi('RedemptionCreate');
const DecisionBody = z
  .object({ status: z.enum(['fulfilled', 'canceled']) })
  .strict()
  .openapi('RedemptionDecision');
const QueueQuery = z.object({
  status: z.enum(['pending', 'fulfilled', 'canceled']).default('pending'),
  first: z.coerce.number().int().min(1).max(100).default(50),
});

const ERRORS = describeErrors(400, 401, 403, 404, 409, 422, 429);

export const channelRewardsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/rewards',
      tags: ['engagement'],
      summary: "The channel's custom rewards; paused ones too for the broadcaster",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: { 200: jsonContent(z.object({ data: z.array(RewardSchema) }), 'Rewards'), ...ERRORS },
    }),
    async (c) => {
      const channel = await getEngagement(c.env, c.req.valid('param').id);
      const data = await channel.stub.listRewards(channel.id, c.var.user.id === channel.ownerId);
      return c.json({ data }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/rewards',
      tags: ['engagement'],
      summary: 'Create a custom reward (broadcaster)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams, body: jsonBody(RewardCreate) },
      responses: { 201: jsonContent(RewardSchema, 'Created'), ...ERRORS },
    }),
    async (c) => {
      const channel = await getEngagement(c.env, c.req.valid('param').id);
      requireOwner(channel, c.var.user.id);
      await limitEngagement(c.env, ENGAGEMENT_ADMIN_RATE, c.var.user.id);
      const body = c.req.valid('json');
      const outcome = await channel.stub.addReward(channel.id, {
        title: body.title,
        cost: body.cost,
        prompt: body.prompt ?? null,
        enabled: body.enabled ?? true,
        max_per_stream: body.max_per_stream ?? null,
        max_per_user_per_stream: body.max_per_user_per_stream ?? null,
        cooldown_seconds: body.cooldown_seconds ?? 0,
      });
      return c.json(unwrapOutcome(outcome).value, 201);
    },
  )
  .openapi(
    createRoute({
      method: 'patch',
      path: '/channels/{id}/rewards/{reward_id}',
      tags: ['engagement'],
      summary: 'Change a custom reward (broadcaster): pause, reprice, limits',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: RewardParams, body: jsonBody(RewardPatch) },
      responses: { 200: jsonContent(RewardSchema, 'Updated'), ...ERRORS },
    }),
    async (c) => {
      const { id, reward_id } = c.req.valid('param');
      const channel = await getEngagement(c.env, id);
      requireOwner(channel, c.var.user.id);
      await limitEngagement(c.env, ENGAGEMENT_ADMIN_RATE, c.var.user.id);
      const outcome = await channel.stub.updateReward(channel.id, reward_id, c.req.valid('json'));
      return c.json(unwrapOutcome(outcome).value, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/channels/{id}/rewards/{reward_id}',
      tags: ['engagement'],
      summary: 'Delete a custom reward (broadcaster); its pending redemptions stay in the queue',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: RewardParams },
      responses: { 204: { description: 'Deleted' }, ...ERRORS },
    }),
    async (c) => {
      const { id, reward_id } = c.req.valid('param');
      const channel = await getEngagement(c.env, id);
      requireOwner(channel, c.var.user.id);
      unwrapOutcome(await channel.stub.removeReward(channel.id, reward_id));
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/rewards/{reward_id}/redemptions',
      tags: ['engagement'],
      summary: 'Redeem a reward with channel points (idempotent by request_id)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: RewardParams, body: jsonBody(RedeemBody) },
      responses: {
        200: jsonContent(
          z.object({ redemption: RedemptionSchema, balance: z.number().int() }).openapi('RedemptionResult'),
          'The same request id again: the first redemption, not charged again',
        ),
        201: jsonContent(
          z.object({ redemption: RedemptionSchema, balance: z.number().int() }).openapi('RedemptionResult'),
          'Redeemed: the points are debited and the redemption waits in the queue',
        ),
        ...ERRORS,
      },
    }),
    async (c) => {
      const { id, reward_id } = c.req.valid('param');
      const channel = await getEngagement(c.env, id);
      await limitEngagement(c.env, ENGAGEMENT_RATE, c.var.user.id);
      const body = c.req.valid('json');
      const { value, duplicate } = unwrapOutcome(
        await channel.stub.redeem(channel.id, {
          rewardId: reward_id,
          user: { id: c.var.user.id, login: c.var.user.username },
          input: body.input ?? null,
          requestId: body.request_id,
        }),
      );
      return duplicate ? c.json(value, 200) : c.json(value, 201);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/redemptions',
      tags: ['engagement'],
      summary: 'The redemption queue (broadcaster and moderators): pending oldest first',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams, query: QueueQuery },
      responses: {
        200: jsonContent(z.object({ data: z.array(RedemptionSchema) }), 'Redemptions'),
        ...ERRORS,
      },
    }),
    async (c) => {
      const channel = await getEngagement(c.env, c.req.valid('param').id);
      await requireModerator(c.env, channel, c.var.user.id);
      const { status, first } = c.req.valid('query');
      return c.json({ data: await channel.stub.listRedemptions(channel.id, status, first) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/redemptions/{redemption_id}',
      tags: ['engagement'],
      summary: 'Fulfill or reject (refund) a pending redemption (broadcaster and moderators)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: RedemptionParams, body: jsonBody(DecisionBody) },
      responses: { 200: jsonContent(RedemptionSchema, 'Decided'), ...ERRORS },
    }),
    async (c) => {
      const { id, redemption_id } = c.req.valid('param');
      const channel = await getEngagement(c.env, id);
      await requireModerator(c.env, channel, c.var.user.id);
      const outcome = await channel.stub.decideRedemption(
        channel.id,
        redemption_id,
        c.req.valid('json').status,
      );
      return c.json(unwrapOutcome(outcome).value, 200);
    },
  );
