// Channel points, polls and predictions over HTTP (docs/engagement.md): the overview the watch
// page and the overlay read, a viewer's balance and bonus claim, polls (broadcaster and moderators
// start and end them, viewers vote) and predictions (moderators start, lock, resolve or cancel;
// viewers stake). The channel's ChannelEngagement object decides; this file checks who may ask,
// bounds every input, and maps the object's refusals through unwrapOutcome.
import { createRoute, z } from '@hono/zod-openapi';
import {
  MAX_CHOICE_TITLE_LENGTH,
  MAX_EXTRA_VOTES,
  MAX_OUTCOME_TITLE_LENGTH,
  MAX_OUTCOMES,
  MAX_POINTS_PER_VOTE,
  MAX_POLL_CHOICES,
  MAX_POLL_SECONDS,
  MAX_POLL_TITLE_LENGTH,
  MAX_PREDICTION_TITLE_LENGTH,
  MAX_PREDICTION_WINDOW_SECONDS,
  MAX_STAKE,
  MIN_OUTCOMES,
  MIN_POLL_CHOICES,
  MIN_POLL_SECONDS,
  MIN_PREDICTION_WINDOW_SECONDS,
} from '../../../protocol/engagement.ts';
import { optionalUser, requireUser } from '../../shared/auth.ts';
import {
  ENGAGEMENT_ADMIN_RATE,
  ENGAGEMENT_RATE,
  getEngagement,
  limitEngagement,
  PollSchema,
  PredictionSchema,
  RequestId,
  RewardSchema,
  requireModerator,
  unwrapOutcome,
  ViewerPointsSchema,
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
const PollParams = z.object({ id: pathParam('id', 'The channel id'), poll_id: pathParam('poll_id') });
const PredictionParams = z.object({
  id: pathParam('id', 'The channel id'),
  prediction_id: pathParam('prediction_id'),
});

/** A title as a person types it: trimmed, not blank, bounded. */
const Title = (max: number) => z.string().trim().min(1).max(max);

const PollBody = z
  .object({
    title: Title(MAX_POLL_TITLE_LENGTH),
    choices: z.array(Title(MAX_CHOICE_TITLE_LENGTH)).min(MIN_POLL_CHOICES).max(MAX_POLL_CHOICES),
    duration_seconds: z.number().int().min(MIN_POLL_SECONDS).max(MAX_POLL_SECONDS),
    /** Channel points per extra vote; absent or null: one vote per viewer, no extra votes. */
    points_per_vote: z.number().int().min(1).max(MAX_POINTS_PER_VOTE).nullable().optional(),
  })
  .strict()
  .openapi('PollCreate');
const VoteBody = z
  .object({
    choice_id: z.string().min(1).max(100),
    request_id: RequestId,
    extra_votes: z.number().int().min(0).max(MAX_EXTRA_VOTES).optional(),
  })
  .strict()
  .openapi('PollVote');
const PredictionBody = z
  .object({
    title: Title(MAX_PREDICTION_TITLE_LENGTH),
    outcomes: z.array(Title(MAX_OUTCOME_TITLE_LENGTH)).min(MIN_OUTCOMES).max(MAX_OUTCOMES),
    window_seconds: z.number().int().min(MIN_PREDICTION_WINDOW_SECONDS).max(MAX_PREDICTION_WINDOW_SECONDS),
  })
  .strict()
  .openapi('PredictionCreate');
const StakeBody = z
  .object({
    outcome_id: z.string().min(1).max(100),
    points: z.number().int().min(1).max(MAX_STAKE),
    request_id: RequestId,
  })
  .strict()
  .openapi('PredictionStake');
const ResolveBody = z
  .object({ winning_outcome_id: z.string().min(1).max(100) })
  .strict()
  .openapi('PredictionResolve');

const OverviewSchema = z
  .object({
    poll: PollSchema.nullable(),
    prediction: PredictionSchema.nullable(),
    rewards: z.array(RewardSchema),
    viewer: ViewerPointsSchema.nullable(),
  })
  .openapi('EngagementOverview');

type Params = typeof ChannelParams | typeof PollParams | typeof PredictionParams;
const ERRORS = describeErrors(400, 401, 403, 404, 409, 422, 429);

/** A signed-in POST with a JSON body answering 200. */
function postRoute<P extends string, A extends Params, B extends z.ZodType, R extends z.ZodType>(
  path: P,
  summary: string,
  params: A,
  body: B,
  result: R,
) {
  return createRoute({
    method: 'post',
    path,
    tags: ['engagement'],
    summary,
    security: BearerSecurity,
    middleware: [requireUser] as const,
    request: { params, body: jsonBody(body) },
    responses: { 200: jsonContent(result, summary), ...ERRORS },
  });
}

/** A signed-in POST that creates (201). */
function createdRoute<P extends string, B extends z.ZodType, R extends z.ZodType>(
  path: P,
  summary: string,
  body: B,
  result: R,
) {
  return createRoute({
    method: 'post',
    path,
    tags: ['engagement'],
    summary,
    security: BearerSecurity,
    middleware: [requireUser] as const,
    request: { params: ChannelParams, body: jsonBody(body) },
    responses: { 201: jsonContent(result, summary), ...ERRORS },
  });
}

/** A signed-in POST without a body (end, lock, cancel). */
function actionRoute<P extends string, A extends Params, R extends z.ZodType>(
  path: P,
  summary: string,
  params: A,
  result: R,
) {
  return createRoute({
    method: 'post',
    path,
    tags: ['engagement'],
    summary,
    security: BearerSecurity,
    middleware: [requireUser] as const,
    request: { params },
    responses: { 200: jsonContent(result, summary), ...ERRORS },
  });
}

export const engagementApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/engagement',
      tags: ['engagement'],
      summary: "The channel's current poll, prediction and rewards; with a token, the viewer's points too",
      middleware: [optionalUser] as const,
      request: { params: ChannelParams },
      responses: { 200: jsonContent(OverviewSchema, 'Overview'), ...describeErrors(404) },
    }),
    async (c) => {
      const channel = await getEngagement(c.env, c.req.valid('param').id);
      return c.json(await channel.stub.readOverview(channel.id, c.var.user?.id ?? null), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/points',
      tags: ['engagement'],
      summary: 'Your channel points in this channel and whether a bonus waits to be claimed',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: { 200: jsonContent(ViewerPointsSchema, 'Your points'), ...describeErrors(401, 404) },
    }),
    async (c) => {
      const channel = await getEngagement(c.env, c.req.valid('param').id);
      return c.json(await channel.stub.readViewer(channel.id, c.var.user.id), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/points/claim',
      tags: ['engagement'],
      summary: 'Claim the watch bonus (one waits after each bonus interval watched)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: { 200: jsonContent(ViewerPointsSchema, 'Claimed'), ...describeErrors(401, 404, 409, 429) },
    }),
    async (c) => {
      const channel = await getEngagement(c.env, c.req.valid('param').id);
      await limitEngagement(c.env, ENGAGEMENT_RATE, c.var.user.id);
      return c.json(unwrapOutcome(await channel.stub.claimBonus(channel.id, c.var.user.id)).value, 200);
    },
  )
  // ---- polls ----
  .openapi(
    createdRoute('/channels/{id}/polls', 'Start a poll (broadcaster and moderators)', PollBody, PollSchema),
    async (c) => {
      const channel = await getEngagement(c.env, c.req.valid('param').id);
      await requireModerator(c.env, channel, c.var.user.id);
      await limitEngagement(c.env, ENGAGEMENT_ADMIN_RATE, c.var.user.id);
      const body = c.req.valid('json');
      const outcome = await channel.stub.startPoll(channel.id, {
        title: body.title,
        choices: body.choices,
        durationSeconds: body.duration_seconds,
        pointsPerVote: body.points_per_vote ?? null,
      });
      return c.json(unwrapOutcome(outcome).value, 201);
    },
  )
  .openapi(
    postRoute(
      '/channels/{id}/polls/{poll_id}/votes',
      'Vote (once; extra votes cost channel points)',
      PollParams,
      VoteBody,
      PollSchema,
    ),
    async (c) => {
      const { id, poll_id } = c.req.valid('param');
      const channel = await getEngagement(c.env, id);
      await limitEngagement(c.env, ENGAGEMENT_RATE, c.var.user.id);
      const body = c.req.valid('json');
      const outcome = await channel.stub.vote(channel.id, {
        pollId: poll_id,
        userId: c.var.user.id,
        choiceId: body.choice_id,
        requestId: body.request_id,
        extraVotes: body.extra_votes ?? 0,
      });
      return c.json(unwrapOutcome(outcome).value, 200);
    },
  )
  .openapi(
    actionRoute(
      '/channels/{id}/polls/{poll_id}/end',
      'End a poll now; its results are frozen',
      PollParams,
      PollSchema,
    ),
    async (c) => {
      const { id, poll_id } = c.req.valid('param');
      const channel = await getEngagement(c.env, id);
      await requireModerator(c.env, channel, c.var.user.id);
      return c.json(unwrapOutcome(await channel.stub.endPoll(channel.id, poll_id)).value, 200);
    },
  )
  // ---- predictions ----
  .openapi(
    createdRoute(
      '/channels/{id}/predictions',
      'Start a prediction (broadcaster and moderators)',
      PredictionBody,
      PredictionSchema,
    ),
    async (c) => {
      const channel = await getEngagement(c.env, c.req.valid('param').id);
      await requireModerator(c.env, channel, c.var.user.id);
      await limitEngagement(c.env, ENGAGEMENT_ADMIN_RATE, c.var.user.id);
      const body = c.req.valid('json');
      const outcome = await channel.stub.startPrediction(channel.id, {
        title: body.title,
        outcomes: body.outcomes,
        windowSeconds: body.window_seconds,
      });
      return c.json(unwrapOutcome(outcome).value, 201);
    },
  )
  .openapi(
    postRoute(
      '/channels/{id}/predictions/{prediction_id}/stakes',
      'Stake channel points on one outcome (more stakes add to it)',
      PredictionParams,
      StakeBody,
      z.object({ prediction: PredictionSchema, balance: z.number().int() }).openapi('StakeResult'),
    ),
    async (c) => {
      const { id, prediction_id } = c.req.valid('param');
      const channel = await getEngagement(c.env, id);
      await limitEngagement(c.env, ENGAGEMENT_RATE, c.var.user.id);
      const body = c.req.valid('json');
      const outcome = await channel.stub.stake(channel.id, {
        predictionId: prediction_id,
        userId: c.var.user.id,
        outcomeId: body.outcome_id,
        points: body.points,
        requestId: body.request_id,
      });
      return c.json(unwrapOutcome(outcome).value, 200);
    },
  )
  .openapi(
    actionRoute(
      '/channels/{id}/predictions/{prediction_id}/lock',
      'Lock a prediction: no more stakes',
      PredictionParams,
      PredictionSchema,
    ),
    async (c) => {
      const { id, prediction_id } = c.req.valid('param');
      const channel = await getEngagement(c.env, id);
      await requireModerator(c.env, channel, c.var.user.id);
      return c.json(unwrapOutcome(await channel.stub.lockPrediction(channel.id, prediction_id)).value, 200);
    },
  )
  .openapi(
    postRoute(
      '/channels/{id}/predictions/{prediction_id}/resolve',
      'Resolve: the winners split the pot by stake, once',
      PredictionParams,
      ResolveBody,
      PredictionSchema,
    ),
    async (c) => {
      const { id, prediction_id } = c.req.valid('param');
      const channel = await getEngagement(c.env, id);
      await requireModerator(c.env, channel, c.var.user.id);
      const outcome = await channel.stub.resolvePrediction(
        channel.id,
        prediction_id,
        c.req.valid('json').winning_outcome_id,
      );
      return c.json(unwrapOutcome(outcome).value, 200);
    },
  )
  .openapi(
    actionRoute(
      '/channels/{id}/predictions/{prediction_id}/cancel',
      'Cancel: every stake refunded, once',
      PredictionParams,
      PredictionSchema,
    ),
    async (c) => {
      const { id, prediction_id } = c.req.valid('param');
      const channel = await getEngagement(c.env, id);
      await requireModerator(c.env, channel, c.var.user.id);
      return c.json(unwrapOutcome(await channel.stub.cancelPrediction(channel.id, prediction_id)).value, 200);
    },
  );
