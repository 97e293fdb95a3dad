// Polls: one active at a time per channel, 2–5 choices, 15–1800 s. Each signed-in viewer votes
// once; when the broadcaster allows it, more votes can be bought with channel points, for the same
// choice only. A ballot's request id makes it idempotent (the same id again changes nothing). A
// poll ends at its time (the object's alarm, or the first request after it) or early by a
// moderator; its totals are then frozen: ballots after the end are refused, and nothing writes
// the poll again.
import * as z from 'zod/mini';
import type { PollView } from '../../protocol/engagement.ts';
import { POLLS_ACCOUNT, type PointsLedger, userAccount } from './points-ledger.ts';
import {
  conflict,
  type EngagementOutcome,
  invalid,
  NOT_ENOUGH_POINTS,
  notFound,
  ok,
  toIso,
} from './types.ts';

const Choices = z.array(z.object({ id: z.string(), title: z.string() }));
const PollRow = z.object({
  id: z.string(),
  title: z.string(),
  status: z.enum(['active', 'ended']),
  choices: z.string(),
  points_per_vote: z.nullable(z.number()),
  started_at: z.number(),
  ends_at: z.number(),
  ended_at: z.nullable(z.number()),
});
type PollRow = z.infer<typeof PollRow>;
const TotalRow = z.object({ choice_id: z.string(), votes: z.number() });
const BallotRow = z.object({ choice_id: z.string(), request_id: z.string() });

export interface PollInput {
  title: string;
  choices: string[];
  durationSeconds: number;
  pointsPerVote: number | null;
}

export interface Ballot {
  pollId: string;
  userId: string;
  choiceId: string;
  requestId: string;
  extraVotes: number;
  now: number;
}

export class Polls {
  readonly #sql: SqlStorage;
  readonly #ledger: PointsLedger;

  constructor(sql: SqlStorage, ledger: PointsLedger) {
    this.#sql = sql;
    this.#ledger = ledger;
  }

  create(): void {
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS polls (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        status TEXT NOT NULL,
        choices TEXT NOT NULL,
        points_per_vote INTEGER,
        started_at INTEGER NOT NULL,
        ends_at INTEGER NOT NULL,
        ended_at INTEGER
      );
      CREATE TABLE IF NOT EXISTS poll_ballots (
        poll_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        choice_id TEXT NOT NULL,
        votes INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (poll_id, user_id, request_id)
      );
    `);
  }

  #read(pollId: string): PollRow | null {
    const row = this.#sql.exec('SELECT * FROM polls WHERE id = ?', pollId).toArray()[0];
    return row === undefined ? null : PollRow.parse(row);
  }

  /** The latest poll, active or ended (what the panel and the overlay show). */
  readCurrent(): PollView | null {
    const row = this.#sql.exec('SELECT * FROM polls ORDER BY started_at DESC LIMIT 1').toArray()[0];
    return row === undefined ? null : this.#toView(PollRow.parse(row));
  }

  readView(pollId: string): PollView | null {
    const row = this.#read(pollId);
    return row ? this.#toView(row) : null;
  }

  /** The active poll's end, for the alarm; null when none runs. */
  readNextEnd(): number | null {
    const row = this.#sql.exec("SELECT MIN(ends_at) AS at FROM polls WHERE status = 'active'").one();
    return z.object({ at: z.nullable(z.number()) }).parse(row).at;
  }

  /** Ends every poll whose time is up; answers the ended ones (to announce). */
  endExpired(now: number): PollView[] {
    const due = this.#sql
      .exec("SELECT * FROM polls WHERE status = 'active' AND ends_at <= ?", now)
      .toArray()
      .map((row) => PollRow.parse(row));
    for (const poll of due)
      this.#sql.exec("UPDATE polls SET status = 'ended', ended_at = ends_at WHERE id = ?", poll.id);
    return due.map((poll) => this.readView(poll.id)).filter((view) => view !== null);
  }

  start(input: PollInput, now: number): EngagementOutcome<PollView> {
    this.endExpired(now);
    if (this.#sql.exec("SELECT 1 FROM polls WHERE status = 'active'").toArray().length > 0)
      return conflict('A poll is already running; end it first.');
    const id = crypto.randomUUID();
    const choices = input.choices.map((title) => ({ id: crypto.randomUUID(), title }));
    this.#sql.exec(
      `INSERT INTO polls (id, title, status, choices, points_per_vote, started_at, ends_at, ended_at)
       VALUES (?, ?, 'active', ?, ?, ?, ?, NULL)`,
      id,
      input.title,
      JSON.stringify(choices),
      input.pointsPerVote,
      now,
      now + input.durationSeconds * 1000,
    );
    return ok(this.#mustView(id));
  }

  vote(ballot: Ballot): EngagementOutcome<PollView> {
    const { now } = ballot;
    this.endExpired(now);
    const poll = this.#read(ballot.pollId);
    if (!poll) return notFound('Poll');
    const mine = this.#sql
      .exec(
        'SELECT choice_id, request_id FROM poll_ballots WHERE poll_id = ? AND user_id = ?',
        poll.id,
        ballot.userId,
      )
      .toArray()
      .map((row) => BallotRow.parse(row));
    if (mine.some((row) => row.request_id === ballot.requestId)) return ok(this.#toView(poll), true);
    if (poll.status !== 'active') return conflict('The poll has ended; votes are closed.');
    if (!Choices.parse(JSON.parse(poll.choices)).some((choice) => choice.id === ballot.choiceId))
      return invalid('No such choice in this poll.');
    if (ballot.extraVotes > 0 && poll.points_per_vote === null)
      return invalid('This poll does not take extra votes with channel points.');
    const first = mine[0];
    if (first !== undefined) {
      if (ballot.extraVotes === 0) return conflict('You already voted in this poll.');
      if (first.choice_id !== ballot.choiceId) return conflict('Extra votes go to the choice you voted for.');
    }
    if (ballot.extraVotes > 0 && poll.points_per_vote !== null) {
      const paid = this.#ledger.transfer({
        id: `vote:${poll.id}:${ballot.userId}:${ballot.requestId}`,
        kind: 'vote',
        from: userAccount(ballot.userId),
        to: POLLS_ACCOUNT,
        amount: ballot.extraVotes * poll.points_per_vote,
        now,
      });
      if (paid === 'insufficient') return NOT_ENOUGH_POINTS;
    }
    this.#sql.exec(
      'INSERT INTO poll_ballots (poll_id, user_id, request_id, choice_id, votes, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      poll.id,
      ballot.userId,
      ballot.requestId,
      ballot.choiceId,
      (first === undefined ? 1 : 0) + ballot.extraVotes,
      now,
    );
    return ok(this.#toView(poll));
  }

  /** Ends the poll now; an ended poll is a conflict (its results stay as they were). */
  end(pollId: string, now: number): EngagementOutcome<PollView> {
    this.endExpired(now);
    const poll = this.#read(pollId);
    if (!poll) return notFound('Poll');
    if (poll.status !== 'active') return conflict('The poll has already ended.');
    this.#sql.exec("UPDATE polls SET status = 'ended', ended_at = ? WHERE id = ?", now, poll.id);
    return ok(this.#mustView(poll.id));
  }

  /** The choice a viewer voted for in a poll, or null. */
  readChoice(pollId: string, userId: string): string | null {
    const row = this.#sql
      .exec(
        'SELECT choice_id, request_id FROM poll_ballots WHERE poll_id = ? AND user_id = ? LIMIT 1',
        pollId,
        userId,
      )
      .toArray()[0];
    return row === undefined ? null : BallotRow.parse(row).choice_id;
  }

  #mustView(pollId: string): PollView {
    const view = this.readView(pollId);
    if (!view) throw new Error('poll vanished after write');
    return view;
  }

  #toView(poll: PollRow): PollView {
    const totals = new Map(
      this.#sql
        .exec(
          'SELECT choice_id, SUM(votes) AS votes FROM poll_ballots WHERE poll_id = ? GROUP BY choice_id',
          poll.id,
        )
        .toArray()
        .map((row) => TotalRow.parse(row))
        .map((row) => [row.choice_id, row.votes]),
    );
    return {
      id: poll.id,
      title: poll.title,
      status: poll.status,
      choices: Choices.parse(JSON.parse(poll.choices)).map((choice) => ({
        ...choice,
        votes: totals.get(choice.id) ?? 0,
      })),
      points_per_vote: poll.points_per_vote,
      started_at: toIso(poll.started_at),
      ends_at: toIso(poll.ends_at),
      ended_at: poll.ended_at === null ? null : toIso(poll.ended_at),
    };
  }
}
