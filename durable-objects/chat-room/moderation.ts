// Moderation in a chat room: bans and timeouts, message deletion, chat modes and banned words,
// roles, raids, announcements. Chat commands ("/ban name") and the REST routes both end here, so one set of rules
// decides who may do what. Returns typed outcomes; the REST Worker maps them to statuses.
//
// A ban or timeout suspends moderator powers while it lasts (Twitch: a timed-out moderator cannot
// use moderation commands), so a compromised or rogue moderator can be stopped by the broadcaster
// without first losing the role.
import { createEvent, type EventOf } from '../../protocol/events.ts';
import { MAX_ALLOWED_DOMAINS, normalizeDomain } from '../chat/automod.ts';
import type { ChatterProfile } from '../chat/badges.ts';
import { canPerform } from '../chat/commands.ts';
import { describeForbiddenCharacters } from '../chat/control-characters.ts';
import {
  findChannelById,
  findChannelByName,
  findUser,
  isChannelLive,
  writeChannelRole,
} from '../chat/directory.ts';
import {
  type AnnouncementColor,
  type BanRecord,
  type ChannelInfo,
  type ChatSettings,
  type FanoutEvent,
  MAX_ANNOUNCEMENT_LENGTH,
  type ModerationAction,
  type ModerationOutcome,
  type RaidReception,
  type SettingsPatch,
} from '../chat/types.ts';
import type { BanList } from './bans.ts';
import { renderUser } from './message-intake.ts';
import type { RoomStorage } from './storage.ts';

export const MAX_BANNED_WORDS = 500;
/**
 * One raid per source channel per five minutes. A raid ends a broadcast and sends its audience on
 * (one per stream is the norm); five minutes leaves room to correct a mistyped target, while a
 * channel can put at most 12 raid notices an hour into anyone's chat, whatever its chat modes.
 */
export const RAID_COOLDOWN_MS = 5 * 60_000;
const MAX_REASON_LENGTH = 500;

/** What the room publishes on the moderation queue (the D1 ban mirror and EventSub read it). */
type ModerationEvent =
  | EventOf<'moderation.ban'>
  | EventOf<'moderation.unban'>
  | EventOf<'chat.cleared'>
  | EventOf<'channel.role_changed'>
  | EventOf<'channel.raided'>
  | EventOf<'chat.announced'>;

/** What moderation needs from the room, and nothing more. */
export interface ModerationDeps {
  db: D1Database;
  storage: RoomStorage;
  bans: BanList;
  getProfile(userId: string, now: number): Promise<ChatterProfile | null>;
  forgetProfile(userId: string): void;
  readSettings(): ChatSettings;
  writeSettings(settings: ChatSettings): void;
  enqueue(event: FanoutEvent): void;
  countViewers(now: number): number;
  publish(event: ModerationEvent): Promise<unknown>;
  archiveDeletion(event: EventOf<'chat.message_deleted'>): Promise<unknown>;
  /** Announces the raid in the target's chat; the target refuses a raider whose owner it banned. */
  sendRaid(to: ChannelInfo, from: ChannelInfo, viewers: number): Promise<RaidReception>;
}

const done = (code: string, message: string): ModerationOutcome => ({ kind: 'done', code, message });
const forbidden = (code: string, message: string): ModerationOutcome => ({
  kind: 'forbidden',
  code,
  message,
});
const notFound = (code: string, message: string): ModerationOutcome => ({ kind: 'not-found', code, message });
const rejected = (code: string, message: string): ModerationOutcome => ({ kind: 'rejected', code, message });

/** Whether `profile` may moderate at `now`: broadcaster or moderator, and not banned or timed out. */
export function isActingModerator(profile: ChatterProfile, bans: BanList, now: number): boolean {
  if (profile.isBroadcaster) return true;
  return profile.isModerator && bans.findActive(profile.id, now) === null;
}

export class RoomModeration {
  readonly #deps: ModerationDeps;

  constructor(deps: ModerationDeps) {
    this.#deps = deps;
  }

  async moderate(
    channel: ChannelInfo,
    actorId: string,
    action: ModerationAction,
    now: number,
  ): Promise<ModerationOutcome> {
    const actor = await this.#deps.getProfile(actorId, now);
    if (!actor || !isActingModerator(actor, this.#deps.bans, now) || !canPerform(actor, action)) {
      return forbidden('no_permission', 'You do not have permission to do that.');
    }
    switch (action.kind) {
      case 'ban':
        return this.#ban(channel, actor, action.target, null, action.reason, now);
      case 'timeout':
        return this.#ban(channel, actor, action.target, action.seconds, action.reason, now);
      case 'unban':
        return this.#unban(channel, action.target, now);
      case 'delete':
        return this.#deleteMessage(channel, actor, action.messageId);
      case 'settings':
        return this.#updateSettings(action.patch);
      case 'clear':
        this.#deps.storage.deleteAllMessages();
        this.#deps.enqueue({ kind: 'clear_chat' });
        await this.#deps.publish(
          createEvent('chat.cleared', { channel_id: channel.id, moderator_id: actor.id }),
        );
        return done('clear_success', 'Chat was cleared.');
      case 'role':
        return this.#changeRole(channel, actor, action.role, action.grant, action.target, now);
      case 'raid':
        return this.#raid(channel, action.target, now);
      case 'announce':
        return this.#announce(channel, actor, action.message, action.color);
    }
  }

  /**
   * Twitch: "The announcement may contain a maximum of 500 characters". The Helix route does not
   * pass through the room's submit, so the characters are checked here as a message's are.
   */
  async #announce(
    channel: ChannelInfo,
    actor: ChatterProfile,
    message: string,
    color: AnnouncementColor,
  ): Promise<ModerationOutcome> {
    const content = message.trim();
    if (content.length === 0) return rejected('usage_announce', 'An announcement needs a message.');
    if (content.length > MAX_ANNOUNCEMENT_LENGTH)
      return rejected('msg_too_long', `Announcements are at most ${MAX_ANNOUNCEMENT_LENGTH} characters.`);
    const forbidden = describeForbiddenCharacters(content);
    if (forbidden) return rejected('msg_rejected', forbidden);
    const id = crypto.randomUUID();
    this.#deps.enqueue({ kind: 'announcement', id, user: renderUser(actor), content, color });
    await this.#deps.publish(
      createEvent('chat.announced', {
        channel_id: channel.id,
        user_id: actor.id,
        message_id: id,
        content,
        color,
      }),
    );
    return done('announcement_success', 'The announcement was sent.');
  }

  async #ban(
    channel: ChannelInfo,
    actor: ChatterProfile,
    target: string,
    seconds: number | null,
    reason: string,
    now: number,
  ): Promise<ModerationOutcome> {
    const verb = seconds === null ? 'ban' : 'timeout';
    const user = await findUser(this.#deps.db, target);
    if (!user) return notFound('invalid_user', `No user named ${target}.`);
    if (user.userId === actor.id) return rejected(`bad_${verb}_self`, `You cannot ${verb} yourself.`);
    if (user.userId === channel.ownerId)
      return rejected(`bad_${verb}_broadcaster`, `You cannot ${verb} the broadcaster.`);
    const targetProfile = await this.#deps.getProfile(user.userId, now);
    // Twitch: a moderator cannot ban or time out another moderator; only the broadcaster can.
    if (targetProfile?.isModerator && !actor.isBroadcaster)
      return forbidden(`bad_${verb}_mod`, `You cannot ${verb} a moderator.`);
    const ban: BanRecord = {
      user_id: user.userId,
      login: user.login.toLowerCase(),
      kind: verb,
      reason: reason.slice(0, MAX_REASON_LENGTH),
      moderator_id: actor.id,
      created_at: now,
      expires_at: seconds === null ? null : now + seconds * 1000,
    };
    this.#deps.bans.add(ban);
    // Joiners must not see the removed user's messages in history either.
    this.#deps.storage.deleteMessagesOf(ban.user_id);
    this.#deps.enqueue({
      kind: 'clear_user',
      userId: ban.user_id,
      login: ban.login,
      durationSeconds: seconds,
    });
    await this.#deps.publish(
      createEvent('moderation.ban', {
        channel_id: channel.id,
        user_id: ban.user_id,
        moderator_id: actor.id,
        reason: ban.reason,
        expires_at: ban.expires_at,
      }),
    );
    return seconds === null
      ? done('ban_success', `${ban.login} is now banned from this channel.`)
      : done('timeout_success', `${ban.login} has been timed out for ${seconds} seconds.`);
  }

  async #unban(channel: ChannelInfo, target: string, now: number): Promise<ModerationOutcome> {
    const user = await findUser(this.#deps.db, target);
    const ban = user ? this.#deps.bans.findActive(user.userId, now) : null;
    if (!user || !ban) return notFound('bad_unban_no_ban', `${target} is not banned from this channel.`);
    this.#deps.bans.remove(user.userId);
    await this.#deps.publish(
      createEvent('moderation.unban', { channel_id: channel.id, user_id: user.userId }),
    );
    return ban.kind === 'timeout'
      ? done('untimeout_success', `${ban.login} is no longer timed out in this channel.`)
      : done('unban_success', `${ban.login} is no longer banned from this channel.`);
  }

  async #deleteMessage(
    channel: ChannelInfo,
    actor: ChatterProfile,
    messageId: string,
  ): Promise<ModerationOutcome> {
    const stored = this.#deps.storage.findMessage(messageId);
    if (!stored) return notFound('bad_delete_message_error', 'No such message.');
    const authorIsPrivileged = stored.message.user.badges.some(
      (b) => b.id === 'broadcaster' || b.id === 'moderator',
    );
    if (authorIsPrivileged && !actor.isBroadcaster) {
      return forbidden(
        'bad_delete_message_mod',
        'You cannot delete messages of the broadcaster or another moderator.',
      );
    }
    this.#deps.storage.deleteMessage(messageId);
    this.#deps.enqueue({
      kind: 'delete',
      messageId,
      login: stored.login,
      content: stored.message.content,
    });
    await this.#deps.archiveDeletion(
      createEvent('chat.message_deleted', { channel_id: channel.id, message_id: messageId }),
    );
    return done('delete_message_success', 'The message was deleted.');
  }

  #updateSettings(patch: SettingsPatch): ModerationOutcome {
    const bannedWords = patch.banned_words
      ?.map((word) => word.trim().toLowerCase())
      .filter((word) => word.length > 0);
    if (bannedWords && bannedWords.length > MAX_BANNED_WORDS)
      return rejected('too_many_banned_words', `At most ${MAX_BANNED_WORDS} banned words.`);
    const domains = patch.automod_allowed_domains?.map(normalizeDomain).filter((d) => d.length > 0);
    if (domains && domains.length > MAX_ALLOWED_DOMAINS)
      return rejected('too_many_allowed_domains', `At most ${MAX_ALLOWED_DOMAINS} allowed domains.`);
    const before = this.#deps.readSettings();
    const after: ChatSettings = {
      ...before,
      ...patch,
      banned_words: bannedWords ? [...new Set(bannedWords)] : before.banned_words,
      automod_allowed_domains: domains ? [...new Set(domains)] : before.automod_allowed_domains,
      // Slow mode set by a person is theirs: the automatic rule lets go (chat/auto-slow.ts).
      auto_slow_active: patch.slow_seconds === undefined ? before.auto_slow_active : false,
    };
    this.#deps.writeSettings(after);
    return describeSettingsChange(patch, after);
  }

  async #changeRole(
    channel: ChannelInfo,
    actor: ChatterProfile,
    role: 'moderator' | 'vip',
    grant: boolean,
    target: string,
    now: number,
  ): Promise<ModerationOutcome> {
    const user = await findUser(this.#deps.db, target);
    if (!user) return notFound('invalid_user', `No user named ${target}.`);
    if (user.userId === channel.ownerId)
      return rejected('bad_role_broadcaster', 'The broadcaster already has every role.');
    const changed = await writeChannelRole(
      this.#deps.db,
      channel.id,
      user.userId,
      role,
      grant,
      actor.id,
      now,
    );
    this.#deps.forgetProfile(user.userId);
    // Only a change is an event: granting a role someone holds tells EventSub nothing new.
    if (changed) {
      await this.#deps.publish(
        createEvent('channel.role_changed', {
          channel_id: channel.id,
          user_id: user.userId,
          role,
          granted: grant,
          moderator_id: actor.id,
        }),
      );
    }
    const name = role === 'moderator' ? 'mod' : 'vip';
    return grant
      ? done(`${name}_success`, `You have added ${user.login} as a ${role} of this channel.`)
      : done(`un${name}_success`, `You have removed ${user.login} as a ${role} of this channel.`);
  }

  async #raid(channel: ChannelInfo, target: string, now: number): Promise<ModerationOutcome> {
    const to =
      (await findChannelByName(this.#deps.db, target)) ?? (await findChannelById(this.#deps.db, target));
    if (!to) return notFound('raid_error_unknown', `No channel named ${target}.`);
    if (to.id === channel.id) return rejected('raid_error_self', 'A channel cannot raid itself.');
    // Raids put the source's name into another channel's chat, around its modes: rate-limited per
    // source, only from a live stream (an audience to send), never into a chat that banned the owner.
    const wait = this.#deps.storage.readLastRaidAt() + RAID_COOLDOWN_MS - now;
    if (wait > 0) {
      return {
        kind: 'rate-limited',
        code: 'raid_error_too_many_raids',
        message: `A channel may raid once every ${RAID_COOLDOWN_MS / 60_000} minutes.`,
        retryAfterMs: wait,
      };
    }
    if (!(await isChannelLive(this.#deps.db, channel.id)))
      return rejected('raid_error_not_live', 'Only a live channel can raid.');
    const viewers = this.#deps.countViewers(now);
    const reception = await this.#deps.sendRaid(to, channel, viewers);
    if (reception === 'banned')
      return forbidden('raid_error_forbidden', `${to.name} does not accept raids from this channel.`);
    if (reception === 'unknown-channel') return notFound('raid_error_unknown', `No channel named ${target}.`);
    this.#deps.storage.writeLastRaidAt(now);
    this.#deps.enqueue({ kind: 'raid_out', to: { id: to.id, name: to.name }, viewers });
    await this.#deps.publish(
      createEvent('channel.raided', { channel_id: channel.id, to_channel_id: to.id, viewers }),
    );
    return done('raid_success', `Raiding ${to.name} with ${viewers} viewers.`);
  }
}

/** The Twitch msg-id for a one-mode change (what tmi.js listens for), or a generic one. */
function describeSettingsChange(patch: SettingsPatch, settings: ChatSettings): ModerationOutcome {
  const keys = Object.keys(patch);
  if (keys.length === 1) {
    if (patch.slow_seconds !== undefined) {
      return patch.slow_seconds > 0
        ? done(
            'slow_on',
            `This room is now in slow mode. You may send messages every ${patch.slow_seconds} seconds.`,
          )
        : done('slow_off', 'This room is no longer in slow mode.');
    }
    if (patch.subscribers_only !== undefined) {
      return patch.subscribers_only
        ? done('subs_on', 'This room is now in subscribers-only mode.')
        : done('subs_off', 'This room is no longer in subscribers-only mode.');
    }
    if (patch.emote_only !== undefined) {
      return patch.emote_only
        ? done('emote_only_on', 'This room is now in emote-only mode.')
        : done('emote_only_off', 'This room is no longer in emote-only mode.');
    }
    if (patch.followers_only_minutes !== undefined) {
      if (patch.followers_only_minutes < 0)
        return done('followers_off', 'This room is no longer in followers-only mode.');
      return patch.followers_only_minutes === 0
        ? done('followers_on_zero', 'This room is now in followers-only mode.')
        : done(
            'followers_on',
            `This room is now in ${patch.followers_only_minutes} minutes followers-only mode.`,
          );
    }
    if (patch.unique_chat !== undefined) {
      return patch.unique_chat
        ? done('r9k_on', 'This room is now in unique-chat mode.')
        : done('r9k_off', 'This room is no longer in unique-chat mode.');
    }
  }
  return done(
    'room_settings_updated',
    `Chat settings updated (${settings.banned_words.length} banned words).`,
  );
}
