import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';

describe('worker', () => {
  it('answers unknown API routes with the JSON error body', async () => {
    const res = await SELF.fetch('http://localhost/api/v1/nope');
    expect(res.status).toBe(404);
    const row = await env.DB.prepare('SELECT count(*) AS n FROM categories').first<{ n: number }>();
    expect(row?.n).toBeGreaterThan(0);
  });
});
