// /api/v1/payments (docs/payments.md): checkout (the server prices every order), the provider's
// webhook, the viewer's bits balance, a channel's alerts feed for the OBS overlay, and, with the
// fake provider only, its checkout pages.
import { createRoute, z } from '@hono/zod-openapi';
import { MAX_MESSAGE_LENGTH } from '../../protocol/chat.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
  readClientNetwork,
} from '../api/lib/router.ts';
import { optionalUser, requireUser } from '../shared/auth.ts';
import {
  badRequest,
  conflict,
  forbidden,
  notFound,
  rateLimited,
  unavailable,
  unprocessable,
} from '../shared/errors.ts';
import { readRateLimit } from '../shared/limits.ts';
import { enforceRateLimit } from '../shared/rate-limit.ts';
import { buildAssetList, isAdFree, loadAdBreak, readAdPool } from './ads.ts';
import { filterGiftCandidates, MAX_COMMUNITY_GIFTS } from './community-gifts.ts';
import { payFakeCheckout, renderFakeCheckoutPage } from './fake-checkout.ts';
import { channelBitsAccount, readBalance, userBitsAccount } from './ledger.ts';
import { loadOrderBySession } from './orders.ts';
import { priceBitsPack, priceSubscription, readPriceTable, shareForStreamer } from './prices.ts';
import { createPaymentProvider, type PaymentProvider, PaymentsNotConfigured } from './provider.ts';
import { acceptWebhook } from './webhook.ts';

/** Shown with a tip in the alert; the same bound as a chat message. */
export const MAX_TIP_MESSAGE_LENGTH = 500;
/** The overlay polls; one answer holds at most this many alerts. */
export const MAX_ALERTS_LISTED = 50;

const Tier = z.union([z.literal(1000), z.literal(2000), z.literal(3000)]);

/**
 * Resub shares per user over REST: each is a D1 read and at most one write (a renewal is shared
 * once), so this only bounds the reads of a script that keeps asking.
 */
const RESUB_SHARE_RATE = { name: 'resub-shares', limit: 10, windowMs: 600_000 };

const ResubShareSchema = z
  .union([
    z.object({
      available: z.literal(true),
      tier: Tier,
      cumulative_months: z.number().int(),
      streak_months: z.number().int(),
    }),
    z.object({
      available: z.literal(false),
      reason: z.enum(['not-subscriber', 'no-renewal', 'already-shared']),
    }),
  ])
  .openapi('ResubShare');

/** A path inside the web app: never another origin (`//host`), so checkout cannot be an open redirect. */
const ReturnPath = z
  .string()
  .max(200)
  .regex(/^\/(?![/\\])[^\s]*$/)
  .default('/');

const CheckoutBody = z
  .discriminatedUnion('kind', [
    z.object({
      kind: z.literal('subscription'),
      channel_id: z.string().max(100),
      tier: Tier,
      return_path: ReturnPath,
    }),
    z.object({
      kind: z.literal('gift_subscription'),
      channel_id: z.string().max(100),
      tier: Tier,
      recipient_login: z.string().min(1).max(25),
      return_path: ReturnPath,
    }),
    z.object({
      kind: z.literal('community_gift'),
      channel_id: z.string().max(100),
      tier: Tier,
      quantity: z.number().int().min(1).max(MAX_COMMUNITY_GIFTS),
      return_path: ReturnPath,
    }),
    z.object({ kind: z.literal('bits'), bits: z.number().int().positive(), return_path: ReturnPath }),
    z.object({
      kind: z.literal('tip'),
      channel_id: z.string().max(100),
      amount_cents: z.number().int().positive(),
      message: z.string().max(MAX_TIP_MESSAGE_LENGTH).default(''),
      return_path: ReturnPath,
    }),
  ])
  .openapi('CheckoutRequest');
type CheckoutBody = z.infer<typeof CheckoutBody>;

const CheckoutAnswer = z
  .object({
    order_id: z.string(),
    checkout_url: z.string(),
    amount_cents: z.number().int(),
    currency: z.string(),
  })
  .openapi('Checkout');

/** What the streamer earns per bit cheered, as Twitch pays it. */
export const CENTS_PER_BIT = 1;

const EarningsSchema = z
  .object({
    currency: z.string(),
    revenue_share_percent: z.number().int(),
    subscriptions_gross_cents: z.number().int(),
    subscriptions_share_cents: z.number().int(),
    bits_cheered: z.number().int(),
    bits_cents: z.number().int(),
    tips_cents: z.number().int(),
    total_cents: z.number().int(),
    /** Ad impressions counted on the channel's breaks (no revenue attached yet: no ad network). */
    ad_impressions: z.number().int(),
  })
  .openapi('Earnings');

const AlertSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['sub', 'resub', 'gift', 'cheer', 'tip', 'raid']),
    user_login: z.string(),
    amount: z.number().int(),
    message: z.string(),
    created_at: z.number().int(),
  })
  .openapi('ChannelAlert');

async function openProvider(env: Env): Promise<PaymentProvider> {
  try {
    return await createPaymentProvider(env);
  } catch (error) {
    if (error instanceof PaymentsNotConfigured) throw unavailable('Payments are not configured');
    throw error;
  }
}

interface PricedOrder {
  kind: 'subscription' | 'gift_subscription' | 'bits' | 'tip';
  quantity: number;
  channelId: string | null;
  tier: 1000 | 2000 | 3000 | null;
  bits: number | null;
  recipientId: string | null;
  message: string;
  amountCents: number;
  mode: 'payment' | 'subscription';
  description: string;
}

async function priceOrder(
  env: Env,
  body: CheckoutBody,
  buyer: { id: string; channel_id: string },
): Promise<PricedOrder> {
  const prices = readPriceTable(env);
  const db = env.DB;
  const base = {
    kind: body.kind === 'community_gift' ? ('gift_subscription' as const) : body.kind,
    quantity: 1,
    channelId: null,
    tier: null,
    bits: null,
    recipientId: null,
    message: '',
  };
  if (body.kind === 'bits') {
    const amountCents = priceBitsPack(prices, body.bits);
    if (amountCents === null)
      throw unprocessable('No such bits pack', { packs: Object.keys(prices.bits_packs) });
    return { ...base, bits: body.bits, amountCents, mode: 'payment', description: `${body.bits} Bits` };
  }
  const channel = await db
    .prepare('SELECT c.id, u.username FROM channels c JOIN users u ON u.id = c.user_id WHERE c.id = ?')
    .bind(body.channel_id)
    .first<{ id: string; username: string }>();
  if (!channel) throw notFound('Channel');
  if (body.kind === 'tip') {
    if (body.amount_cents < prices.tip_min_cents || body.amount_cents > prices.tip_max_cents) {
      throw unprocessable(`A tip is between ${prices.tip_min_cents} and ${prices.tip_max_cents} cents`);
    }
    return {
      ...base,
      channelId: channel.id,
      message: body.message,
      amountCents: body.amount_cents,
      mode: 'payment',
      description: `Tip to ${channel.username}`,
    };
  }
  const amountCents = priceSubscription(prices, body.tier);
  if (body.kind === 'subscription') {
    if (channel.id === buyer.channel_id) throw unprocessable('You cannot subscribe to your own channel');
    return {
      ...base,
      channelId: channel.id,
      tier: body.tier,
      amountCents,
      mode: 'subscription',
      description: `Tier ${body.tier / 1000} subscription to ${channel.username}`,
    };
  }
  if (body.kind === 'community_gift') {
    // Refused up front when the room has fewer eligible viewers than gifts: the gifts are picked when
    // the payment arrives, and any left without a viewer then are kept unassigned (docs/payments.md).
    const present = await env.CHAT_ROOM.getByName(channel.id).listGiftCandidates(channel.id);
    const eligible = await filterGiftCandidates(db, present, channel.id, buyer.id, Date.now());
    if (eligible.length < body.quantity) {
      throw unprocessable('Not enough viewers in chat to receive these gifts', {
        eligible_viewers: eligible.length,
      });
    }
    return {
      ...base,
      channelId: channel.id,
      tier: body.tier,
      quantity: body.quantity,
      amountCents: amountCents * body.quantity,
      mode: 'payment',
      description: `Gift: ${body.quantity} tier ${body.tier / 1000} subscriptions to ${channel.username}'s community`,
    };
  }
  const recipient = await db
    .prepare(
      'SELECT u.id, c.id AS channel_id FROM users u JOIN channels c ON c.user_id = u.id WHERE u.username = ? COLLATE NOCASE',
    )
    .bind(body.recipient_login)
    .first<{ id: string; channel_id: string }>();
  if (!recipient) throw notFound('Recipient');
  if (recipient.channel_id === channel.id)
    throw unprocessable('A broadcaster cannot be gifted their own subscription');
  return {
    ...base,
    channelId: channel.id,
    tier: body.tier,
    recipientId: recipient.id,
    amountCents,
    mode: 'payment',
    description: `Gift: one month of tier ${body.tier / 1000} to ${channel.username} for ${body.recipient_login}`,
  };
}

const AdBreakSchema = z
  .object({
    id: z.string(),
    stream_id: z.string(),
    duration_seconds: z.number().int(),
    started_at: z.number().int(),
  })
  .openapi('AdBreak');

export const paymentsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/checkout',
      tags: ['payments'],
      summary:
        'Start a checkout: a subscription, a gift (a named viewer, or N viewers present in chat), a bits pack or a tip, priced by the server',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { body: jsonBody(CheckoutBody) },
      responses: {
        201: jsonContent(CheckoutAnswer, 'Where to pay'),
        ...describeErrors(400, 401, 404, 422, 429),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const user = c.var.user;
      // Counted before any work: each checkout writes an order and calls the provider.
      const rule = readRateLimit(c.env, 'checkouts_per_user');
      await enforceRateLimit(c.env, rule, user.id, 'Too many checkouts; try again later');
      const priced = await priceOrder(c.env, body, user);
      const provider = await openProvider(c.env);
      const prices = readPriceTable(c.env);
      const orderId = `ord_${crypto.randomUUID()}`;
      await c.env.DB.prepare(
        `INSERT INTO payment_orders (id, user_id, channel_id, kind, tier, bits, recipient_id, message, amount_cents,
           currency, return_path, created_at, quantity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
        .bind(
          orderId,
          user.id,
          priced.channelId,
          priced.kind,
          priced.tier,
          priced.bits,
          priced.recipientId,
          priced.message,
          priced.amountCents,
          prices.currency,
          body.return_path,
          Date.now(),
          priced.quantity,
        )
        .run();
      const origin = new URL(c.req.url).origin;
      const session = await provider.createCheckout({
        orderId,
        mode: priced.mode,
        amountCents: priced.amountCents,
        currency: prices.currency,
        description: priced.description,
        successUrl: `${origin}${body.return_path}`,
        cancelUrl: `${origin}${body.return_path}`,
      });
      await c.env.DB.prepare('UPDATE payment_orders SET provider_session_id = ? WHERE id = ?')
        .bind(session.id, orderId)
        .run();
      return c.json(
        {
          order_id: orderId,
          checkout_url: session.url,
          amount_cents: priced.amountCents,
          currency: prices.currency,
        },
        201,
      );
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/bits/balance',
      tags: ['payments'],
      summary: 'Your bits balance',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      responses: {
        200: jsonContent(z.object({ balance: z.number().int() }), 'Balance'),
        ...describeErrors(401),
      },
    }),
    async (c) => c.json({ balance: await readBalance(c.env.DB, userBitsAccount(c.var.user.id)) }, 200),
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/resub-share',
      tags: ['payments'],
      summary: "Whether you may share your latest renewal in this channel's chat (the web app's prompt)",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: z.object({ id: pathParam('id') }) },
      responses: { 200: jsonContent(ResubShareSchema, 'Share state'), ...describeErrors(401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const state = await c.env.CHAT_ROOM.getByName(id).readResubShare(id, c.var.user.id);
      if (!state) throw notFound('Channel');
      if (state.kind !== 'available') return c.json({ available: false, reason: state.kind }, 200);
      return c.json(
        {
          available: true,
          tier: state.tier,
          cumulative_months: state.cumulativeMonths,
          streak_months: state.streakMonths,
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/resub-share',
      tags: ['payments'],
      summary: 'Share your latest renewal in chat with a message, once per renewal (USERNOTICE resub)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: {
        params: z.object({ id: pathParam('id') }),
        body: jsonBody(
          z.object({
            message: z.string().max(MAX_MESSAGE_LENGTH).default(''),
            share_streak: z.boolean().default(true),
          }),
        ),
      },
      responses: {
        204: { description: 'Shared' },
        ...describeErrors(400, 401, 403, 404, 409, 429),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const user = c.var.user;
      await enforceRateLimit(c.env, RESUB_SHARE_RATE, user.id, 'Too many resub shares; try again later');
      const reply = await c.env.CHAT_ROOM.getByName(id).shareResub(
        id,
        user.id,
        body.message,
        body.share_streak,
      );
      switch (reply.kind) {
        case 'shared':
          return c.body(null, 204);
        case 'not-found':
          throw notFound('Channel');
        case 'banned':
          throw forbidden('You are banned or timed out in this channel');
        case 'not-subscriber':
          throw forbidden('You are not subscribed to this channel');
        case 'no-renewal':
          throw conflict('There is no renewal to share yet');
        case 'already-shared':
          throw conflict('You already shared this resub');
        case 'invalid':
          throw badRequest(reply.message);
      }
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/earnings',
      tags: ['payments'],
      summary: "The channel's earnings (owner): subscriptions at the revenue share, bits cheered, tips",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: z.object({ id: pathParam('id') }) },
      responses: { 200: jsonContent(EarningsSchema, 'Earnings'), ...describeErrors(401, 403) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      if (c.var.user.channel_id !== id) throw forbidden('Only the channel owner sees its earnings');
      const prices = readPriceTable(c.env);
      const db = c.env.DB;
      const totals = await db
        .prepare(
          `SELECT
             COALESCE(SUM(CASE WHEN kind IN ('subscription', 'gift_subscription') THEN amount_cents - refunded_cents END), 0) AS subs,
             COALESCE(SUM(CASE WHEN kind = 'tip' THEN amount_cents - refunded_cents END), 0) AS tips
           FROM payments WHERE channel_id = ? AND status = 'paid'`,
        )
        .bind(id)
        .first<{ subs: number; tips: number }>();
      const bits = await readBalance(db, channelBitsAccount(id));
      const impressions = await db
        .prepare(
          'SELECT count(*) AS n FROM ad_impressions i JOIN ad_breaks b ON b.id = i.break_id WHERE b.channel_id = ?',
        )
        .bind(id)
        .first<{ n: number }>();
      const subs = totals?.subs ?? 0;
      const tips = totals?.tips ?? 0;
      const subsShare = shareForStreamer(prices, subs);
      return c.json(
        {
          currency: prices.currency,
          revenue_share_percent: prices.revenue_share_percent,
          subscriptions_gross_cents: subs,
          subscriptions_share_cents: subsShare,
          bits_cheered: bits,
          bits_cents: bits * CENTS_PER_BIT,
          tips_cents: tips,
          total_cents: subsShare + bits * CENTS_PER_BIT + tips,
          ad_impressions: impressions?.n ?? 0,
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/alerts',
      tags: ['payments'],
      summary: "A channel's alerts after a time (the OBS alerts overlay polls this)",
      request: {
        params: z.object({ id: pathParam('id') }),
        query: z.object({ after: z.coerce.number().int().min(0).default(0) }),
      },
      responses: { 200: jsonContent(z.object({ data: z.array(AlertSchema) }), 'Alerts, oldest first') },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { after } = c.req.valid('query');
      const { results } = await c.env.DB.prepare(
        `SELECT id, kind, user_login, amount, message, created_at FROM channel_alerts
         WHERE channel_id = ? AND created_at > ? ORDER BY created_at LIMIT ${MAX_ALERTS_LISTED}`,
      )
        .bind(id, after)
        .all();
      return c.json({ data: z.array(AlertSchema).parse(results) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/ad-breaks',
      tags: ['payments'],
      summary: 'Start an ad break on the live stream (owner): an HLS interstitial in every playlist',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: {
        params: z.object({ id: pathParam('id') }),
        body: jsonBody(
          z.object({
            duration_seconds: z.union([z.literal(30), z.literal(60), z.literal(90), z.literal(180)]),
          }),
        ),
      },
      responses: { 201: jsonContent(AdBreakSchema, 'Started'), ...describeErrors(400, 401, 403, 409, 429) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { duration_seconds: durationSeconds } = c.req.valid('json');
      if (c.var.user.channel_id !== id) throw forbidden('Only the channel owner starts ad breaks');
      readAdPool(c.env);
      const breakId = crypto.randomUUID();
      const outcome = await c.env.LIVE_STREAM.getByName(id).startAdBreak({
        id: breakId,
        durationSeconds,
        assetListUri: `/api/v1/payments/ad-breaks/${breakId}/asset-list`,
      });
      if (outcome.kind === 'not-live') throw conflict('The channel is not live');
      if (outcome.kind === 'busy') {
        throw rateLimited(Math.ceil(outcome.retryAfterMs / 1000), 'An ad break is running');
      }
      await c.env.DB.prepare(
        'INSERT INTO ad_breaks (id, channel_id, stream_id, duration_seconds, started_at) VALUES (?, ?, ?, ?, ?)',
      )
        .bind(breakId, id, outcome.streamId, durationSeconds, outcome.startMs)
        .run();
      return c.json(
        {
          id: breakId,
          stream_id: outcome.streamId,
          duration_seconds: durationSeconds,
          started_at: outcome.startMs,
        },
        201,
      );
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/ad-breaks/{id}/asset-list',
      tags: ['payments'],
      summary:
        "An ad break's HLS interstitial asset list: empty for a subscriber, counted once per viewer otherwise",
      middleware: [optionalUser] as const,
      request: { params: z.object({ id: pathParam('id') }) },
      responses: {
        200: jsonContent(
          z.object({ ASSETS: z.array(z.object({ URI: z.string(), DURATION: z.number() })) }),
          'Assets to play',
        ),
        ...describeErrors(400, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const adBreak = await loadAdBreak(c.env.DB, id);
      if (!adBreak) throw notFound('Ad break');
      const user = c.var.user;
      const now = Date.now();
      if (user && (await isAdFree(c.env.DB, user.id, adBreak.channel_id, now))) {
        return c.json({ ASSETS: [] }, 200);
      }
      // One impression per viewer: the signed-in user, else the client's network. Not hls.js's
      // _HLS_primary_id, which the client chooses: a script varying it would count without end.
      const viewerKey = user ? `user:${user.id}` : `net:${readClientNetwork(c)}`;
      await c.env.DB.prepare(
        'INSERT OR IGNORE INTO ad_impressions (break_id, viewer_key, created_at) VALUES (?, ?, ?)',
      )
        .bind(id, viewerKey, now)
        .run();
      return c.json({ ASSETS: buildAssetList(readAdPool(c.env), adBreak.duration_seconds) }, 200);
    },
  );

// The webhook and the fake's pages are not JSON APIs: plain routes on the same app.
paymentsApp.post('/webhook', async (c) => {
  const provider = await openProvider(c.env);
  const outcome = await acceptWebhook(c.env, provider, await c.req.text(), c.req.header('Stripe-Signature'));
  if (outcome.kind === 'refused') throw badRequest('Webhook signature refused', { reason: outcome.reason });
  return c.json({ received: true, duplicate: outcome.kind === 'duplicate' }, 200);
});

async function requireFakeSession(env: Env, sessionId: string) {
  const provider = await openProvider(env);
  if (provider.name !== 'fake') throw notFound('Checkout');
  const order = await loadOrderBySession(env.DB, sessionId);
  if (!order) throw notFound('Checkout');
  return { provider, order };
}

paymentsApp.get('/fake-checkout/:session', async (c) => {
  const { order } = await requireFakeSession(c.env, c.req.param('session'));
  return c.html(renderFakeCheckoutPage(order, c.req.param('session')));
});

paymentsApp.post('/fake-checkout/:session/pay', async (c) => {
  const { provider, order } = await requireFakeSession(c.env, c.req.param('session'));
  if (order.status !== 'open') throw unprocessable('This checkout is already paid');
  await payFakeCheckout(c.env, provider, order);
  return c.redirect(order.return_path, 303);
});
