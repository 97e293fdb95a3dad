// OAuth tokens for end-to-end tests, obtained the way a third-party tool obtains them
// (docs/twitch-compat.md): the account registers an application, the tool starts a device
// authorization (/oauth2/device), the signed-in user approves it (/oauth2/activate), the tool polls
// /oauth2/token; app access tokens come from client credentials.
import { z } from 'zod';

const App = z.object({ client_id: z.string(), client_secret: z.string() });
const Device = z.object({ device_code: z.string(), user_code: z.string() });
const Token = z.object({ access_token: z.string() });

export interface RegisteredApp {
  clientId: string;
  clientSecret: string;
}

async function readJson<T extends z.ZodType>(res: Response, schema: T, what: string): Promise<z.infer<T>> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: ${res.status} ${text}`);
  return schema.parse(JSON.parse(text));
}

export async function registerApp(
  baseUrl: string,
  sessionToken: string,
  name = 'e2e tool',
): Promise<RegisteredApp> {
  const res = await fetch(`${baseUrl}/api/v1/developer/apps`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${sessionToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      name,
      redirect_uris: ['http://localhost:3000/callback'],
      client_type: 'confidential',
    }),
  });
  const app = await readJson(res, App, 'register app');
  return { clientId: app.client_id, clientSecret: app.client_secret };
}

/** A user access token of `app` with `scopes`, approved by the user behind `sessionToken`. */
export async function issueUserToken(
  baseUrl: string,
  app: RegisteredApp,
  sessionToken: string,
  scopes: string[],
): Promise<string> {
  const device = await readJson(
    await fetch(`${baseUrl}/oauth2/device`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: app.clientId, scopes: scopes.join(' ') }),
    }),
    Device,
    'device authorization',
  );
  await readJson(
    await fetch(`${baseUrl}/oauth2/activate`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${sessionToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ user_code: device.user_code, decision: 'allow' }),
    }),
    z.unknown(),
    'activate',
  );
  const token = await readJson(
    await fetch(`${baseUrl}/oauth2/token`, {
      method: 'POST',
      body: new URLSearchParams({
        client_id: app.clientId,
        client_secret: app.clientSecret,
        device_code: device.device_code,
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      }),
    }),
    Token,
    'device token',
  );
  return token.access_token;
}

/** An app access token (client credentials). */
export async function issueAppToken(baseUrl: string, app: RegisteredApp): Promise<string> {
  const token = await readJson(
    await fetch(`${baseUrl}/oauth2/token`, {
      method: 'POST',
      body: new URLSearchParams({
        client_id: app.clientId,
        client_secret: app.clientSecret,
        grant_type: 'client_credentials',
      }),
    }),
    Token,
    'client credentials',
  );
  return token.access_token;
}
