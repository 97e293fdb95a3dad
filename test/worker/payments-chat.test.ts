// Money in chat, on the real Worker, chat objects and D1: a subscription bought through the
// payment webhooks gives the badge and sub-only access; a cheer debits the sender's bits in the same
// D1 transaction as its overlay alert, before the message exists, and carries the `bits` tag on
// IRC; a cheer over the balance is refused with nothing changed.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { buildCheckoutEvents } from '../../workers/payments/fake-checkout.ts';
import { readBalance, userBitsAccount } from '../../workers/payments/ledger.ts';
import { loadOrder } from '../../workers/payments/orders.ts';
import { openIrc, openJson, type SeededUser, seedUser } from './chat-fixtures.ts';
import { deliverTwice, readAlerts, startCheckout } from './payments-fixtures.ts';

async function buy(user: SeededUser, body: Record<string, unknown>): Promise<void> {
  const checkout = await startCheckout(user.token, body);
  const order = await loadOrder(env.DB, checkout.order_id);
  if (!order) throw new Error('order missing');
  await deliverTwice(buildCheckoutEvents(order, checkout.sessionId, Math.floor(Date.now() / 1000)));
}

async function countLedgerRows(reference: string): Promise<number> {
  const row = await env.DB.prepare('SELECT count(*) AS n FROM ledger_transactions WHERE reference = ?')
    .bind(reference)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe('subscriptions in chat', () => {
  it('a subscription bought through checkout shows the subscriber badge and passes sub-only mode', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('fan');
    const ownerChat = await openJson(owner.channelId, owner.token);
    ownerChat.say(owner.channelId, '/subscribers');
    await ownerChat.next('room_state', (f) => f.subscribers_only);
    const before = await openJson(owner.channelId, viewer.token);
    before.say(owner.channelId, 'let me in');
    expect((await before.next('error')).code).toBe('subs_only');

    await buy(viewer, { kind: 'subscription', channel_id: owner.channelId, tier: 1000 });
    // A new connection reads the chatter's profile again (the room caches roles for 30 s).
    const after = await openJson(owner.channelId, viewer.token);
    const welcome = after.frames.find((f) => f.type === 'welcome');
    expect(welcome?.type === 'welcome' && welcome.user?.badges).toContainEqual({
      id: 'subscriber',
      version: '1',
    });
    after.say(owner.channelId, 'now I can talk');
    const sent = await ownerChat.next('chat_message', (m) => m.content === 'now I can talk');
    expect(sent.user.badges).toContainEqual({ id: 'subscriber', version: '1' });
  });
});

describe('cheers', () => {
  it('debits the bits with the message: highlighted in JSON, the bits tag on IRC, an alert for the overlay', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('cheer');
    await buy(viewer, { kind: 'bits', bits: 500 });
    expect(await readBalance(env.DB, userBitsAccount(viewer.id))).toBe(500);
    const anon = await openIrc();
    anon.send('CAP REQ :twitch.tv/tags', 'PASS SCHMOOPIIE', 'NICK justinfan4242');
    await anon.next(/ 376 justinfan4242 /);
    anon.send(`JOIN #${owner.name}`);
    await anon.next(/ ROOMSTATE #/);
    const reader = await openJson(owner.channelId);
    const sender = await openJson(owner.channelId, viewer.token);
    sender.say(owner.channelId, 'Cheer100 great play Cheer50');
    const received = await reader.next('chat_message', (m) => m.content.startsWith('Cheer100'));
    expect(received).toMatchObject({ bits: 150, highlighted: true });
    const privmsg = await anon.next(/PRIVMSG #.* :Cheer100 great play Cheer50$/);
    expect(privmsg).toMatch(/(^@|;)bits=150;/);
    // As on Twitch, a cheer is marked by its bits tag only (msg-id=highlighted-message is channel points').
    expect(privmsg).not.toMatch(/msg-id=/);
    expect(await readBalance(env.DB, userBitsAccount(viewer.id))).toBe(350);
    expect(await countLedgerRows(received.id)).toBe(1);
    const alerts = await readAlerts(owner.channelId);
    expect(alerts).toContainEqual({
      kind: 'cheer',
      user_login: viewer.name,
      amount: 150,
      message: 'Cheer100 great play Cheer50',
    });
  });

  it('refuses a cheer over the balance with nothing changed: no message, no debit, no alert', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('broke');
    await buy(viewer, { kind: 'bits', bits: 100 });
    const reader = await openJson(owner.channelId);
    const sender = await openJson(owner.channelId, viewer.token);
    sender.say(owner.channelId, 'Cheer101 all in');
    expect((await sender.next('error')).code).toBe('insufficient_bits');
    expect(await readBalance(env.DB, userBitsAccount(viewer.id))).toBe(100);
    expect(await readAlerts(owner.channelId)).toEqual([]);
    // The refused message was not counted against the sender: the next one goes through at once.
    sender.say(owner.channelId, 'Cheer100 then');
    await reader.next('chat_message', (m) => m.content === 'Cheer100 then');
    expect(reader.messages().map((m) => m.content)).toEqual(['Cheer100 then']);
    expect(await readBalance(env.DB, userBitsAccount(viewer.id))).toBe(0);
  });
});
