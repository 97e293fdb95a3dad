// One EventSub webhook subscription's deliveries (https://dev.twitch.tv/docs/eventsub/handling-webhook-events/):
// the callback verification challenge first, then every notification, each POSTed with Twitch's
// headers and its HMAC-SHA256 signature (messages.ts), retried with exponential backoff until the
// callback answers 2xx. The outbox is the object's SQLite, keyed by message id, so a notification
// the queue delivers twice is stored, and sent, once. After MAX_CONSECUTIVE_FAILURES failed
// attempts in a row (or a backlog past MAX_PENDING_MESSAGES) the subscription is revoked with
// status notification_failures_exceeded and the callback is sent a revocation message, as Twitch
// does ("If your callback fails to respond ... Twitch revokes the subscription").
import { DurableObject } from 'cloudflare:workers';
import { z } from 'zod';
import { log } from '../../common/log.ts';
import { formatEventSubTimestamp, Notification, SubscriptionView, signWebhookMessage } from './messages.ts';

/** A callback must answer within this; Twitch: "respond ... within a few seconds". */
export const WEBHOOK_TIMEOUT_MS = 10_000;
export const MAX_PENDING_MESSAGES = 1_000;
/** Messages one alarm run sends, in order; the next run follows at once when more are due. */
const MESSAGES_PER_RUN = 20;
const MAX_BACKOFF_MS = 60_000;
/** Longer than the queue's retries of one event (three, with its own backoff) can take. */
const SENT_ID_RETENTION_MS = 60 * 60 * 1000;

const WebhookConfig = z.object({
  /** Backoff of the first retry, doubled each further attempt up to MAX_BACKOFF_MS (tests shorten it). */
  EVENTSUB_WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().positive().default(1_000),
  EVENTSUB_WEBHOOK_MAX_FAILURES: z.coerce.number().int().positive().default(10),
});

const Meta = z.object({
  subscription: SubscriptionView,
  secret: z.string(),
  failures: z.number().int(),
});
type Meta = z.infer<typeof Meta>;

const OutboxRow = z.object({
  message_id: z.string(),
  kind: z.enum(['webhook_callback_verification', 'notification', 'revocation']),
  body: z.string(),
  attempts: z.number().int(),
});

/** The wait before retry `attempt` (1-based): base, 2 × base, 4 × base ..., at most a minute. */
export function computeBackoffMs(attempt: number, baseMs: number): number {
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
}

export class EventSubWebhook extends DurableObject<Env> {
  readonly #log = log.child({ class: 'EventSubWebhook' });
  readonly #config: z.infer<typeof WebhookConfig>;
  #meta: Meta | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#config = WebhookConfig.parse(env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS outbox (
      message_id TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, seq INTEGER NOT NULL)`);
    // Ids delivered in the last SENT_ID_RETENTION_MS: a queue redelivery after success is not resent.
    ctx.storage.sql.exec(
      'CREATE TABLE IF NOT EXISTS sent (message_id TEXT PRIMARY KEY, at INTEGER NOT NULL)',
    );
    void ctx.blockConcurrencyWhile(async () => {
      const stored = Meta.safeParse(await ctx.storage.get('meta'));
      this.#meta = stored.success ? stored.data : null;
    });
  }

  /** A new subscription: the verification challenge goes out at once. */
  async start(subscription: SubscriptionView, secret: string): Promise<void> {
    await this.#save({ subscription, secret, failures: 0 });
    const challenge = crypto.randomUUID().replaceAll('-', '');
    this.#insert(
      crypto.randomUUID(),
      'webhook_callback_verification',
      JSON.stringify({ challenge, subscription }),
    );
    await this.ctx.storage.setAlarm(Date.now());
  }

  /** Notifications to send; ids already in the outbox (a queue redelivery) are not stored again. */
  async enqueue(input: unknown[]): Promise<number> {
    const meta = this.#meta;
    if (meta?.subscription.status !== 'enabled') return 0;
    let added = 0;
    for (const raw of input.slice(0, MAX_PENDING_MESSAGES)) {
      const parsed = Notification.safeParse(raw);
      if (!parsed.success) continue;
      const body = JSON.stringify({ subscription: meta.subscription, event: parsed.data.event });
      if (this.#insert(parsed.data.messageId, 'notification', body)) added++;
    }
    if (this.#countPending() > MAX_PENDING_MESSAGES) {
      await this.#revoke(meta, 'notification_failures_exceeded');
      return added;
    }
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
    return added;
  }

  /** The subscription was deleted: nothing more is sent. */
  async stop(): Promise<void> {
    this.#meta = null;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  override async alarm(): Promise<void> {
    const meta = this.#meta;
    if (!meta) return;
    const now = Date.now();
    const due = this.ctx.storage.sql
      .exec(
        'SELECT message_id, kind, body, attempts FROM outbox WHERE next_at <= ? ORDER BY seq LIMIT ?',
        now,
        MESSAGES_PER_RUN,
      )
      .toArray()
      .map((row) => OutboxRow.parse(row));
    for (const row of due) {
      if (this.#meta !== meta) return; // stopped or revoked meanwhile
      const response = await this.#post(meta, row.message_id, row.kind, row.body, row.attempts);
      const ok = response !== null && response.status >= 200 && response.status < 300;
      if (row.kind === 'webhook_callback_verification') {
        const challenge = z.object({ challenge: z.string() }).parse(JSON.parse(row.body)).challenge;
        const echoed = ok && (await response.text()) === challenge;
        this.ctx.storage.sql.exec('DELETE FROM outbox WHERE message_id = ?', row.message_id);
        await this.#setStatus(meta, echoed ? 'enabled' : 'webhook_callback_verification_failed');
        if (!echoed) return this.stop();
        continue;
      }
      await response?.body?.cancel();
      if (ok) {
        this.ctx.storage.sql.exec('DELETE FROM outbox WHERE message_id = ?', row.message_id);
        this.ctx.storage.sql.exec(
          'INSERT OR IGNORE INTO sent (message_id, at) VALUES (?, ?)',
          row.message_id,
          now,
        );
        meta.failures = 0;
        continue;
      }
      meta.failures++;
      if (meta.failures >= this.#config.EVENTSUB_WEBHOOK_MAX_FAILURES) {
        await this.#revoke(meta, 'notification_failures_exceeded');
        return;
      }
      const attempts = row.attempts + 1;
      this.ctx.storage.sql.exec(
        'UPDATE outbox SET attempts = ?, next_at = ? WHERE message_id = ?',
        attempts,
        Date.now() + computeBackoffMs(attempts, this.#config.EVENTSUB_WEBHOOK_RETRY_BASE_MS),
        row.message_id,
      );
    }
    this.ctx.storage.sql.exec('DELETE FROM sent WHERE at < ?', now - SENT_ID_RETENTION_MS);
    await this.#save(meta);
    const next = this.ctx.storage.sql.exec('SELECT min(next_at) AS next FROM outbox').one().next;
    if (typeof next === 'number') await this.ctx.storage.setAlarm(Math.max(next, Date.now()));
  }

  /** One POST with Twitch's headers; null when the callback could not be reached in time. */
  async #post(
    meta: Meta,
    messageId: string,
    kind: string,
    body: string,
    retry: number,
  ): Promise<Response | null> {
    const timestamp = formatEventSubTimestamp(Date.now());
    const { subscription } = meta;
    if (subscription.transport.method !== 'webhook') return null;
    try {
      return await fetch(subscription.transport.callback, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        headers: {
          'Content-Type': 'application/json',
          'Twitch-Eventsub-Message-Id': messageId,
          'Twitch-Eventsub-Message-Retry': String(retry),
          'Twitch-Eventsub-Message-Type': kind,
          'Twitch-Eventsub-Message-Signature': await signWebhookMessage(
            meta.secret,
            messageId,
            timestamp,
            body,
          ),
          'Twitch-Eventsub-Message-Timestamp': timestamp,
          'Twitch-Eventsub-Subscription-Type': subscription.type,
          'Twitch-Eventsub-Subscription-Version': subscription.version,
        },
        body,
      });
    } catch (error) {
      this.#log.warn('eventsub_webhook_unreachable', { subscription_id: subscription.id, error });
      return null;
    }
  }

  async #revoke(meta: Meta, status: string): Promise<void> {
    await this.#setStatus(meta, status);
    this.ctx.storage.sql.exec('DELETE FROM outbox');
    const revoked = { ...meta.subscription, status };
    // One attempt: the callback has been failing; the status is what Helix reports from now on.
    const response = await this.#post(
      meta,
      crypto.randomUUID(),
      'revocation',
      JSON.stringify({ subscription: revoked }),
      0,
    );
    await response?.body?.cancel();
    this.#log.warn('eventsub_webhook_revoked', { subscription_id: meta.subscription.id, status });
    await this.stop();
  }

  async #setStatus(meta: Meta, status: string): Promise<void> {
    meta.subscription = { ...meta.subscription, status };
    await this.env.DB.prepare('UPDATE eventsub_subscriptions SET status = ? WHERE id = ?')
      .bind(status, meta.subscription.id)
      .run();
    await this.#save(meta);
  }

  #insert(messageId: string, kind: string, body: string): boolean {
    if (this.ctx.storage.sql.exec('SELECT 1 FROM sent WHERE message_id = ?', messageId).toArray().length > 0)
      return false;
    const seq = this.ctx.storage.sql.exec('SELECT coalesce(max(seq), 0) + 1 AS seq FROM outbox').one().seq;
    const cursor = this.ctx.storage.sql.exec(
      'INSERT INTO outbox (message_id, kind, body, next_at, seq) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      messageId,
      kind,
      body,
      Date.now(),
      typeof seq === 'number' ? seq : 1,
    );
    return cursor.rowsWritten > 0;
  }

  #countPending(): number {
    const count = this.ctx.storage.sql.exec('SELECT count(*) AS n FROM outbox').one().n;
    return typeof count === 'number' ? count : 0;
  }

  async #save(meta: Meta): Promise<void> {
    this.#meta = meta;
    await this.ctx.storage.put('meta', meta);
  }
}
