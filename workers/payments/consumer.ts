// The payment-events queue consumer. The webhook recorded each verified event in payment_events
// and queued its id; here the event is parsed, applied, and marked processed in one D1 batch with
// its processed_events row, so a redelivered or concurrently delivered event has one effect.

import { z } from 'zod';
import { log } from '../../common/log.ts';
import type { SubscriptionAnnouncement } from '../../durable-objects/chat/types.ts';
import { flushOutboxAfterCommit } from '../eventsub/outbox.ts';
import { applyPaymentEvent, type PendingAnnouncement } from './apply-event.ts';
import { readPriceTable } from './prices.ts';
import { HandledEvent } from './stripe-events.ts';

export const PAYMENT_EVENTS_QUEUE = 'payment-events';
const CONSUMER = 'payments';
const paymentsLog = log.child({ component: 'payments' });

export const PaymentEventMessage = z.object({ event_id: z.string().max(255) });

const StoredEvent = z.object({ id: z.string(), payload: z.string(), processed_at: z.number().nullable() });

/**
 * Tells each affected channel's chat room to read the chatter again, so a new subscriber's badge
 * and sub-only access need not wait for the room's 30 s profile cache. Best effort: the cache
 * expiry is the fallback, so a failed call is logged, not retried.
 */
async function forgetChatters(env: Env, subscribers: { channelId: string; userId: string }[]): Promise<void> {
  for (const { channelId, userId } of subscribers) {
    try {
      await env.CHAT_ROOM.getByName(channelId).forgetChatter(userId);
    } catch (error) {
      paymentsLog.warn('chat_profile_forget_failed', { channel_id: channelId, user_id: userId, error });
    }
  }
}

const MonthsRow = z.object({ cumulative_months: z.number().int(), streak_months: z.number().int() });

async function readMonths(db: D1Database, userId: string, channelId: string) {
  const raw = await db
    .prepare(
      'SELECT cumulative_months, streak_months FROM subscriptions WHERE user_id = ? AND channel_id = ?',
    )
    .bind(userId, channelId)
    .first();
  return raw ? MonthsRow.parse(raw) : { cumulative_months: 1, streak_months: 1 };
}

/** The announcement with the months as committed (a resub's count is known only now). */
async function completeAnnouncement(
  db: D1Database,
  pending: PendingAnnouncement,
): Promise<SubscriptionAnnouncement> {
  const announcement = pending.announcement;
  switch (announcement.kind) {
    case 'sub': {
      const months = await readMonths(db, announcement.userId, pending.channelId);
      return {
        ...announcement,
        cumulativeMonths: months.cumulative_months,
        streakMonths: months.streak_months,
      };
    }
    case 'subgift': {
      const months = await readMonths(db, announcement.recipientId, pending.channelId);
      return { ...announcement, recipientMonths: months.cumulative_months };
    }
    case 'submysterygift':
    case 'resub':
      return announcement;
  }
}

/**
 * Announces in chat each month this batch granted (its row carries the batch's nonce): not one an
 * earlier delivery granted, nor one a reversal refused. Best effort like forgetChatters: the month
 * is committed whatever chat does, so a failed call is logged, not retried.
 */
async function announceSubscriptions(env: Env, pending: PendingAnnouncement[]): Promise<void> {
  for (const item of pending) {
    try {
      const key = item.confirm.table === 'subscription_months' ? 'source_id' : 'id';
      const granted = await env.DB.prepare(
        `SELECT 1 FROM ${item.confirm.table} WHERE ${key} = ? AND nonce = ?`,
      )
        .bind(item.confirm.id, item.confirm.nonce)
        .first();
      if (!granted) continue;
      const announcement = await completeAnnouncement(env.DB, item);
      await env.CHAT_ROOM.getByName(item.channelId).announceSubscription(item.channelId, announcement);
    } catch (error) {
      paymentsLog.warn('chat_announcement_failed', { channel_id: item.channelId, error });
    }
  }
}

/** The signed-in viewers present in a channel's chat, from its room (community gifts). */
function listGiftCandidates(env: Env) {
  return (channelId: string) => env.CHAT_ROOM.getByName(channelId).listGiftCandidates(channelId);
}

/** Applies one recorded event once; returns what it did (for logs and tests). */
export async function processPaymentEvent(env: Env, eventId: string, now = Date.now()): Promise<string> {
  const db = env.DB;
  const raw = await db
    .prepare('SELECT id, payload, processed_at FROM payment_events WHERE id = ?')
    .bind(eventId)
    .first();
  const stored = raw ? StoredEvent.parse(raw) : null;
  if (!stored) return 'unknown_event';
  if (stored.processed_at !== null) return 'duplicate';
  let json: unknown;
  try {
    json = JSON.parse(stored.payload);
  } catch {
    json = null;
  }
  const parsed = HandledEvent.safeParse(json);
  const applied = parsed.success
    ? await applyPaymentEvent(
        { db, prices: readPriceTable(env), now, listGiftCandidates: listGiftCandidates(env) },
        parsed.data,
      )
    : { outcome: 'ignored' as const, statements: [] };
  // A plain INSERT: if a concurrent delivery committed first, the key fails this batch and the
  // effect rolls back with it: that delivery is then a duplicate.
  const batch = [
    ...applied.statements,
    db
      .prepare('INSERT INTO processed_events (event_id, consumer, processed_at) VALUES (?, ?, ?)')
      .bind(eventId, CONSUMER, now),
    db
      .prepare('UPDATE payment_events SET processed_at = ?, outcome = ? WHERE id = ?')
      .bind(now, applied.outcome, eventId),
  ];
  try {
    await db.batch(batch);
  } catch (error) {
    const seen = await db
      .prepare('SELECT 1 FROM processed_events WHERE event_id = ? AND consumer = ?')
      .bind(eventId, CONSUMER)
      .first();
    if (seen) return 'duplicate';
    throw error;
  }
  await flushOutboxAfterCommit(
    env,
    (applied.outbox ?? []).map((write) => write.id),
  );
  await forgetChatters(env, applied.subscribers ?? []);
  await announceSubscriptions(env, applied.announcements ?? []);
  const level = applied.outcome === 'applied' || applied.outcome === 'ignored' ? 'info' : 'warn';
  paymentsLog[level]('payment_event_processed', { event_id: eventId, outcome: applied.outcome });
  return applied.outcome;
}

export async function consumePaymentEvents(batch: MessageBatch, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const parsed = PaymentEventMessage.safeParse(message.body);
    if (!parsed.success) {
      paymentsLog.error('payment_message_unparseable', { message_id: message.id });
      message.ack();
      continue;
    }
    try {
      await processPaymentEvent(env, parsed.data.event_id);
      message.ack();
    } catch (error) {
      paymentsLog.error('payment_event_failed', {
        event_id: parsed.data.event_id,
        attempts: message.attempts,
        error,
      });
      message.retry();
    }
  }
}
