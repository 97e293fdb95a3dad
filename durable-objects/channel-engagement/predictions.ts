// Predictions: one open at a time per channel, 2–10 outcomes. Viewers stake channel points on one
// outcome (more stakes add to it) until the prediction locks, by a moderator or when its window
// ends. Resolving pays the whole pot to the winners in proportion to their stakes; canceling
// refunds every stake. Each payout and refund is a ledger transfer whose id names the prediction
// and the viewer (`payout:<id>:<user>`, `refund:<id>:<user>`), and the status moves out of
// active/locked in the same synchronous step, so a second resolve or a cancel after a resolve is a
// conflict and nothing is paid twice.
//
// Rounding (docs/engagement.md): winner i with stake s_i of the winners' total W gets
// floor(pot × s_i / W); the few points the floors leave (fewer than the number of winners) go one
// each to the winners with the largest remainders (pot × s_i mod W), ties to the larger stake,
// then the lower user id. The pot is always paid out whole: no point is created or lost. When
// nobody staked on the winning outcome, every stake is refunded (as on Twitch).
import * as z from 'zod/mini';
import { MAX_STAKE, type PredictionView } from '../../protocol/engagement.ts';
import { type PointsLedger, potAccount, userAccount } from './points-ledger.ts';
import {
  conflict,
  type EngagementOutcome,
  invalid,
  NOT_ENOUGH_POINTS,
  notFound,
  ok,
  toIso,
} from './types.ts';

const Outcomes = z.array(z.object({ id: z.string(), title: z.string() }));
const PredictionRow = z.object({
  id: z.string(),
  title: z.string(),
  status: z.enum(['active', 'locked', 'resolved', 'canceled']),
  outcomes: z.string(),
  created_at: z.number(),
  locks_at: z.number(),
  ended_at: z.nullable(z.number()),
  winning_outcome_id: z.nullable(z.string()),
});
type PredictionRow = z.infer<typeof PredictionRow>;
const StakeRow = z.object({ user_id: z.string(), outcome_id: z.string(), points: z.number() });
type StakeRow = z.infer<typeof StakeRow>;
const OutcomeTotalRow = z.object({ outcome_id: z.string(), users: z.number(), points: z.number() });

export interface PredictionInput {
  title: string;
  outcomes: string[];
  windowSeconds: number;
}

export interface Stake {
  predictionId: string;
  userId: string;
  outcomeId: string;
  points: number;
  requestId: string;
  now: number;
}

/** Splits `pot` among `winners` by stake (the rule in the header). */
export function splitPot(pot: number, winners: { userId: string; points: number }[]): Map<string, number> {
  const total = BigInt(winners.reduce((sum, winner) => sum + winner.points, 0));
  const shares = winners.map((winner) => {
    const product = BigInt(pot) * BigInt(winner.points);
    return { ...winner, share: Number(product / total), remainder: product % total };
  });
  let left = pot - shares.reduce((sum, entry) => sum + entry.share, 0);
  const order = [...shares].sort((a, b) =>
    a.remainder !== b.remainder
      ? a.remainder > b.remainder
        ? -1
        : 1
      : b.points - a.points || (a.userId < b.userId ? -1 : 1),
  );
  for (const entry of order) {
    if (left === 0) break;
    entry.share += 1;
    left -= 1;
  }
  return new Map(shares.map((entry) => [entry.userId, entry.share]));
}

export class Predictions {
  readonly #sql: SqlStorage;
  readonly #ledger: PointsLedger;

  constructor(sql: SqlStorage, ledger: PointsLedger) {
    this.#sql = sql;
    this.#ledger = ledger;
  }

  create(): void {
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS predictions (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        status TEXT NOT NULL,
        outcomes TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        locks_at INTEGER NOT NULL,
        ended_at INTEGER,
        winning_outcome_id TEXT
      );
      CREATE TABLE IF NOT EXISTS prediction_stakes (
        prediction_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        outcome_id TEXT NOT NULL,
        points INTEGER NOT NULL,
        PRIMARY KEY (prediction_id, user_id)
      );
    `);
  }

  #read(id: string): PredictionRow | null {
    const row = this.#sql.exec('SELECT * FROM predictions WHERE id = ?', id).toArray()[0];
    return row === undefined ? null : PredictionRow.parse(row);
  }

  #readStakes(id: string): StakeRow[] {
    return this.#sql
      .exec(
        'SELECT user_id, outcome_id, points FROM prediction_stakes WHERE prediction_id = ? ORDER BY user_id',
        id,
      )
      .toArray()
      .map((row) => StakeRow.parse(row));
  }

  readCurrent(): PredictionView | null {
    const row = this.#sql.exec('SELECT * FROM predictions ORDER BY created_at DESC LIMIT 1').toArray()[0];
    return row === undefined ? null : this.#toView(PredictionRow.parse(row));
  }

  readView(id: string): PredictionView | null {
    const row = this.#read(id);
    return row ? this.#toView(row) : null;
  }

  readStake(id: string, userId: string): { outcome_id: string; points: number } | null {
    const row = this.#sql
      .exec(
        'SELECT user_id, outcome_id, points FROM prediction_stakes WHERE prediction_id = ? AND user_id = ?',
        id,
        userId,
      )
      .toArray()[0];
    if (row === undefined) return null;
    const stake = StakeRow.parse(row);
    return { outcome_id: stake.outcome_id, points: stake.points };
  }

  readNextLock(): number | null {
    const row = this.#sql.exec("SELECT MIN(locks_at) AS at FROM predictions WHERE status = 'active'").one();
    return z.object({ at: z.nullable(z.number()) }).parse(row).at;
  }

  /** Locks every prediction whose window is over; answers the locked ones (to announce). */
  lockExpired(now: number): PredictionView[] {
    const due = this.#sql
      .exec("SELECT id FROM predictions WHERE status = 'active' AND locks_at <= ?", now)
      .toArray()
      .map((row) => z.object({ id: z.string() }).parse(row).id);
    for (const id of due) this.#sql.exec("UPDATE predictions SET status = 'locked' WHERE id = ?", id);
    return due.map((id) => this.readView(id)).filter((view) => view !== null);
  }

  start(input: PredictionInput, now: number): EngagementOutcome<PredictionView> {
    this.lockExpired(now);
    if (this.#sql.exec("SELECT 1 FROM predictions WHERE status IN ('active', 'locked')").toArray().length > 0)
      return conflict('A prediction is already open; resolve or cancel it first.');
    const id = crypto.randomUUID();
    const outcomes = input.outcomes.map((title) => ({ id: crypto.randomUUID(), title }));
    this.#sql.exec(
      `INSERT INTO predictions (id, title, status, outcomes, created_at, locks_at, ended_at, winning_outcome_id)
       VALUES (?, ?, 'active', ?, ?, ?, NULL, NULL)`,
      id,
      input.title,
      JSON.stringify(outcomes),
      now,
      now + input.windowSeconds * 1000,
    );
    return ok(this.#mustView(id));
  }

  stake(stake: Stake): EngagementOutcome<PredictionView> {
    const { now } = stake;
    this.lockExpired(now);
    const prediction = this.#read(stake.predictionId);
    if (!prediction) return notFound('Prediction');
    const transferId = `stake:${prediction.id}:${stake.userId}:${stake.requestId}`;
    if (this.#ledger.has(transferId)) return ok(this.#toView(prediction), true);
    if (prediction.status !== 'active')
      return conflict(`The prediction is ${prediction.status}; stakes are closed.`);
    if (!Outcomes.parse(JSON.parse(prediction.outcomes)).some((outcome) => outcome.id === stake.outcomeId))
      return invalid('No such outcome in this prediction.');
    const earlier = this.readStake(prediction.id, stake.userId);
    if (earlier && earlier.outcome_id !== stake.outcomeId)
      return conflict('You already predicted another outcome.');
    if ((earlier?.points ?? 0) + stake.points > MAX_STAKE)
      return invalid(`At most ${MAX_STAKE} points on one prediction.`);
    const paid = this.#ledger.transfer({
      id: transferId,
      kind: 'stake',
      from: userAccount(stake.userId),
      to: potAccount(prediction.id),
      amount: stake.points,
      now,
    });
    if (paid === 'insufficient') return NOT_ENOUGH_POINTS;
    this.#sql.exec(
      `INSERT INTO prediction_stakes (prediction_id, user_id, outcome_id, points) VALUES (?, ?, ?, ?)
       ON CONFLICT (prediction_id, user_id) DO UPDATE SET points = points + excluded.points`,
      prediction.id,
      stake.userId,
      stake.outcomeId,
      stake.points,
    );
    return ok(this.#toView(prediction));
  }

  lock(id: string, now: number): EngagementOutcome<PredictionView> {
    this.lockExpired(now);
    const prediction = this.#read(id);
    if (!prediction) return notFound('Prediction');
    if (prediction.status !== 'active') return conflict(`The prediction is already ${prediction.status}.`);
    this.#sql.exec("UPDATE predictions SET status = 'locked' WHERE id = ?", id);
    return ok(this.#mustView(id));
  }

  /** Pays the whole pot to the winners once (the rule in the header); refunds all when nobody won. */
  resolve(id: string, winningOutcomeId: string, now: number): EngagementOutcome<PredictionView> {
    const prediction = this.#read(id);
    if (!prediction) return notFound('Prediction');
    if (prediction.status === 'resolved' || prediction.status === 'canceled')
      return conflict(`The prediction is already ${prediction.status}.`);
    if (!Outcomes.parse(JSON.parse(prediction.outcomes)).some((outcome) => outcome.id === winningOutcomeId))
      return invalid('No such outcome in this prediction.');
    const stakes = this.#readStakes(id);
    const winners = stakes
      .filter((stake) => stake.outcome_id === winningOutcomeId)
      .map((stake) => ({ userId: stake.user_id, points: stake.points }));
    if (winners.length === 0) this.#refundAll(id, stakes, now);
    else {
      const pot = this.#ledger.readBalance(potAccount(id));
      for (const [userId, share] of splitPot(pot, winners)) {
        if (share === 0) continue;
        this.#ledger.transfer({
          id: `payout:${id}:${userId}`,
          kind: 'payout',
          from: potAccount(id),
          to: userAccount(userId),
          amount: share,
          now,
        });
      }
    }
    this.#sql.exec(
      "UPDATE predictions SET status = 'resolved', ended_at = ?, winning_outcome_id = ? WHERE id = ?",
      now,
      winningOutcomeId,
      id,
    );
    return ok(this.#mustView(id));
  }

  cancel(id: string, now: number): EngagementOutcome<PredictionView> {
    const prediction = this.#read(id);
    if (!prediction) return notFound('Prediction');
    if (prediction.status === 'resolved' || prediction.status === 'canceled')
      return conflict(`The prediction is already ${prediction.status}.`);
    this.#refundAll(id, this.#readStakes(id), now);
    this.#sql.exec("UPDATE predictions SET status = 'canceled', ended_at = ? WHERE id = ?", now, id);
    return ok(this.#mustView(id));
  }

  #refundAll(id: string, stakes: StakeRow[], now: number): void {
    for (const stake of stakes)
      this.#ledger.transfer({
        id: `refund:${id}:${stake.user_id}`,
        kind: 'refund',
        from: potAccount(id),
        to: userAccount(stake.user_id),
        amount: stake.points,
        now,
      });
  }

  #mustView(id: string): PredictionView {
    const view = this.readView(id);
    if (!view) throw new Error('prediction vanished after write');
    return view;
  }

  #toView(prediction: PredictionRow): PredictionView {
    const totals = new Map(
      this.#sql
        .exec(
          `SELECT outcome_id, COUNT(*) AS users, SUM(points) AS points FROM prediction_stakes
           WHERE prediction_id = ? GROUP BY outcome_id`,
          prediction.id,
        )
        .toArray()
        .map((row) => OutcomeTotalRow.parse(row))
        .map((row) => [row.outcome_id, row]),
    );
    return {
      id: prediction.id,
      title: prediction.title,
      status: prediction.status,
      outcomes: Outcomes.parse(JSON.parse(prediction.outcomes)).map((outcome) => ({
        ...outcome,
        users: totals.get(outcome.id)?.users ?? 0,
        points: totals.get(outcome.id)?.points ?? 0,
      })),
      winning_outcome_id: prediction.winning_outcome_id,
      created_at: toIso(prediction.created_at),
      locks_at: toIso(prediction.locks_at),
      ended_at: prediction.ended_at === null ? null : toIso(prediction.ended_at),
    };
  }
}
