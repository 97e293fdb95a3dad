// Sharing a resub message (docs/payments.md, "Sharing a resub"), on the real webhook, consumer,
// chat room, shards and EventSub: after a renewal the subscriber shares it once, over REST or a
// JSON chat frame, with a message; chat gets Twitch's USERNOTICE resub with the message as its
// trailing text, EventSub channel.subscription.message. A second share of the same renewal (also
// two at once), a non-subscriber, a first month, a banned subscriber and a message with control
// characters are refused with nothing sent.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseIrcLine } from '../../durable-objects/chat/irc.ts';
import { buildCheckoutEvents } from '../../workers/payments/fake-checkout.ts';
import { buildInvoiceEvent } from '../../workers/payments/fake-events.ts';
import { loadOrder } from '../../workers/payments/orders.ts';
import { callApi } from './api-helpers.ts';
import {
  type IrcClient,
  issueOAuthToken,
  openIrc,
  openJson,
  type SeededUser,
  seedUser,
} from './chat-fixtures.ts';
import { connect, type EventSubClient, helix, websocketSub } from './eventsub-fixtures.ts';
import { deliverTwice, startCheckout } from './payments-fixtures.ts';

const QUEUE_WAIT_MS = 10_000;
const DAY = 86_400;

async function openIrcReader(channelName: string): Promise<IrcClient> {
  const irc = await openIrc();
  irc.send('CAP REQ :twitch.tv/tags twitch.tv/commands', 'PASS SCHMOOPIIE', 'NICK justinfan6161');
  await irc.next(/ 376 justinfan6161 /);
  irc.send(`JOIN #${channelName}`);
  await irc.next(/ ROOMSTATE #/);
  return irc;
}

/** A subscription bought through checkout, plus `renewals` paid renewals. */
async function subscribe(fan: SeededUser, owner: SeededUser, renewals: number): Promise<void> {
  const checkout = await startCheckout(fan.token, {
    kind: 'subscription',
    channel_id: owner.channelId,
    tier: 1000,
  });
  const order = await loadOrder(env.DB, checkout.order_id);
  if (!order) throw new Error('order missing');
  const t = Math.floor(Date.now() / 1000);
  await deliverTwice(buildCheckoutEvents(order, checkout.sessionId, t));
  const suffix = checkout.sessionId.replace(/^cs_test_/, '');
  for (let i = 1; i <= renewals; i++) {
    await deliverTwice([
      buildInvoiceEvent({
        type: 'paid',
        invoiceId: `in_renew${i}_${suffix}`,
        subscriptionId: `sub_${suffix}`,
        orderId: order.id,
        amount: order.amount_cents,
        currency: order.currency,
        billingReason: 'subscription_cycle',
        periodEnd: t + (i + 1) * 30 * DAY,
        paymentIntent: `pi_renew${i}_${suffix}`,
        created: t + i,
      }),
    ]);
  }
}

const share = (user: SeededUser, channelId: string, body: Record<string, unknown>) =>
  callApi(`/payments/channels/${channelId}/resub-share`, { method: 'POST', token: user.token, body });

async function readState(user: SeededUser, channelId: string) {
  const res = await callApi(`/payments/channels/${channelId}/resub-share`, { token: user.token });
  expect(res.status).toBe(200);
  return z.looseObject({ available: z.boolean() }).parse(await res.json());
}

async function watchMessages(owner: SeededUser): Promise<EventSubClient> {
  const token = await issueOAuthToken(owner.clientId, owner.id, ['channel:read:subscriptions']);
  const client = await connect();
  const res = await helix('/eventsub/subscriptions', token, owner.clientId, {
    method: 'POST',
    body: websocketSub(
      'channel.subscription.message',
      '1',
      { broadcaster_user_id: owner.id },
      client.sessionId(),
    ),
  });
  expect(res.status).toBe(202);
  return client;
}

const resubLines = (irc: IrcClient) =>
  irc.lines.filter((line) => / USERNOTICE #/.test(line) && /(^@|;)msg-id=resub;/.test(line));

describe('sharing a resub message', () => {
  it('shares a renewal once over REST: USERNOTICE resub with the message, channel.subscription.message, then 409', async () => {
    const owner = await seedUser('rso');
    const fan = await seedUser('rsf');
    const irc = await openIrcReader(owner.name);
    const events = await watchMessages(owner);
    expect(await readState(fan, owner.channelId)).toEqual({ available: false, reason: 'not-subscriber' });
    await subscribe(fan, owner, 0);
    expect(await readState(fan, owner.channelId)).toEqual({ available: false, reason: 'no-renewal' });
    expect((await share(fan, owner.channelId, { message: 'too early' })).status).toBe(409);
    const fan2 = await seedUser('rs2');
    await subscribe(fan2, owner, 2);
    expect(await readState(fan2, owner.channelId)).toEqual({
      available: true,
      tier: 1000,
      cumulative_months: 3,
      streak_months: 3,
    });
    const res = await share(fan2, owner.channelId, { message: 'three months of hype' });
    expect(res.status).toBe(204);
    const line = await irc.next(/(^@|;)msg-id=resub;.* USERNOTICE #/);
    expect(line).toMatch(new RegExp(`USERNOTICE #${owner.name} :three months of hype$`));
    const tags = Object.fromEntries(parseIrcLine(line)?.tags ?? []);
    expect(tags).toMatchObject({
      login: fan2.name,
      'user-id': fan2.id,
      'msg-param-cumulative-months': '3',
      'msg-param-streak-months': '3',
      'msg-param-should-share-streak': '1',
      'msg-param-sub-plan': '1000',
      'msg-param-was-gifted': 'false',
    });
    const note = await events.next('notification', 0, QUEUE_WAIT_MS);
    expect(note.metadata).toMatchObject({ subscription_type: 'channel.subscription.message' });
    expect(note.payload).toMatchObject({
      event: {
        user_id: fan2.id,
        user_login: fan2.name,
        broadcaster_user_id: owner.id,
        tier: '1000',
        message: { text: 'three months of hype', emotes: [] },
        cumulative_months: 3,
        streak_months: 3,
        duration_months: 1,
      },
    });
    const again = await share(fan2, owner.channelId, { message: 'again' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { message: 'You already shared this resub' } });
    expect(await readState(fan2, owner.channelId)).toEqual({ available: false, reason: 'already-shared' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(resubLines(irc)).toHaveLength(1);
    expect(events.notifications('channel.subscription.message')).toHaveLength(1);
  });

  it('lets two shares of the same renewal at once make one notice', async () => {
    const owner = await seedUser('rco');
    const fan = await seedUser('rcf');
    const irc = await openIrcReader(owner.name);
    await subscribe(fan, owner, 1);
    const answers = await Promise.all([
      share(fan, owner.channelId, { message: 'one' }),
      share(fan, owner.channelId, { message: 'two' }),
      share(fan, owner.channelId, { message: 'three' }),
    ]);
    expect(answers.map((res) => res.status).sort()).toEqual([204, 409, 409]);
    await irc.next(/(^@|;)msg-id=resub;/);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(resubLines(irc)).toHaveLength(1);
    const rows = await env.DB.prepare('SELECT count(*) AS n FROM resub_shares WHERE user_id = ?')
      .bind(fan.id)
      .first<{ n: number }>();
    expect(rows?.n).toBe(1);
  });

  it('shares over a JSON chat frame with the streak hidden: streak-months 0 on IRC, streak_months null in EventSub', async () => {
    const owner = await seedUser('rjo');
    const fan = await seedUser('rjf');
    const irc = await openIrcReader(owner.name);
    const events = await watchMessages(owner);
    await subscribe(fan, owner, 1);
    const chat = await openJson(owner.channelId, fan.token);
    chat.send({ type: 'share_resub', channel_id: owner.channelId, message: '', share_streak: false });
    expect((await chat.next('notice')).code).toBe('resub_shared');
    const line = await irc.next(/(^@|;)msg-id=resub;.* USERNOTICE #/);
    // No message typed: no trailing parameter, as Twitch sends a resub shared without one.
    expect(line).toMatch(new RegExp(`USERNOTICE #${owner.name}$`));
    expect(Object.fromEntries(parseIrcLine(line)?.tags ?? [])).toMatchObject({
      'msg-param-cumulative-months': '2',
      'msg-param-should-share-streak': '0',
      'msg-param-streak-months': '0',
      'system-msg': `${fan.name.toUpperCase()} subscribed at Tier 1. They've subscribed for 2 months!`,
    });
    const note = await events.next('notification', 0, QUEUE_WAIT_MS);
    expect(note.payload).toMatchObject({
      event: { message: { text: '' }, cumulative_months: 2, streak_months: null },
    });
    chat.send({ type: 'share_resub', channel_id: owner.channelId, message: 'twice' });
    expect((await chat.next('error')).code).toBe('already_shared');
  });

  it('refuses a banned subscriber, a non-subscriber and a message with a line break, sending nothing', async () => {
    const owner = await seedUser('rbo');
    const fan = await seedUser('rbf');
    const stranger = await seedUser('rbs');
    const irc = await openIrcReader(owner.name);
    await subscribe(fan, owner, 1);
    const injected = await share(fan, owner.channelId, {
      message: 'hi\r\n:tmi.twitch.tv PRIVMSG #x :owned',
    });
    expect(injected.status).toBe(400);
    expect((await share(fan, owner.channelId, { message: 'x'.repeat(501) })).status).toBe(400);
    const notSub = await share(stranger, owner.channelId, { message: 'hello' });
    expect(notSub.status).toBe(403);
    expect(await notSub.json()).toMatchObject({
      error: { message: 'You are not subscribed to this channel' },
    });
    const ban = await env.CHAT_ROOM.getByName(owner.channelId).moderate(owner.channelId, owner.id, {
      kind: 'ban',
      target: fan.name,
      reason: 'rude',
    });
    expect(ban).toMatchObject({ kind: 'done' });
    const banned = await share(fan, owner.channelId, { message: 'let me share' });
    expect(banned.status).toBe(403);
    const strangerChat = await openJson(owner.channelId, stranger.token);
    strangerChat.send({ type: 'share_resub', channel_id: owner.channelId, message: 'me too' });
    expect((await strangerChat.next('error')).code).toBe('not_subscriber');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(resubLines(irc)).toHaveLength(0);
    // Still shareable once the ban is lifted: refusals wrote nothing.
    await env.CHAT_ROOM.getByName(owner.channelId).moderate(owner.channelId, owner.id, {
      kind: 'unban',
      target: fan.name,
    });
    expect((await share(fan, owner.channelId, { message: 'thanks' })).status).toBe(204);
  });
});
