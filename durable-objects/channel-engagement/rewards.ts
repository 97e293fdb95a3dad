// Custom rewards and their redemption queue. A redemption debits the viewer at once (the points
// go to the redemptions account) and waits as `pending` until the broadcaster or a moderator
// fulfills it or rejects it; a rejection refunds the cost exactly once (the refund's transaction id
// is the redemption's). A viewer's request id makes a redemption idempotent: the same id again is
// the same redemption, charged once (unique (user_id, request_id)).
import * as z from 'zod/mini';
import {
  MAX_PENDING_REDEMPTIONS,
  MAX_REWARDS,
  type RedemptionStatus,
  type RedemptionView,
  type RewardView,
} from '../../protocol/engagement.ts';
import { type PointsLedger, REDEMPTIONS_ACCOUNT, userAccount } from './points-ledger.ts';
import {
  conflict,
  type EngagementOutcome,
  invalid,
  NOT_ENOUGH_POINTS,
  notFound,
  ok,
  toIso,
} from './types.ts';

const RewardRow = z.object({
  id: z.string(),
  title: z.string(),
  cost: z.number(),
  prompt: z.nullable(z.string()),
  enabled: z.number(),
  max_per_stream: z.nullable(z.number()),
  max_per_user_per_stream: z.nullable(z.number()),
  cooldown_seconds: z.number(),
  last_redeemed_at: z.nullable(z.number()),
});
type RewardRow = z.infer<typeof RewardRow>;

const RedemptionRow = z.object({
  id: z.string(),
  reward_id: z.string(),
  reward_title: z.string(),
  cost: z.number(),
  user_id: z.string(),
  user_login: z.string(),
  input: z.nullable(z.string()),
  status: z.enum(['pending', 'fulfilled', 'canceled']),
  created_at: z.number(),
});
type RedemptionRow = z.infer<typeof RedemptionRow>;

const CountRow = z.object({ n: z.number() });

export interface RewardInput {
  title: string;
  cost: number;
  prompt: string | null;
  enabled: boolean;
  max_per_stream: number | null;
  max_per_user_per_stream: number | null;
  cooldown_seconds: number;
}

export interface RedeemRequest {
  rewardId: string;
  user: { id: string; login: string };
  input: string | null;
  requestId: string;
  /** The live stream the per-stream limits count in (null while offline: counted together). */
  streamId: string | null;
  now: number;
}

export class Rewards {
  readonly #sql: SqlStorage;
  readonly #ledger: PointsLedger;

  constructor(sql: SqlStorage, ledger: PointsLedger) {
    this.#sql = sql;
    this.#ledger = ledger;
  }

  create(): void {
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS rewards (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        cost INTEGER NOT NULL,
        prompt TEXT,
        enabled INTEGER NOT NULL,
        max_per_stream INTEGER,
        max_per_user_per_stream INTEGER,
        cooldown_seconds INTEGER NOT NULL,
        last_redeemed_at INTEGER,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS redemptions (
        id TEXT PRIMARY KEY,
        reward_id TEXT NOT NULL,
        reward_title TEXT NOT NULL,
        cost INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        user_login TEXT NOT NULL,
        input TEXT,
        status TEXT NOT NULL,
        stream_id TEXT,
        request_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (user_id, request_id)
      );
      CREATE INDEX IF NOT EXISTS redemptions_by_status ON redemptions (status, created_at);
      CREATE INDEX IF NOT EXISTS redemptions_by_reward ON redemptions (reward_id, stream_id, user_id);
    `);
  }

  #read(rewardId: string): RewardRow | null {
    const row = this.#sql.exec('SELECT * FROM rewards WHERE id = ?', rewardId).toArray()[0];
    return row === undefined ? null : RewardRow.parse(row);
  }

  list(includeDisabled: boolean, now: number): RewardView[] {
    return this.#sql
      .exec(`SELECT * FROM rewards ${includeDisabled ? '' : 'WHERE enabled = 1'} ORDER BY cost, created_at`)
      .toArray()
      .map((row) => toRewardView(RewardRow.parse(row), now));
  }

  add(input: RewardInput, now: number): EngagementOutcome<RewardView> {
    const count = CountRow.parse(this.#sql.exec('SELECT COUNT(*) AS n FROM rewards').one()).n;
    if (count >= MAX_REWARDS) return conflict(`A channel has at most ${MAX_REWARDS} rewards.`);
    const id = crypto.randomUUID();
    this.#sql.exec(
      `INSERT INTO rewards (id, title, cost, prompt, enabled, max_per_stream, max_per_user_per_stream,
         cooldown_seconds, last_redeemed_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
      id,
      input.title,
      input.cost,
      input.prompt,
      input.enabled ? 1 : 0,
      input.max_per_stream,
      input.max_per_user_per_stream,
      input.cooldown_seconds,
      now,
    );
    const row = this.#read(id);
    if (!row) throw new Error('reward vanished after insert');
    return ok(toRewardView(row, now));
  }

  update(rewardId: string, patch: Partial<RewardInput>, now: number): EngagementOutcome<RewardView> {
    const row = this.#read(rewardId);
    if (!row) return notFound('Reward');
    const next: RewardInput = {
      title: patch.title ?? row.title,
      cost: patch.cost ?? row.cost,
      prompt: patch.prompt === undefined ? row.prompt : patch.prompt,
      enabled: patch.enabled ?? row.enabled === 1,
      max_per_stream: patch.max_per_stream === undefined ? row.max_per_stream : patch.max_per_stream,
      max_per_user_per_stream:
        patch.max_per_user_per_stream === undefined
          ? row.max_per_user_per_stream
          : patch.max_per_user_per_stream,
      cooldown_seconds: patch.cooldown_seconds ?? row.cooldown_seconds,
    };
    this.#sql.exec(
      `UPDATE rewards SET title = ?, cost = ?, prompt = ?, enabled = ?, max_per_stream = ?,
         max_per_user_per_stream = ?, cooldown_seconds = ? WHERE id = ?`,
      next.title,
      next.cost,
      next.prompt,
      next.enabled ? 1 : 0,
      next.max_per_stream,
      next.max_per_user_per_stream,
      next.cooldown_seconds,
      rewardId,
    );
    const updated = this.#read(rewardId);
    if (!updated) throw new Error('reward vanished after update');
    return ok(toRewardView(updated, now));
  }

  /** Deleting a reward leaves its pending redemptions in the queue (they carry its title and cost). */
  remove(rewardId: string): EngagementOutcome<null> {
    if (!this.#read(rewardId)) return notFound('Reward');
    this.#sql.exec('DELETE FROM rewards WHERE id = ?', rewardId);
    return ok(null);
  }

  #readRedemption(id: string): RedemptionRow | null {
    const row = this.#sql.exec('SELECT * FROM redemptions WHERE id = ?', id).toArray()[0];
    return row === undefined ? null : RedemptionRow.parse(row);
  }

  /** Debits and queues; the same request id again answers the first redemption and charges nothing. */
  redeem(request: RedeemRequest): EngagementOutcome<RedemptionView> {
    const { user, now } = request;
    const earlier = this.#sql
      .exec('SELECT * FROM redemptions WHERE user_id = ? AND request_id = ?', user.id, request.requestId)
      .toArray()[0];
    if (earlier !== undefined) {
      const row = RedemptionRow.parse(earlier);
      if (row.reward_id !== request.rewardId) return conflict('That request id was used for another reward.');
      return ok(toRedemptionView(row), true);
    }
    const reward = this.#read(request.rewardId);
    if (!reward) return notFound('Reward');
    if (reward.enabled !== 1) return conflict('This reward is paused.');
    if (reward.prompt !== null && request.input === null) return invalid('This reward needs your input.');
    if (reward.prompt === null && request.input !== null) return invalid('This reward takes no input.');
    if (reward.cooldown_seconds > 0 && reward.last_redeemed_at !== null) {
      const readyAt = reward.last_redeemed_at + reward.cooldown_seconds * 1000;
      if (readyAt > now)
        return { kind: 'cooldown', message: 'This reward is on cooldown.', retryAfterMs: readyAt - now };
    }
    const countRedemptions = (userId: string | null) =>
      CountRow.parse(
        this.#sql
          .exec(
            `SELECT COUNT(*) AS n FROM redemptions WHERE reward_id = ? AND stream_id IS ? AND status != 'canceled'
             AND (? IS NULL OR user_id = ?)`,
            reward.id,
            request.streamId,
            userId,
            userId,
          )
          .one(),
      ).n;
    if (reward.max_per_stream !== null && countRedemptions(null) >= reward.max_per_stream)
      return conflict('This reward has been redeemed as often as it may be this stream.');
    if (
      reward.max_per_user_per_stream !== null &&
      countRedemptions(user.id) >= reward.max_per_user_per_stream
    )
      return conflict('You have redeemed this reward as often as you may this stream.');
    const pending = CountRow.parse(
      this.#sql.exec("SELECT COUNT(*) AS n FROM redemptions WHERE status = 'pending'").one(),
    ).n;
    if (pending >= MAX_PENDING_REDEMPTIONS)
      return conflict('The redemption queue is full; try again when the broadcaster has caught up.');
    const id = crypto.randomUUID();
    const debit = this.#ledger.transfer({
      id: `redeem:${id}`,
      kind: 'redeem',
      from: userAccount(user.id),
      to: REDEMPTIONS_ACCOUNT,
      amount: reward.cost,
      now,
    });
    if (debit === 'insufficient') return NOT_ENOUGH_POINTS;
    this.#sql.exec(
      `INSERT INTO redemptions (id, reward_id, reward_title, cost, user_id, user_login, input, status, stream_id,
         request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
      id,
      reward.id,
      reward.title,
      reward.cost,
      user.id,
      user.login,
      request.input,
      request.streamId,
      request.requestId,
      now,
    );
    this.#sql.exec('UPDATE rewards SET last_redeemed_at = ? WHERE id = ?', now, reward.id);
    const row = this.#readRedemption(id);
    if (!row) throw new Error('redemption vanished after insert');
    return ok(toRedemptionView(row));
  }

  listRedemptions(status: RedemptionStatus, limit: number): RedemptionView[] {
    return this.#sql
      .exec(
        `SELECT * FROM redemptions WHERE status = ? ORDER BY created_at ${status === 'pending' ? 'ASC' : 'DESC'} LIMIT ?`,
        status,
        limit,
      )
      .toArray()
      .map((row) => toRedemptionView(RedemptionRow.parse(row)));
  }

  /** Fulfill or reject (refund) a pending redemption; a decided one is a conflict, never refunded twice. */
  decide(
    redemptionId: string,
    status: 'fulfilled' | 'canceled',
    now: number,
  ): EngagementOutcome<RedemptionView> {
    const row = this.#readRedemption(redemptionId);
    if (!row) return notFound('Redemption');
    if (row.status !== 'pending') return conflict(`This redemption is already ${row.status}.`);
    if (status === 'canceled') {
      this.#ledger.transfer({
        id: `refund:redemption:${row.id}`,
        kind: 'refund',
        from: REDEMPTIONS_ACCOUNT,
        to: userAccount(row.user_id),
        amount: row.cost,
        now,
      });
    }
    this.#sql.exec('UPDATE redemptions SET status = ? WHERE id = ?', status, row.id);
    return ok(toRedemptionView({ ...row, status }));
  }
}

function toRewardView(row: RewardRow, now: number): RewardView {
  const readyAt = row.last_redeemed_at === null ? null : row.last_redeemed_at + row.cooldown_seconds * 1000;
  return {
    id: row.id,
    title: row.title,
    cost: row.cost,
    prompt: row.prompt,
    enabled: row.enabled === 1,
    max_per_stream: row.max_per_stream,
    max_per_user_per_stream: row.max_per_user_per_stream,
    cooldown_seconds: row.cooldown_seconds,
    cooldown_expires_at: readyAt !== null && readyAt > now ? toIso(readyAt) : null,
  };
}

function toRedemptionView(row: RedemptionRow): RedemptionView {
  return {
    id: row.id,
    reward: { id: row.reward_id, title: row.reward_title, cost: row.cost },
    user: { id: row.user_id, login: row.user_login },
    input: row.input,
    status: row.status,
    redeemed_at: toIso(row.created_at),
  };
}
