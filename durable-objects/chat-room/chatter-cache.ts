// Who chatters are in this channel (roles, subscription, follow) and which emotes exist, read from
// D1 and cached briefly: they change rarely, and a D1 query per message would put D1 on the hot path.
import type { ChatterProfile } from '../chat/badges.ts';
import { loadChatterProfile, loadEmotes } from '../chat/directory.ts';
import type { EmoteDefinition } from '../chat/emotes.ts';
import type { ChannelInfo } from '../chat/types.ts';

/** Roles, subscriptions and follows change rarely; a 30 s cache keeps D1 off the message path. */
const PROFILE_TTL_MS = 30_000;
const EMOTES_TTL_MS = 60_000;

export class ChatterCache {
  readonly #db: D1Database;
  readonly #profiles = new Map<string, { profile: ChatterProfile; loadedAt: number }>();
  #emotes: { byName: Map<string, EmoteDefinition>; loadedAt: number } | null = null;

  constructor(db: D1Database) {
    this.#db = db;
  }

  async getProfile(channel: ChannelInfo, userId: string, now: number): Promise<ChatterProfile | null> {
    const cached = this.#profiles.get(userId);
    if (cached && now - cached.loadedAt < PROFILE_TTL_MS) return cached.profile;
    const profile = await loadChatterProfile(this.#db, channel, userId, now);
    if (profile) this.#profiles.set(userId, { profile, loadedAt: now });
    return profile;
  }

  /** A role changed: the next lookup reads D1. */
  forgetProfile(userId: string): void {
    this.#profiles.delete(userId);
  }

  async getEmotes(channel: ChannelInfo, now: number): Promise<Map<string, EmoteDefinition>> {
    if (this.#emotes && now - this.#emotes.loadedAt < EMOTES_TTL_MS) return this.#emotes.byName;
    const byName = await loadEmotes(this.#db, channel.id);
    this.#emotes = { byName, loadedAt: now };
    return byName;
  }

  forgetEmotes(): void {
    this.#emotes = null;
  }
}
