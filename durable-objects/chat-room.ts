// The chat room of one channel (one instance per channel id): the single authority over who may
// say what. It applies rate limits, chat modes, bans and timeouts, parses emotes and badges, keeps
// the last messages for joiners, batches accepted messages every ~100 ms and fans each batch out
// to the ChatShards holding the channel's viewers. Bans, settings, history, the shard list and the
// unique-viewer sketch live in the object's SQLite, so an eviction or restart loses none of them.
import { DurableObject } from 'cloudflare:workers';
import { type ChatMessage, HISTORY_LENGTH, type RoomState } from '../protocol/chat.ts';
import { createEvent, type EventOf } from '../protocol/events.ts';
import { type ChatterProfile, isPrivileged, listBadges, pickColor } from './chat/badges.ts';
import { canPerform, isCommand, parseCommand } from './chat/commands.ts';
import {
  findChannelById,
  findChannelByName,
  findCurrentStreamId,
  findUser,
  loadChatterProfile,
  loadEmotes,
  writeChannelRole,
} from './chat/directory.ts';
import { type EmoteDefinition, isEmoteOnly, parseEmotes } from './chat/emotes.ts';
import { HyperLogLog } from './chat/hyperloglog.ts';
import {
  checkMessage,
  normalizeForUniqueChat,
  UNIQUE_CHAT_MAX_MESSAGES,
  UNIQUE_CHAT_WINDOW_MS,
} from './chat/rules.ts';
import { ShardFanout } from './chat/shard-fanout.ts';
import type {
  BanRecord,
  ChannelInfo,
  ChatSession,
  ChatSettings,
  FanoutBatch,
  FanoutEvent,
  JoinResult,
  ModerationAction,
  ModerationResult,
  SettingsPatch,
  SubmitResult,
} from './chat/types.ts';

/**
 * How many sockets one ChatShard holds before the room opens the next one. A shard sends one
 * WebSocket message per batch per socket (~10/s each, whatever the chat rate: sampling caps a
 * viewer at 20 messages/s, so a batch carries ~2 sampled messages plus the few that always pass),
 * and serializes each batch once, so its cost is sends per second, not messages per second.
 * Measured with bench/chat (wrangler dev, 2 shared cores, load average 4-7, 10 senders at
 * 100 msg/s, every message a priority one so every batch carries ~10): 1,000 sockets → ~9.6k
 * messages/s, every delivery made, p50 101 ms, p99 225 ms when the machine was quiet and 664 ms
 * when it was not; 5,000 sockets → saturated at ~4-5k messages/s (batches merge, p99 1.5-6 s).
 * Locally every shard, the room and wrangler's proxy share ONE workerd thread, so those figures
 * are what one thread sends for all of them: ~1,000 sockets. Half of that per shard keeps headroom
 * for load we do not control (the 664 ms run) while costing a 1,000-viewer room two RPCs a batch.
 */
export const SOCKETS_PER_SHARD = 500;
/** Seed: "Message batching: Batch messages per 100ms window → 1 batch per 100ms." */
export const BATCH_INTERVAL_MS = 100;
/** Seed: "Each WS server reports per-stream count every 10 seconds." */
export const VIEWER_REPORT_INTERVAL_MS = 10_000;
/** A shard that has not reported for this long is gone (crashed, evicted): its count no longer counts. */
export const STALE_REPORT_MS = 30_000;
/** viewer.count events go to the queue at most this often, and only when the count changed. */
const VIEWER_EVENT_INTERVAL_MS = 10_000;
/** Accepted messages go to the chat archive every 5 s or every 100 messages, whichever first. */
const ARCHIVE_INTERVAL_MS = 5_000;
const ARCHIVE_BATCH_SIZE = 100;
/** Roles, subscriptions and follows change rarely; a 30 s cache keeps D1 off the message path. */
const PROFILE_TTL_MS = 30_000;
const EMOTES_TTL_MS = 60_000;
const MAX_BANNED_WORDS = 500;

const DEFAULT_SETTINGS: ChatSettings = {
  slow_seconds: 0,
  subscribers_only: false,
  emote_only: false,
  followers_only_minutes: -1,
  unique_chat: false,
  banned_words: [],
};

/**
 * Where accepted messages go for VOD chat replay. A hook so the VOD engineer can point it at a
 * dedicated queue; today it rides on STREAM_EVENTS.
 */
async function sendToChatArchive(
  env: Env,
  event: EventOf<'chat.messages'> | EventOf<'chat.message_deleted'>,
): Promise<void> {
  await env.STREAM_EVENTS.send(event, { contentType: 'json' });
}

interface ShardLoad {
  count: number;
  reportedAt: number;
}

interface MessageRow {
  seq: number;
  id: string;
  user_id: string;
  login: string;
  frame: string;
  sent_at: number;
  [key: string]: SqlStorageValue;
}

export class ChatRoom extends DurableObject<Env> {
  /** Tests lower this to see shards open without a thousand sockets. */
  socketsPerShard = SOCKETS_PER_SHARD;

  private readonly sql: SqlStorage;
  private channel: ChannelInfo | null = null;
  private settings: ChatSettings = DEFAULT_SETTINGS;
  private readonly bans = new Map<string, BanRecord>();
  private readonly shards = new Map<string, ShardLoad>();
  /** Batches go out without the alarm waiting on shard round trips; see ShardFanout. */
  private readonly fanout = new ShardFanout(
    (name, batch) => this.env.CHAT_SHARD.getByName(name).deliver(batch),
    (name, error) => {
      console.error(
        JSON.stringify({
          level: 'error',
          msg: 'chat shard delivery failed',
          shard: name,
          error: String(error),
        }),
      );
    },
  );
  /** Sockets sent to a shard whose join has not arrived yet, so concurrent upgrades do not overfill it. */
  private readonly reserved = new Map<string, number>();
  private uniqueViewers = new HyperLogLog();
  private uniqueViewersDirty = false;
  private streamId: string | null = null;
  private pending: FanoutEvent[] = [];
  private lastFlushAt = 0;
  private lastSweepAt = 0;
  private lastViewerEventAt = 0;
  private lastViewerCount = -1;
  private lastPublishedViewerCount = -1;
  private alarmAt: number | null = null;
  private readonly lastMessageAt = new Map<string, number>();
  private recent: { normalized: string; at: number }[] = [];
  private readonly profiles = new Map<string, { profile: ChatterProfile; loadedAt: number }>();
  private emotes: { byName: Map<string, EmoteDefinition>; loadedAt: number } | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      this.migrate();
      this.loadState();
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  private migrate(): void {
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS bans (
        user_id TEXT PRIMARY KEY, login TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,
        moderator_id TEXT, created_at INTEGER NOT NULL, expires_at INTEGER);
      CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
        login TEXT NOT NULL, frame TEXT NOT NULL, sent_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS shards (name TEXT PRIMARY KEY, count INTEGER NOT NULL, reported_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS unique_viewers (id INTEGER PRIMARY KEY CHECK (id = 1), stream_id TEXT, registers BLOB NOT NULL);
    `);
  }

  private readMeta(key: string): string | null {
    const row = this.sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()[0];
    return row?.value ?? null;
  }

  private writeMeta(key: string, value: string): void {
    this.sql.exec('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', key, value);
  }

  private loadState(): void {
    const channel = this.readMeta('channel');
    if (channel) this.channel = JSON.parse(channel) as ChannelInfo;
    const settings = this.readMeta('settings');
    if (settings) this.settings = { ...DEFAULT_SETTINGS, ...(JSON.parse(settings) as Partial<ChatSettings>) };
    for (const row of this.sql.exec<BanRecord & Record<string, SqlStorageValue>>('SELECT * FROM bans')) {
      this.bans.set(row.user_id, { ...row, kind: row.kind === 'timeout' ? 'timeout' : 'ban' });
    }
    for (const row of this.sql.exec<{ name: string; count: number; reported_at: number }>(
      'SELECT * FROM shards',
    )) {
      this.shards.set(row.name, { count: row.count, reportedAt: row.reported_at });
    }
    const sketch = this.sql
      .exec<{ stream_id: string | null; registers: ArrayBuffer }>(
        'SELECT stream_id, registers FROM unique_viewers',
      )
      .toArray()[0];
    if (sketch) {
      this.streamId = sketch.stream_id;
      this.uniqueViewers = new HyperLogLog(new Uint8Array(sketch.registers));
    }
  }

  /** The room learns its channel from the first call (D1), then keeps it in SQLite. */
  private async bindChannel(channelId: string): Promise<ChannelInfo | null> {
    if (this.channel?.id === channelId) return this.channel;
    const channel = await findChannelById(this.env.DB, channelId);
    if (channel) {
      this.channel = channel;
      this.writeMeta('channel', JSON.stringify(channel));
    }
    return channel;
  }

  // ---- sockets and shards ----

  /** Picks the shard for a new JSON socket: fill shard 0 up to socketsPerShard, then 1, ... */
  async assignShard(channelId: string): Promise<string | null> {
    const channel = await this.bindChannel(channelId);
    if (!channel) return null;
    for (let n = 0; ; n++) {
      const name = `${channel.id}:${n}`;
      const load = (this.shards.get(name)?.count ?? 0) + (this.reserved.get(name) ?? 0);
      if (load < this.socketsPerShard) {
        this.reserved.set(name, (this.reserved.get(name) ?? 0) + 1);
        return name;
      }
    }
  }

  /** A socket of `shardName` joined: count it, count its viewer once per stream, greet it. */
  async join(
    channelId: string,
    shardName: string,
    session: ChatSession | null,
    visitorId: string,
  ): Promise<JoinResult | null> {
    const channel = await this.bindChannel(channelId);
    if (!channel) return null;
    const now = Date.now();
    const reserved = this.reserved.get(shardName) ?? 0;
    if (reserved > 0) this.reserved.set(shardName, reserved - 1);
    const load = this.shards.get(shardName);
    this.storeShardLoad(shardName, (load?.count ?? 0) + 1, now);
    if (this.uniqueViewers.add(session?.userId ?? `visitor:${visitorId}`)) this.uniqueViewersDirty = true;
    await this.scheduleAlarm(now);
    return {
      channel,
      roomState: this.readRoomState(),
      history: this.readHistory(),
      user: session ? await this.describeUser(channelId, session.userId) : null,
    };
  }

  /** How a user appears in this channel's chat (badges, colour); null for an unknown user. */
  async describeUser(channelId: string, userId: string): Promise<ChatMessage['user'] | null> {
    const channel = await this.bindChannel(channelId);
    if (!channel) return null;
    const profile = await this.getProfile(channel, userId, Date.now());
    return profile ? this.renderUser(profile) : null;
  }

  async leave(channelId: string, shardName: string): Promise<void> {
    if (this.channel?.id !== channelId) return;
    const load = this.shards.get(shardName);
    if (load) this.storeShardLoad(shardName, Math.max(0, load.count - 1), load.reportedAt);
  }

  /** A shard's periodic census: the latest report replaces whatever the room believed. */
  async reportViewers(channelId: string, shardName: string, count: number): Promise<void> {
    if (this.channel?.id !== channelId) await this.bindChannel(channelId);
    const now = Date.now();
    this.reserved.delete(shardName);
    this.storeShardLoad(shardName, count, now);
    await this.scheduleAlarm(now);
  }

  private storeShardLoad(name: string, count: number, reportedAt: number): void {
    this.shards.set(name, { count, reportedAt });
    this.sql.exec(
      'INSERT OR REPLACE INTO shards (name, count, reported_at) VALUES (?, ?, ?)',
      name,
      count,
      reportedAt,
    );
  }

  /** Viewers now: the sum of fresh reports. A shard that stopped reporting stops counting. */
  private countViewers(now: number): number {
    let total = 0;
    for (const load of this.shards.values())
      if (now - load.reportedAt <= STALE_REPORT_MS) total += load.count;
    return total;
  }

  /** For the API and tests: concurrent viewers, unique viewers this stream, open shards. */
  async readViewerStats(): Promise<{
    viewers: number;
    uniqueViewers: number;
    shards: Record<string, number>;
  }> {
    const now = Date.now();
    const shards: Record<string, number> = {};
    for (const [name, load] of this.shards)
      if (now - load.reportedAt <= STALE_REPORT_MS) shards[name] = load.count;
    return { viewers: this.countViewers(now), uniqueViewers: this.uniqueViewers.count(), shards };
  }

  // ---- messages ----

  async submit(channelId: string, session: ChatSession | null, content: string): Promise<SubmitResult> {
    const channel = await this.bindChannel(channelId);
    if (!channel) return { kind: 'error', code: 'invalid_frame', message: 'Unknown channel.' };
    if (!session) return { kind: 'error', code: 'unauthorized', message: 'Sign in to chat.' };
    if (isCommand(content)) return this.runCommand(channel, session, content);
    const now = Date.now();
    const profile = await this.getProfile(channel, session.userId, now);
    if (!profile) return { kind: 'error', code: 'unauthorized', message: 'Unknown user.' };
    const emotes = parseEmotes(
      content,
      await this.getEmotes(channel, now),
      profile.subscription !== null || profile.isBroadcaster,
    );
    this.recent = this.recent
      .filter((entry) => now - entry.at <= UNIQUE_CHAT_WINDOW_MS)
      .slice(-UNIQUE_CHAT_MAX_MESSAGES);
    const refusal = checkMessage({
      profile,
      content,
      state: this.readRoomState(),
      bannedWords: this.settings.banned_words,
      now,
      ban: this.findActiveBan(profile.id, now),
      lastMessageAt: this.lastMessageAt.get(profile.id) ?? null,
      emoteOnly: isEmoteOnly(content, emotes),
      recentContents: new Set(this.recent.map((entry) => entry.normalized)),
    });
    if (refusal) {
      return refusal.retryAfterMs === undefined
        ? { kind: 'error', code: refusal.code, message: refusal.message }
        : {
            kind: 'error',
            code: refusal.code,
            message: refusal.message,
            retryAfterMs: Math.ceil(refusal.retryAfterMs),
          };
    }
    const message: ChatMessage = {
      type: 'chat_message',
      id: crypto.randomUUID(),
      channel_id: channel.id,
      user: this.renderUser(profile),
      content,
      emotes,
      timestamp: new Date(now).toISOString(),
    };
    this.lastMessageAt.set(profile.id, now);
    this.recent.push({ normalized: normalizeForUniqueChat(content), at: now });
    this.sql.exec(
      'INSERT INTO messages (id, user_id, login, frame, sent_at) VALUES (?, ?, ?, ?, ?)',
      message.id,
      profile.id,
      profile.login,
      JSON.stringify(message),
      now,
    );
    this.enqueue({ kind: 'message', message, priority: isPrivileged(profile) });
    await this.scheduleAlarm(now);
    return { kind: 'accepted', messageId: message.id, user: message.user };
  }

  private async runCommand(
    channel: ChannelInfo,
    session: ChatSession,
    content: string,
  ): Promise<SubmitResult> {
    const parsed = parseCommand(content);
    if (!parsed.ok) {
      return parsed.code === 'unrecognized_cmd'
        ? { kind: 'error', code: 'unknown_command', message: parsed.message }
        : { kind: 'notice', code: parsed.code, message: parsed.message };
    }
    const result = await this.moderate(channel.id, session.userId, parsed.action);
    if (result.ok) return { kind: 'notice', code: result.code, message: result.message };
    if (result.status === 403) return { kind: 'error', code: 'forbidden', message: result.message };
    return { kind: 'notice', code: result.code, message: result.message };
  }

  private renderUser(profile: ChatterProfile): ChatMessage['user'] {
    return {
      id: profile.id,
      name: profile.login,
      display_name: profile.displayName,
      color: pickColor(profile.id),
      badges: listBadges(profile),
    };
  }

  private findActiveBan(userId: string, now: number): { expiresAt: number | null } | null {
    const ban = this.bans.get(userId);
    if (!ban) return null;
    if (ban.expires_at !== null && ban.expires_at <= now) return null;
    return { expiresAt: ban.expires_at };
  }

  private async getProfile(
    channel: ChannelInfo,
    userId: string,
    now: number,
  ): Promise<ChatterProfile | null> {
    const cached = this.profiles.get(userId);
    if (cached && now - cached.loadedAt < PROFILE_TTL_MS) return cached.profile;
    const profile = await loadChatterProfile(this.env.DB, channel, userId, now);
    if (profile) this.profiles.set(userId, { profile, loadedAt: now });
    return profile;
  }

  private async getEmotes(channel: ChannelInfo, now: number): Promise<Map<string, EmoteDefinition>> {
    if (this.emotes && now - this.emotes.loadedAt < EMOTES_TTL_MS) return this.emotes.byName;
    const byName = await loadEmotes(this.env.DB, channel.id);
    this.emotes = { byName, loadedAt: now };
    return byName;
  }

  /** Called by the emotes API after a change, so new emotes render at once. */
  async invalidateEmotes(): Promise<void> {
    this.emotes = null;
  }

  private readHistory(): ChatMessage[] {
    const rows = this.sql
      .exec<MessageRow>('SELECT * FROM messages ORDER BY seq DESC LIMIT ?', HISTORY_LENGTH)
      .toArray()
      .reverse();
    return rows.map((row) => JSON.parse(row.frame) as ChatMessage);
  }

  private readRoomState(): RoomState {
    const { banned_words: _bannedWords, ...state } = this.settings;
    return state;
  }

  // ---- moderation (chat commands and REST share this) ----

  async getSettings(channelId: string): Promise<ChatSettings | null> {
    return (await this.bindChannel(channelId)) ? this.settings : null;
  }

  async listBans(channelId: string): Promise<BanRecord[] | null> {
    if (!(await this.bindChannel(channelId))) return null;
    const now = Date.now();
    return [...this.bans.values()].filter((ban) => ban.expires_at === null || ban.expires_at > now);
  }

  /** Whether a user may moderate this channel at all (broadcaster or moderator). */
  async canModerate(channelId: string, userId: string): Promise<boolean> {
    const channel = await this.bindChannel(channelId);
    if (!channel) return false;
    const profile = await this.getProfile(channel, userId, Date.now());
    return profile !== null && isPrivileged(profile);
  }

  async moderate(channelId: string, actorId: string, action: ModerationAction): Promise<ModerationResult> {
    const channel = await this.bindChannel(channelId);
    if (!channel) return { ok: false, status: 404, code: 'not_found', message: 'Channel not found.' };
    const now = Date.now();
    const actor = await this.getProfile(channel, actorId, now);
    if (!actor || !canPerform(actor, action)) {
      return {
        ok: false,
        status: 403,
        code: 'no_permission',
        message: 'You do not have permission to do that.',
      };
    }
    switch (action.kind) {
      case 'ban':
        return this.banUser(channel, actor, action.target, null, action.reason, now);
      case 'timeout':
        return this.banUser(channel, actor, action.target, action.seconds, action.reason, now);
      case 'unban':
        return this.unbanUser(channel, action.target, now);
      case 'delete':
        return this.deleteMessage(channel, actor, action.messageId, now);
      case 'settings':
        return this.updateSettings(action.patch, now);
      case 'clear':
        this.sql.exec('DELETE FROM messages');
        this.enqueue({ kind: 'clear_chat' });
        await this.scheduleAlarm(now);
        return { ok: true, code: 'clear_success', message: 'Chat was cleared.' };
      case 'role':
        return this.changeRole(channel, actor, action.role, action.grant, action.target, now);
      case 'raid':
        return this.startRaid(channel, action.target, now);
    }
  }

  private async banUser(
    channel: ChannelInfo,
    actor: ChatterProfile,
    target: string,
    seconds: number | null,
    reason: string,
    now: number,
  ): Promise<ModerationResult> {
    const verb = seconds === null ? 'ban' : 'timeout';
    const user = await findUser(this.env.DB, target);
    if (!user) return { ok: false, status: 404, code: 'invalid_user', message: `No user named ${target}.` };
    if (user.userId === actor.id)
      return { ok: false, status: 422, code: `bad_${verb}_self`, message: `You cannot ${verb} yourself.` };
    if (user.userId === channel.ownerId) {
      return {
        ok: false,
        status: 422,
        code: `bad_${verb}_broadcaster`,
        message: `You cannot ${verb} the broadcaster.`,
      };
    }
    const targetProfile = await this.getProfile(channel, user.userId, now);
    // Twitch: a moderator cannot ban or time out another moderator; only the broadcaster can.
    if (targetProfile?.isModerator && !actor.isBroadcaster) {
      return { ok: false, status: 403, code: `bad_${verb}_mod`, message: `You cannot ${verb} a moderator.` };
    }
    const ban: BanRecord = {
      user_id: user.userId,
      login: user.login.toLowerCase(),
      kind: verb,
      reason: reason.slice(0, 500),
      moderator_id: actor.id,
      created_at: now,
      expires_at: seconds === null ? null : now + seconds * 1000,
    };
    this.bans.set(ban.user_id, ban);
    this.sql.exec(
      'INSERT OR REPLACE INTO bans (user_id, login, kind, reason, moderator_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ban.user_id,
      ban.login,
      ban.kind,
      ban.reason,
      ban.moderator_id,
      ban.created_at,
      ban.expires_at,
    );
    // Joiners must not see the removed user's messages in history either.
    this.sql.exec('DELETE FROM messages WHERE user_id = ?', ban.user_id);
    this.enqueue({ kind: 'clear_user', userId: ban.user_id, login: ban.login, durationSeconds: seconds });
    await this.env.MODERATION_EVENTS.send(
      createEvent('moderation.ban', {
        channel_id: channel.id,
        user_id: ban.user_id,
        moderator_id: actor.id,
        reason: ban.reason,
        expires_at: ban.expires_at,
      }),
      { contentType: 'json' },
    );
    await this.scheduleAlarm(now);
    return seconds === null
      ? { ok: true, code: 'ban_success', message: `${ban.login} is now banned from this channel.` }
      : {
          ok: true,
          code: 'timeout_success',
          message: `${ban.login} has been timed out for ${seconds} seconds.`,
        };
  }

  private async unbanUser(channel: ChannelInfo, target: string, now: number): Promise<ModerationResult> {
    const user = await findUser(this.env.DB, target);
    const ban = user ? this.bans.get(user.userId) : undefined;
    if (!user || !ban || (ban.expires_at !== null && ban.expires_at <= now)) {
      return {
        ok: false,
        status: 404,
        code: 'bad_unban_no_ban',
        message: `${target} is not banned from this channel.`,
      };
    }
    this.bans.delete(user.userId);
    this.sql.exec('DELETE FROM bans WHERE user_id = ?', user.userId);
    await this.env.MODERATION_EVENTS.send(
      createEvent('moderation.unban', { channel_id: channel.id, user_id: user.userId }),
      { contentType: 'json' },
    );
    return ban.kind === 'timeout'
      ? {
          ok: true,
          code: 'untimeout_success',
          message: `${ban.login} is no longer timed out in this channel.`,
        }
      : { ok: true, code: 'unban_success', message: `${ban.login} is no longer banned from this channel.` };
  }

  private async deleteMessage(
    channel: ChannelInfo,
    actor: ChatterProfile,
    messageId: string,
    now: number,
  ): Promise<ModerationResult> {
    const row = this.sql.exec<MessageRow>('SELECT * FROM messages WHERE id = ?', messageId).toArray()[0];
    if (!row)
      return { ok: false, status: 404, code: 'bad_delete_message_error', message: 'No such message.' };
    const message = JSON.parse(row.frame) as ChatMessage;
    const authorIsPrivileged = message.user.badges.some(
      (b) => b.id === 'broadcaster' || b.id === 'moderator',
    );
    if (authorIsPrivileged && !actor.isBroadcaster) {
      return {
        ok: false,
        status: 403,
        code: 'bad_delete_message_mod',
        message: 'You cannot delete messages of the broadcaster or another moderator.',
      };
    }
    this.sql.exec('DELETE FROM messages WHERE id = ?', messageId);
    this.enqueue({ kind: 'delete', messageId, login: row.login, content: message.content });
    await sendToChatArchive(
      this.env,
      createEvent('chat.message_deleted', { channel_id: channel.id, message_id: messageId }),
    );
    await this.scheduleAlarm(now);
    return { ok: true, code: 'delete_message_success', message: 'The message was deleted.' };
  }

  private async updateSettings(patch: SettingsPatch, now: number): Promise<ModerationResult> {
    const bannedWords = patch.banned_words
      ?.map((word) => word.trim().toLowerCase())
      .filter((word) => word.length > 0);
    if (bannedWords && bannedWords.length > MAX_BANNED_WORDS) {
      return {
        ok: false,
        status: 422,
        code: 'too_many_banned_words',
        message: `At most ${MAX_BANNED_WORDS} banned words.`,
      };
    }
    const before = this.settings;
    this.settings = {
      ...before,
      ...patch,
      banned_words: bannedWords ? [...new Set(bannedWords)] : before.banned_words,
    };
    this.writeMeta('settings', JSON.stringify(this.settings));
    this.enqueue({ kind: 'room_state', state: this.readRoomState() });
    await this.scheduleAlarm(now);
    return describeSettingsChange(patch, this.settings);
  }

  private async changeRole(
    channel: ChannelInfo,
    actor: ChatterProfile,
    role: 'moderator' | 'vip',
    grant: boolean,
    target: string,
    now: number,
  ): Promise<ModerationResult> {
    const user = await findUser(this.env.DB, target);
    if (!user) return { ok: false, status: 404, code: 'invalid_user', message: `No user named ${target}.` };
    if (user.userId === channel.ownerId) {
      return {
        ok: false,
        status: 422,
        code: 'bad_role_broadcaster',
        message: 'The broadcaster already has every role.',
      };
    }
    await writeChannelRole(this.env.DB, channel.id, user.userId, role, grant, actor.id, now);
    this.profiles.delete(user.userId);
    const name = role === 'moderator' ? 'mod' : 'vip';
    return grant
      ? {
          ok: true,
          code: `${name}_success`,
          message: `You have added ${user.login} as a ${role} of this channel.`,
        }
      : {
          ok: true,
          code: `un${name}_success`,
          message: `You have removed ${user.login} as a ${role} of this channel.`,
        };
  }

  private async startRaid(channel: ChannelInfo, target: string, now: number): Promise<ModerationResult> {
    const to = (await findChannelByName(this.env.DB, target)) ?? (await findChannelById(this.env.DB, target));
    if (!to)
      return { ok: false, status: 404, code: 'raid_error_unknown', message: `No channel named ${target}.` };
    if (to.id === channel.id)
      return { ok: false, status: 422, code: 'raid_error_self', message: 'A channel cannot raid itself.' };
    const viewers = this.countViewers(now);
    this.enqueue({ kind: 'raid_out', to: { id: to.id, name: to.name }, viewers });
    await this.scheduleAlarm(now);
    await this.env.CHAT_ROOM.getByName(to.id).receiveRaid(
      to.id,
      { id: channel.id, name: channel.name, displayName: channel.displayName },
      viewers,
    );
    return { ok: true, code: 'raid_success', message: `Raiding ${to.name} with ${viewers} viewers.` };
  }

  /** The raided side: its chat learns who arrives (USERNOTICE msg-id=raid on IRC). */
  async receiveRaid(
    channelId: string,
    from: { id: string; name: string; displayName: string },
    viewers: number,
  ): Promise<void> {
    if (!(await this.bindChannel(channelId))) return;
    this.enqueue({ kind: 'raid_in', from, viewers });
    await this.scheduleAlarm(Date.now());
  }

  // ---- the alarm: batches, viewer census, archive ----

  private enqueue(event: FanoutEvent): void {
    this.pending.push(event);
  }

  /** One alarm drives every timer; it is set only while there is something to do. */
  private async scheduleAlarm(now: number): Promise<void> {
    const next = this.computeNextAlarm(now);
    if (next === null) return;
    if (this.alarmAt !== null && this.alarmAt <= next) return;
    this.alarmAt = next;
    await this.ctx.storage.setAlarm(next);
  }

  private computeNextAlarm(now: number): number | null {
    const candidates: number[] = [];
    if (this.pending.length > 0) candidates.push(Math.max(now, this.lastFlushAt + BATCH_INTERVAL_MS));
    const oldestUnarchived = this.readOldestUnarchivedAt();
    if (oldestUnarchived !== null) candidates.push(oldestUnarchived + ARCHIVE_INTERVAL_MS);
    if (this.countViewers(now) > 0 || this.shards.size > 0)
      candidates.push(this.lastSweepAt + VIEWER_REPORT_INTERVAL_MS);
    return candidates.length > 0 ? Math.max(now, Math.min(...candidates)) : null;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    this.flushBatch(now);
    await this.flushArchive(now);
    if (now - this.lastSweepAt >= VIEWER_REPORT_INTERVAL_MS) await this.sweepViewers(now);
    await this.scheduleAlarm(Date.now());
  }

  private flushBatch(now: number): void {
    if (this.pending.length === 0 || !this.channel) return;
    const events = this.pending;
    this.pending = [];
    const windowMs = Math.min(1000, Math.max(BATCH_INTERVAL_MS, now - this.lastFlushAt));
    this.lastFlushAt = now;
    const batch: FanoutBatch = { channel: this.channel, windowMs, events };
    const targets = [...this.shards]
      .filter(([, load]) => load.count > 0 && now - load.reportedAt <= STALE_REPORT_MS)
      .map(([name]) => name);
    this.fanout.send(targets, batch);
  }

  private readOldestUnarchivedAt(): number | null {
    const cursor = Number(this.readMeta('archived_seq') ?? 0);
    const row = this.sql
      .exec<{ sent_at: number }>('SELECT sent_at FROM messages WHERE seq > ? ORDER BY seq LIMIT 1', cursor)
      .toArray()[0];
    return row?.sent_at ?? null;
  }

  /** Sends unarchived messages in chunks, then trims history to what joiners need. */
  private async flushArchive(now: number): Promise<void> {
    if (!this.channel) return;
    const oldest = this.readOldestUnarchivedAt();
    if (oldest === null) return;
    let cursor = Number(this.readMeta('archived_seq') ?? 0);
    const backlog = this.sql
      .exec<{ n: number }>('SELECT count(*) AS n FROM messages WHERE seq > ?', cursor)
      .one().n;
    if (now - oldest < ARCHIVE_INTERVAL_MS && backlog < ARCHIVE_BATCH_SIZE) return;
    for (;;) {
      const rows = this.sql
        .exec<MessageRow>(
          'SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?',
          cursor,
          ARCHIVE_BATCH_SIZE,
        )
        .toArray();
      const last = rows.at(-1);
      if (!last) break;
      const messages = rows.map((row) => {
        const message = JSON.parse(row.frame) as ChatMessage;
        return {
          id: row.id,
          user_id: row.user_id,
          user_name: row.login,
          display_name: message.user.display_name,
          color: message.user.color,
          badges: message.user.badges,
          emotes: message.emotes,
          content: message.content,
          sent_at: row.sent_at,
        };
      });
      await sendToChatArchive(
        this.env,
        createEvent('chat.messages', { channel_id: this.channel.id, stream_id: this.streamId, messages }),
      );
      cursor = last.seq;
      this.writeMeta('archived_seq', String(cursor));
    }
    this.sql.exec(
      'DELETE FROM messages WHERE seq <= ? AND seq <= (SELECT max(seq) FROM messages) - ?',
      cursor,
      HISTORY_LENGTH,
    );
  }

  /** Every ~10 s while anyone watches: drop stale shards, push the count, publish it on change. */
  private async sweepViewers(now: number): Promise<void> {
    this.lastSweepAt = now;
    if (!this.channel) return;
    for (const [name, load] of this.shards) {
      if (now - load.reportedAt > STALE_REPORT_MS || load.count === 0) {
        this.shards.delete(name);
        this.sql.exec('DELETE FROM shards WHERE name = ?', name);
      }
    }
    const viewers = this.countViewers(now);
    if (viewers !== this.lastViewerCount) {
      this.lastViewerCount = viewers;
      this.enqueue({ kind: 'viewer_count', count: viewers });
      this.flushBatch(now);
    }
    const streamId = await findCurrentStreamId(this.env.DB, this.channel.id);
    if (streamId !== this.streamId) {
      // Unique viewers are counted per stream: a new stream starts a new sketch.
      this.streamId = streamId;
      this.uniqueViewers = new HyperLogLog();
      this.uniqueViewersDirty = true;
    }
    if (this.uniqueViewersDirty) {
      this.uniqueViewersDirty = false;
      this.sql.exec(
        'INSERT OR REPLACE INTO unique_viewers (id, stream_id, registers) VALUES (1, ?, ?)',
        this.streamId,
        this.uniqueViewers.registers,
      );
    }
    if (
      viewers !== this.lastPublishedViewerCount &&
      now - this.lastViewerEventAt >= VIEWER_EVENT_INTERVAL_MS
    ) {
      this.lastPublishedViewerCount = viewers;
      this.lastViewerEventAt = now;
      await this.env.VIEWER_EVENTS.send(
        createEvent('viewer.count', {
          channel_id: this.channel.id,
          stream_id: this.streamId,
          viewers,
          unique_viewers: this.uniqueViewers.count(),
        }),
        { contentType: 'json' },
      );
    }
  }
}

/** The Twitch msg-id for a one-mode change (what tmi.js listens for), or a generic one. */
function describeSettingsChange(patch: SettingsPatch, settings: ChatSettings): ModerationResult {
  const keys = Object.keys(patch);
  if (keys.length === 1) {
    if (patch.slow_seconds !== undefined) {
      return patch.slow_seconds > 0
        ? {
            ok: true,
            code: 'slow_on',
            message: `This room is now in slow mode. You may send messages every ${patch.slow_seconds} seconds.`,
          }
        : { ok: true, code: 'slow_off', message: 'This room is no longer in slow mode.' };
    }
    if (patch.subscribers_only !== undefined) {
      return patch.subscribers_only
        ? { ok: true, code: 'subs_on', message: 'This room is now in subscribers-only mode.' }
        : { ok: true, code: 'subs_off', message: 'This room is no longer in subscribers-only mode.' };
    }
    if (patch.emote_only !== undefined) {
      return patch.emote_only
        ? { ok: true, code: 'emote_only_on', message: 'This room is now in emote-only mode.' }
        : { ok: true, code: 'emote_only_off', message: 'This room is no longer in emote-only mode.' };
    }
    if (patch.followers_only_minutes !== undefined) {
      if (patch.followers_only_minutes < 0) {
        return { ok: true, code: 'followers_off', message: 'This room is no longer in followers-only mode.' };
      }
      return patch.followers_only_minutes === 0
        ? { ok: true, code: 'followers_on_zero', message: 'This room is now in followers-only mode.' }
        : {
            ok: true,
            code: 'followers_on',
            message: `This room is now in ${patch.followers_only_minutes} minutes followers-only mode.`,
          };
    }
    if (patch.unique_chat !== undefined) {
      return patch.unique_chat
        ? { ok: true, code: 'r9k_on', message: 'This room is now in unique-chat mode.' }
        : { ok: true, code: 'r9k_off', message: 'This room is no longer in unique-chat mode.' };
    }
  }
  return {
    ok: true,
    code: 'room_settings_updated',
    message: `Chat settings updated (${settings.banned_words.length} banned words).`,
  };
}
