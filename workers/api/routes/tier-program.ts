// The affiliate/partner program over HTTP (workers/api/lib/tier-program.ts): a channel owner reads
// where the channel stands against the thresholds (the dashboard shows it), and an operator holding
// ADMIN_TOKEN sets or clears a channel's tier override, which applies from its next stream.
import { createRoute, z } from '@hono/zod-openapi';
import { ChannelTier } from '../../../protocol/ingest.ts';
import { requireUser } from '../../shared/auth.ts';
import { notFound, unauthorized } from '../../shared/errors.ts';
import { isBearerSecret } from '../../shared/operator-auth.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
} from '../lib/router.ts';
import {
  describeChannelTier,
  setTierOverride,
  TIER_THRESHOLDS,
  type TierEvaluation,
} from '../lib/tier-program.ts';
import { requireOwnedChannel } from './channels.ts';

const Tier = z.enum(ChannelTier.options);
const Params = z.object({ id: pathParam('id', 'The channel id') });
const Thresholds = z.object({
  followers: z.number(),
  broadcast_minutes: z.number(),
  broadcast_days: z.number(),
  average_viewers: z.number(),
});
const TierProgramSchema = z
  .object({
    tier: Tier.openapi({ description: 'The tier the next stream is transcoded for' }),
    earned: Tier.openapi({ description: 'The tier the last 30 days reach on their own' }),
    override: Tier.nullable().openapi({ description: "An operator's override, which wins" }),
    standing: Thresholds.openapi({ description: 'The last 30 days' }),
    thresholds: z.object({ affiliate: Thresholds, partner: Thresholds }),
  })
  .openapi('TierProgram');
const OverrideBody = z
  .object({ override: Tier.nullable().openapi({ description: 'null clears the override' }) })
  .strict()
  .openapi('TierOverride');

function toThresholds(t: (typeof TIER_THRESHOLDS)['affiliate']): z.infer<typeof Thresholds> {
  return {
    followers: t.followers,
    broadcast_minutes: t.broadcastMinutes,
    broadcast_days: t.broadcastDays,
    average_viewers: t.averageViewers,
  };
}

function toBody(evaluation: TierEvaluation): z.infer<typeof TierProgramSchema> {
  return {
    ...evaluation,
    thresholds: {
      affiliate: toThresholds(TIER_THRESHOLDS.affiliate),
      partner: toThresholds(TIER_THRESHOLDS.partner),
    },
  };
}

export const tierProgramApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/tier-program',
      tags: ['channels'],
      summary: 'Where your channel stands in the affiliate/partner program',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: Params },
      responses: { 200: jsonContent(TierProgramSchema, 'The standing'), ...describeErrors(401, 403, 404) },
    }),
    async (c) => {
      const { id } = await requireOwnedChannel(c, c.req.valid('param').id, c.var.user.id);
      const evaluation = await describeChannelTier(c.env.DB, id, Date.now());
      if (!evaluation) throw notFound('Channel');
      return c.json(toBody(evaluation), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'put',
      path: '/admin/channels/{id}/tier',
      tags: ['operators'],
      summary: "Set or clear a channel's tier override (operators: Authorization: Bearer ADMIN_TOKEN)",
      security: BearerSecurity,
      request: { params: Params, body: jsonBody(OverrideBody) },
      responses: {
        200: jsonContent(TierProgramSchema, 'The channel after the override'),
        ...describeErrors(400, 401, 404, 422),
      },
    }),
    async (c) => {
      if (!(await isBearerSecret(c.req.header('authorization'), c.env.ADMIN_TOKEN)))
        throw unauthorized('Operators only: Authorization: Bearer ADMIN_TOKEN');
      const evaluation = await setTierOverride(
        c.env.DB,
        c.req.valid('param').id,
        c.req.valid('json').override,
        Date.now(),
      );
      if (!evaluation) throw notFound('Channel');
      return c.json(toBody(evaluation), 200);
    },
  );
