// Community gift subscriptions and the subscriber count, on the real Worker, chat objects, queue
// consumer and D1: N gifts go to N distinct viewers present in chat (never the gifter, the
// broadcaster, a banned viewer or a current subscriber), each slot is granted once however the
// event is delivered, and `subscriber_count` stays equal to the active subscription rows, also
// when subscriptions simply run out (the cron's recount).
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SWEEPS } from '../../workers/cron.ts';
import { processPaymentEvent } from '../../workers/payments/consumer.ts';
import { buildCheckoutEvents } from '../../workers/payments/fake-checkout.ts';
import { buildChargeRefunded, buildSubscriptionEvent } from '../../workers/payments/fake-events.ts';
import { loadOrder } from '../../workers/payments/orders.ts';
import { callApi, readError } from './api-helpers.ts';
import { type JsonClient, openJson, type SeededUser, seedUser, subscribe } from './chat-fixtures.ts';
import {
  deliver,
  deliverTwice,
  postWebhook,
  readAlerts,
  readSubscriberCount,
  startCheckout,
} from './payments-fixtures.ts';

const nowSeconds = () => Math.floor(Date.now() / 1000);

const GiftRow = z.object({ id: z.string(), recipient_id: z.string().nullable(), tier: z.number() });

async function readGifts(paymentIntent: string) {
  const { results } = await env.DB.prepare(
    'SELECT id, recipient_id, tier FROM subscription_gifts WHERE payment_intent = ? ORDER BY id',
  )
    .bind(paymentIntent)
    .all();
  return z.array(GiftRow).parse(results);
}

async function readActiveSubscribers(channelId: string, at = Date.now()): Promise<string[]> {
  const { results } = await env.DB.prepare(
    'SELECT user_id FROM subscriptions WHERE channel_id = ? AND expires_at > ? ORDER BY user_id',
  )
    .bind(channelId, at)
    .all<{ user_id: string }>();
  return results.map((row) => row.user_id);
}

/** Waits until the room lists exactly `count` gift candidates (joins and leaves are RPCs). */
async function waitForCandidates(channelId: string, count: number): Promise<string[]> {
  const room = env.CHAT_ROOM.getByName(channelId);
  const deadline = Date.now() + 3000;
  for (;;) {
    const ids = await room.listGiftCandidates(channelId);
    if (ids.length === count) return ids;
    if (Date.now() > deadline) throw new Error(`room lists ${ids.length} candidates, not ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A channel whose chat holds the gifter, `viewers` eligible viewers and a few who are not eligible. */
async function fillRoom(viewers: number) {
  const owner = await seedUser('own');
  const gifter = await seedUser('gifter');
  const subscribed = await seedUser('subbed');
  const banned = await seedUser('banned');
  await subscribe(owner.channelId, subscribed.id);
  const eligible: SeededUser[] = [];
  for (let i = 0; i < viewers; i++) eligible.push(await seedUser('viewer'));
  const ownerChat = await openJson(owner.channelId, owner.token);
  ownerChat.say(owner.channelId, `/ban ${banned.name}`);
  await ownerChat.next('clear_user');
  const sockets: JsonClient[] = [ownerChat];
  for (const user of [gifter, subscribed, banned, ...eligible])
    sockets.push(await openJson(owner.channelId, user.token));
  // Present: owner, gifter, subscribed, eligible; the banned viewer reads but is never a candidate.
  await waitForCandidates(owner.channelId, 2 + viewers);
  return { owner, gifter, subscribed, banned, eligible, sockets, ownerChat };
}

async function buyCommunityGift(gifter: SeededUser, channelId: string, quantity: number) {
  const checkout = await startCheckout(gifter.token, {
    kind: 'community_gift',
    channel_id: channelId,
    tier: 1000,
    quantity,
  });
  const order = await loadOrder(env.DB, checkout.order_id);
  if (!order) throw new Error('order missing');
  const paymentIntent = `pi_${checkout.sessionId.replace(/^cs_test_/, '')}`;
  return { checkout, order, paymentIntent };
}

describe('community gift subscriptions', () => {
  it('gives one month each to N distinct random viewers present in chat, once however often delivered', async () => {
    const room = await fillRoom(4);
    const gift = await buyCommunityGift(room.gifter, room.owner.channelId, 3);
    expect(gift.order).toMatchObject({ kind: 'gift_subscription', quantity: 3, recipient_id: null });
    expect(gift.checkout.amount_cents).toBe(3 * 499);
    await deliverTwice(buildCheckoutEvents(gift.order, gift.checkout.sessionId, nowSeconds()));

    const gifts = await readGifts(gift.paymentIntent);
    expect(gifts).toHaveLength(3);
    const recipients = gifts.map((g) => g.recipient_id);
    expect(new Set(recipients).size).toBe(3);
    const eligibleIds = room.eligible.map((u) => u.id);
    for (const id of recipients) expect(eligibleIds).toContain(id);
    const active = await readActiveSubscribers(room.owner.channelId);
    expect(active).toEqual([...recipients, room.subscribed.id].sort());
    expect(await readSubscriberCount(room.owner.channelId)).toBe(4);
    const { results } = await env.DB.prepare(
      'SELECT gifted_by, cumulative_months FROM subscriptions WHERE channel_id = ? AND gifted_by IS NOT NULL',
    )
      .bind(room.owner.channelId)
      .all();
    expect(results).toEqual(Array(3).fill({ gifted_by: room.gifter.id, cumulative_months: 1 }));
    expect((await readAlerts(room.owner.channelId)).map((a) => [a.kind, a.amount])).toEqual([['gift', 3]]);

    // Another event for the same payment (a new event id) grants nothing more and picks nobody new.
    await deliver(buildCheckoutEvents(gift.order, gift.checkout.sessionId, nowSeconds())[0] ?? fail());
    expect(await readGifts(gift.paymentIntent)).toEqual(gifts);
    expect(await readSubscriberCount(room.owner.channelId)).toBe(4);
    expect(await readAlerts(room.owner.channelId)).toHaveLength(1);
  });

  it('applies an event delivered twice at the same moment once: one batch wins, the other is a duplicate', async () => {
    const room = await fillRoom(3);
    const gift = await buyCommunityGift(room.gifter, room.owner.channelId, 2);
    const [event] = buildCheckoutEvents(gift.order, gift.checkout.sessionId, nowSeconds());
    if (!event) throw new Error('no event');
    expect((await postWebhook(event)).status).toBe(200);
    const outcomes = await Promise.all([
      processPaymentEvent(env, event.id),
      processPaymentEvent(env, event.id),
    ]);
    expect(outcomes.sort()).toEqual(['applied', 'duplicate']);
    const gifts = await readGifts(gift.paymentIntent);
    expect(gifts.filter((g) => g.recipient_id)).toHaveLength(2);
    const months = await env.DB.prepare(
      'SELECT count(*) AS n FROM subscription_months WHERE source_id LIKE ?',
    )
      .bind(`${gift.paymentIntent}:gift:%`)
      .first<{ n: number }>();
    expect(months?.n).toBe(2);
    expect(await readSubscriberCount(room.owner.channelId)).toBe(3);
  });

  it('refuses a gift larger than the eligible viewers in chat, and more than 100, with nothing written', async () => {
    const room = await fillRoom(2);
    const before = await env.DB.prepare('SELECT count(*) AS n FROM payment_orders WHERE user_id = ?')
      .bind(room.gifter.id)
      .first<{ n: number }>();
    const tooMany = await callApi('/payments/checkout', {
      method: 'POST',
      token: room.gifter.token,
      body: { kind: 'community_gift', channel_id: room.owner.channelId, tier: 1000, quantity: 3 },
    });
    expect(tooMany.status).toBe(422);
    expect((await readError(tooMany)).details).toEqual({ eligible_viewers: 2 });
    const overCap = await callApi('/payments/checkout', {
      method: 'POST',
      token: room.gifter.token,
      body: { kind: 'community_gift', channel_id: room.owner.channelId, tier: 1000, quantity: 101 },
    });
    expect(overCap.status).toBe(400);
    const after = await env.DB.prepare('SELECT count(*) AS n FROM payment_orders WHERE user_id = ?')
      .bind(room.gifter.id)
      .first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });

  it('keeps a gift unassigned when its viewer left before the payment arrived', async () => {
    const room = await fillRoom(2);
    const gift = await buyCommunityGift(room.gifter, room.owner.channelId, 2);
    const leaving = room.sockets.at(-1);
    leaving?.close();
    await waitForCandidates(room.owner.channelId, 3);
    await deliverTwice(buildCheckoutEvents(gift.order, gift.checkout.sessionId, nowSeconds()));
    const gifts = await readGifts(gift.paymentIntent);
    expect(gifts.map((g) => g.recipient_id)).toEqual([room.eligible[0]?.id, null]);
    expect(await readSubscriberCount(room.owner.channelId)).toBe(2);
  });

  it('a full refund of a community gift ends every month it gave', async () => {
    const room = await fillRoom(3);
    const gift = await buyCommunityGift(room.gifter, room.owner.channelId, 3);
    await deliverTwice(buildCheckoutEvents(gift.order, gift.checkout.sessionId, nowSeconds()));
    expect(await readSubscriberCount(room.owner.channelId)).toBe(4);
    await deliverTwice([
      buildChargeRefunded({
        paymentIntent: gift.paymentIntent,
        amount: gift.order.amount_cents,
        created: nowSeconds(),
      }),
    ]);
    expect(await readActiveSubscribers(room.owner.channelId)).toEqual([room.subscribed.id]);
    expect(await readSubscriberCount(room.owner.channelId)).toBe(1);
  });
});

function fail(): never {
  throw new Error('missing event');
}

describe('subscriber_count', () => {
  it('stays equal to the active rows through subscriptions, cancels, refunds and expiries', async () => {
    const owner = await seedUser('own');
    const fans: SeededUser[] = [];
    for (let i = 0; i < 4; i++) fans.push(await seedUser('fan'));
    const t = nowSeconds();
    const paymentIntents: string[] = [];
    for (const fan of fans) {
      const checkout = await startCheckout(fan.token, {
        kind: 'subscription',
        channel_id: owner.channelId,
        tier: 1000,
      });
      const order = await loadOrder(env.DB, checkout.order_id);
      if (!order) throw new Error('order missing');
      await deliverTwice(buildCheckoutEvents(order, checkout.sessionId, t));
      paymentIntents.push(`pi_${checkout.sessionId.replace(/^cs_test_/, '')}`);
      if (fan === fans[0]) {
        // Cancelled at once (ended now); the others run to the end of their period.
        await deliver(
          buildSubscriptionEvent({
            type: 'deleted',
            subscriptionId: `sub_${checkout.sessionId.replace(/^cs_test_/, '')}`,
            orderId: order.id,
            status: 'canceled',
            cancelAtPeriodEnd: false,
            periodEnd: t + 30 * 86_400,
            endedAt: t - 1,
            created: t + 1,
          }),
        );
      }
    }
    await deliver(
      buildChargeRefunded({ paymentIntent: paymentIntents[1] ?? '', amount: 499, created: t + 2 }),
    );
    const matches = async (at: number) =>
      expect(await readSubscriberCount(owner.channelId)).toBe(
        (await readActiveSubscribers(owner.channelId, at)).length,
      );
    await matches(Date.now());
    expect(await readSubscriberCount(owner.channelId)).toBe(2);

    // An hour after the period ended every subscription ran out without any event: the stored count
    // is stale until the cron's recount runs, which makes it equal to the rows again.
    const later = (t + 30 * 86_400) * 1000 + 3_600_000;
    expect(await readActiveSubscribers(owner.channelId, later)).toEqual([]);
    expect(await readSubscriberCount(owner.channelId)).toBe(2);
    const sweep = SWEEPS.find((s) => s.name === 'recount-subscribers');
    if (!sweep) throw new Error('the cron has no subscriber recount');
    await sweep.run(env, later);
    await matches(later);
    expect(await readSubscriberCount(owner.channelId)).toBe(0);
  });
});
