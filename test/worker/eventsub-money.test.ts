// EventSub's monetization types on the real path: a payment webhook applied by the real consumer
// (or a cheer in the real chat room) writes its event to the outbox in the effect's own D1 batch,
// the stream-events queue carries it, and the EventSub WebSocket receives it once, whatever the
// number of deliveries. Scopes as Twitch's: channel:read:subscriptions for the subscription types,
// bits:read for channel.cheer, from the broadcaster.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { runSweeps, SWEEPS } from '../../workers/cron.ts';
import { flushOutbox, prepareOutboxEvent } from '../../workers/eventsub/outbox.ts';
import { buildCheckoutEvents } from '../../workers/payments/fake-checkout.ts';
import { buildInvoiceEvent, buildSubscriptionEvent } from '../../workers/payments/fake-events.ts';
import { loadOrder } from '../../workers/payments/orders.ts';
import { callApi } from './api-helpers.ts';
import { issueOAuthToken, openJson, type SeededUser, seedUser } from './chat-fixtures.ts';
import { connect, type EventSubClient, helix, websocketSub } from './eventsub-fixtures.ts';
import { deliverTwice, startCheckout } from './payments-fixtures.ts';

/** The stream-events queue's batch window is 1 s; a notification arrives within a few. */
const QUEUE_WAIT_MS = 10_000;
const DAY = 86_400;
const nowSeconds = () => Math.floor(Date.now() / 1000);

async function buy(user: SeededUser, body: Record<string, unknown>) {
  const checkout = await startCheckout(user.token, body);
  const order = await loadOrder(env.DB, checkout.order_id);
  if (!order) throw new Error('order missing');
  return { checkout, order, suffix: checkout.sessionId.replace(/^cs_test_/, '') };
}

async function subscribe(
  client: EventSubClient,
  owner: SeededUser,
  token: string,
  type: string,
): Promise<Response> {
  return helix('/eventsub/subscriptions', token, owner.clientId, {
    method: 'POST',
    body: websocketSub(type, '1', { broadcaster_user_id: owner.id }, client.sessionId()),
  });
}

async function waitQuiet(ms = 1500): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

async function countOutbox(): Promise<number> {
  const row = await env.DB.prepare('SELECT count(*) AS n FROM eventsub_outbox').first<{ n: number }>();
  return row?.n ?? -1;
}

describe('EventSub monetization types', () => {
  it('refuses the subscription types without channel:read:subscriptions and channel.cheer without bits:read (403), and another broadcaster (403)', async () => {
    const owner = await seedUser('esm');
    const other = await seedUser('eso');
    const client = await connect();
    const chatOnly = await issueOAuthToken(owner.clientId, owner.id, ['chat:read', 'bits:read']);
    const subsOnly = await issueOAuthToken(owner.clientId, owner.id, ['channel:read:subscriptions']);
    for (const type of [
      'channel.subscribe',
      'channel.subscription.end',
      'channel.subscription.gift',
      'channel.subscription.message',
    ]) {
      const res = await subscribe(client, owner, chatOnly, type);
      expect(res.status, type).toBe(403);
      expect(await res.json()).toEqual({
        error: 'Forbidden',
        status: 403,
        message: 'subscription missing proper authorization',
      });
    }
    expect((await subscribe(client, owner, subsOnly, 'channel.cheer')).status).toBe(403);
    const res = await helix('/eventsub/subscriptions', subsOnly, owner.clientId, {
      method: 'POST',
      body: websocketSub('channel.subscribe', '1', { broadcaster_user_id: other.id }, client.sessionId()),
    });
    expect(res.status).toBe(403);
    expect((await subscribe(client, owner, subsOnly, 'channel.subscribe')).status).toBe(202);
    expect((await subscribe(client, owner, chatOnly, 'channel.cheer')).status).toBe(202);
  });

  it('sends channel.subscribe once for a first month delivered twice, nothing for a renewal, and channel.subscription.end when the provider ends it', async () => {
    const owner = await seedUser('esb');
    const fan = await seedUser('esf');
    const token = await issueOAuthToken(owner.clientId, owner.id, ['channel:read:subscriptions']);
    const client = await connect();
    for (const type of ['channel.subscribe', 'channel.subscription.end']) {
      expect((await subscribe(client, owner, token, type)).status).toBe(202);
    }
    const sub = await buy(fan, { kind: 'subscription', channel_id: owner.channelId, tier: 2000 });
    const t = nowSeconds();
    await deliverTwice(buildCheckoutEvents(sub.order, sub.checkout.sessionId, t));
    const first = await client.next('notification', 0, QUEUE_WAIT_MS);
    expect(first.metadata).toMatchObject({
      subscription_type: 'channel.subscribe',
      subscription_version: '1',
    });
    expect(first.payload).toMatchObject({
      subscription: { type: 'channel.subscribe', condition: { broadcaster_user_id: owner.id } },
      event: {
        user_id: fan.id,
        user_login: fan.name,
        user_name: fan.name.toUpperCase(),
        broadcaster_user_id: owner.id,
        broadcaster_user_login: owner.name,
        broadcaster_user_name: owner.name.toUpperCase(),
        tier: '2000',
        is_gift: false,
      },
    });
    const renewal = buildInvoiceEvent({
      type: 'paid',
      invoiceId: `in_renew_${sub.suffix}`,
      subscriptionId: `sub_${sub.suffix}`,
      orderId: sub.order.id,
      amount: sub.order.amount_cents,
      currency: sub.order.currency,
      billingReason: 'subscription_cycle',
      periodEnd: t + 60 * DAY,
      paymentIntent: `pi_renew_${sub.suffix}`,
      created: t + 1,
    });
    await deliverTwice([renewal]);
    const ended = buildSubscriptionEvent({
      type: 'deleted',
      subscriptionId: `sub_${sub.suffix}`,
      orderId: sub.order.id,
      status: 'canceled',
      cancelAtPeriodEnd: false,
      periodEnd: t + 60 * DAY,
      created: t + 2,
    });
    await deliverTwice([ended]);
    const end = await client.next('notification', client.frames.indexOf(first) + 1, QUEUE_WAIT_MS);
    expect(end.metadata).toMatchObject({ subscription_type: 'channel.subscription.end' });
    expect(end.payload).toMatchObject({
      event: { user_id: fan.id, broadcaster_user_id: owner.id, tier: '2000', is_gift: false },
    });
    await waitQuiet();
    expect(client.notifications('channel.subscribe')).toHaveLength(1);
    expect(client.notifications('channel.subscription.end')).toHaveLength(1);
    const ids = client.frames.map((f) => f.metadata.message_id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sends channel.subscription.gift and an is_gift channel.subscribe for a named gift, once', async () => {
    const owner = await seedUser('esg');
    const gifter = await seedUser('gif');
    const lucky = await seedUser('luc');
    const token = await issueOAuthToken(owner.clientId, owner.id, ['channel:read:subscriptions']);
    const client = await connect();
    for (const type of ['channel.subscribe', 'channel.subscription.gift']) {
      expect((await subscribe(client, owner, token, type)).status).toBe(202);
    }
    const gift = await buy(gifter, {
      kind: 'gift_subscription',
      channel_id: owner.channelId,
      tier: 1000,
      recipient_login: lucky.name,
    });
    await deliverTwice(buildCheckoutEvents(gift.order, gift.checkout.sessionId, nowSeconds()));
    const giftNote = await client.next('notification', 0, QUEUE_WAIT_MS);
    await client.next('notification', client.frames.indexOf(giftNote) + 1, QUEUE_WAIT_MS);
    await waitQuiet();
    const [subscribed] = client.notifications('channel.subscribe');
    const [gifted] = client.notifications('channel.subscription.gift');
    expect(subscribed?.payload).toMatchObject({
      event: { user_id: lucky.id, user_login: lucky.name, tier: '1000', is_gift: true },
    });
    expect(gifted?.payload).toMatchObject({
      event: {
        user_id: gifter.id,
        user_login: gifter.name,
        broadcaster_user_id: owner.id,
        total: 1,
        tier: '1000',
        cumulative_total: null,
        is_anonymous: false,
      },
    });
    expect(client.notifications('channel.subscribe')).toHaveLength(1);
    expect(client.notifications('channel.subscription.gift')).toHaveLength(1);
  });

  it('sends channel.cheer for a cheer in chat with its bits and text, and nothing for a refused cheer', async () => {
    const owner = await seedUser('esc');
    const fan = await seedUser('chf');
    const token = await issueOAuthToken(owner.clientId, owner.id, ['bits:read']);
    const client = await connect();
    expect((await subscribe(client, owner, token, 'channel.cheer')).status).toBe(202);
    const pack = await buy(fan, { kind: 'bits', bits: 100 });
    await deliverTwice(buildCheckoutEvents(pack.order, pack.checkout.sessionId, nowSeconds()));
    const sender = await openJson(owner.channelId, fan.token);
    sender.say(owner.channelId, 'Cheer150 too much');
    expect((await sender.next('error')).code).toBe('insufficient_bits');
    sender.say(owner.channelId, 'Cheer60 nice Cheer40');
    const cheer = await client.next('notification', 0, QUEUE_WAIT_MS);
    expect(cheer.metadata).toMatchObject({ subscription_type: 'channel.cheer' });
    expect(cheer.payload).toMatchObject({
      event: {
        is_anonymous: false,
        user_id: fan.id,
        user_login: fan.name,
        user_name: fan.name.toUpperCase(),
        broadcaster_user_id: owner.id,
        message: 'Cheer60 nice Cheer40',
        bits: 100,
      },
    });
    await waitQuiet();
    expect(client.notifications('channel.cheer')).toHaveLength(1);
  });

  it('sends channel.chat.notification sub, sub_gift and resub (a shared renewal) with the notice objects', async () => {
    const owner = await seedUser('esn');
    const fan = await seedUser('esu');
    const gifter = await seedUser('esv');
    const lucky = await seedUser('esw');
    const token = await issueOAuthToken(owner.clientId, owner.id, ['user:read:chat']);
    const client = await connect();
    const res = await helix('/eventsub/subscriptions', token, owner.clientId, {
      method: 'POST',
      body: websocketSub(
        'channel.chat.notification',
        '1',
        { broadcaster_user_id: owner.id, user_id: owner.id },
        client.sessionId(),
      ),
    });
    expect(res.status).toBe(202);
    const sub = await buy(fan, { kind: 'subscription', channel_id: owner.channelId, tier: 1000 });
    const t = nowSeconds();
    await deliverTwice(buildCheckoutEvents(sub.order, sub.checkout.sessionId, t));
    const first = await client.next('notification', 0, QUEUE_WAIT_MS);
    expect(first.payload).toMatchObject({
      event: {
        broadcaster_user_id: owner.id,
        chatter_user_id: fan.id,
        chatter_user_login: fan.name,
        notice_type: 'sub',
        system_message: `${fan.name.toUpperCase()} subscribed at Tier 1.`,
        sub: { sub_tier: '1000', is_prime: false, duration_months: 1 },
        resub: null,
        sub_gift: null,
      },
    });
    const gift = await buy(gifter, {
      kind: 'gift_subscription',
      channel_id: owner.channelId,
      tier: 2000,
      recipient_login: lucky.name,
    });
    await deliverTwice(buildCheckoutEvents(gift.order, gift.checkout.sessionId, t));
    const second = await client.next('notification', client.frames.indexOf(first) + 1, QUEUE_WAIT_MS);
    expect(second.payload).toMatchObject({
      event: {
        chatter_user_id: gifter.id,
        notice_type: 'sub_gift',
        sub_gift: {
          recipient_user_id: lucky.id,
          recipient_user_login: lucky.name,
          sub_tier: '2000',
          duration_months: 1,
          community_gift_id: null,
        },
      },
    });
    await deliverTwice([
      buildInvoiceEvent({
        type: 'paid',
        invoiceId: `in_renew_${sub.suffix}`,
        subscriptionId: `sub_${sub.suffix}`,
        orderId: sub.order.id,
        amount: sub.order.amount_cents,
        currency: sub.order.currency,
        billingReason: 'subscription_cycle',
        periodEnd: t + 60 * DAY,
        paymentIntent: `pi_renew_${sub.suffix}`,
        created: t + 1,
      }),
    ]);
    const shared = await callApi(`/payments/channels/${owner.channelId}/resub-share`, {
      method: 'POST',
      token: fan.token,
      body: { message: 'still here' },
    });
    expect(shared.status).toBe(204);
    const third = await client.next('notification', client.frames.indexOf(second) + 1, QUEUE_WAIT_MS);
    expect(third.payload).toMatchObject({
      event: {
        chatter_user_id: fan.id,
        notice_type: 'resub',
        message: { text: 'still here' },
        resub: { cumulative_months: 2, streak_months: 2, sub_tier: '1000', is_gift: false },
      },
    });
    await waitQuiet();
    expect(client.notifications('channel.chat.notification')).toHaveLength(3);
  });

  it('keeps an event whose send failed in the outbox and the cron sends it, under the same message id', async () => {
    const owner = await seedUser('eso');
    const fan = await seedUser('osf');
    const token = await issueOAuthToken(owner.clientId, owner.id, ['channel:read:subscriptions']);
    const client = await connect();
    expect((await subscribe(client, owner, token, 'channel.subscribe')).status).toBe(202);
    // A writer that committed and then died before its send: the row as the batch left it.
    const write = await prepareOutboxEvent(
      env.DB,
      'subscription.started',
      { channel_id: owner.channelId, user_id: fan.id, tier: 1000, gifter_id: null },
      `test:${crypto.randomUUID()}`,
      Date.now() - 120_000,
    );
    await write.statement.run();
    // A second write of the same fact is the same row.
    await write.statement.run();
    expect(await countOutbox()).toBeGreaterThanOrEqual(1);
    await runSweeps(
      SWEEPS.filter((sweep) => sweep.name === 'flush-eventsub-outbox'),
      env,
      Date.now(),
    );
    const note = await client.next('notification', 0, QUEUE_WAIT_MS);
    expect(note.payload).toMatchObject({ event: { user_id: fan.id, tier: '1000', is_gift: false } });
    const row = await env.DB.prepare('SELECT 1 FROM eventsub_outbox WHERE id = ?').bind(write.id).first();
    expect(row).toBeNull();
    // Sent again (a flush that sent and then failed to delete): the consumer knows the event id.
    await env.STREAM_EVENTS.send(
      {
        id: write.id,
        type: 'subscription.started',
        occurred_at: Date.now(),
        channel_id: owner.channelId,
        user_id: fan.id,
        tier: 1000,
        gifter_id: null,
      },
      { contentType: 'json' },
    );
    await waitQuiet(2500);
    expect(client.notifications('channel.subscribe')).toHaveLength(1);
    expect(await flushOutbox(env, { ids: [write.id] })).toBe(0);
  });
});
