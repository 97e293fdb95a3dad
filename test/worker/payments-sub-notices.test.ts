// Subscriptions announced in chat, through the real webhook, consumer, chat room and shards: a
// first month is a `sub`, a renewal a `resub` with its cumulative months and streak, a gift a
// `subgift` naming the recipient, a community gift a `submysterygift` then one `subgift` per viewer.
// IRC clients get Twitch's USERNOTICE tags, JSON clients a sub_notice frame; a month delivered twice
// is announced once, and a month a refund took back before it arrived is not announced at all.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { parseIrcLine } from '../../durable-objects/chat/irc.ts';
import { buildCheckoutEvents } from '../../workers/payments/fake-checkout.ts';
import { buildChargeRefunded, buildInvoiceEvent } from '../../workers/payments/fake-events.ts';
import { loadOrder } from '../../workers/payments/orders.ts';
import {
  type IrcClient,
  type JsonClient,
  openIrc,
  openJson,
  type SeededUser,
  seedUser,
} from './chat-fixtures.ts';
import { deliverTwice, startCheckout } from './payments-fixtures.ts';

const DAY = 86_400;
const nowSeconds = () => Math.floor(Date.now() / 1000);

async function openIrcReader(channelName: string): Promise<IrcClient> {
  const irc = await openIrc();
  irc.send('CAP REQ :twitch.tv/tags twitch.tv/commands', 'PASS SCHMOOPIIE', 'NICK justinfan7070');
  await irc.next(/ 376 justinfan7070 /);
  irc.send(`JOIN #${channelName}`);
  await irc.next(/ ROOMSTATE #/);
  return irc;
}

async function nextUserNotice(irc: IrcClient, msgId: string): Promise<Map<string, string>> {
  const line = await irc.next(new RegExp(`(^@|;)msg-id=${msgId};.* USERNOTICE #`));
  const parsed = parseIrcLine(line);
  if (!parsed) throw new Error(`unparseable: ${line}`);
  return parsed.tags;
}

const countUserNotices = (irc: IrcClient) => irc.lines.filter((line) => / USERNOTICE #/.test(line)).length;
const countSubNotices = (json: JsonClient) => json.frames.filter((f) => f.type === 'sub_notice').length;

async function buy(user: SeededUser, body: Record<string, unknown>) {
  const checkout = await startCheckout(user.token, body);
  const order = await loadOrder(env.DB, checkout.order_id);
  if (!order) throw new Error('order missing');
  const suffix = checkout.sessionId.replace(/^cs_test_/, '');
  return { checkout, order, suffix };
}

describe('subscription notices in chat', () => {
  it('announces a first month as sub, and a renewal as resub only when the subscriber shares it, once each, on IRC and JSON', async () => {
    const owner = await seedUser('own');
    const fan = await seedUser('fan');
    const irc = await openIrcReader(owner.name);
    const json = await openJson(owner.channelId);
    const sub = await buy(fan, { kind: 'subscription', channel_id: owner.channelId, tier: 2000 });
    const t = nowSeconds();
    await deliverTwice(buildCheckoutEvents(sub.order, sub.checkout.sessionId, t));

    const first = await nextUserNotice(irc, 'sub');
    expect(Object.fromEntries(first)).toMatchObject({
      'badge-info': 'subscriber/1',
      login: fan.name,
      // Seeded channels display their name in capitals.
      'display-name': fan.name.toUpperCase(),
      'user-id': fan.id,
      'room-id': owner.channelId,
      'msg-param-cumulative-months': '1',
      // "This is zero (0) if msg-param-should-share-streak is 0."
      'msg-param-streak-months': '0',
      'msg-param-should-share-streak': '0',
      'msg-param-sub-plan': '2000',
      'msg-param-sub-plan-name': `Channel Subscription (${owner.name})`,
      'system-msg': `${fan.name.toUpperCase()} subscribed at Tier 2.`,
      subscriber: '1',
    });
    expect(first.get('badges')).toContain('subscriber/1');
    const frame = await json.next('sub_notice', (f) => f.msg_id === 'sub');
    expect(frame).toMatchObject({
      tier: 2000,
      cumulative_months: 1,
      system_message: `${fan.name.toUpperCase()} subscribed at Tier 2.`,
    });
    expect(frame.user.badges).toContainEqual({ id: 'subscriber', version: '1' });

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
    // As on Twitch, a renewal is not announced by itself: the subscriber shares it (with a message).
    const fanChat = await openJson(owner.channelId, fan.token);
    fanChat.send({ type: 'share_resub', channel_id: owner.channelId, message: 'two months already!' });
    expect((await fanChat.next('notice')).code).toBe('resub_shared');
    const resub = await nextUserNotice(irc, 'resub');
    expect(Object.fromEntries(resub)).toMatchObject({
      'badge-info': 'subscriber/2',
      'msg-param-cumulative-months': '2',
      'msg-param-streak-months': '2',
      'msg-param-should-share-streak': '1',
      'system-msg': `${fan.name.toUpperCase()} subscribed at Tier 2. They've subscribed for 2 months, currently on a 2 month streak!`,
    });
    expect(irc.lines.find((line) => / USERNOTICE #/.test(line) && line.includes('msg-id=resub'))).toMatch(
      new RegExp(`USERNOTICE #${owner.name} :two months already!$`),
    );
    await json.next(
      'sub_notice',
      (f) =>
        f.msg_id === 'resub' &&
        f.cumulative_months === 2 &&
        f.streak_months === 2 &&
        f.message === 'two months already!',
    );
    // Each month was delivered twice (and the checkout's three events): one notice per month.
    expect(countUserNotices(irc)).toBe(2);
    expect(countSubNotices(json)).toBe(2);
  });

  it('announces a gift to a named viewer as subgift with the recipient tags', async () => {
    const owner = await seedUser('own');
    const gifter = await seedUser('gifter');
    const lucky = await seedUser('lucky');
    const irc = await openIrcReader(owner.name);
    const gift = await buy(gifter, {
      kind: 'gift_subscription',
      channel_id: owner.channelId,
      tier: 1000,
      recipient_login: lucky.name,
    });
    await deliverTwice(buildCheckoutEvents(gift.order, gift.checkout.sessionId, nowSeconds()));
    const notice = await nextUserNotice(irc, 'subgift');
    expect(Object.fromEntries(notice)).toMatchObject({
      login: gifter.name,
      'msg-param-recipient-id': lucky.id,
      'msg-param-recipient-user-name': lucky.name,
      'msg-param-recipient-display-name': lucky.name.toUpperCase(),
      'msg-param-months': '1',
      'msg-param-gift-months': '1',
      'msg-param-sub-plan': '1000',
      'system-msg': `${gifter.name.toUpperCase()} gifted a Tier 1 sub to ${lucky.name.toUpperCase()}!`,
    });
    expect(countUserNotices(irc)).toBe(1);
  });

  it('announces a community gift as submysterygift followed by one subgift per viewer', async () => {
    const owner = await seedUser('own');
    const gifter = await seedUser('gifter');
    const viewers = [await seedUser('v'), await seedUser('v')];
    const json = await openJson(owner.channelId);
    for (const user of [gifter, ...viewers]) await openJson(owner.channelId, user.token);
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    const deadline = Date.now() + 3000;
    while ((await room.listGiftCandidates(owner.channelId)).length < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const gift = await buy(gifter, {
      kind: 'community_gift',
      channel_id: owner.channelId,
      tier: 1000,
      quantity: 2,
    });
    await deliverTwice(buildCheckoutEvents(gift.order, gift.checkout.sessionId, nowSeconds()));
    const mystery = await json.next('sub_notice', (f) => f.msg_id === 'submysterygift');
    expect(mystery).toMatchObject({
      gift_count: 2,
      system_message: `${gifter.name.toUpperCase()} is gifting 2 Tier 1 Subs to ${owner.name.toUpperCase()}'s community!`,
    });
    await json.next('sub_notice', (f) => f.msg_id === 'subgift' && f.recipient?.id === viewers[1]?.id);
    const gifts = json.frames.filter((f) => f.type === 'sub_notice' && f.msg_id === 'subgift');
    expect(gifts.map((f) => (f.type === 'sub_notice' ? f.recipient?.id : '')).sort()).toEqual(
      viewers.map((v) => v.id).sort(),
    );
    expect(countSubNotices(json)).toBe(3);
  });

  it('does not announce a month whose refund arrived first (it is never granted)', async () => {
    const owner = await seedUser('own');
    const fan = await seedUser('fan');
    const other = await seedUser('other');
    const json = await openJson(owner.channelId);
    const refunded = await buy(fan, { kind: 'subscription', channel_id: owner.channelId, tier: 1000 });
    await deliverTwice([
      buildChargeRefunded({ paymentIntent: `pi_${refunded.suffix}`, amount: 499, created: nowSeconds() }),
      ...buildCheckoutEvents(refunded.order, refunded.checkout.sessionId, nowSeconds()),
    ]);
    // A later, granted month is announced: everything before it has been fanned out.
    const granted = await buy(other, { kind: 'subscription', channel_id: owner.channelId, tier: 1000 });
    await deliverTwice(buildCheckoutEvents(granted.order, granted.checkout.sessionId, nowSeconds()));
    await json.next('sub_notice', (f) => f.user.id === other.id);
    expect(
      json.frames
        .filter((f) => f.type === 'sub_notice')
        .map((f) => (f.type === 'sub_notice' ? f.user.id : '')),
    ).toEqual([other.id]);
  });
});
