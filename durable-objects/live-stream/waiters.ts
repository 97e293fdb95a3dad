// Requests held by the LiveStream object until what they ask for exists: a blocking playlist reload
// until its part is listed, a hinted part until it is uploaded. Requests for the same thing share
// one entry (one promise, one timer), released by the commit that makes it answerable (nothing
// polls) or by its timeout. The bound is on distinct entries, not requests: a whole audience
// waiting on the live edge costs one entry per rendition, while a flood of distinct requests must
// not grow the object's memory and timers without limit while it also takes the ingest commits
// (docs/security.md).
import type { RenditionName } from '../../protocol/ingest.ts';

interface Entry {
  rendition: RenditionName;
  isReady: () => boolean;
  promise: Promise<boolean>;
  settle: (ready: boolean) => void;
}

export class Waiters {
  readonly #entries = new Map<string, Entry>();
  readonly #limit: () => number;

  /** `limit` is read at each new entry, so the object's current timings apply. */
  constructor(limit: () => number) {
    this.#limit = limit;
  }

  /** Distinct things awaited right now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Resolves true once `isReady` holds after an update of `rendition` (or releaseAll), false after
   * `timeoutMs`. `key` names what is awaited (the same key, the same condition): a request for a key
   * already awaited joins that entry and its deadline, at no cost to the bound. Null at once,
   * holding nothing, when a new entry would pass the bound.
   */
  wait(
    key: string,
    rendition: RenditionName,
    isReady: () => boolean,
    timeoutMs: number,
  ): Promise<boolean> | null {
    const existing = this.#entries.get(key);
    if (existing) return existing.promise;
    if (this.#entries.size >= this.#limit()) return null;
    let resolve: (ready: boolean) => void = () => {};
    const promise = new Promise<boolean>((done) => {
      resolve = done;
    });
    const timer = setTimeout(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
      resolve(false);
    }, timeoutMs);
    const entry: Entry = {
      rendition,
      isReady,
      promise,
      settle: (ready) => {
        clearTimeout(timer);
        resolve(ready);
      },
    };
    this.#entries.set(key, entry);
    return promise;
  }

  /** Releases the entries of `rendition` whose condition now holds. */
  release(rendition: RenditionName): void {
    for (const [key, entry] of this.#entries) {
      if (entry.rendition === rendition && entry.isReady()) {
        this.#entries.delete(key);
        entry.settle(true);
      }
    }
  }

  /** Releases every entry as answerable (the stream ended: the playlist has ENDLIST). */
  releaseAll(): void {
    for (const [key, entry] of this.#entries) {
      this.#entries.delete(key);
      entry.settle(true);
    }
  }
}
