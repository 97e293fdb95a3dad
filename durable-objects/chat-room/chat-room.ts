// The chat room of one channel (one instance per channel id): the single authority over who may
// say what. It applies rate limits, chat modes, bans and timeouts, parses emotes and badges, keeps
// the last messages for joiners, batches accepted messages every ~100 ms and fans each batch out
// to the ChatShards holding the channel's viewers. Bans, settings, history, the shard list and the
// unique-viewer sketch live in the object's SQLite (storage.ts), so an eviction or restart loses
// none of them. This file is the RPC surface and the one alarm; moderation.ts, archive.ts,
// viewer-census.ts and bans.ts hold the rest, each behind a narrow interface. It stays one file
// over 400 lines because it is one Durable Object class: every RPC method binds the channel and
// delegates, and a class cannot be split across modules without a second object.
import { DurableObject } from 'cloudflare:workers';
import * as z from 'zod/mini';
import { type Logger, log } from '../../common/log.ts';
import { type ChatMessage, HISTORY_LENGTH, type RoomState } from '../../protocol/chat.ts';
import type { EngagementFrame } from '../../protocol/engagement.ts';
import { createEvent, type EventOf } from '../../protocol/events.ts';
import { flushOutboxAfterCommit } from '../../workers/eventsub/outbox.ts';
import { AutoSlowMode } from '../chat/auto-slow.ts';
import { reviewMessage } from '../chat/automod.ts';
import { type ChatterProfile, isPrivileged } from '../chat/badges.ts';
import { isCommand, parseCommand } from '../chat/commands.ts';
import { describeForbiddenCharacters, stripNameInvisibles } from '../chat/control-characters.ts';
import { findChannelById, findCurrentStreamId } from '../chat/directory.ts';
import { type ChatterPage, IrcMembership, MAX_MEMBERS } from '../chat/irc-membership.ts';
import { planFanout, RELAY_GROUP_SIZE, ShardFanout } from '../chat/shard-fanout.ts';
import { describeSubNotice } from '../chat/sub-notices.ts';
import {
  type AutomodOutcome,
  type BanRecord,
  type ChannelInfo,
  type ChatSession,
  type ChatSettings,
  type FanoutEvent,
  type JoinResult,
  MAX_SUBMIT_BATCH,
  type ModerationAction,
  type ModerationOutcome,
  type RaidReception,
  type SubmitRequest,
  type SubmitResult,
  type SubscriptionAnnouncement,
} from '../chat/types.ts';
import { metrics } from '../metrics/recorder.ts';
import { ChatArchive } from './archive.ts';
import { AutomodQueue, type HeldMessage } from './automod-queue.ts';
import { BanList } from './bans.ts';
import { ChatterCache } from './chatter-cache.ts';
import { spendCheer } from './cheer-spend.ts';
import { MessageIntake, renderUser } from './message-intake.ts';
import { isActingModerator, RoomModeration } from './moderation.ts';
import {
  type ResubShareReply,
  type ResubShareState,
  readResubShare,
  recordResubShare,
} from './resub-share.ts';
import { DEFAULT_SETTINGS, RoomStorage } from './storage.ts';
import type { PresenceOutcome, PresenceViewer } from './video-presence.ts';
import { VIEWER_REPORT_INTERVAL_MS, ViewerCensus, type ViewerStats } from './viewer-census.ts';

export { STALE_REPORT_MS, VIEWER_REPORT_INTERVAL_MS } from './viewer-census.ts';

/**
 * How many sockets one ChatShard holds before the room opens the next one (the default of the
 * CHAT_SOCKETS_PER_SHARD var). A shard sends one WebSocket message per batch per socket (~10/s
 * each, whatever the chat rate), and serializes each batch once, so its cost is sends per second.
 * Measured with bench/chat (wrangler dev, 2 shared cores, 10 senders at 100 msg/s): 1,000 sockets
 * → ~9.6k messages/s, p50 101 ms, p99 225 ms quiet and 664 ms on a loaded machine; 5,000 sockets
 * saturated one workerd thread. Half of that per shard keeps headroom for load we do not control
 * while costing a 1,000-viewer room two RPCs a batch (docs/benchmarks.md).
 */
export const SOCKETS_PER_SHARD = 500;
/** Seed: "Message batching: Batch messages per 100ms window → 1 batch per 100ms." */
export const BATCH_INTERVAL_MS = 100;
/** viewer.count events go to the queue at most this often, and only when the count changed. */
const VIEWER_EVENT_INTERVAL_MS = 10_000;
/** After a failed archive send the next try waits this long; other duties go on meanwhile. */
const ARCHIVE_RETRY_MS = 5_000;

/** Twitch's words for a held message (IRC NOTICE msg-id=msg_rejected). */
export const AUTOMOD_HELD_NOTICE = 'Hey! Your message is being checked by mods and has not been sent.';

const RoomConfig = z.object({
  CHAT_SOCKETS_PER_SHARD: z.optional(z.coerce.number().check(z.int(), z.positive())),
  CHAT_RELAY_GROUP_SIZE: z.optional(z.coerce.number().check(z.int(), z.positive())),
});

export class ChatRoom extends DurableObject<Env> {
  readonly #socketsPerShard: number;
  /** Shards per relay group (chat/shard-fanout.ts); the room calls each shard directly up to it. */
  readonly #relayGroupSize: number;
  readonly #storage: RoomStorage;
  readonly #bans: BanList;
  readonly #census: ViewerCensus;
  readonly #archive: ChatArchive;
  readonly #moderation: RoomModeration;
  #log: Logger = log.child({ class: 'ChatRoom' });
  #channel: ChannelInfo | null = null;
  #settings: ChatSettings = DEFAULT_SETTINGS;
  /** Batches go out without the alarm waiting on shard round trips; see ShardFanout. */
  readonly #fanout = new ShardFanout(
    (name, batch, forward) => {
      metrics.add({ env: this.env, ctx: this.ctx }, 'edgestream_chat_room_calls_total', { call: 'deliver' });
      return this.env.CHAT_SHARD.getByName(name).deliver(batch, forward);
    },
    (name, error) => this.#log.error('chat_shard_delivery_failed', { shard: name, error }),
  );
  #pending: FanoutEvent[] = [];
  #lastFlushAt = 0;
  /** Not #private: the viewer-count test makes the 10 s census due (time cannot be advanced in workerd). */
  private lastSweepAt = 0;
  #archiveRetryAt = 0;
  #lastViewerEventAt = 0;
  #lastViewerCount = -1;
  #lastPublishedViewerCount = -1;
  #alarmAt: number | null = null;
  readonly #intake = new MessageIntake();
  readonly #automod: AutomodQueue;
  readonly #autoSlow = new AutoSlowMode(Date.now());
  readonly #membership = new IrcMembership();
  readonly #chatters: ChatterCache;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const config = RoomConfig.parse(env);
    this.#socketsPerShard = config.CHAT_SOCKETS_PER_SHARD ?? SOCKETS_PER_SHARD;
    this.#relayGroupSize = config.CHAT_RELAY_GROUP_SIZE ?? RELAY_GROUP_SIZE;
    this.#storage = new RoomStorage(ctx.storage.sql);
    this.#automod = new AutomodQueue(ctx.storage.sql);
    this.#chatters = new ChatterCache(env.DB);
    this.#bans = new BanList(this.#storage);
    this.#census = new ViewerCensus(this.#storage);
    this.#archive = new ChatArchive({
      storage: this.#storage,
      send: (event) => this.env.STREAM_EVENTS.send(event, { contentType: 'json' }),
      deadLetter: async (id, body) => {
        await this.env.DB.prepare(
          'INSERT INTO dead_letters (id, queue, body, received_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
        )
          .bind(id, 'stream-events', JSON.stringify(body), Date.now())
          .run();
        this.#log.error('chat_archive_dead_letter', { dead_letter_id: id });
      },
    });
    this.#moderation = new RoomModeration({
      db: env.DB,
      storage: this.#storage,
      bans: this.#bans,
      getProfile: (userId, now) => this.#getProfile(userId, now),
      forgetProfile: (userId) => this.#chatters.forgetProfile(userId),
      readSettings: () => this.#settings,
      writeSettings: (settings) => {
        this.#settings = settings;
        this.#storage.writeSettings(settings);
        this.#pending.push({ kind: 'room_state', state: this.#readRoomState() });
      },
      enqueue: (event) => this.#pending.push(event),
      // A raid moves the audience: its video viewers, or its chatters when more of them are in chat.
      countViewers: (now) => Math.max(this.#census.countViewers(now), this.#census.countChatters(now)),
      publish: (event) => this.env.MODERATION_EVENTS.send(event, { contentType: 'json' }),
      archiveDeletion: (event) => this.env.STREAM_EVENTS.send(event, { contentType: 'json' }),
      sendRaid: (to, from, viewers) =>
        this.env.CHAT_ROOM.getByName(to.id).receiveRaid(
          to.id,
          {
            id: from.id,
            name: from.name,
            displayName: stripNameInvisibles(from.displayName),
            ownerId: from.ownerId,
          },
          viewers,
        ),
    });
    void ctx.blockConcurrencyWhile(async () => {
      // A room never bound to a channel has no tables and loads nothing (storage.ts).
      if (this.#storage.exists()) this.#load();
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  #load(): void {
    this.#channel = this.#storage.readChannel();
    if (this.#channel) this.#log = log.child({ class: 'ChatRoom', channel_id: this.#channel.id });
    this.#settings = this.#storage.readSettings();
    this.#bans.load();
    this.#census.load();
  }

  /** The room learns its channel from the first call (D1); only then does it create storage. */
  async #bindChannel(channelId: string): Promise<ChannelInfo | null> {
    if (this.#channel?.id === channelId) return this.#channel;
    const channel = await findChannelById(this.env.DB, channelId);
    if (channel) {
      this.#storage.create();
      this.#storage.writeChannel(channel);
      this.#channel = channel;
      this.#log = log.child({ class: 'ChatRoom', channel_id: channel.id });
    }
    return channel;
  }

  // ---- sockets and shards ----

  /** Picks the shard for a new JSON socket: fill shard 0 up to the per-shard size, then 1, ... */
  async assignShard(channelId: string): Promise<string | null> {
    const channel = await this.#bindChannel(channelId);
    return channel ? this.#census.assignShard(channel.id, this.#socketsPerShard) : null;
  }

  /** A socket of `shardName` joined: count it, count its viewer once per stream, greet it. */
  async join(
    channelId: string,
    shardName: string,
    session: ChatSession | null,
    visitorId: string,
  ): Promise<JoinResult | null> {
    const channel = await this.#bindChannel(channelId);
    if (!channel) return null;
    const now = Date.now();
    this.#census.join(shardName, session?.userId ?? `visitor:${visitorId}`, now);
    const change = session ? this.#membership.join(session.userId, session.login) : null;
    if (change) this.#pending.push({ kind: 'membership', ...change });
    await this.#scheduleAlarm(now);
    return {
      channel,
      roomState: this.#readRoomState(),
      historyJson: this.#storage.readHistoryJson(HISTORY_LENGTH),
      user: session ? await this.describeUser(channelId, session.userId) : null,
      members: this.#membership.listLogins(),
    };
  }

  /** How a user appears in this channel's chat (badges, colour); null for an unknown user. */
  async describeUser(channelId: string, userId: string): Promise<ChatMessage['user'] | null> {
    if (!(await this.#bindChannel(channelId))) return null;
    const profile = await this.#getProfile(userId, Date.now());
    return profile ? renderUser(profile) : null;
  }

  /** A socket of `shardName` left; `userId` when it was signed in (IRC membership, irc-membership.ts). */
  async leave(channelId: string, shardName: string, userId: string | null = null): Promise<void> {
    if (this.#channel?.id !== channelId) return;
    this.#census.leave(shardName);
    const change = userId ? this.#membership.leave(userId) : null;
    if (change) {
      this.#pending.push({ kind: 'membership', ...change });
      await this.#scheduleAlarm(Date.now());
    }
  }

  /** A shard's periodic census: the latest report replaces whatever the room believed. */
  async reportViewers(channelId: string, shardName: string, count: number): Promise<void> {
    if (!(await this.#bindChannel(channelId))) return;
    const now = Date.now();
    this.#census.report(shardName, count, now);
    await this.#scheduleAlarm(now);
  }

  /** A player's presence signal (video-presence.ts): counted, or refused by a bound. */
  async recordPresence(channelId: string, viewer: PresenceViewer): Promise<PresenceOutcome | null> {
    if (!(await this.#bindChannel(channelId))) return null;
    const now = Date.now();
    const outcome = this.#census.see(viewer, now);
    await this.#scheduleAlarm(now);
    return outcome;
  }

  /** For the API and tests: concurrent viewers, unique viewers this stream, open shards. */
  async readViewerStats(): Promise<ViewerStats> {
    return this.#census.readStats(Date.now());
  }

  // ---- messages ----

  async submit(channelId: string, session: ChatSession | null, content: string): Promise<SubmitResult> {
    const channel = await this.#bindChannel(channelId);
    if (!channel) return { kind: 'error', code: 'invalid_frame', message: 'Unknown channel.' };
    if (!session) return { kind: 'error', code: 'unauthorized', message: 'Sign in to chat.' };
    // Before commands too: a line break in a command's argument would reach notices and logs.
    const forbidden = describeForbiddenCharacters(content);
    if (forbidden) return { kind: 'error', code: 'invalid_message', message: forbidden };
    if (isCommand(content)) return this.#runCommand(channel, session, content);
    this.#autoSlow.observe();
    const now = Date.now();
    const profile = await this.#getProfile(session.userId, now);
    if (!profile) return { kind: 'error', code: 'unauthorized', message: 'Unknown user.' };
    const accepted = this.#intake.accept(
      profile,
      content,
      await this.#chatters.getEmotes(channel, now),
      { settings: this.#settings, ban: this.#bans.findActive(profile.id, now), channelId: channel.id },
      now,
    );
    if (accepted.kind === 'error') return accepted;
    const { message } = accepted;
    // AutoMod (chat/automod.ts): held for a moderator, never sent on its own. Cheers are paid for
    // and go out; the broadcaster, moderators and VIPs are never held.
    if (this.#settings.automod && message.bits === undefined && !isPrivileged(profile) && !profile.isVip) {
      const verdict = reviewMessage(content, this.#settings.automod_allowed_domains);
      if (verdict) {
        this.#automod.hold(message, profile.login, verdict.reason, verdict.detail, now);
        return { kind: 'notice', code: 'msg_rejected', message: AUTOMOD_HELD_NOTICE };
      }
    }
    // A cheer is debited before the message exists anywhere; refused, the message is not sent.
    if (message.bits !== undefined) {
      const cheer = {
        userId: profile.id,
        login: profile.login,
        channelId: channel.id,
        messageId: message.id,
        bits: message.bits,
        content,
      };
      const outcome = await spendCheer(this.env, cheer, now);
      if (outcome === 'insufficient') {
        accepted.revert();
        const refusal = 'You do not have enough bits for that cheer.';
        return { kind: 'error', code: 'insufficient_bits', message: refusal };
      }
    }
    this.#storage.insertMessage(message, profile.login, now);
    this.#pending.push({
      kind: 'message',
      message,
      priority: isPrivileged(profile) || message.highlighted === true,
    });
    metrics.add({ env: this.env, ctx: this.ctx }, 'edgestream_chat_messages_total', { tier: channel.tier });
    await this.#scheduleAlarm(now);
    return { kind: 'accepted', messageId: message.id, user: message.user };
  }

  /**
   * The messages one shard collected while its previous call was out (chat-shard/submit-batcher.ts),
   * handled in arrival order, each answered as submit answers it: one call per round trip per shard
   * instead of one per message. Past MAX_SUBMIT_BATCH a request is refused, never dropped unseen.
   */
  async submitBatch(channelId: string, requests: readonly SubmitRequest[]): Promise<SubmitResult[]> {
    metrics.add({ env: this.env, ctx: this.ctx }, 'edgestream_chat_room_calls_total', {
      call: 'submit_batch',
    });
    const results: SubmitResult[] = [];
    for (const [i, request] of requests.entries()) {
      results.push(
        i < MAX_SUBMIT_BATCH
          ? await this.submit(channelId, request.session, request.content)
          : { kind: 'error', code: 'invalid_frame', message: 'Too many messages in one call.' },
      );
    }
    return results;
  }

  async #runCommand(channel: ChannelInfo, session: ChatSession, content: string): Promise<SubmitResult> {
    const parsed = parseCommand(content);
    if (!parsed.ok) {
      return parsed.code === 'unrecognized_cmd'
        ? { kind: 'error', code: 'unknown_command', message: parsed.message }
        : { kind: 'notice', code: parsed.code, message: parsed.message };
    }
    const outcome = await this.moderate(channel.id, session.userId, parsed.action);
    if (outcome.kind === 'forbidden') return { kind: 'error', code: 'forbidden', message: outcome.message };
    if (outcome.kind === 'rate-limited') {
      return {
        kind: 'error',
        code: 'rate_limited',
        message: outcome.message,
        retryAfterMs: outcome.retryAfterMs,
      };
    }
    return { kind: 'notice', code: outcome.code, message: outcome.message };
  }

  async #getProfile(userId: string, now: number): Promise<ChatterProfile | null> {
    return this.#channel ? this.#chatters.getProfile(this.#channel, userId, now) : null;
  }

  /** Called by the emotes API after a change, so new emotes render at once. */
  async invalidateEmotes(): Promise<void> {
    this.#chatters.forgetEmotes();
  }

  /** After a payment changed a chatter's subscription: badge and sub-only access follow at once. */
  async forgetChatter(userId: string): Promise<void> {
    this.#chatters.forgetProfile(userId);
  }

  #readRoomState(): RoomState {
    const {
      banned_words: _bannedWords,
      automod: _automod,
      automod_allowed_domains: _domains,
      auto_slow_messages_per_second: _autoRate,
      auto_slow_seconds: _autoSeconds,
      auto_slow_active: _autoActive,
      sample_messages_per_second: _sample,
      ...state
    } = this.#settings;
    return state;
  }

  // ---- AutoMod's held messages (moderators only) ----

  /** The messages waiting for a decision, oldest first; null for an unknown channel. */
  async listHeldMessages(channelId: string, actorId: string): Promise<HeldMessage[] | 'forbidden' | null> {
    if (!(await this.#bindChannel(channelId))) return null;
    if (!(await this.canModerate(channelId, actorId))) return 'forbidden';
    return this.#automod.list(Date.now());
  }

  /** Approve sends the held message to everyone; deny drops it. Either works once. */
  async resolveHeldMessage(
    channelId: string,
    actorId: string,
    messageId: string,
    approve: boolean,
  ): Promise<AutomodOutcome> {
    if (!(await this.#bindChannel(channelId))) return { kind: 'not-found', message: 'Channel not found.' };
    if (!(await this.canModerate(channelId, actorId)))
      return { kind: 'forbidden', message: 'Only moderators may act on held messages.' };
    const now = Date.now();
    const held = this.#automod.take(messageId, now);
    if (!held) return { kind: 'not-found', message: 'No such held message (it may have expired).' };
    if (!approve) return { kind: 'done', code: 'automod_denied', message: 'The message was denied.' };
    this.#storage.insertMessage(held.message, held.login, now);
    this.#pending.push({ kind: 'message', message: held.message, priority: false });
    await this.#scheduleAlarm(now);
    return { kind: 'done', code: 'automod_approved', message: 'The message was approved and sent.' };
  }

  // ---- moderation (chat commands and REST share this) ----

  /** Every setting, banned words included: for moderators only (the Worker checks canModerate). */
  async getSettings(channelId: string): Promise<ChatSettings | null> {
    return (await this.#bindChannel(channelId)) ? this.#settings : null;
  }

  /** The chat modes everyone sees. */
  async getRoomState(channelId: string): Promise<RoomState | null> {
    return (await this.#bindChannel(channelId)) ? this.#readRoomState() : null;
  }

  async listBans(channelId: string): Promise<BanRecord[] | null> {
    if (!(await this.#bindChannel(channelId))) return null;
    return this.#bans.listActive(Date.now());
  }

  /** Whether a user may moderate this channel now (broadcaster, or a moderator not banned). */
  async canModerate(channelId: string, userId: string): Promise<boolean> {
    if (!(await this.#bindChannel(channelId))) return false;
    const now = Date.now();
    const profile = await this.#getProfile(userId, now);
    return profile !== null && isActingModerator(profile, this.#bans, now);
  }

  /**
   * The signed-in chatters, a page at a time (Helix GET /chat/chatters): the membership list the
   * IRC NAMES reply shows, so the same 1,000-chatter cap applies (chat/irc-membership.ts).
   */
  async listChatters(
    channelId: string,
    after: { login: string; id: string } | null,
    first: number,
  ): Promise<ChatterPage | null> {
    if (!(await this.#bindChannel(channelId))) return null;
    return this.#membership.listPage(after, Math.min(first, MAX_MEMBERS));
  }

  async moderate(channelId: string, actorId: string, action: ModerationAction): Promise<ModerationOutcome> {
    const channel = await this.#bindChannel(channelId);
    if (!channel) return { kind: 'not-found', code: 'not_found', message: 'Channel not found.' };
    const now = Date.now();
    const outcome = await this.#moderation.moderate(channel, actorId, action, now);
    await this.#scheduleAlarm(now);
    return outcome;
  }

  /**
   * The raided side: its chat learns who arrives (USERNOTICE msg-id=raid on IRC), unless this
   * channel banned the raiding channel's owner (a ban keeps their name out of this chat).
   */
  async receiveRaid(
    channelId: string,
    from: { id: string; name: string; displayName: string; ownerId: string },
    viewers: number,
  ): Promise<RaidReception> {
    if (!(await this.#bindChannel(channelId))) return 'unknown-channel';
    const now = Date.now();
    if (this.#bans.findActive(from.ownerId, now)) return 'banned';
    this.#pending.push({
      kind: 'raid_in',
      from: { id: from.id, name: from.name, displayName: from.displayName, ownerId: from.ownerId },
      viewers,
    });
    await this.#scheduleAlarm(now);
    return 'announced';
  }

  // ---- money in chat (docs/payments.md) ----

  /**
   * Signed-in viewers present in this chat who may receive a community gift: not the broadcaster,
   * not banned or timed out here. Held in memory (irc-membership.ts), at most MAX_MEMBERS.
   */
  async listGiftCandidates(channelId: string): Promise<string[]> {
    const channel = await this.#bindChannel(channelId);
    if (!channel) return [];
    const now = Date.now();
    return this.#membership
      .listUserIds()
      .filter((userId) => userId !== channel.ownerId && !this.#bans.findActive(userId, now));
  }

  /**
   * A paid subscription month, announced to the room (USERNOTICE sub/resub/subgift/submysterygift
   * on IRC, a sub_notice frame in JSON). The chatters' cached profiles are dropped first, so the
   * notice and their next messages carry the new subscriber badge.
   */
  async announceSubscription(channelId: string, announcement: SubscriptionAnnouncement): Promise<boolean> {
    const channel = await this.#bindChannel(channelId);
    if (!channel) return false;
    this.#chatters.forgetProfile(announcement.userId);
    const user = await this.describeUser(channelId, announcement.userId);
    let recipient: ChatMessage['user'] | null = null;
    if (announcement.kind === 'subgift') {
      this.#chatters.forgetProfile(announcement.recipientId);
      recipient = await this.describeUser(channelId, announcement.recipientId);
    }
    if (!user) return false;
    const notice = describeSubNotice(announcement, user, recipient, channel.displayName);
    if (!notice) return false;
    this.#pending.push({ kind: 'sub_notice', notice });
    await this.#scheduleAlarm(Date.now());
    return true;
  }

  // ---- channel engagement (durable-objects/channel-engagement/) ----

  /** A poll, prediction or redemption update, fanned out to every JSON socket with the next batch. */
  async broadcastEngagement(channelId: string, frame: EngagementFrame): Promise<boolean> {
    if (!(await this.#bindChannel(channelId))) return false;
    this.#pending.push({ kind: 'engagement', frame });
    await this.#scheduleAlarm(Date.now());
    return true;
  }

  /** What the user may share of their subscription now (the web app's "Share your resub" prompt). */
  async readResubShare(channelId: string, userId: string): Promise<ResubShareState | null> {
    if (!(await this.#bindChannel(channelId))) return null;
    return readResubShare(this.env.DB, channelId, userId, Date.now());
  }

  /**
   * Shares the user's latest renewal in chat, once (resub-share.ts): refused for a banned or timed
   * out user, a non-subscriber, a first month, or a renewal already shared; otherwise the resub
   * notice goes out with the message, and EventSub's event after the commit.
   */
  async shareResub(
    channelId: string,
    userId: string,
    message: string,
    shareStreak: boolean,
  ): Promise<ResubShareReply> {
    const channel = await this.#bindChannel(channelId);
    if (!channel) return { kind: 'not-found' };
    const now = Date.now();
    if (this.#bans.findActive(userId, now)) return { kind: 'banned' };
    const outcome = await recordResubShare(this.env.DB, { channelId, userId, message, shareStreak }, now);
    if (outcome.kind !== 'shared') return outcome;
    await flushOutboxAfterCommit(this.env, [outcome.eventId]);
    this.#chatters.forgetProfile(userId);
    const user = await this.describeUser(channelId, userId);
    const notice =
      user &&
      describeSubNotice(
        {
          kind: 'resub',
          userId,
          tier: outcome.tier,
          cumulativeMonths: outcome.cumulativeMonths,
          streakMonths: outcome.streakMonths,
          message: message.trim(),
        },
        user,
        null,
        channel.displayName,
      );
    if (notice) {
      this.#pending.push({ kind: 'sub_notice', notice });
      await this.#scheduleAlarm(now);
    }
    return { kind: 'shared' };
  }

  // ---- the alarm: batches, archive, viewer census ----

  /** One alarm drives every timer; it is set only while there is something to do. */
  async #scheduleAlarm(now: number): Promise<void> {
    const next = this.#computeNextAlarm(now);
    if (next === null) return;
    if (this.#alarmAt !== null && this.#alarmAt <= next) return;
    this.#alarmAt = next;
    await this.ctx.storage.setAlarm(next);
  }

  #computeNextAlarm(now: number): number | null {
    const candidates: number[] = [];
    if (this.#pending.length > 0) candidates.push(Math.max(now, this.#lastFlushAt + BATCH_INTERVAL_MS));
    const archiveDue = this.#channel ? this.#archive.nextDueAt() : null;
    if (archiveDue !== null) candidates.push(Math.max(archiveDue, this.#archiveRetryAt));
    if (this.#census.countViewers(now) > 0 || this.#census.hasShards)
      candidates.push(this.lastSweepAt + VIEWER_REPORT_INTERVAL_MS);
    return candidates.length > 0 ? Math.max(now, Math.min(...candidates)) : null;
  }

  /**
   * Each duty runs on its own: one that throws (a poison archive batch, a D1 hiccup in the sweep)
   * is logged and retried later, and never keeps the others from running.
   */
  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    const now = Date.now();
    await this.#runDuty('auto_slow', async () => this.#applyAutoSlow(now));
    await this.#runDuty('flush_batch', async () => this.#flushBatch(now));
    if (this.#channel && now >= this.#archiveRetryAt) {
      const channel = this.#channel;
      const ok = await this.#runDuty('archive', () =>
        this.#archive.flush(channel, this.#census.streamId, now, HISTORY_LENGTH),
      );
      if (!ok) this.#archiveRetryAt = now + ARCHIVE_RETRY_MS;
    }
    if (now - this.lastSweepAt >= VIEWER_REPORT_INTERVAL_MS)
      await this.#runDuty('viewer_sweep', () => this.#sweepViewers(now));
    await this.#scheduleAlarm(Date.now());
  }

  async #runDuty(duty: string, run: () => Promise<void>): Promise<boolean> {
    try {
      await run();
      return true;
    } catch (error) {
      this.#log.error('chat_room_duty_failed', { duty, error });
      return false;
    }
  }

  #flushBatch(now: number): void {
    if (this.#pending.length === 0 || !this.#channel) return;
    const events = this.#pending;
    this.#pending = [];
    const windowMs = Math.min(1000, Math.max(BATCH_INTERVAL_MS, now - this.#lastFlushAt));
    this.#lastFlushAt = now;
    this.#fanout.send(planFanout(this.#census.listActiveShards(now), this.#relayGroupSize), {
      channel: this.#channel,
      windowMs,
      samplePerSecond: this.#settings.sample_messages_per_second,
      events,
    });
  }

  /** Automatic slow mode (chat/auto-slow.ts): on when chat goes viral, off once it calms down. */
  #applyAutoSlow(now: number): void {
    const decision = this.#autoSlow.decide(now, this.#settings);
    if (decision.kind === 'none') return;
    const on = decision.kind === 'enable';
    const seconds = on ? this.#settings.auto_slow_seconds : 0;
    this.#settings = { ...this.#settings, slow_seconds: seconds, auto_slow_active: on };
    this.#storage.writeSettings(this.#settings);
    this.#pending.push({ kind: 'room_state', state: this.#readRoomState() });
    this.#pending.push(
      on
        ? {
            kind: 'notice',
            code: 'slow_on',
            message: `Chat is very busy: slow mode is on (one message every ${seconds} seconds) until it calms down.`,
          }
        : { kind: 'notice', code: 'slow_off', message: 'Chat has calmed down: slow mode is off.' },
    );
    this.#log.info(on ? 'auto_slow_on' : 'auto_slow_off', { rate: Math.round(decision.rate) });
  }

  /** Every ~10 s while anyone watches: drop stale shards, push the count, publish it on change. */
  async #sweepViewers(now: number): Promise<void> {
    this.lastSweepAt = now;
    const channel = this.#channel;
    if (!channel) return;
    this.#census.dropStaleShards(now);
    const viewers = this.#census.countViewers(now);
    if (viewers !== this.#lastViewerCount) {
      this.#lastViewerCount = viewers;
      this.#pending.push({ kind: 'viewer_count', count: viewers });
      this.#flushBatch(now);
    }
    this.#census.followStream(await findCurrentStreamId(this.env.DB, channel.id));
    if (
      viewers !== this.#lastPublishedViewerCount &&
      now - this.#lastViewerEventAt >= VIEWER_EVENT_INTERVAL_MS
    ) {
      this.#lastPublishedViewerCount = viewers;
      this.#lastViewerEventAt = now;
      const event: EventOf<'viewer.count'> = createViewerCount(channel.id, this.#census, viewers);
      await this.env.VIEWER_EVENTS.send(event, { contentType: 'json' });
    }
  }
}

function createViewerCount(
  channelId: string,
  census: ViewerCensus,
  viewers: number,
): EventOf<'viewer.count'> {
  return createEvent('viewer.count', {
    channel_id: channelId,
    stream_id: census.streamId,
    viewers,
    unique_viewers: census.countUniqueViewers(),
  });
}
