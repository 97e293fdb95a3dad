// Registered OAuth applications (docs/twitch-compat.md, "OAuth2"): a developer registers a name and
// exact redirect URIs in the dashboard and gets a client id and, for a confidential client, a
// client secret shown once (only its SHA-256 is stored, as tokens are).
import { z } from 'zod';
import { hashSha256Hex } from '../../common/hashing.ts';
import { generateRandomToken } from '../shared/crypto.ts';

/** How many applications one account may register, and redirect URIs per application. */
export const MAX_APPS_PER_USER = 20;
export const MAX_REDIRECT_URIS = 10;
export const MAX_REDIRECT_URI_LENGTH = 500;

/**
 * A redirect URI: https, or http only to a loopback host (RFC 8252 section 7.3 lets native apps
 * listen on loopback), never with a fragment (RFC 6749 section 3.1.2: "MUST NOT include a fragment
 * component").
 */
export const RedirectUri = z
  .string()
  .max(MAX_REDIRECT_URI_LENGTH)
  .refine((value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    if (url.hash !== '' || value.includes('#')) return false;
    if (url.protocol === 'https:') return true;
    return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  }, 'must be an https URL (or http to localhost) without a fragment');

export const AppInput = z.object({
  name: z.string().trim().min(1).max(60),
  redirect_uris: z.array(RedirectUri).min(1).max(MAX_REDIRECT_URIS),
  client_type: z.enum(['confidential', 'public']).default('confidential'),
});
export const AppUpdate = z.object({
  name: z.string().trim().min(1).max(60).optional(),
  redirect_uris: z.array(RedirectUri).min(1).max(MAX_REDIRECT_URIS).optional(),
});

const AppRow = z.object({
  client_id: z.string(),
  owner_id: z.string(),
  name: z.string(),
  client_secret_hash: z.string().nullable(),
  client_type: z.enum(['confidential', 'public']),
  redirect_uris: z.string(),
  created_at: z.number(),
});

export interface OAuthApp {
  clientId: string;
  ownerId: string;
  name: string;
  clientType: 'confidential' | 'public';
  redirectUris: string[];
  createdAt: number;
  clientSecretHash: string | null;
}

function readApp(row: unknown): OAuthApp {
  const parsed = AppRow.parse(row);
  return {
    clientId: parsed.client_id,
    ownerId: parsed.owner_id,
    name: parsed.name,
    clientType: parsed.client_type,
    redirectUris: z.array(z.string()).parse(JSON.parse(parsed.redirect_uris)),
    createdAt: parsed.created_at,
    clientSecretHash: parsed.client_secret_hash,
  };
}

/** The app as the dashboard shows it: never the secret's hash. */
export function describeApp(app: OAuthApp) {
  return {
    client_id: app.clientId,
    name: app.name,
    client_type: app.clientType,
    redirect_uris: app.redirectUris,
    created_at: new Date(app.createdAt).toISOString(),
  };
}

export async function findApp(db: D1Database, clientId: string): Promise<OAuthApp | null> {
  if (clientId.length === 0 || clientId.length > 64) return null;
  const row = await db.prepare('SELECT * FROM oauth_apps WHERE client_id = ?').bind(clientId).first();
  return row === null ? null : readApp(row);
}

export async function listApps(db: D1Database, ownerId: string): Promise<OAuthApp[]> {
  const rows = await db
    .prepare('SELECT * FROM oauth_apps WHERE owner_id = ? ORDER BY created_at DESC LIMIT ?')
    .bind(ownerId, MAX_APPS_PER_USER)
    .all();
  return rows.results.map(readApp);
}

export type CreateAppOutcome =
  | { kind: 'created'; app: OAuthApp; clientSecret: string | null }
  | { kind: 'too-many' };

/** Client ids are 30 lower-case hex characters, the length of Twitch's. */
export async function createApp(
  db: D1Database,
  ownerId: string,
  input: z.infer<typeof AppInput>,
  now = Date.now(),
): Promise<CreateAppOutcome> {
  const clientId = generateRandomToken(15);
  const clientSecret = input.client_type === 'confidential' ? generateRandomToken(15) : null;
  // The count and the insert are one statement, so concurrent registrations cannot pass the cap.
  const result = await db
    .prepare(
      `INSERT INTO oauth_apps (client_id, owner_id, name, client_secret_hash, client_type, redirect_uris, created_at)
       SELECT ?, ?, ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM oauth_apps WHERE owner_id = ?2) < ?`,
    )
    .bind(
      clientId,
      ownerId,
      input.name,
      clientSecret === null ? null : await hashSha256Hex(clientSecret),
      input.client_type,
      JSON.stringify(input.redirect_uris),
      now,
      MAX_APPS_PER_USER,
    )
    .run();
  if (result.meta.changes === 0) return { kind: 'too-many' };
  const app: OAuthApp = {
    clientId,
    ownerId,
    name: input.name,
    clientType: input.client_type,
    redirectUris: input.redirect_uris,
    createdAt: now,
    clientSecretHash: null,
  };
  return { kind: 'created', app, clientSecret };
}

export async function updateApp(
  db: D1Database,
  app: OAuthApp,
  update: z.infer<typeof AppUpdate>,
): Promise<OAuthApp> {
  const next = {
    ...app,
    name: update.name ?? app.name,
    redirectUris: update.redirect_uris ?? app.redirectUris,
  };
  await db
    .prepare('UPDATE oauth_apps SET name = ?, redirect_uris = ? WHERE client_id = ?')
    .bind(next.name, JSON.stringify(next.redirectUris), app.clientId)
    .run();
  return next;
}

/** A new secret; the old one stops working at once (tokens already issued stay valid, as on Twitch). */
export async function resetAppSecret(db: D1Database, app: OAuthApp): Promise<string> {
  const clientSecret = generateRandomToken(15);
  await db
    .prepare("UPDATE oauth_apps SET client_secret_hash = ?, client_type = 'confidential' WHERE client_id = ?")
    .bind(await hashSha256Hex(clientSecret), app.clientId)
    .run();
  return clientSecret;
}

/** Deleting an application ends every grant and token it holds (ON DELETE CASCADE). */
export async function deleteApp(db: D1Database, app: OAuthApp): Promise<void> {
  await db.prepare('DELETE FROM oauth_apps WHERE client_id = ?').bind(app.clientId).run();
}

/** Whether `secret` is the app's client secret; a public client has none to match. */
export async function checkClientSecret(app: OAuthApp, secret: string | undefined): Promise<boolean> {
  if (app.clientSecretHash === null || secret === undefined || secret.length > 200) return false;
  const given = await hashSha256Hex(secret);
  // Comparing hashes: the time taken says nothing about the secret itself.
  return given === app.clientSecretHash;
}
