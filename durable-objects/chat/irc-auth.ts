// Who an IRC `PASS oauth:<token>` signs in as. Twitch IRC takes an OAuth user access token
// (https://dev.twitch.tv/docs/chat/irc/#authenticating): here one issued by /oauth2/ to a
// registered application (durable-objects/shared/oauth-tokens.ts), never the account's own
// full-power session token, so a chat bot holds a credential that can do nothing but chat, and
// its owner can revoke it alone. `chat:edit` lets the socket send; any other user token reads only
// (Twitch's scopes page: chat:read "View live stream chat", chat:edit "Send live stream chat").
// App access tokens (client credentials) name no user and are refused, as Twitch refuses them.
import { hasScope, validateAccessToken } from '../shared/oauth-tokens.ts';
import type { SocketSession } from './directory.ts';

export async function findIrcLogin(
  db: D1Database,
  token: string,
  now = Date.now(),
): Promise<SocketSession | null> {
  const info = await validateAccessToken({ DB: db }, token, now);
  if (!info || info.userId === null || info.login === null) return null;
  return {
    session: { userId: info.userId, login: info.login },
    tokenHash: info.tokenHash,
    canSend: hasScope(info, 'chat:edit'),
  };
}
