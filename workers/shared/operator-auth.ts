// Operator credentials: a bearer token compared with a secret of the Worker (ADMIN_TOKEN for the
// admin API, METRICS_TOKEN for GET /metrics). An unset secret refuses every request rather than accepting
// an empty token; the comparison is constant-time over digests (equal lengths whatever was sent).
const encoder = new TextEncoder();

export async function isBearerSecret(
  header: string | undefined,
  secret: string | undefined,
): Promise<boolean> {
  if (!secret || !header?.startsWith('Bearer ')) return false;
  const [given, expected] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(header.slice('Bearer '.length))),
    crypto.subtle.digest('SHA-256', encoder.encode(secret)),
  ]);
  return crypto.subtle.timingSafeEqual(given, expected);
}
