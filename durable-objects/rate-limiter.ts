// A sliding-window rate limiter, and a concurrency limiter with leases. The API addresses one
// instance per bucket key (e.g. "login:ip:203.0.113.7") with getByName, so each key has a single
// writer and no shared hot spot. Windows are short and limits small (a handful of hits per minute
// or hour), so the exact log of hit times is cheap and gives precise Retry-After values, unlike a
// fixed-window counter.
//
// Leases count things that are open rather than things that happened: the chat Worker takes one
// per anonymous socket and address (docs/security.md), the shard holding the socket releases it on
// close and renews it while the socket lives. A lease nobody renews expires, so a crashed shard
// gives its seats back by itself. A lease released for abuse (a chat socket closed for flooding)
// leaves a penalty on its key: no new lease until it ends, longer at each strike, so a script that
// reconnects the moment it is closed is refused before it costs anything again.
import { DurableObject } from 'cloudflare:workers';
import * as z from 'zod/mini';

export interface RateLimitDecision {
  allowed: boolean;
  /** 0 when allowed; otherwise how long until the oldest hit leaves the window. */
  retryAfterMs: number;
}

export type LeaseDecision =
  | { allowed: true; leaseId: string }
  | { allowed: false; retryAfterMs: number; reason: 'full' | 'penalty' | 'rate' };

/**
 * A rate on new leases, counted with the lease in the same object and call: hits under `hitKey`,
 * at most `limit` per `windowMs` (the chat Worker's anonymous connects per network per minute).
 */
export interface LeaseRate {
  hitKey: string;
  limit: number;
  windowMs: number;
}

/** How a key is penalized when a lease is released for abuse: base * 2^(strikes - 1), at most max. */
export interface LeasePenalty {
  baseMs: number;
  maxMs: number;
  /** Strikes are forgotten after this long without a new one. */
  forgetAfterMs: number;
}

/** A refused lease suggests this wait: seats free up when sockets close, which we cannot predict. */
const LEASE_RETRY_AFTER_MS = 30_000;
/**
 * The cleanup alarm is set this much past the expiry that asked for it, and left alone while it
 * is already at or past a new one: a burst of hits moves it once, not once per hit. Each move is a
 * write of its own (locally a second SQLite commit beside the object's, in the alarm scheduler's
 * file); the rows it sweeps are ignored by every read once expired, so a later sweep costs nothing.
 */
const CLEANUP_SLACK_MS = 30_000;

const AtRow = z.object({ at: z.number() });
const CountRow = z.object({ n: z.number() });
const ExpiryRow = z.object({ expires_at: z.nullable(z.number()) });
const PenaltyRow = z.object({ strikes: z.number(), until: z.number(), struck_at: z.number() });

export class RateLimiter extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(`
        CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS idx_hits ON hits (key, at);
        CREATE TABLE IF NOT EXISTS leases (id TEXT PRIMARY KEY, key TEXT NOT NULL, expires_at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS idx_leases ON leases (key, expires_at);
        CREATE TABLE IF NOT EXISTS penalties (
          key TEXT PRIMARY KEY, strikes INTEGER NOT NULL, until INTEGER NOT NULL, struck_at INTEGER NOT NULL,
          forget_at INTEGER NOT NULL
        );
      `);
    });
  }

  /** Records one hit for `key` when fewer than `limit` hits happened in the last `windowMs`. */
  async consume(key: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    const now = Date.now();
    const decision = this.#hit(key, limit, windowMs, now);
    if (decision.allowed) await this.#scheduleCleanup(now + windowMs);
    return decision;
  }

  #hit(key: string, limit: number, windowMs: number, now: number): RateLimitDecision {
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM hits WHERE key = ? AND at <= ?', key, now - windowMs);
    const hits = sql
      .exec('SELECT at FROM hits WHERE key = ? ORDER BY at ASC', key)
      .toArray()
      .map((row) => AtRow.parse(row).at);
    if (hits.length >= limit) {
      // The hit that frees a slot is the one `limit` places from the newest.
      const freeing = hits[hits.length - limit] ?? now;
      return { allowed: false, retryAfterMs: Math.max(1, freeing + windowMs - now) };
    }
    sql.exec('INSERT INTO hits (key, at) VALUES (?, ?)', key, now);
    return { allowed: true, retryAfterMs: 0 };
  }

  /**
   * Takes one of `limit` concurrent seats for `key`, held for `ttlMs` unless renewed or released.
   * With `rate`, every attempt is also a hit under `rate.hitKey`, refused past that rate before
   * anything else: one call and one commit where a separate limiter for the rate was a second
   * object, round trip and commit for every anonymous chat upgrade.
   */
  async acquireLease(key: string, limit: number, ttlMs: number, rate?: LeaseRate): Promise<LeaseDecision> {
    const now = Date.now();
    // Every attempt is a hit, refused or not: a script reconnecting into its penalty or a full
    // seat spends its connects and is soon refused by the rate, which the chat Worker remembers.
    if (rate) {
      const hit = this.#hit(rate.hitKey, rate.limit, rate.windowMs, now);
      if (!hit.allowed) return { allowed: false, retryAfterMs: hit.retryAfterMs, reason: 'rate' };
    }
    const decision = this.#lease(key, limit, ttlMs, now);
    // The sweep must outlive the new hit, and the new lease when there is one.
    const expiry = Math.max(rate ? now + rate.windowMs : 0, decision.allowed ? now + ttlMs : 0);
    if (expiry > 0) await this.#scheduleCleanup(expiry);
    return decision;
  }

  #lease(key: string, limit: number, ttlMs: number, now: number): LeaseDecision {
    const sql = this.ctx.storage.sql;
    const penalty = sql
      .exec('SELECT strikes, until, struck_at FROM penalties WHERE key = ?', key)
      .toArray()[0];
    if (penalty) {
      const { until } = PenaltyRow.parse(penalty);
      if (until > now) return { allowed: false, retryAfterMs: until - now, reason: 'penalty' };
    }
    sql.exec('DELETE FROM leases WHERE key = ? AND expires_at <= ?', key, now);
    const held = CountRow.parse(sql.exec('SELECT count(*) AS n FROM leases WHERE key = ?', key).one()).n;
    if (held >= limit) return { allowed: false, retryAfterMs: LEASE_RETRY_AFTER_MS, reason: 'full' };
    const leaseId = crypto.randomUUID();
    sql.exec('INSERT INTO leases (id, key, expires_at) VALUES (?, ?, ?)', leaseId, key, now + ttlMs);
    return { allowed: true, leaseId };
  }

  /** Extends the leases named (those still held) to `ttlMs` from now. */
  async renewLeases(key: string, leaseIds: readonly string[], ttlMs: number): Promise<void> {
    const now = Date.now();
    for (const id of leaseIds)
      this.ctx.storage.sql.exec(
        'UPDATE leases SET expires_at = ? WHERE id = ? AND key = ?',
        now + ttlMs,
        id,
        key,
      );
    await this.#scheduleCleanup(now + ttlMs);
  }

  /**
   * Gives the seat back; with `penalty`, also refuses every new lease of `key` for a while (a
   * strike): base * 2^(strikes - 1), capped, strikes forgotten after a quiet spell. Returns the
   * penalty's length in ms (0 without one).
   */
  async releaseLease(key: string, leaseId: string, penalty?: LeasePenalty): Promise<number> {
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM leases WHERE id = ? AND key = ?', leaseId, key);
    if (!penalty) return 0;
    const now = Date.now();
    const row = sql.exec('SELECT strikes, until, struck_at FROM penalties WHERE key = ?', key).toArray()[0];
    const previous = row ? PenaltyRow.parse(row) : null;
    // Sockets of one key closed together (a burst of floods) are one strike, not one each.
    if (previous && previous.until > now && now - previous.struck_at < penalty.baseMs)
      return previous.until - now;
    const strikes = previous && now - previous.struck_at < penalty.forgetAfterMs ? previous.strikes + 1 : 1;
    const ms = Math.min(penalty.maxMs, penalty.baseMs * 2 ** Math.min(strikes - 1, 30));
    sql.exec(
      `INSERT INTO penalties (key, strikes, until, struck_at, forget_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET strikes = excluded.strikes, until = excluded.until,
         struck_at = excluded.struck_at, forget_at = excluded.forget_at`,
      key,
      strikes,
      now + ms,
      now,
      now + penalty.forgetAfterMs,
    );
    await this.#scheduleCleanup(now + penalty.forgetAfterMs);
    return ms;
  }

  /** How many leases `key` holds now (for tests and operators). */
  async countLeases(key: string): Promise<number> {
    return CountRow.parse(
      this.ctx.storage.sql
        .exec('SELECT count(*) AS n FROM leases WHERE key = ? AND expires_at > ?', key, Date.now())
        .one(),
    ).n;
  }

  /**
   * One alarm, at or past the latest expiry seen (by up to CLEANUP_SLACK_MS): by then every hit and
   * lease has expired or been renewed, so the sweep never deletes a live row.
   */
  async #scheduleCleanup(expiry: number): Promise<void> {
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm < expiry) await this.ctx.storage.setAlarm(expiry + CLEANUP_SLACK_MS);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM hits WHERE at <= ?', now);
    sql.exec('DELETE FROM leases WHERE expires_at <= ?', now);
    sql.exec('DELETE FROM penalties WHERE forget_at <= ?', now);
    const next = ExpiryRow.parse(
      sql
        .exec(
          `SELECT max(expires_at) AS expires_at FROM (
             SELECT expires_at FROM leases UNION ALL SELECT forget_at FROM penalties)`,
        )
        .one(),
    ).expires_at;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }
}
