// Requests of the developer pages (OAuth apps, consent, device activation) to routes outside the
// typed /api/v1 client: /api/v1/developer/apps and /oauth2/ (workers/oauth/). The signed-in
// session's bearer token goes in the header, never in a URL; answers are parsed with zod.
import * as z from 'zod/mini';
import { ApiRequestError, readToken } from './client.ts';

const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
const TwitchErrorBody = z.object({ status: z.number(), message: z.string() });

export async function requestJson<T>(
  path: string,
  schema: z.ZodMiniType<T>,
  init: RequestInit = {},
): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('Accept', 'application/json');
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');
  const token = readToken();
  if (token !== null) headers.set('Authorization', `Bearer ${token}`);
  const response = await fetch(path, { ...init, headers });
  const body: unknown = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const ours = ErrorBody.safeParse(body);
    if (ours.success)
      throw new ApiRequestError(response.status, ours.data.error.code, ours.data.error.message);
    const twitch = TwitchErrorBody.safeParse(body);
    throw new ApiRequestError(
      response.status,
      'error',
      twitch.success ? twitch.data.message : response.statusText,
    );
  }
  return schema.parse(body);
}

export const ScopeDescription = z.object({ scope: z.string(), description: z.string() });
export type ScopeDescription = z.infer<typeof ScopeDescription>;

export const DeveloperApp = z.object({
  client_id: z.string(),
  name: z.string(),
  client_type: z.enum(['confidential', 'public']),
  redirect_uris: z.array(z.string()),
  created_at: z.string(),
  client_secret: z.optional(z.nullable(z.string())),
});
export type DeveloperApp = z.infer<typeof DeveloperApp>;
