// IRCv3 capability negotiation as tmi.twitch.tv answers it
// (https://ircv3.net/specs/extensions/capability-negotiation.html,
// https://dev.twitch.tv/docs/chat/irc/#requesting-twitch-capabilities):
//   CAP LS [302]  → CAP * LS :twitch.tv/tags twitch.tv/commands twitch.tv/membership
//   CAP REQ :a b  → CAP * ACK :a b    when every capability is known (a "-cap" disables one)
//                 → CAP * NAK :a b    otherwise, and nothing changes ("the server MUST NOT make
//                                     any change to any capabilities if it NAKs the request")
//   CAP LIST      → CAP * LIST :what this connection has enabled
//   CAP END       → nothing: Twitch does not suspend registration, so END only ends negotiation
//   anything else → 410 * <subcommand> :Invalid CAP command
// Pure: the session applies the result and sends the lines.
import {
  formatIrcLine,
  IRC_HOST,
  renderCapEnabled,
  renderCapList,
  renderCapReply,
  TWITCH_CAPABILITIES,
  type TwitchCapability,
} from './irc.ts';

/** A REQ naming more tokens than this is refused whole: there are three capabilities to ask for. */
const MAX_REQUESTED_CAPABILITIES = 16;

export interface CapabilityReply {
  /** The enabled capabilities after this command (the same array when nothing changed). */
  caps: TwitchCapability[];
  lines: string[];
}

function isTwitchCapability(name: string): name is TwitchCapability {
  return TWITCH_CAPABILITIES.some((cap) => cap === name);
}

/** Answers one CAP command (`params` after "CAP") given the capabilities enabled so far. */
export function negotiateCapabilities(
  enabled: TwitchCapability[],
  params: readonly string[],
): CapabilityReply {
  const sub = (params[0] ?? '').toUpperCase();
  switch (sub) {
    case 'LS':
      return { caps: enabled, lines: [renderCapList()] };
    case 'LIST':
      return { caps: enabled, lines: [renderCapEnabled(enabled)] };
    case 'END':
      return { caps: enabled, lines: [] };
    case 'REQ':
      return requestCapabilities(enabled, params[1] ?? '');
    default:
      return {
        caps: enabled,
        lines: [
          formatIrcLine({
            prefix: IRC_HOST,
            command: '410',
            params: ['*', sub || '*'],
            trailing: 'Invalid CAP command',
          }),
        ],
      };
  }
}

function requestCapabilities(enabled: TwitchCapability[], request: string): CapabilityReply {
  const tokens = request.split(' ').filter((token) => token.length > 0);
  const nak = { caps: enabled, lines: [renderCapReply('NAK', request.trim())] };
  if (tokens.length === 0 || tokens.length > MAX_REQUESTED_CAPABILITIES) return nak;
  const next = new Set(enabled);
  for (const token of tokens) {
    const disable = token.startsWith('-');
    const name = disable ? token.slice(1) : token;
    // Capability names are case-sensitive (Twitch: "the capability strings are case sensitive").
    if (!isTwitchCapability(name)) return nak;
    if (disable) next.delete(name);
    else next.add(name);
  }
  return {
    caps: TWITCH_CAPABILITIES.filter((cap) => next.has(cap)),
    lines: [renderCapReply('ACK', request.trim())],
  };
}
