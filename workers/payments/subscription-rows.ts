// Subscription rows kept by the provider's events (docs/payments.md, "Subscriptions"). Months come
// from money (a paid invoice or a gift, each counted once by subscription_months); status and the
// cancel flag come from subscription events, applied only when newer than the state stored
// (state_version), because Stripe does not order its events. Chat reads these rows directly
// (durable-objects/chat/directory.ts): an active row is `expires_at > now`.

export const DAY_MS = 86_400_000;

export interface PaidMonth {
  /** The invoice or gift that paid the month: counted once. */
  sourceId: string;
  userId: string;
  channelId: string;
  tier: 1000 | 2000 | 3000;
  providerSubscriptionId: string | null;
  giftedBy: string | null;
  periodEndMs: number;
  now: number;
  /** An SQL condition the month needs (e.g. its payment was not refunded), with its bindings. */
  guard: { sql: string; bindings: unknown[] };
}

/**
 * A paid month (once per source: the month row's nonce says this batch inserted it): adds one to
 * the cumulative months; the streak continues when the previous access had not lapsed, else starts
 * again at 1; access runs to the period's end. The nonce tells the caller, after the commit, whether
 * this batch granted the month (a chat announcement is made only then).
 */
export function preparePaidMonth(
  db: D1Database,
  month: PaidMonth,
): { statements: D1PreparedStatement[]; nonce: string } {
  const nonce = crypto.randomUUID();
  const statements = [
    db
      .prepare(
        `INSERT OR IGNORE INTO subscription_months (source_id, user_id, channel_id, period_end, nonce, created_at)
         SELECT ?, ?, ?, ?, ?, ? WHERE ${month.guard.sql}`,
      )
      .bind(
        month.sourceId,
        month.userId,
        month.channelId,
        month.periodEndMs,
        nonce,
        month.now,
        ...month.guard.bindings,
      ),
    db
      .prepare(
        `INSERT INTO subscriptions (id, user_id, channel_id, tier, cumulative_months, streak_months, started_at,
           expires_at, status, provider_subscription_id, gifted_by)
         SELECT ?1, ?2, ?3, ?4, 1, 1, ?5, ?6, 'active', ?7, ?8
         WHERE EXISTS (SELECT 1 FROM subscription_months WHERE source_id = ?9 AND nonce = ?10)
         ON CONFLICT (user_id, channel_id) DO UPDATE SET
           tier = excluded.tier,
           cumulative_months = subscriptions.cumulative_months + 1,
           streak_months = CASE WHEN subscriptions.expires_at >= ?5 THEN subscriptions.streak_months + 1 ELSE 1 END,
           started_at = CASE WHEN subscriptions.expires_at >= ?5 THEN subscriptions.started_at ELSE ?5 END,
           expires_at = CASE WHEN subscriptions.status = 'ended'
               AND subscriptions.provider_subscription_id IS excluded.provider_subscription_id
             THEN subscriptions.expires_at ELSE MAX(subscriptions.expires_at, excluded.expires_at) END,
           status = CASE WHEN subscriptions.status = 'ended'
               AND subscriptions.provider_subscription_id IS excluded.provider_subscription_id THEN 'ended'
             WHEN subscriptions.status = 'past_due' THEN 'active' ELSE subscriptions.status END,
           provider_subscription_id = COALESCE(excluded.provider_subscription_id, subscriptions.provider_subscription_id),
           gifted_by = excluded.gifted_by`,
      )
      .bind(
        `sub_${crypto.randomUUID()}`,
        month.userId,
        month.channelId,
        month.tier,
        month.now,
        month.periodEndMs,
        month.providerSubscriptionId,
        month.giftedBy,
        month.sourceId,
        nonce,
      ),
    prepareSubscriberCount(db, month.channelId, month.now),
  ];
  return { statements, nonce };
}

/** The month a refund or dispute takes back: access ends now and the month no longer counts. */
export function prepareMonthReversal(
  db: D1Database,
  sourceId: string,
  userId: string,
  channelId: string,
  now: number,
): D1PreparedStatement[] {
  return [
    db
      .prepare(
        `UPDATE subscriptions SET cumulative_months = MAX(cumulative_months - 1, 0), expires_at = MIN(expires_at, ?),
           status = 'ended'
         WHERE user_id = ? AND channel_id = ? AND EXISTS (SELECT 1 FROM subscription_months WHERE source_id = ?)`,
      )
      .bind(now, userId, channelId, sourceId),
    db.prepare('DELETE FROM subscription_months WHERE source_id = ?').bind(sourceId),
    prepareSubscriberCount(db, channelId, now),
  ];
}

export interface SubscriptionState {
  userId: string;
  channelId: string;
  tier: 1000 | 2000 | 3000;
  providerSubscriptionId: string;
  status: 'active' | 'past_due' | 'canceling' | 'ended';
  /** For 'ended': when access stops (the provider's ended_at). */
  endedAtMs: number | null;
  version: number;
  now: number;
}

/** A subscription event's state, applied only when it is not older than the state stored. */
export function prepareSubscriptionState(db: D1Database, state: SubscriptionState): D1PreparedStatement[] {
  return [
    db
      .prepare(
        `INSERT INTO subscriptions (id, user_id, channel_id, tier, cumulative_months, streak_months, started_at,
           expires_at, status, provider_subscription_id, state_version, cancel_at_period_end)
         VALUES (?1, ?2, ?3, ?4, 0, 0, ?5, 0, ?6, ?7, ?8, ?9)
         ON CONFLICT (user_id, channel_id) DO UPDATE SET
           status = excluded.status,
           cancel_at_period_end = excluded.cancel_at_period_end,
           provider_subscription_id = excluded.provider_subscription_id,
           state_version = excluded.state_version,
           expires_at = CASE WHEN ?10 IS NULL THEN subscriptions.expires_at ELSE MIN(subscriptions.expires_at, ?10) END
         WHERE subscriptions.state_version <= excluded.state_version`,
      )
      .bind(
        `sub_${crypto.randomUUID()}`,
        state.userId,
        state.channelId,
        state.tier,
        state.now,
        state.status,
        state.providerSubscriptionId,
        state.version,
        state.status === 'canceling' ? 1 : 0,
        state.status === 'ended' ? state.endedAtMs : null,
      ),
    prepareSubscriberCount(db, state.channelId, state.now),
  ];
}

/** A failed renewal: access continues for the grace period while the provider retries the card. */
export function prepareGracePeriod(
  db: D1Database,
  providerSubscriptionId: string,
  channelId: string,
  graceEndsMs: number,
  version: number,
  now: number,
): D1PreparedStatement[] {
  const grace = db
    .prepare(
      `UPDATE subscriptions SET expires_at = MAX(expires_at, ?),
         status = CASE WHEN status = 'ended' THEN status ELSE 'past_due' END
       WHERE provider_subscription_id = ? AND status != 'ended' AND state_version <= ?`,
    )
    .bind(graceEndsMs, providerSubscriptionId, version);
  return [grace, prepareSubscriberCount(db, channelId, now)];
}

/**
 * How far back the cron's recount looks for subscriptions that ran out. The cron fires every 10
 * minutes; a day covers missed runs (a failed sweep, a paused trigger) many times over.
 */
export const SUBSCRIBER_RECOUNT_WINDOW_MS = DAY_MS;

/**
 * `channels.subscriber_count` of every channel one of whose subscriptions ran out in the window
 * before `now`: expiry is the only change no event announces (a cancel at period end, a grace
 * period that lapsed, a gift month that ended).
 */
export async function recountExpiredSubscribers(db: D1Database, now: number): Promise<number> {
  const result = await db
    .prepare(
      `UPDATE channels SET subscriber_count = (SELECT COUNT(*) FROM subscriptions s WHERE s.channel_id = channels.id AND s.expires_at > ?1)
       WHERE id IN (SELECT DISTINCT channel_id FROM subscriptions WHERE expires_at > ?2 AND expires_at <= ?1)`,
    )
    .bind(now, now - SUBSCRIBER_RECOUNT_WINDOW_MS)
    .run();
  return result.meta.changes;
}

/** `channels.subscriber_count`: recounted whenever a subscription of the channel changes. */
export function prepareSubscriberCount(db: D1Database, channelId: string, now: number): D1PreparedStatement {
  return db
    .prepare(
      'UPDATE channels SET subscriber_count = (SELECT COUNT(*) FROM subscriptions WHERE channel_id = ?1 AND expires_at > ?2) WHERE id = ?1',
    )
    .bind(channelId, now);
}
