// How a viewer earns channel points: by watching. The player's presence signal
// (chat-room/video-presence.ts, every PRESENCE_HEARTBEAT_MS while the video plays) reaches this
// object for signed-in viewers; the time between two signals counts as watched when the gap is
// within PRESENCE_TTL_MS (the same rule that keeps the viewer counted), so a closed tab, a paused
// player or a chat bot that plays no video earns nothing. Every `watch_interval_seconds` watched
// pays `watch_points`; every `bonus_interval_seconds` watched makes one bonus claimable (at most
// one waits; Twitch's "claim" chest). Each credit's transaction id names the interval it pays
// (`watch:<user>:<n>`, `bonus:<user>:<n>`), so no interval is ever paid twice.
import * as z from 'zod/mini';
import type { ChannelPointsConfig } from '../../protocol/engagement.ts';
import { PRESENCE_TTL_MS } from '../chat-room/video-presence.ts';
import { ISSUANCE_ACCOUNT, type PointsLedger, userAccount } from './points-ledger.ts';

const WatcherRow = z.object({
  user_id: z.string(),
  last_seen_at: z.number(),
  watched_ms: z.number(),
  intervals_paid: z.number(),
  bonuses_claimed: z.number(),
});
type Watcher = z.infer<typeof WatcherRow>;

export class PointsEarning {
  readonly #sql: SqlStorage;
  readonly #ledger: PointsLedger;
  readonly #config: ChannelPointsConfig;

  constructor(sql: SqlStorage, ledger: PointsLedger, config: ChannelPointsConfig) {
    this.#sql = sql;
    this.#ledger = ledger;
    this.#config = config;
  }

  create(): void {
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS watchers (
        user_id TEXT PRIMARY KEY,
        last_seen_at INTEGER NOT NULL,
        watched_ms INTEGER NOT NULL,
        intervals_paid INTEGER NOT NULL,
        bonuses_claimed INTEGER NOT NULL
      );
    `);
  }

  #read(userId: string): Watcher | null {
    const row = this.#sql.exec('SELECT * FROM watchers WHERE user_id = ?', userId).toArray()[0];
    return row === undefined ? null : WatcherRow.parse(row);
  }

  /** A presence signal of a signed-in viewer: counts the time since the last one, pays what is due. */
  recordWatch(userId: string, now: number): number {
    const known = this.#read(userId);
    const gap = known === null ? -1 : now - known.last_seen_at;
    const watched = (known?.watched_ms ?? 0) + (gap > 0 && gap <= PRESENCE_TTL_MS ? gap : 0);
    const due = Math.floor(watched / (this.#config.watch_interval_seconds * 1000));
    let credited = 0;
    for (let n = (known?.intervals_paid ?? 0) + 1; n <= due; n++) {
      const outcome = this.#ledger.transfer({
        id: `watch:${userId}:${n}`,
        kind: 'watch',
        from: ISSUANCE_ACCOUNT,
        to: userAccount(userId),
        amount: this.#config.watch_points,
        now,
      });
      if (outcome === 'applied') credited += this.#config.watch_points;
    }
    this.#sql.exec(
      `INSERT INTO watchers (user_id, last_seen_at, watched_ms, intervals_paid, bonuses_claimed) VALUES (?, ?, ?, ?, 0)
       ON CONFLICT (user_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, watched_ms = excluded.watched_ms,
         intervals_paid = MAX(intervals_paid, excluded.intervals_paid)`,
      userId,
      now,
      watched,
      due,
    );
    return credited;
  }

  #bonusesEarned(watcher: Watcher): number {
    return Math.floor(watcher.watched_ms / (this.#config.bonus_interval_seconds * 1000));
  }

  isBonusClaimable(userId: string): boolean {
    const watcher = this.#read(userId);
    return watcher !== null && this.#bonusesEarned(watcher) > watcher.bonuses_claimed;
  }

  /** Pays the waiting bonus once; null when none waits (older unclaimed bonuses lapse, as on Twitch). */
  claimBonus(userId: string, now: number): number | null {
    const watcher = this.#read(userId);
    if (watcher === null) return null;
    const earned = this.#bonusesEarned(watcher);
    if (earned <= watcher.bonuses_claimed) return null;
    this.#ledger.transfer({
      id: `bonus:${userId}:${earned}`,
      kind: 'bonus',
      from: ISSUANCE_ACCOUNT,
      to: userAccount(userId),
      amount: this.#config.bonus_points,
      now,
    });
    this.#sql.exec('UPDATE watchers SET bonuses_claimed = ? WHERE user_id = ?', earned, userId);
    return this.#config.bonus_points;
  }
}
