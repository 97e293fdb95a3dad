// Who is in a room, for Twitch's twitch.tv/membership capability: the room relays other chatters'
// JOIN and PART and answers a JOIN with the NAMES list (353/366); Helix GET /chat/chatters pages
// through the same list. Twitch lists signed-in chatters
// only (never anonymous justinfan readers) and stops relaying membership in large rooms
// (https://dev.twitch.tv/docs/chat/irc/#join-message: "the list is sent ... only if the chat room
// has fewer than 1,000 chatters"); so does this tracker: past MAX_MEMBERS the room neither lists nor
// relays newcomers, which bounds the room's memory and the lines one join costs every socket.
//
// Kept in the room's memory only: after an eviction the list rebuilds as chatters come and go
// (a chatter who stayed throughout is missing from NAMES until they rejoin), which Twitch's own
// list, refreshed in bulk, also tolerates.

/** Twitch's own threshold for membership lists. */
export const MAX_MEMBERS = 1000;

export interface MembershipChange {
  userId: string;
  login: string;
  joined: boolean;
}

export interface ChatterPage {
  members: { userId: string; login: string }[];
  /** Every member, not only this page's. */
  total: number;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class IrcMembership {
  /** userId → login and how many of the user's sockets are in the room. */
  readonly #members = new Map<string, { login: string; sockets: number }>();

  /** A signed-in socket joined; the change to relay when it is the user's first socket here. */
  join(userId: string, login: string): MembershipChange | null {
    const member = this.#members.get(userId);
    if (member) {
      member.sockets++;
      return null;
    }
    if (this.#members.size >= MAX_MEMBERS) return null;
    this.#members.set(userId, { login: login.toLowerCase(), sockets: 1 });
    return { userId, login: login.toLowerCase(), joined: true };
  }

  /** A signed-in socket left; the change to relay when it was the user's last socket here. */
  leave(userId: string): MembershipChange | null {
    const member = this.#members.get(userId);
    if (!member) return null;
    member.sockets--;
    if (member.sockets > 0) return null;
    this.#members.delete(userId);
    return { userId, login: member.login, joined: false };
  }

  /**
   * One page of members in (login, user id) order after `after`, and how many there are: Helix
   * GET /chat/chatters. Sorting at most MAX_MEMBERS entries per page is cheap next to the RPC.
   */
  listPage(after: { login: string; id: string } | null, first: number): ChatterPage {
    const all = [...this.#members]
      .map(([userId, member]) => ({ userId, login: member.login }))
      .sort((a, b) => compare(a.login, b.login) || compare(a.userId, b.userId));
    const start = after
      ? all.findIndex(
          (m) => compare(m.login, after.login) > 0 || (m.login === after.login && m.userId > after.id),
        )
      : 0;
    const members = start < 0 ? [] : all.slice(start, start + Math.max(0, first));
    return { members, total: all.length };
  }

  /** The signed-in users present, at most MAX_MEMBERS (community gifts pick among them). */
  listUserIds(): string[] {
    return [...this.#members.keys()];
  }

  /** The logins for a NAMES reply, at most MAX_MEMBERS. */
  listLogins(): string[] {
    return [...this.#members.values()].map((member) => member.login);
  }
}
