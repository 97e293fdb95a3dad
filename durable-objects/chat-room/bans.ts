// The room's bans and timeouts: in memory for the message path, in SQLite so an eviction forgets
// none. A timeout past its expiry is no longer active but stays until replaced or lifted.
import type { BanRecord } from '../chat/types.ts';
import type { RoomStorage } from './storage.ts';

export class BanList {
  readonly #storage: RoomStorage;
  readonly #bans = new Map<string, BanRecord>();

  constructor(storage: RoomStorage) {
    this.#storage = storage;
  }

  load(): void {
    for (const ban of this.#storage.readBans()) this.#bans.set(ban.user_id, ban);
  }

  /** The user's ban or timeout in force at `now`, or null. */
  findActive(userId: string, now: number): BanRecord | null {
    const ban = this.#bans.get(userId);
    if (!ban || (ban.expires_at !== null && ban.expires_at <= now)) return null;
    return ban;
  }

  listActive(now: number): BanRecord[] {
    return [...this.#bans.values()].filter((ban) => ban.expires_at === null || ban.expires_at > now);
  }

  add(ban: BanRecord): void {
    this.#bans.set(ban.user_id, ban);
    this.#storage.writeBan(ban);
  }

  remove(userId: string): void {
    this.#bans.delete(userId);
    this.#storage.deleteBan(userId);
  }
}
