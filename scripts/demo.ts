// `npm run demo`: goes live on a running `npm start` with a generated test pattern and a tone, so a
// newcomer sees a live stream at once. Creates (or logs into) the `demo` channel, reads its stream
// key and publishes with ffmpeg over RTMP like OBS would (H.264 + AAC, 2 s keyframes).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';
import { ROOT, runCommand } from './lib/platform.ts';

const BASE = process.env.EDGESTREAM_URL ?? 'http://localhost:8787';
const USERNAME = process.env.DEMO_USER ?? 'demo';
const PASSWORD = process.env.DEMO_PASSWORD ?? 'demo-password-1';
const SIZE = process.env.DEMO_SIZE ?? '640x360';
const FPS = Number(process.env.DEMO_FPS ?? 30);
/** Partners get the whole ladder; the demo shows it off. There is no API for tiers (an operator's call). */
const TIER = process.env.DEMO_TIER ?? 'partner';

const Session = z.object({ token: z.string(), channel: z.object({ id: z.string(), name: z.string() }) });
type Session = z.infer<typeof Session>;
const ApiErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
const StreamStart = z.object({ stream_key: z.string(), ingest_url: z.string() });

async function api(
  path: string,
  init: RequestInit & { token?: string } = {},
): Promise<{ status: number; body: unknown; retryAfter: string | null }> {
  const headers = new Headers(init.headers);
  headers.set('content-type', 'application/json');
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  const res = await fetch(`${BASE}/api/v1${path}`, { ...init, headers });
  const body: unknown = await res.json().catch(() => null);
  return { status: res.status, body, retryAfter: res.headers.get('Retry-After') };
}

/** One line for the person running the demo: the API's own reason, and when to retry if it said. */
function describeFailure(
  what: string,
  res: { status: number; body: unknown; retryAfter: string | null },
): string {
  const parsed = ApiErrorBody.safeParse(res.body);
  const reason = parsed.success
    ? `${parsed.data.error.code}: ${parsed.data.error.message}`
    : JSON.stringify(res.body);
  const wait = res.status === 429 && res.retryAfter ? ` Try again in ${res.retryAfter} s.` : '';
  return `${what} failed (${res.status} ${reason}).${wait}`;
}

/**
 * Signs up `demo` the first time and logs in after that. Only "that username is taken" (409) means
 * the account exists; any other refusal (a signup rate limit above all) is reported as it is,
 * rather than as the "wrong password" a login attempt for a missing account would give.
 */
async function signIn(): Promise<Session> {
  const credentials = JSON.stringify({ username: USERNAME, password: PASSWORD });
  const signup = await api('/auth/signup', { method: 'POST', body: credentials });
  if (signup.status === 201 || signup.status === 200) return Session.parse(signup.body);
  if (signup.status !== 409) throw new Error(describeFailure(`signing up as ${USERNAME}`, signup));
  const login = await api('/auth/login', { method: 'POST', body: credentials });
  if (login.status !== 200) {
    const hint =
      login.status === 401
        ? ` (the account ${USERNAME} exists with another password: set DEMO_PASSWORD)`
        : '';
    throw new Error(`${describeFailure(`logging in as ${USERNAME}`, login)}${hint}`);
  }
  return Session.parse(login.body);
}

/** Sets the demo channel's tier in the local D1 that `npm start` uses. */
async function setLocalTier(channelId: string): Promise<void> {
  if (!/^(none|affiliate|partner)$/.test(TIER) || !/^[0-9a-f-]{36}$/.test(channelId)) return;
  await runCommand(process.execPath, [
    join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
    ...['d1', 'execute', 'DB', '--local', '--persist-to', join(ROOT, '.wrangler', 'state')],
    ...['--command', `UPDATE channels SET tier = '${TIER}' WHERE id = '${channelId}'`],
  ]).catch((error: unknown) =>
    console.warn(`[demo] could not set the tier: ${String(error).split('\n')[0]}`),
  );
}

async function main(): Promise<void> {
  const session = await signIn();
  const { channel, token } = session;
  if (BASE.includes('localhost') || BASE.includes('127.0.0.1')) await setLocalTier(channel.id);
  const started = await api('/streams/start', {
    method: 'POST',
    token,
    body: JSON.stringify({
      channel_id: channel.id,
      title: 'Demo stream: test pattern and a 440 Hz tone',
      category: 'software-and-game-development',
      tags: ['demo', 'English'],
      language: 'en',
    }),
  });
  if (started.status !== 200) throw new Error(describeFailure('POST /streams/start', started));
  const { stream_key: key, ingest_url: ingestUrl } = StreamStart.parse(started.body);
  console.log(`[demo] publishing ${SIZE}@${FPS} to ${ingestUrl}/<key>`);
  console.log(`[demo] watch at ${BASE}/${channel.name}  (HLS: ${BASE}/live/${channel.id}/master.m3u8)`);
  console.log('[demo] Ctrl-C to stop');
  const ffmpeg = spawn(
    'ffmpeg',
    [
      ['-hide_banner', '-loglevel', 'error', '-re'],
      ['-f', 'lavfi', '-i', `testsrc2=size=${SIZE}:rate=${FPS}`],
      ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
      ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p'],
      [
        '-g',
        String(FPS * 2),
        '-keyint_min',
        String(FPS * 2),
        '-b:v',
        '1500k',
        '-maxrate',
        '1500k',
        '-bufsize',
        '3000k',
      ],
      ['-c:a', 'aac', '-b:a', '128k', '-ar', '48000'],
      ['-f', 'flv', `${ingestUrl}/${key}`],
    ].flat(),
    { stdio: 'inherit' },
  );
  process.on('SIGINT', () => ffmpeg.kill('SIGINT'));
  const code = await new Promise<number | null>((resolve) => ffmpeg.on('exit', resolve));
  process.exit(code ?? 0);
}

main().catch((error: unknown) => {
  console.error(`[demo] ${error instanceof Error ? error.message : String(error)}`);
  // fetch() throws a TypeError when nothing answers at all; the API's own refusals are said above.
  if (error instanceof TypeError) console.error(`[demo] is \`npm start\` running at ${BASE}?`);
  process.exit(1);
});
