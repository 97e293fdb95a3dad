import { createScheduledController, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { runScheduled } from '../../workers/cron.ts';
import { signUp } from './api-helpers.ts';

describe('cron sweeps', () => {
  it('deletes expired sessions and idempotency keys older than a day, keeping the rest', async () => {
    const user = await signUp('sweep');
    const now = Date.now();
    await env.DB.batch([
      env.DB.prepare(
        'INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
      ).bind('expired-hash', user.user.id, now - 10_000, now - 1),
      env.DB.prepare(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status, response_body, created_at) VALUES ('s', 'old', 'h', 200, '{}', ?), ('s', 'new', 'h', 200, '{}', ?)",
      ).bind(now - 25 * 3600_000, now - 3600_000),
    ]);
    await runScheduled(createScheduledController({ scheduledTime: now, cron: '*/10 * * * *' }), env);
    const sessions = await env.DB.prepare('SELECT token_hash FROM sessions WHERE user_id = ?')
      .bind(user.user.id)
      .all<{ token_hash: string }>();
    expect(sessions.results.map((r) => r.token_hash)).not.toContain('expired-hash');
    expect(sessions.results).toHaveLength(1);
    const keys = await env.DB.prepare("SELECT key FROM idempotency_keys WHERE scope = 's'").all<{
      key: string;
    }>();
    expect(keys.results.map((r) => r.key)).toEqual(['new']);
  });
});
