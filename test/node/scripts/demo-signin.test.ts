// `npm run demo` tells a new user why it could not sign in. Against a real HTTP server that answers
// like the API does (a rate-limited signup, an existing account with another password), the script
// must print the API's own reason and Retry-After, never a misleading "Wrong username or password".
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');

type Reply = { status: number; body: unknown; headers?: Record<string, string> };

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** An API stand-in that answers each path with a fixed reply and records what was called. */
async function serve(replies: Record<string, Reply>): Promise<{ url: string; calls: string[] }> {
  const calls: string[] = [];
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    calls.push(path);
    const reply = replies[path] ?? { status: 404, body: { error: { code: 'not_found', message: 'nope' } } };
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, calls };
}

/** Runs scripts/demo.ts against `url`; bounded to 20 s. */
function runDemo(url: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'scripts', 'demo.ts')], {
      env: { ...process.env, EDGESTREAM_URL: url },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('demo did not exit within 20 s'));
    }, 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('npm run demo signing in', () => {
  it('reports a rate-limited signup as such, with its Retry-After, and does not try to log in', async () => {
    const api = await serve({
      '/api/v1/auth/signup': {
        status: 429,
        headers: { 'Retry-After': '1800' },
        body: {
          error: {
            code: 'rate_limited',
            message: 'Too many signups from this network; try again after Retry-After seconds',
          },
        },
      },
    });
    const { code, stderr } = await runDemo(api.url);
    expect(code).toBe(1);
    expect(stderr).toContain('Too many signups from this network');
    expect(stderr).toContain('Try again in 1800 s');
    expect(stderr).not.toMatch(/wrong username or password/i);
    expect(api.calls).toEqual(['/api/v1/auth/signup']);
  });

  it('logs in when the name is taken and says when the password is not the demo one', async () => {
    const api = await serve({
      '/api/v1/auth/signup': {
        status: 409,
        body: { error: { code: 'conflict', message: 'That username is taken' } },
      },
      '/api/v1/auth/login': {
        status: 401,
        body: { error: { code: 'unauthorized', message: 'Wrong username or password' } },
      },
    });
    const { code, stderr } = await runDemo(api.url);
    expect(code).toBe(1);
    expect(stderr).toContain('set DEMO_PASSWORD');
    expect(api.calls).toEqual(['/api/v1/auth/signup', '/api/v1/auth/login']);
  });
});
