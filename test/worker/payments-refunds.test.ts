// Partial refunds through the real webhook, consumer and D1 (docs/payments.md, "Refunds"). Stripe's
// charge.refunded carries the total refunded so far; each event moves the payment to that total once,
// in any order and however often delivered: bits come back in proportion (never more than the buyer
// holds: cheered bits stay with the channel and are recorded as unrecovered), tips and subscriptions
// lose exactly the refunded cents from the earnings. The ledger's double-entry invariants hold after
// every run.
import { env } from 'cloudflare:test';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { processPaymentEvent } from '../../workers/payments/consumer.ts';
import { buildCheckoutEvents } from '../../workers/payments/fake-checkout.ts';
import {
  buildChargeRefunded,
  buildDisputeCreated,
  type FakeEvent,
} from '../../workers/payments/fake-events.ts';
import {
  channelBitsAccount,
  readBalance,
  runTransfer,
  userBitsAccount,
} from '../../workers/payments/ledger.ts';
import { loadOrder } from '../../workers/payments/orders.ts';
import { bitsForCents, prepareFailIfFound } from '../../workers/payments/refunds.ts';
import { callApi, signUp, type TestSession } from './api-helpers.ts';
import { deliver, deliverTwice, postWebhook, readSubscription, startCheckout } from './payments-fixtures.ts';

const nowSeconds = () => Math.floor(Date.now() / 1000);

async function buy(buyer: TestSession, body: Record<string, unknown>) {
  const checkout = await startCheckout(buyer.token, body);
  const order = await loadOrder(env.DB, checkout.order_id);
  if (!order) throw new Error('order missing');
  const paymentIntent = `pi_${checkout.sessionId.replace(/^cs_test_/, '')}`;
  const events = buildCheckoutEvents(order, checkout.sessionId, nowSeconds());
  return { order, paymentIntent, events };
}

const refund = (paymentIntent: string, amount: number, refunded: number) =>
  buildChargeRefunded({ paymentIntent, amount, refunded, created: nowSeconds() });

/** The ledger's invariants over every account: entries sum to zero, balances equal their entries, none negative. */
async function readLedgerInvariants() {
  return env.DB.prepare(
    `SELECT COALESCE(SUM(amount), 0) AS total,
       (SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING SUM(amount) != 0 OR count(*) != 2)) AS unbalanced,
       (SELECT count(*) FROM ledger_accounts a WHERE a.balance != (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e WHERE e.account_id = a.id)) AS drifted,
       (SELECT count(*) FROM ledger_accounts WHERE kind != 'issuance' AND balance < 0) AS negative
     FROM ledger_entries`,
  ).first();
}
const BALANCED = { total: 0, unbalanced: 0, drifted: 0, negative: 0 };

async function readPayment(paymentIntent: string) {
  return env.DB.prepare('SELECT status, amount_cents, refunded_cents FROM payments WHERE payment_intent = ?')
    .bind(paymentIntent)
    .first();
}

async function readSteps(paymentIntent: string) {
  const { results } = await env.DB.prepare(
    'SELECT from_cents, to_cents, bits_taken, bits_unrecovered FROM payment_refunds WHERE payment_intent = ? ORDER BY from_cents',
  )
    .bind(paymentIntent)
    .all();
  return results;
}

async function readEarnings(streamer: TestSession) {
  const res = await callApi(`/payments/channels/${streamer.channel.id}/earnings`, { token: streamer.token });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, number>;
}

/** Applies an event, retrying it as the queue would when its batch lost a race (a thrown error). */
async function processWithRetries(eventId: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await processPaymentEvent(env, eventId);
    } catch (error) {
      if (attempt >= 4) throw error;
    }
  }
}

describe('partial refunds of bits', () => {
  it('takes back exactly the refunded share of the pack, then the rest at the full amount, once each', async () => {
    const buyer = await signUp('bits');
    const pack = await buy(buyer, { kind: 'bits', bits: 500 });
    await deliverTwice(pack.events);
    expect(await readBalance(env.DB, userBitsAccount(buyer.user.id))).toBe(500);
    // 350 of 700 cents: half the pack.
    await deliverTwice([refund(pack.paymentIntent, 700, 350)]);
    expect(await readBalance(env.DB, userBitsAccount(buyer.user.id))).toBe(250);
    expect(await readPayment(pack.paymentIntent)).toEqual({
      status: 'paid',
      amount_cents: 700,
      refunded_cents: 350,
    });
    const { results: entries } = await env.DB.prepare(
      'SELECT account_id, amount FROM ledger_entries WHERE transaction_id = ? ORDER BY amount',
    )
      .bind(`refund:${pack.paymentIntent}:350`)
      .all();
    expect(entries).toEqual([
      { account_id: userBitsAccount(buyer.user.id), amount: -250 },
      { account_id: 'issuance:bits', amount: 250 },
    ]);
    // The rest of the payment, then the earlier partial event again (late): nothing more after the full refund.
    await deliverTwice([refund(pack.paymentIntent, 700, 700), refund(pack.paymentIntent, 700, 350)]);
    expect(await readBalance(env.DB, userBitsAccount(buyer.user.id))).toBe(0);
    expect(await readPayment(pack.paymentIntent)).toEqual({
      status: 'refunded',
      amount_cents: 700,
      refunded_cents: 700,
    });
    expect(await readSteps(pack.paymentIntent)).toEqual([
      { from_cents: 0, to_cents: 350, bits_taken: 250, bits_unrecovered: 0 },
      { from_cents: 350, to_cents: 700, bits_taken: 250, bits_unrecovered: 0 },
    ]);
    expect(await readLedgerInvariants()).toEqual(BALANCED);
  });

  it('never takes the balance below zero: bits already cheered stay with the channel, recorded as unrecovered', async () => {
    const buyer = await signUp('cheerer');
    const streamer = await signUp('streamer');
    const pack = await buy(buyer, { kind: 'bits', bits: 500 });
    await deliverTwice(pack.events);
    const cheer = {
      id: `cheer:${crypto.randomUUID()}`,
      kind: 'cheer' as const,
      reference: 'msg',
      from: userBitsAccount(buyer.user.id),
      to: channelBitsAccount(streamer.channel.id),
      amount: 400,
      now: Date.now(),
    };
    expect(await runTransfer(env.DB, cheer)).toBe('applied');
    await deliverTwice([refund(pack.paymentIntent, 700, 350)]);
    expect(await readBalance(env.DB, userBitsAccount(buyer.user.id))).toBe(0);
    expect(await readBalance(env.DB, channelBitsAccount(streamer.channel.id))).toBe(400);
    await deliverTwice([refund(pack.paymentIntent, 700, 700)]);
    expect(await readSteps(pack.paymentIntent)).toEqual([
      { from_cents: 0, to_cents: 350, bits_taken: 100, bits_unrecovered: 150 },
      { from_cents: 350, to_cents: 700, bits_taken: 0, bits_unrecovered: 250 },
    ]);
    expect(await readLedgerInvariants()).toEqual(BALANCED);
  });

  it('a partial refund delivered before its payment is applied with it: the pack arrives already reduced', async () => {
    const buyer = await signUp('early');
    const pack = await buy(buyer, { kind: 'bits', bits: 500 });
    await deliverTwice([refund(pack.paymentIntent, 700, 140), ...pack.events]);
    // 140 of 700 cents is a fifth: 100 bits.
    expect(await readBalance(env.DB, userBitsAccount(buyer.user.id))).toBe(400);
    expect(await readPayment(pack.paymentIntent)).toEqual({
      status: 'paid',
      amount_cents: 700,
      refunded_cents: 140,
    });
    expect(await readLedgerInvariants()).toEqual(BALANCED);
  });

  it('two refunds of one payment applied at the same moment: the loser of the compare-and-set retries, nothing is taken twice', async () => {
    const buyer = await signUp('race');
    const pack = await buy(buyer, { kind: 'bits', bits: 1500 });
    const [paid] = pack.events;
    if (!paid) throw new Error('no event');
    const refunds = [refund(pack.paymentIntent, 1995, 399), refund(pack.paymentIntent, 1995, 798)];
    for (const event of [paid, ...refunds]) expect((await postWebhook(event)).status).toBe(200);
    // The payment and both refunds at once: every interleaving must end in the same state.
    const outcomes = await Promise.all([paid, ...refunds].map((event) => processWithRetries(event.id)));
    expect(outcomes).toEqual(['applied', 'applied', 'applied']);
    expect(await readBalance(env.DB, userBitsAccount(buyer.user.id))).toBe(
      1500 - bitsForCents(1500, 1995, 798),
    );
    expect(await readPayment(pack.paymentIntent)).toMatchObject({ refunded_cents: 798 });
    expect(await readLedgerInvariants()).toEqual(BALANCED);
  });

  it('ends where the largest refund says, whatever the order and repetition of the events (randomized)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
        async (levels, shuffle) => {
          const buyer = await signUp('prop');
          const pack = await buy(buyer, { kind: 'bits', bits: 500 });
          const events: FakeEvent[] = [
            ...pack.events,
            ...levels.map((level) => refund(pack.paymentIntent, 700, level)),
          ];
          const order = [...events, ...events].map((event, i) => ({
            event,
            key: shuffle[i % shuffle.length] ?? 0,
          }));
          order.sort((a, b) => a.key - b.key);
          for (const { event } of order) {
            expect((await postWebhook(event)).status).toBe(200);
            await processWithRetries(event.id);
          }
          const top = Math.max(...levels);
          expect(await readBalance(env.DB, userBitsAccount(buyer.user.id))).toBe(
            500 - bitsForCents(500, 700, top),
          );
          expect(await readPayment(pack.paymentIntent)).toMatchObject({
            refunded_cents: top,
            status: top >= 700 ? 'refunded' : 'paid',
          });
        },
      ),
      { numRuns: 6 },
    );
    expect(await readLedgerInvariants()).toEqual(BALANCED);
  });
});

describe('the guards that make a losing batch retry', () => {
  it('a fail-if-found statement rolls back its whole D1 batch only when the row exists', async () => {
    const key = `pi_guard_${crypto.randomUUID()}`;
    const insert = (id: string) =>
      env.DB.prepare(
        'INSERT INTO payment_reversals (payment_intent, kind, created_at) VALUES (?, ?, 0)',
      ).bind(id, 'refunded');
    const guard = prepareFailIfFound(env.DB, {
      sql: 'SELECT kind AS found FROM payment_reversals WHERE payment_intent = ?',
      bindings: [key],
    });
    await env.DB.batch([insert(`${key}-a`), guard]);
    await env.DB.batch([insert(key)]);
    await expect(env.DB.batch([insert(`${key}-b`), guard])).rejects.toThrow(/JSON/i);
    const { results } = await env.DB.prepare(
      'SELECT payment_intent FROM payment_reversals WHERE payment_intent LIKE ? ORDER BY payment_intent',
    )
      .bind(`${key}%`)
      .all();
    expect(results.map((row) => row.payment_intent)).toEqual([key, `${key}-a`]);
  });
});

describe('partial refunds of tips and subscriptions', () => {
  it('a tip refunded in part lowers the earnings by exactly that; the rest, then a dispute, change nothing twice', async () => {
    const streamer = await signUp('streamer');
    const fan = await signUp('fan');
    const tip = await buy(fan, {
      kind: 'tip',
      channel_id: streamer.channel.id,
      amount_cents: 1000,
      message: 'gg',
    });
    await deliverTwice(tip.events);
    expect((await readEarnings(streamer)).tips_cents).toBe(1000);
    await deliverTwice([refund(tip.paymentIntent, 1000, 300)]);
    expect((await readEarnings(streamer)).tips_cents).toBe(700);
    await deliverTwice([
      buildDisputeCreated({ paymentIntent: tip.paymentIntent, amount: 1000, created: nowSeconds() }),
      refund(tip.paymentIntent, 1000, 600),
    ]);
    expect(await readPayment(tip.paymentIntent)).toEqual({
      status: 'disputed',
      amount_cents: 1000,
      refunded_cents: 1000,
    });
    expect((await readEarnings(streamer)).tips_cents).toBe(0);
  });

  it('a subscription month refunded in part keeps its access; the earnings drop by the refunded cents', async () => {
    const streamer = await signUp('streamer');
    const viewer = await signUp('viewer');
    const sub = await buy(viewer, { kind: 'subscription', channel_id: streamer.channel.id, tier: 1000 });
    await deliverTwice(sub.events);
    await deliver(refund(sub.paymentIntent, 499, 200));
    expect(await readSubscription(viewer.user.id, streamer.channel.id)).toMatchObject({
      status: 'active',
      cumulative_months: 1,
    });
    expect((await readEarnings(streamer)).subscriptions_gross_cents).toBe(299);
    await deliver(refund(sub.paymentIntent, 499, 499));
    expect(await readSubscription(viewer.user.id, streamer.channel.id)).toMatchObject({
      status: 'ended',
      cumulative_months: 0,
    });
    expect((await readEarnings(streamer)).subscriptions_gross_cents).toBe(0);
  });
});
