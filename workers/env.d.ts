// Secrets are not in wrangler.toml, so `wrangler types` cannot see them. Set them with
// `wrangler secret put NAME` in production; `npm start` writes random ones to .dev.vars locally.
interface SecretBindings {
  /** Shared with the transcoder: authenticates calls to /internal/ingest. */
  INGEST_SECRET: string;
  /** Derives stream keys (HMAC) so that only their hashes are stored. */
  STREAM_KEY_SECRET: string;
  /** Stripe's API key, when PAYMENT_PROVIDER is "stripe" (docs/payments.md). */
  STRIPE_SECRET_KEY?: string;
  /** Stripe's webhook signing secret (whsec_...); the fake provider derives its own when unset. */
  STRIPE_WEBHOOK_SECRET?: string;
  /** The operator's bearer token for GET /metrics (docs/operations.md); unset refuses every scrape. */
  METRICS_TOKEN?: string;
  /** The operator's bearer token for the admin API (docs/api.md "Operators"); unset refuses it all. */
  ADMIN_TOKEN?: string;
  /**
   * Web Push (RFC 8292 VAPID, docs/api.md "Notifications"): the P-256 key pair, base64url (public:
   * 65 bytes uncompressed; private: the 32-byte scalar), made by `node scripts/vapid-keys.ts`, and a
   * mailto: or https: contact. Unset: no push, in-app notifications only.
   */
  VAPID_PUBLIC_KEY?: string;
  VAPID_PRIVATE_KEY?: string;
  VAPID_SUBJECT?: string;
}

interface Env extends SecretBindings {}

declare namespace Cloudflare {
  interface Env extends SecretBindings {}
}
