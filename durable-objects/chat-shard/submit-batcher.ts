// How a shard hands its users' messages to their channel's room without one RPC per message
// (docs/capacity.md, "shards pre-aggregate"). Per channel, at most one submitBatch call is in
// flight; messages arriving meanwhile wait and go together in the next call, in arrival order. So
// a quiet channel pays nothing extra (a lone message goes at once, a batch of one) and a busy one
// sends the room about one call per round trip per shard, however many users are typing: the
// room's call rate follows its own speed, not the message rate. Every user's rate was already
// checked here (flood-control.ts) before a message is queued; the room re-checks its own rules.
import { MAX_SUBMIT_BATCH, type SubmitRequest, type SubmitResult } from '../chat/types.ts';
/**
 * Messages waiting behind the call in flight, per channel. Past it the shard answers "busy" at once
 * instead of holding more: at a full queue the room is already a whole batch behind.
 */
export const MAX_WAITING_SUBMITS = 1_000;

export type SendBatch = (requests: SubmitRequest[]) => Promise<SubmitResult[]>;

interface Waiting {
  request: SubmitRequest;
  resolve: (result: SubmitResult) => void;
  reject: (error: unknown) => void;
}

const BUSY: SubmitResult = {
  kind: 'error',
  code: 'rate_limited',
  message: 'Chat is very busy right now; try again in a moment.',
  retryAfterMs: 1_000,
};

export class SubmitBatcher {
  readonly #send: SendBatch;
  #waiting: Waiting[] = [];
  #inFlight = false;

  constructor(send: SendBatch) {
    this.#send = send;
  }

  /** Resolves with the room's answer to this message, or rejects when the call carrying it failed. */
  submit(request: SubmitRequest): Promise<SubmitResult> {
    if (this.#waiting.length >= MAX_WAITING_SUBMITS) return Promise.resolve(BUSY);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ request, resolve, reject });
      if (!this.#inFlight) void this.#drain();
    });
  }

  /** True while a call is out or messages wait: the shard keeps the batcher while so. */
  get busy(): boolean {
    return this.#inFlight || this.#waiting.length > 0;
  }

  async #drain(): Promise<void> {
    this.#inFlight = true;
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, MAX_SUBMIT_BATCH);
        try {
          const results = await this.#send(batch.map((w) => w.request));
          batch.forEach((w, i) => {
            const result = results[i];
            if (result) w.resolve(result);
            else w.reject(new Error('the room answered fewer results than messages'));
          });
        } catch (error) {
          // The call failed as a whole: each message fails as a lone submit would have.
          for (const w of batch) w.reject(error);
        }
      }
    } finally {
      this.#inFlight = false;
    }
  }
}
