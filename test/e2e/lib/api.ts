// A small typed client for the public API, for end-to-end tests and benchmarks.
export interface SignedUp {
  token: string;
  user: { id: string; username: string };
  channel: { id: string; name: string };
}

/** 10.123.0.0/16, from a random start per process so reruns against a kept state do not collide. */
let signupAddress = Math.floor(Math.random() * 60_000);

function nextSignupAddress(): string {
  signupAddress = (signupAddress + 1) % 65_536;
  return `10.123.${signupAddress >> 8}.${signupAddress & 255}`;
}

export class ApiClient {
  readonly baseUrl: string;
  token: string | undefined;

  constructor(baseUrl: string, token?: string) {
    this.baseUrl = baseUrl;
    this.token = token;
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const headers: Record<string, string> = { ...extraHeaders };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await fetch(`${this.baseUrl}/api/v1${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
  }

  /**
   * Signs up from an address of its own (CF-Connecting-IP, which wrangler dev passes through as
   * Cloudflare's edge would set it): signups are limited per network (5 an hour, the strict limits
   * tests run with), and a test file may sign up more users than that. The limit itself is tested
   * in workerd (test/worker/api-accounts.test.ts).
   */
  async signup(username: string, password = 'correct-horse-battery'): Promise<SignedUp> {
    const res = await this.request<SignedUp>(
      'POST',
      '/auth/signup',
      { username, password },
      { 'CF-Connecting-IP': nextSignupAddress() },
    );
    if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.body)}`);
    this.token = res.body.token;
    return res.body;
  }

  async streamKey(channelId: string): Promise<{ stream_key: string; ingest_url: string }> {
    const res = await this.request<{ stream_key: string; ingest_url: string }>(
      'GET',
      `/channels/${channelId}/stream-key`,
    );
    if (res.status !== 200) throw new Error(`stream-key failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Waits until the channel's source rendition lists at least `count` whole segments (2 s each), so a
 * clip of the last N seconds has media to cut however slowly a busy machine started the stream.
 */
export async function waitForSegments(
  baseUrl: string,
  channelId: string,
  count: number,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await fetch(`${baseUrl}/live/${channelId}/source.m3u8`);
    const text = res.ok ? await res.text() : '';
    const segments = text.split('\n').filter((line) => line.endsWith('.m4s') && !line.startsWith('#')).length;
    if (segments >= count) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the stream did not reach ${count} segments in ${timeoutMs} ms`);
}
