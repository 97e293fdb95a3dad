// Signed-in sockets stay signed in only as long as their session does. A socket keeps the hash of
// the token it signed in with (socket-state.ts, never the token); the shard's periodic alarm checks
// every distinct hash it holds in one D1 query (sessions.ts, findLiveTokenHashes) and closes the
// sockets whose session is gone: log-out-everywhere, a password change, DELETE /auth/sessions/{id}
// and expiry all end chat within one sweep (docs/api.md, "Chat").
import { renderLoginFailed } from '../chat/irc.ts';
import { MAX_TOKEN_HASHES_PER_CHECK } from '../shared/sessions.ts';
import { CLOSE_POLICY_VIOLATION, type SocketHandle } from './socket-state.ts';

/**
 * Chooses the token hashes one sweep checks: every distinct one while they fit in one query, else
 * MAX_TOKEN_HASHES_PER_CHECK of them, the next ones each sweep, so every socket is checked within
 * ceil(distinct / MAX) sweeps and each sweep costs one bounded query.
 */
export class SessionSweep {
  #offset = 0;

  pick(tokenHashes: Iterable<string | null>): string[] {
    const distinct = [...new Set([...tokenHashes].filter((hash): hash is string => hash !== null))].sort();
    if (distinct.length <= MAX_TOKEN_HASHES_PER_CHECK) {
      this.#offset = 0;
      return distinct;
    }
    const start = this.#offset % distinct.length;
    const picked = [...distinct.slice(start), ...distinct.slice(0, start)].slice(
      0,
      MAX_TOKEN_HASHES_PER_CHECK,
    );
    this.#offset = start + MAX_TOKEN_HASHES_PER_CHECK;
    return picked;
  }
}

/**
 * Ends a socket whose session is gone. JSON: an `unauthorized` error frame; IRC: the NOTICE Twitch
 * sends for a token it does not accept. Then 1008; the shard's close handler leaves the rooms and
 * gives the seat back, as for any close.
 */
export function endRevokedSession(socket: SocketHandle): void {
  if (socket.state.protocol === 'json') {
    socket.sendJson({ type: 'error', code: 'unauthorized', message: 'Your session ended: sign in again.' });
  } else {
    socket.sendIrc([renderLoginFailed()]);
  }
  socket.close(CLOSE_POLICY_VIOLATION, 'session ended');
}
