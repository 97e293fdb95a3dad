// `npm run demo`: goes live on a running `npm start` with a generated test pattern and a tone, so a
// newcomer sees a live stream at once. Creates (or logs into) the `demo` channel, reads its stream
// key and publishes with ffmpeg over RTMP like OBS would (H.264 + AAC, 2 s keyframes).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, runCommand } from './lib/platform.ts';

const BASE = process.env.EDGESTREAM_URL ?? 'http://localhost:8787';
const USERNAME = process.env.DEMO_USER ?? 'demo';
const PASSWORD = process.env.DEMO_PASSWORD ?? 'demo-password-1';
const SIZE = process.env.DEMO_SIZE ?? '640x360';
const FPS = Number(process.env.DEMO_FPS ?? 30);
/** Partners get the whole ladder; the demo shows it off. There is no API for tiers (an operator's call). */
const TIER = process.env.DEMO_TIER ?? 'partner';

interface Session {
  token: string;
  channel: { id: string; name: string };
}

async function api<T>(
  path: string,
  init: RequestInit & { token?: string } = {},
): Promise<{ status: number; body: T }> {
  const headers = new Headers(init.headers);
  headers.set('content-type', 'application/json');
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  const res = await fetch(`${BASE}/api/v1${path}`, { ...init, headers });
  return { status: res.status, body: (await res.json()) as T };
}

async function signIn(): Promise<Session> {
  const credentials = JSON.stringify({ username: USERNAME, password: PASSWORD });
  const signup = await api<Session>('/auth/signup', { method: 'POST', body: credentials });
  if (signup.status === 201 || signup.status === 200) return signup.body;
  const login = await api<Session>('/auth/login', { method: 'POST', body: credentials });
  if (login.status !== 200)
    throw new Error(`could not sign in as ${USERNAME}: ${JSON.stringify(login.body)}`);
  return login.body;
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
  const started = await api<{ stream_key: string; ingest_url: string }>('/streams/start', {
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
  if (started.status !== 200) throw new Error(`POST /streams/start failed: ${JSON.stringify(started.body)}`);
  const { stream_key: key, ingest_url: ingestUrl } = started.body;
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
  console.error('[demo] is `npm start` running?');
  process.exit(1);
});
