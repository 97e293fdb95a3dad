// OpenID Connect ID tokens (https://openid.net/specs/openid-connect-core-1_0.html#IDToken), as
// Twitch issues them for the `openid` scope: a JWT signed RS256 with the platform's key, whose
// public half /oauth2/keys publishes. The key is the secret OIDC_SIGNING_JWK (an RSA private key as
// a JWK, e.g. `crypto.generateKeyPairSync('rsa', {modulusLength: 2048}).privateKey.export({format:
// 'jwk'})`); without it no id_token is issued and /oauth2/keys lists no key (docs/twitch-compat.md).
import { z } from 'zod';
import { encodeBase64Url } from '../shared/crypto.ts';

/** Twitch's ID tokens live 15 minutes: they prove a sign-in, they are not access tokens. */
export const ID_TOKEN_TTL_SECONDS = 15 * 60;

const SigningSecret = z.object({ OIDC_SIGNING_JWK: z.string().min(1).max(10_000) });
const RsaPrivateJwk = z.object({
  kty: z.literal('RSA'),
  n: z.string().min(1),
  e: z.string().min(1),
  d: z.string().min(1),
  p: z.string().min(1),
  q: z.string().min(1),
  dp: z.string().min(1),
  dq: z.string().min(1),
  qi: z.string().min(1),
});

export interface PublicSigningKey {
  kty: 'RSA';
  n: string;
  e: string;
  kid: string;
  alg: 'RS256';
  use: 'sig';
}

export interface SigningKey {
  privateKey: CryptoKey;
  publicJwk: PublicSigningKey;
}

const ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

/** The configured signing key, or null when none is configured; a malformed one is a deploy bug. */
export async function loadSigningKey(env: unknown): Promise<SigningKey | null> {
  const secret = SigningSecret.safeParse(env);
  if (!secret.success) return null;
  const jwk = RsaPrivateJwk.parse(JSON.parse(secret.data.OIDC_SIGNING_JWK));
  const privateKey = await crypto.subtle.importKey('jwk', jwk, ALGORITHM, false, ['sign']);
  // The key id names the modulus, so a rotated key gets a new kid without configuring one.
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(jwk.n)));
  const kid = encodeBase64Url(digest).slice(0, 16);
  return { privateKey, publicJwk: { kty: 'RSA', n: jwk.n, e: jwk.e, kid, alg: 'RS256', use: 'sig' } };
}

export interface IdTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  azp: string;
  iat: number;
  exp: number;
  nonce?: string;
  preferred_username: string;
}

function encodeJson(value: unknown): string {
  return encodeBase64Url(new TextEncoder().encode(JSON.stringify(value)));
}

/** A compact JWS (RFC 7515 section 7.1): base64url(header).base64url(claims).base64url(signature). */
export async function signIdToken(key: SigningKey, claims: IdTokenClaims): Promise<string> {
  const input = `${encodeJson({ alg: 'RS256', typ: 'JWT', kid: key.publicJwk.kid })}.${encodeJson(claims)}`;
  const signature = await crypto.subtle.sign(ALGORITHM, key.privateKey, new TextEncoder().encode(input));
  return `${input}.${encodeBase64Url(new Uint8Array(signature))}`;
}
