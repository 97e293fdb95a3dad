// The API's rate limits and quotas, read from the one LIMITS table in wrangler.toml [vars] (see
// docs/api.md, "Limits"). Each entry is a count per sliding window; an entry may carry a
// `local_limit`, used instead of `limit` when LIMITS_PROFILE is "local" (what `npm start` sets), so
// a developer can sign up test accounts freely. Tests and deployments run the strict values.
import { z } from 'zod';
import type { RateLimit } from './rate-limit.ts';

const WindowLimit = z.object({
  limit: z.number().int().positive(),
  window_seconds: z.number().int().positive(),
  local_limit: z.number().int().positive().optional(),
});

/**
 * Attempts before a login subject locks, and how the lock grows: the count starts again only
 * window_seconds after the later of the last attempt and the end of the lock (login-guard.ts).
 */
const Lockout = z.object({
  failures: z.number().int().positive(),
  window_seconds: z.number().int().positive(),
  base_lock_seconds: z.number().int().positive(),
  max_lock_seconds: z.number().int().positive(),
});

export const LimitsTable = z.object({
  signup_per_network: WindowLimit,
  signup_per_network_block: WindowLimit,
  signup_per_username: WindowLimit,
  login_per_network: WindowLimit,
  login_per_network_block: WindowLimit,
  login_per_account_network: WindowLimit,
  login_account_lockout: Lockout,
  login_known_network_lockout: Lockout,
  password_change_per_account: WindowLimit,
  clip_attempts_per_user: WindowLimit,
  clips_per_user: WindowLimit,
  clips_per_channel: WindowLimit,
  clip_views_per_network: WindowLimit,
  checkouts_per_user: WindowLimit,
});
export type LimitsTable = z.infer<typeof LimitsTable>;
export type WindowLimitName = {
  [K in keyof LimitsTable]: LimitsTable[K] extends z.infer<typeof WindowLimit> ? K : never;
}[keyof LimitsTable];
export type LockoutPolicy = z.infer<typeof Lockout>;

/** `wrangler dev --var LIMITS:<json>` hands the table over as a string; wrangler.toml as an object. */
const LimitsInput = z.union([
  LimitsTable,
  z
    .string()
    .max(10_000)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'LIMITS is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(LimitsTable),
]);

const parsed = new WeakMap<object, LimitsTable>();

/** The table of this deployment. A malformed table is a configuration bug: it throws (a 500). */
export function readLimits(env: Env): LimitsTable {
  const cached = parsed.get(env);
  if (cached) return cached;
  const table = LimitsInput.parse(env.LIMITS);
  parsed.set(env, table);
  return table;
}

/** The rate-limit rule of entry `name`, with the local limit when LIMITS_PROFILE is "local". */
export function readRateLimit(env: Env, name: WindowLimitName): RateLimit {
  const entry = readLimits(env)[name];
  const local = String(env.LIMITS_PROFILE) === 'local' && entry.local_limit !== undefined;
  return {
    name: name.replaceAll('_', '-'),
    limit: local ? (entry.local_limit ?? entry.limit) : entry.limit,
    windowMs: entry.window_seconds * 1000,
  };
}
