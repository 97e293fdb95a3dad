// Requests held by the LiveStream object until what they ask for exists: a blocking playlist reload
// until its part is listed, a hinted part until it is uploaded. Each waiter is a promise released
// by the commit that makes it answerable (nothing polls), or by its timeout. The number held at
// once is bounded: a flood of distinct requests must not grow the object's memory and timers
// without limit while it also has to take the ingest commits (docs/security.md).
import type { RenditionName } from '../../protocol/ingest.ts';

interface Waiter {
  rendition: RenditionName;
  isReady: () => boolean;
  settle: (ready: boolean) => void;
}

export class Waiters {
  readonly #waiters = new Set<Waiter>();
  readonly #limit: () => number;

  /** `limit` is read at each wait, so the object's current timings apply. */
  constructor(limit: () => number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Resolves true once `isReady` holds after an update of `rendition` (or releaseAll), false after
   * `timeoutMs`. Null at once, holding nothing, when the bound is reached.
   */
  wait(rendition: RenditionName, isReady: () => boolean, timeoutMs: number): Promise<boolean> | null {
    if (this.#waiters.size >= this.#limit()) return null;
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        rendition,
        isReady,
        settle: (ready) => {
          clearTimeout(timer);
          resolve(ready);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Releases the waiters of `rendition` whose condition now holds. */
  release(rendition: RenditionName): void {
    for (const waiter of this.#waiters) {
      if (waiter.rendition === rendition && waiter.isReady()) {
        this.#waiters.delete(waiter);
        waiter.settle(true);
      }
    }
  }

  /** Releases every waiter as answerable (the stream ended: the playlist has ENDLIST). */
  releaseAll(): void {
    for (const waiter of this.#waiters) {
      this.#waiters.delete(waiter);
      waiter.settle(true);
    }
  }
}
