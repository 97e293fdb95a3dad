// Chat commands ("/ban name reason", "/slow 30", ...) parsed into the same ModerationAction the
// REST endpoints build, and who may run which.
import {
  DEFAULT_TIMEOUT_SECONDS,
  MAX_FOLLOWERS_MINUTES,
  MAX_SLOW_SECONDS,
  MAX_TIMEOUT_SECONDS,
} from '../../protocol/chat.ts';
import type { ChatterProfile } from './badges.ts';
import { ANNOUNCEMENT_COLORS, type AnnouncementColor, type ModerationAction } from './types.ts';

/** Twitch's default when "/slow" comes without a number. */
const DEFAULT_SLOW_SECONDS = 30;

export type ParsedCommand =
  | { ok: true; action: ModerationAction }
  | { ok: false; code: string; message: string };

/** Chat clients send commands as text starting with "/" (tmi.js) or "." (old IRC clients). */
export function isCommand(content: string): boolean {
  return content.startsWith('/') || content.startsWith('.');
}

function parseLogin(word: string | undefined): string | null {
  const login = word?.replace(/^@/, '').trim();
  return login ? login : null;
}

function parseWholeNumber(word: string | undefined, fallback: number, max: number): number | null {
  if (word === undefined) return fallback;
  if (!/^\d+$/.test(word)) return null;
  const value = Number(word);
  return value > max ? null : value;
}

/** The colour a name stands for, PRIMARY when it is none of Twitch's. */
export function findAnnouncementColor(name: string): AnnouncementColor {
  return ANNOUNCEMENT_COLORS.find((color) => color === name) ?? 'PRIMARY';
}

function usage(code: string, message: string): ParsedCommand {
  return { ok: false, code, message };
}

export function parseCommand(content: string): ParsedCommand {
  const [rawName = '', ...args] = content.slice(1).trim().split(/\s+/);
  const name = rawName.toLowerCase();
  const target = parseLogin(args[0]);
  const rest = args.slice(1).join(' ');
  const settings = (patch: Extract<ModerationAction, { kind: 'settings' }>['patch']): ParsedCommand => ({
    ok: true,
    action: { kind: 'settings', patch },
  });
  switch (name) {
    case 'ban':
      if (!target) return usage('usage_ban', 'Usage: "/ban <username> [reason]"');
      return { ok: true, action: { kind: 'ban', target, reason: rest } };
    case 'timeout': {
      if (!target) return usage('usage_timeout', 'Usage: "/timeout <username> [seconds] [reason]"');
      const seconds = parseWholeNumber(args[1], DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS);
      if (seconds === null || seconds === 0) {
        return usage('bad_timeout_duration', `Timeouts last 1 to ${MAX_TIMEOUT_SECONDS} seconds.`);
      }
      return { ok: true, action: { kind: 'timeout', target, seconds, reason: args.slice(2).join(' ') } };
    }
    case 'unban':
    case 'untimeout':
      if (!target) return usage('usage_unban', 'Usage: "/unban <username>"');
      return { ok: true, action: { kind: 'unban', target } };
    case 'delete':
      if (!args[0]) return usage('usage_delete', 'Usage: "/delete <msg-id>"');
      return { ok: true, action: { kind: 'delete', messageId: args[0] } };
    case 'slow': {
      const seconds = parseWholeNumber(args[0], DEFAULT_SLOW_SECONDS, MAX_SLOW_SECONDS);
      if (seconds === null || seconds === 0)
        return usage('usage_slow_on', `Slow mode takes 1 to ${MAX_SLOW_SECONDS} seconds.`);
      return settings({ slow_seconds: seconds });
    }
    case 'slowoff':
      return settings({ slow_seconds: 0 });
    case 'subscribers':
      return settings({ subscribers_only: true });
    case 'subscribersoff':
      return settings({ subscribers_only: false });
    case 'emoteonly':
      return settings({ emote_only: true });
    case 'emoteonlyoff':
      return settings({ emote_only: false });
    case 'followers': {
      const minutes = parseWholeNumber(args[0], 0, MAX_FOLLOWERS_MINUTES);
      if (minutes === null)
        return usage('usage_followers_on', `Followers-only takes 0 to ${MAX_FOLLOWERS_MINUTES} minutes.`);
      return settings({ followers_only_minutes: minutes });
    }
    case 'followersoff':
      return settings({ followers_only_minutes: -1 });
    case 'uniquechat':
    case 'r9kbeta':
      return settings({ unique_chat: true });
    case 'uniquechatoff':
    case 'r9kbetaoff':
      return settings({ unique_chat: false });
    case 'clear':
      return { ok: true, action: { kind: 'clear' } };
    case 'mod':
    case 'unmod':
      if (!target) return usage(`usage_${name}`, `Usage: "/${name} <username>"`);
      return { ok: true, action: { kind: 'role', role: 'moderator', grant: name === 'mod', target } };
    case 'vip':
    case 'unvip':
      if (!target) return usage(`usage_${name}`, `Usage: "/${name} <username>"`);
      return { ok: true, action: { kind: 'role', role: 'vip', grant: name === 'vip', target } };
    case 'raid':
      if (!target) return usage('usage_raid', 'Usage: "/raid <channel>"');
      return { ok: true, action: { kind: 'raid', target } };
    // Twitch's /announce and its coloured variants (/announceblue, ...).
    case 'announce':
    case 'announceblue':
    case 'announcegreen':
    case 'announceorange':
    case 'announcepurple': {
      const message = args.join(' ');
      if (!message) return usage('usage_announce', `Usage: "/${name} <message>"`);
      const color = findAnnouncementColor(name.slice('announce'.length).toUpperCase() || 'PRIMARY');
      return { ok: true, action: { kind: 'announce', message, color } };
    }
    default:
      return usage('unrecognized_cmd', `Unrecognized command: /${name}`);
  }
}

/**
 * "Broadcaster: everything; moderators: ban/timeout/delete/modes/announce, not mod/unmod/raid."
 * Everyone else may run nothing.
 */
export function canPerform(actor: ChatterProfile, action: ModerationAction): boolean {
  if (actor.isBroadcaster) return true;
  if (!actor.isModerator) return false;
  return action.kind !== 'role' && action.kind !== 'raid';
}
