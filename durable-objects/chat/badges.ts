// Roles, badges and colours: who a chatter is in a channel, as every protocol shows it.
import type { Badge } from '../../protocol/chat.ts';
import { stripNameInvisibles } from './control-characters.ts';

/** What the room knows about one user in its channel (loaded from D1, cached briefly). */
export interface ChatterProfile {
  id: string;
  login: string;
  displayName: string;
  isBroadcaster: boolean;
  isModerator: boolean;
  isVip: boolean;
  /** Their own channel is a partner channel. */
  isPartner: boolean;
  /** Active subscription to this channel, or null. */
  subscription: { tier: 1000 | 2000 | 3000; months: number } | null;
  /** When they followed this channel (epoch ms), or null. */
  followedAt: number | null;
}

/** Twitch's default name colours: a user who never chose one gets one of these. */
const PALETTE = [
  '#FF0000',
  '#0000FF',
  '#008000',
  '#B22222',
  '#FF7F50',
  '#9ACD32',
  '#FF4500',
  '#2E8B57',
  '#DAA520',
  '#D2691E',
  '#5F9EA0',
  '#1E90FF',
  '#FF69B4',
  '#8A2BE2',
  '#00FF7F',
] as const;

/** A colour that stays the same for a user across rooms and restarts: a hash of the id. */
export function pickColor(userId: string): string {
  let hash = 0;
  for (let i = 0; i < userId.length; i++) hash = (Math.imul(hash, 31) + userId.charCodeAt(i)) >>> 0;
  return PALETTE[hash % PALETTE.length] ?? PALETTE[0];
}

/** Moderation and chat-mode exemptions belong to the broadcaster and the channel's moderators. */
export function isPrivileged(profile: ChatterProfile): boolean {
  return profile.isBroadcaster || profile.isModerator;
}

/** Badges in Twitch's display order; a subscriber badge's version is the month count. */
export function listBadges(profile: ChatterProfile): Badge[] {
  const badges: Badge[] = [];
  if (profile.isBroadcaster) badges.push({ id: 'broadcaster', version: '1' });
  else if (profile.isModerator) badges.push({ id: 'moderator', version: '1' });
  if (profile.isVip) badges.push({ id: 'vip', version: '1' });
  if (profile.subscription) badges.push({ id: 'subscriber', version: String(profile.subscription.months) });
  if (profile.isPartner) badges.push({ id: 'partner', version: '1' });
  return badges;
}

/**
 * The name chat shows for a user. Twitch's rule: a display name may differ from the login only in
 * letter case; any other display name (another script, a look-alike of someone else's name) is
 * shown with the login beside it, so nobody can pass for another chatter. Control characters, bidi
 * controls and zero-width characters are dropped (control-characters.ts: an RLO would reorder the
 * login suffix); a name left empty is the login.
 */
export function formatDisplayName(displayName: string, login: string): string {
  const clean = stripNameInvisibles(displayName).trim();
  if (clean.length === 0) return login;
  return clean.toLowerCase() === login.toLowerCase() ? clean : `${clean} (${login})`;
}
