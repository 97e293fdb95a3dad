// A sliding-window rate limiter. The API addresses one instance per bucket key (e.g.
// "login:ip:203.0.113.7") with getByName, so each key has a single writer and no shared hot spot.
// Windows are short and limits small (a handful of hits per minute or hour), so the exact log of
// hit times is cheap and gives precise Retry-After values, unlike a fixed-window counter.
import { DurableObject } from 'cloudflare:workers';

export interface RateLimitDecision {
  allowed: boolean;
  /** 0 when allowed; otherwise how long until the oldest hit leaves the window. */
  retryAfterMs: number;
}

export class RateLimiter extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(
        'CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at INTEGER NOT NULL); CREATE INDEX IF NOT EXISTS idx_hits ON hits (key, at)',
      );
    });
  }

  /** Records one hit for `key` when fewer than `limit` hits happened in the last `windowMs`. */
  async consume(key: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM hits WHERE key = ? AND at <= ?', key, now - windowMs);
    const hits = sql.exec<{ at: number }>('SELECT at FROM hits WHERE key = ? ORDER BY at ASC', key).toArray();
    if (hits.length >= limit) {
      // The hit that frees a slot is the one `limit` places from the newest.
      const freeing = hits[hits.length - limit]?.at ?? now;
      return { allowed: false, retryAfterMs: Math.max(1, freeing + windowMs - now) };
    }
    sql.exec('INSERT INTO hits (key, at) VALUES (?, ?)', key, now);
    // One alarm, at the latest expiry seen: by then every hit has left its window, so the object
    // holds nothing worth keeping.
    const expiry = now + windowMs;
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm < expiry) await this.ctx.storage.setAlarm(expiry);
    return { allowed: true, retryAfterMs: 0 };
  }

  override async alarm(): Promise<void> {
    this.ctx.storage.sql.exec('DELETE FROM hits');
  }
}
