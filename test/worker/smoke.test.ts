import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';

describe('worker', () => {
  it('answers unknown API routes with the JSON error body', async () => {
    const res = await SELF.fetch('http://localhost/api/v1/nope');
    expect(res.status).toBe(404);
    const row = await env.DB.prepare('SELECT count(*) AS n FROM categories').first<{ n: number }>();
    expect(row?.n).toBeGreaterThan(0);
  });

  it('labels every API answer nosniff, errors and the OpenAPI document alike', async () => {
    for (const path of ['/api/v1/nope', '/api/v1/openapi.json', '/api/v1/health', '/api/v1/users/me']) {
      const res = await SELF.fetch(`http://localhost${path}`);
      await res.arrayBuffer();
      expect(res.headers.get('X-Content-Type-Options'), path).toBe('nosniff');
    }
  });
});
