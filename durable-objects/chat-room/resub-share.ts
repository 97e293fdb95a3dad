// Sharing a resub message (docs/payments.md, "Sharing a resub"): as on Twitch, a renewal is not
// announced in chat by itself; the subscriber may share it once, with a message of their own, and
// the room then sends USERNOTICE msg-id=resub (the message as its trailing text) and EventSub gets
// channel.subscription.message. "Once per renewal" is the resub_shares row keyed by the month the
// renewal made (cumulative_months): a plain INSERT, so a second share of the same renewal, however
// concurrent, fails its batch and changes nothing. The event is written to the EventSub outbox in
// the same batch (workers/eventsub/outbox.ts).
import * as z from 'zod/mini';
import { MAX_MESSAGE_LENGTH } from '../../protocol/chat.ts';
import { prepareOutboxEvent } from '../../workers/eventsub/outbox.ts';
import { describeForbiddenCharacters } from '../chat/control-characters.ts';

const SubscriptionRow = z.object({
  tier: z.union([z.literal(1000), z.literal(2000), z.literal(3000)]),
  cumulative_months: z.number(),
  streak_months: z.number(),
  shared: z.number(),
});

/** What the signed-in subscriber may share now (the web app's "Share your resub" prompt). */
export type ResubShareState =
  | { kind: 'available'; tier: 1000 | 2000 | 3000; cumulativeMonths: number; streakMonths: number }
  | { kind: 'not-subscriber' }
  | { kind: 'no-renewal' }
  | { kind: 'already-shared' };

export type ResubShareOutcome =
  | {
      kind: 'shared';
      tier: 1000 | 2000 | 3000;
      cumulativeMonths: number;
      streakMonths: number | null;
      /** The EventSub outbox row to send after the commit. */
      eventId: string;
    }
  | { kind: 'not-subscriber' | 'no-renewal' | 'already-shared' | 'banned' }
  | { kind: 'invalid'; message: string };

/** What the room answers a share over RPC (chat sockets and REST map it to their errors). */
export type ResubShareReply =
  | { kind: 'shared' | 'not-subscriber' | 'no-renewal' | 'already-shared' | 'banned' | 'not-found' }
  | { kind: 'invalid'; message: string };

/** The user's subscription to the channel as sharing sees it: active, renewed, shared or not. */
export async function readResubShare(
  db: D1Database,
  channelId: string,
  userId: string,
  now: number,
): Promise<ResubShareState> {
  const raw = await db
    .prepare(
      `SELECT s.tier, s.cumulative_months, s.streak_months,
         EXISTS (SELECT 1 FROM resub_shares r WHERE r.user_id = s.user_id AND r.channel_id = s.channel_id
           AND r.cumulative_months = s.cumulative_months) AS shared
       FROM subscriptions s WHERE s.user_id = ? AND s.channel_id = ? AND s.expires_at > ?`,
    )
    .bind(userId, channelId, now)
    .first();
  if (raw === null) return { kind: 'not-subscriber' };
  const row = SubscriptionRow.parse(raw);
  // The first month is announced as `sub` when it is paid; only a renewal has a resub to share.
  if (row.cumulative_months < 2) return { kind: 'no-renewal' };
  if (row.shared === 1) return { kind: 'already-shared' };
  return {
    kind: 'available',
    tier: row.tier,
    cumulativeMonths: row.cumulative_months,
    streakMonths: row.streak_months,
  };
}

/**
 * Records the share of the user's current renewal, once. `message` may be empty (Twitch lets a
 * subscriber share without one); `shareStreak` false hides the streak (streak_months null in
 * EventSub, 0 on IRC). The caller checked the user is not banned and fans the notice out.
 */
export async function recordResubShare(
  db: D1Database,
  share: { channelId: string; userId: string; message: string; shareStreak: boolean },
  now: number,
): Promise<ResubShareOutcome> {
  const message = share.message.trim();
  if (message.length > MAX_MESSAGE_LENGTH)
    return { kind: 'invalid', message: `A resub message is at most ${MAX_MESSAGE_LENGTH} characters.` };
  const forbidden = describeForbiddenCharacters(message);
  if (forbidden) return { kind: 'invalid', message: forbidden };
  const state = await readResubShare(db, share.channelId, share.userId, now);
  if (state.kind !== 'available') return state;
  const streakMonths = share.shareStreak ? state.streakMonths : null;
  const outbox = await prepareOutboxEvent(
    db,
    'subscription.message_shared',
    {
      channel_id: share.channelId,
      user_id: share.userId,
      tier: state.tier,
      message,
      cumulative_months: state.cumulativeMonths,
      streak_months: streakMonths,
    },
    `${share.userId}:${share.channelId}:${state.cumulativeMonths}`,
    now,
  );
  try {
    await db.batch([
      db
        .prepare(
          'INSERT INTO resub_shares (user_id, channel_id, cumulative_months, message, shared_at) VALUES (?, ?, ?, ?, ?)',
        )
        .bind(share.userId, share.channelId, state.cumulativeMonths, message, now),
      outbox.statement,
    ]);
  } catch (error) {
    if (error instanceof Error && /UNIQUE constraint failed/i.test(error.message))
      return { kind: 'already-shared' };
    throw error;
  }
  return {
    kind: 'shared',
    tier: state.tier,
    cumulativeMonths: state.cumulativeMonths,
    streakMonths,
    eventId: outbox.id,
  };
}
