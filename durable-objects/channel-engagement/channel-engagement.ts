// The engagement of one channel (one instance per channel id): channel points and their ledger,
// custom rewards and the redemption queue, polls and predictions (docs/engagement.md). A class of
// its own rather than more of the ChatRoom: the room is on the path of every chat message and
// holds its state in memory for speed, while this state is money-like (a ledger that must never
// go negative or pay twice) and is read from SQLite on demand, one synchronous transaction per
// request; keeping them apart keeps a burst of votes or stakes off the chat's hot path and the
// room's file readable. Updates reach chat viewers through the room's fan-out
// (ChatRoom.broadcastEngagement → the shards → JSON `poll`/`prediction`/`redemption` frames).
//
// One alarm drives every timer: a poll's end, a prediction's lock, and the coalesced live results
// (at most one frame a second per poll or prediction, however fast votes arrive).
import { DurableObject } from 'cloudflare:workers';
import * as z from 'zod/mini';
import { type Logger, log } from '../../common/log.ts';
import {
  ChannelPointsConfig,
  DEFAULT_CHANNEL_POINTS,
  type EngagementFrame,
  type PollView,
  type PredictionView,
  type RedemptionStatus,
  type RedemptionView,
  type RewardView,
  type ViewerPointsView,
} from '../../protocol/engagement.ts';
import { findCurrentStreamId } from '../chat/directory.ts';
import { PointsEarning } from './points-earning.ts';
import { type LedgerAudit, PointsLedger, userAccount } from './points-ledger.ts';
import { type PollInput, Polls } from './polls.ts';
import { type PredictionInput, Predictions } from './predictions.ts';
import { type RewardInput, Rewards } from './rewards.ts';
import { conflict, type EngagementOutcome, ok } from './types.ts';

/** Live results go out at most this often per poll or prediction. */
export const RESULTS_INTERVAL_MS = 1000;

/** The CHANNEL_POINTS table of wrangler.toml [vars], or JSON of it (`wrangler dev --var`). */
export function readPointsConfig(env: { CHANNEL_POINTS?: unknown }): ChannelPointsConfig {
  const raw = env.CHANNEL_POINTS;
  if (raw === undefined) return DEFAULT_CHANNEL_POINTS;
  return ChannelPointsConfig.parse(typeof raw === 'string' ? JSON.parse(raw) : raw);
}

export interface EngagementOverview {
  poll: PollView | null;
  prediction: PredictionView | null;
  rewards: RewardView[];
  viewer: ViewerPointsView | null;
}

export class ChannelEngagement extends DurableObject<Env> {
  /** Not #private: the tests' subclass credits points without minutes of watching. */
  protected readonly ledger: PointsLedger;
  readonly #earning: PointsEarning;
  readonly #rewards: Rewards;
  readonly #polls: Polls;
  readonly #predictions: Predictions;
  #log: Logger = log.child({ class: 'ChannelEngagement' });
  #channelId: string | null = null;
  /** Polls and predictions whose results changed since they were last sent. */
  readonly #dirtyPolls = new Set<string>();
  readonly #dirtyPredictions = new Set<string>();
  #lastResultsAt = 0;
  #alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    this.ledger = new PointsLedger(sql);
    this.#earning = new PointsEarning(sql, this.ledger, readPointsConfig(env));
    this.#rewards = new Rewards(sql, this.ledger);
    this.#polls = new Polls(sql, this.ledger);
    this.#predictions = new Predictions(sql, this.ledger);
    void ctx.blockConcurrencyWhile(async () => {
      sql.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      for (const part of [this.ledger, this.#earning, this.#rewards, this.#polls, this.#predictions])
        part.create();
      const row = sql.exec("SELECT value FROM meta WHERE key = 'channel_id'").toArray()[0];
      if (row !== undefined) this.#setChannel(z.object({ value: z.string() }).parse(row).value);
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** The clock every rule reads; the tests' subclass moves it forward (time stands still in workerd). */
  protected now(): number {
    return Date.now();
  }

  /** The first call names the channel (the Worker has checked it exists in D1); the alarm needs it. */
  #bind(channelId: string): void {
    if (this.#channelId === channelId) return;
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('channel_id', ?)", channelId);
    this.#setChannel(channelId);
  }

  #setChannel(channelId: string): void {
    this.#channelId = channelId;
    this.#log = log.child({ class: 'ChannelEngagement', channel_id: channelId });
  }

  /** Runs a step that moves points as one SQLite transaction: all of it, or (on a throw) none. */
  #atomically<T>(step: () => T): T {
    return this.ctx.storage.transactionSync(step);
  }

  // ---- points ----

  /** A signed-in viewer's presence signal (workers/api/routes/presence.ts): pays watch time due. */
  async recordWatch(channelId: string, userId: string): Promise<number> {
    this.#bind(channelId);
    const now = this.now();
    return this.#atomically(() => this.#earning.recordWatch(userId, now));
  }

  async readViewer(channelId: string, userId: string): Promise<ViewerPointsView> {
    this.#bind(channelId);
    const poll = this.#polls.readCurrent();
    const prediction = this.#predictions.readCurrent();
    return {
      balance: this.ledger.readBalance(userAccount(userId)),
      bonus_claimable: this.#earning.isBonusClaimable(userId),
      poll_choice_id: poll ? this.#polls.readChoice(poll.id, userId) : null,
      prediction: prediction ? this.#predictions.readStake(prediction.id, userId) : null,
    };
  }

  async claimBonus(channelId: string, userId: string): Promise<EngagementOutcome<ViewerPointsView>> {
    this.#bind(channelId);
    const now = this.now();
    const claimed = this.#atomically(() => this.#earning.claimBonus(userId, now));
    if (claimed === null) return conflict('No bonus to claim yet: keep watching.');
    return ok(await this.readViewer(channelId, userId));
  }

  /** What the watch page's panel and the overlay show; `viewerId` adds that viewer's own part. */
  async readOverview(channelId: string, viewerId: string | null): Promise<EngagementOverview> {
    this.#bind(channelId);
    await this.#settle(this.now());
    return {
      poll: this.#polls.readCurrent(),
      prediction: this.#predictions.readCurrent(),
      rewards: this.#rewards.list(false, this.now()),
      viewer: viewerId === null ? null : await this.readViewer(channelId, viewerId),
    };
  }

  /** Every invariant of the points ledger (tests; an operator checking a complaint). */
  async auditLedger(): Promise<LedgerAudit> {
    return this.ledger.audit();
  }

  // ---- rewards and redemptions ----

  async listRewards(channelId: string, includeDisabled: boolean): Promise<RewardView[]> {
    this.#bind(channelId);
    return this.#rewards.list(includeDisabled, this.now());
  }

  async addReward(channelId: string, input: RewardInput): Promise<EngagementOutcome<RewardView>> {
    this.#bind(channelId);
    return this.#rewards.add(input, this.now());
  }

  async updateReward(
    channelId: string,
    rewardId: string,
    patch: Partial<RewardInput>,
  ): Promise<EngagementOutcome<RewardView>> {
    this.#bind(channelId);
    return this.#rewards.update(rewardId, patch, this.now());
  }

  async removeReward(channelId: string, rewardId: string): Promise<EngagementOutcome<null>> {
    this.#bind(channelId);
    return this.#rewards.remove(rewardId);
  }

  async redeem(
    channelId: string,
    request: {
      rewardId: string;
      user: { id: string; login: string };
      input: string | null;
      requestId: string;
    },
  ): Promise<EngagementOutcome<{ redemption: RedemptionView; balance: number }>> {
    this.#bind(channelId);
    const streamId = await findCurrentStreamId(this.env.DB, channelId);
    const now = this.now();
    const outcome = this.#atomically(() => this.#rewards.redeem({ ...request, streamId, now }));
    if (outcome.kind !== 'ok') return outcome;
    if (!outcome.duplicate) await this.#announce({ type: 'redemption', redemption: outcome.value });
    const balance = this.ledger.readBalance(userAccount(request.user.id));
    return { ...outcome, value: { redemption: outcome.value, balance } };
  }

  async listRedemptions(
    channelId: string,
    status: RedemptionStatus,
    limit: number,
  ): Promise<RedemptionView[]> {
    this.#bind(channelId);
    return this.#rewards.listRedemptions(status, limit);
  }

  async decideRedemption(
    channelId: string,
    redemptionId: string,
    status: 'fulfilled' | 'canceled',
  ): Promise<EngagementOutcome<RedemptionView>> {
    this.#bind(channelId);
    const now = this.now();
    const outcome = this.#atomically(() => this.#rewards.decide(redemptionId, status, now));
    if (outcome.kind === 'ok') await this.#announce({ type: 'redemption', redemption: outcome.value });
    return outcome;
  }

  // ---- polls ----

  async startPoll(channelId: string, input: PollInput): Promise<EngagementOutcome<PollView>> {
    this.#bind(channelId);
    const now = this.now();
    await this.#settle(now);
    const outcome = this.#atomically(() => this.#polls.start(input, now));
    if (outcome.kind === 'ok') await this.#announce({ type: 'poll', poll: outcome.value });
    await this.#scheduleAlarm(now);
    return outcome;
  }

  async vote(
    channelId: string,
    ballot: { pollId: string; userId: string; choiceId: string; requestId: string; extraVotes: number },
  ): Promise<EngagementOutcome<PollView>> {
    this.#bind(channelId);
    const now = this.now();
    await this.#settle(now);
    const outcome = this.#atomically(() => this.#polls.vote({ ...ballot, now }));
    if (outcome.kind === 'ok' && !outcome.duplicate) this.#dirtyPolls.add(outcome.value.id);
    await this.#scheduleAlarm(now);
    return outcome;
  }

  async endPoll(channelId: string, pollId: string): Promise<EngagementOutcome<PollView>> {
    this.#bind(channelId);
    const now = this.now();
    await this.#settle(now);
    const outcome = this.#atomically(() => this.#polls.end(pollId, now));
    if (outcome.kind === 'ok') {
      this.#dirtyPolls.delete(pollId);
      await this.#announce({ type: 'poll', poll: outcome.value });
    }
    return outcome;
  }

  // ---- predictions ----

  async startPrediction(
    channelId: string,
    input: PredictionInput,
  ): Promise<EngagementOutcome<PredictionView>> {
    this.#bind(channelId);
    const now = this.now();
    await this.#settle(now);
    const outcome = this.#atomically(() => this.#predictions.start(input, now));
    if (outcome.kind === 'ok') await this.#announce({ type: 'prediction', prediction: outcome.value });
    await this.#scheduleAlarm(now);
    return outcome;
  }

  async stake(
    channelId: string,
    stake: { predictionId: string; userId: string; outcomeId: string; points: number; requestId: string },
  ): Promise<EngagementOutcome<{ prediction: PredictionView; balance: number }>> {
    this.#bind(channelId);
    const now = this.now();
    await this.#settle(now);
    const outcome = this.#atomically(() => this.#predictions.stake({ ...stake, now }));
    if (outcome.kind !== 'ok') return outcome;
    if (!outcome.duplicate) this.#dirtyPredictions.add(outcome.value.id);
    await this.#scheduleAlarm(now);
    const balance = this.ledger.readBalance(userAccount(stake.userId));
    return { ...outcome, value: { prediction: outcome.value, balance } };
  }

  async lockPrediction(channelId: string, predictionId: string): Promise<EngagementOutcome<PredictionView>> {
    return this.#endPrediction(channelId, predictionId, (now) => this.#predictions.lock(predictionId, now));
  }

  async resolvePrediction(
    channelId: string,
    predictionId: string,
    winningOutcomeId: string,
  ): Promise<EngagementOutcome<PredictionView>> {
    return this.#endPrediction(channelId, predictionId, (now) =>
      this.#predictions.resolve(predictionId, winningOutcomeId, now),
    );
  }

  async cancelPrediction(
    channelId: string,
    predictionId: string,
  ): Promise<EngagementOutcome<PredictionView>> {
    return this.#endPrediction(channelId, predictionId, (now) => this.#predictions.cancel(predictionId, now));
  }

  async #endPrediction(
    channelId: string,
    predictionId: string,
    step: (now: number) => EngagementOutcome<PredictionView>,
  ): Promise<EngagementOutcome<PredictionView>> {
    this.#bind(channelId);
    const now = this.now();
    await this.#settle(now);
    const outcome = this.#atomically(() => step(now));
    if (outcome.kind === 'ok') {
      this.#dirtyPredictions.delete(predictionId);
      await this.#announce({ type: 'prediction', prediction: outcome.value });
    }
    return outcome;
  }

  // ---- fan-out and the alarm ----

  /** Sends a frame to the channel's chat now; a failure is logged, never the request's failure. */
  async #announce(frame: EngagementFrame): Promise<void> {
    const channelId = this.#channelId;
    if (channelId === null) return;
    try {
      await this.env.CHAT_ROOM.getByName(channelId).broadcastEngagement(channelId, frame);
    } catch (error) {
      this.#log.error('engagement_broadcast_failed', { frame: frame.type, error });
    }
  }

  /**
   * Ends the polls and locks the predictions whose time is up, and announces each: run by the
   * alarm and before every request, so a request never acts on a poll that should have ended.
   */
  async #settle(now: number): Promise<void> {
    const ended = this.#atomically(() => this.#polls.endExpired(now));
    for (const poll of ended) {
      this.#dirtyPolls.delete(poll.id);
      await this.#announce({ type: 'poll', poll });
    }
    const locked = this.#atomically(() => this.#predictions.lockExpired(now));
    for (const prediction of locked) {
      this.#dirtyPredictions.delete(prediction.id);
      await this.#announce({ type: 'prediction', prediction });
    }
  }

  #computeNextAlarm(now: number): number | null {
    const candidates: number[] = [];
    const pollEnd = this.#polls.readNextEnd();
    if (pollEnd !== null) candidates.push(pollEnd);
    const predictionLock = this.#predictions.readNextLock();
    if (predictionLock !== null) candidates.push(predictionLock);
    if (this.#dirtyPolls.size > 0 || this.#dirtyPredictions.size > 0)
      candidates.push(this.#lastResultsAt + RESULTS_INTERVAL_MS);
    return candidates.length > 0 ? Math.max(now, Math.min(...candidates)) : null;
  }

  async #scheduleAlarm(now: number): Promise<void> {
    const next = this.#computeNextAlarm(now);
    if (next === null) return;
    if (this.#alarmAt !== null && this.#alarmAt <= next) return;
    this.#alarmAt = next;
    // The alarm runs on the real clock: a moved test clock is caught up by the next request.
    await this.ctx.storage.setAlarm(Math.max(Date.now(), next - (now - Date.now())));
  }

  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    const now = this.now();
    await this.#settle(now);
    if (now - this.#lastResultsAt >= RESULTS_INTERVAL_MS) {
      this.#lastResultsAt = now;
      for (const id of this.#dirtyPolls) {
        const poll = this.#polls.readView(id);
        if (poll) await this.#announce({ type: 'poll', poll });
      }
      for (const id of this.#dirtyPredictions) {
        const prediction = this.#predictions.readView(id);
        if (prediction) await this.#announce({ type: 'prediction', prediction });
      }
      this.#dirtyPolls.clear();
      this.#dirtyPredictions.clear();
    }
    await this.#scheduleAlarm(now);
  }
}
