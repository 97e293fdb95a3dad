// Idempotency-Key and body limits through the real Worker: what is stored (never a credential),
// what a replay answers, binary bodies, abandoned claims, and 413s before any body is read.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { IN_FLIGHT_TIMEOUT_MS } from '../../workers/api/middleware/idempotency.ts';
import { callApi, createTestIp, createUsername, readError, signUp, type TestSession } from './api-helpers.ts';

const StreamKeyBody = z.looseObject({ stream_key: z.string() });
const StoredRow = z.object({ status: z.number(), response_body: z.string(), reissue: z.string().nullable() });

async function readStoredRow(key: string): Promise<z.infer<typeof StoredRow> | null> {
  const row = await env.DB.prepare(
    'SELECT status, response_body, reissue FROM idempotency_keys WHERE key = ?',
  )
    .bind(key)
    .first();
  return row ? StoredRow.parse(row) : null;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const BOUNDARY = 'edgestream-test-boundary';

/** A multipart emote upload with a fixed boundary, so a retry sends exactly the same bytes. */
function buildEmoteUpload(name: string, image: Uint8Array): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder();
  const head = encoder.encode(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\n${name}\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="e.png"\r\nContent-Type: image/png\r\n\r\n`,
  );
  const tail = encoder.encode(`\r\n--${BOUNDARY}--\r\n`);
  const body = new Uint8Array(head.byteLength + image.byteLength + tail.byteLength);
  body.set(head);
  body.set(image, head.byteLength);
  body.set(tail, head.byteLength + image.byteLength);
  return body;
}

function postEmote(owner: TestSession, body: BodyInit, headers: Record<string, string> = {}) {
  return SELF.fetch(`http://localhost/api/v1/channels/${owner.channel.id}/emotes`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${owner.token}`,
      'Content-Type': `multipart/form-data; boundary=${BOUNDARY}`,
      'CF-Connecting-IP': createTestIp(),
      ...headers,
    },
    body,
  });
}

describe('idempotency keys and credentials', () => {
  it('stores a stream start without its stream key and replays it with the key derived again', async () => {
    const owner = await signUp('idemkey');
    const key = crypto.randomUUID();
    const request = { method: 'POST', token: owner.token, headers: { 'Idempotency-Key': key } };
    const body = { channel_id: owner.channel.id, title: 'Keyed' };
    const first = await callApi('/streams/start', { ...request, body });
    expect(first.status).toBe(200);
    const firstBody = StreamKeyBody.parse(await first.json());

    const stored = await readStoredRow(key);
    expect(stored?.status).toBe(200);
    expect(stored?.response_body).not.toContain(firstBody.stream_key);
    expect(stored?.response_body).not.toContain('live_');
    // The SRT URL carries the key and its passphrase: neither is stored.
    const passphrase = new URL(String(firstBody.srt_url)).searchParams.get('passphrase');
    expect(passphrase?.length).toBeGreaterThan(10);
    expect(stored?.response_body).not.toContain(String(passphrase));
    expect(JSON.parse(stored?.reissue ?? 'null')).toEqual({ stream_key: owner.channel.id });

    const replay = await callApi('/streams/start', { ...request, body });
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await replay.json()).toEqual(firstBody);
  });

  it('replays a stream key reset with the new key, without storing it or resetting again', async () => {
    const owner = await signUp('idemreset');
    const key = crypto.randomUUID();
    const request = { method: 'POST', token: owner.token, headers: { 'Idempotency-Key': key } };
    const first = await callApi(`/channels/${owner.channel.id}/stream-key/reset`, request);
    expect(first.status).toBe(200);
    const { stream_key } = StreamKeyBody.parse(await first.json());

    expect((await readStoredRow(key))?.response_body).not.toContain(stream_key);
    const replay = await callApi(`/channels/${owner.channel.id}/stream-key/reset`, request);
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(StreamKeyBody.parse(await replay.json()).stream_key).toBe(stream_key);
    const channel = await env.DB.prepare('SELECT stream_key_version FROM channels WHERE id = ?')
      .bind(owner.channel.id)
      .first<{ stream_key_version: number }>();
    expect(channel?.stream_key_version).toBe(2);
  });

  it('records nothing for signup and login, whose bodies carry a password, and runs a retried login again', async () => {
    const username = createUsername('idemauth');
    const password = 'correct horse battery';
    const ip = createTestIp();
    const signupKey = crypto.randomUUID();
    const signup = await callApi('/auth/signup', {
      method: 'POST',
      ip,
      headers: { 'Idempotency-Key': signupKey },
      body: { username, password },
    });
    expect(signup.status).toBe(201);
    expect(await readStoredRow(signupKey)).toBeNull();

    const loginKey = crypto.randomUUID();
    const tokens: string[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const login = await callApi('/auth/login', {
        method: 'POST',
        ip,
        headers: { 'Idempotency-Key': loginKey },
        body: { username, password },
      });
      expect(login.status).toBe(200);
      expect(login.headers.get('Idempotent-Replayed')).toBeNull();
      tokens.push(z.object({ token: z.string() }).parse(await login.json()).token);
    }
    expect(await readStoredRow(loginKey)).toBeNull();
    expect(new Set(tokens).size).toBe(2);
    const stored = await env.DB.prepare(
      'SELECT count(*) AS n FROM idempotency_keys WHERE instr(response_body, ?) > 0',
    )
      .bind(tokens[0])
      .first<{ n: number }>();
    expect(stored?.n).toBe(0);
  });

  it('lets a retry claim a key whose first request was cut off over a minute ago, and 409s a younger claim', async () => {
    const fan = await signUp('idemlost');
    const streamer = await signUp('idemstar');
    const key = crypto.randomUUID();
    const follow = () =>
      callApi(`/channels/${streamer.channel.id}/follow`, {
        method: 'POST',
        token: fan.token,
        headers: { 'Idempotency-Key': key },
      });
    expect((await follow()).status).toBe(204);
    // What a request cut off mid-way leaves behind: its claim, still marked in flight.
    const abandon = (ageMs: number) =>
      env.DB.prepare('UPDATE idempotency_keys SET status = 0, created_at = ? WHERE key = ?')
        .bind(Date.now() - ageMs, key)
        .run();

    await abandon(IN_FLIGHT_TIMEOUT_MS / 2);
    const young = await follow();
    expect(young.status).toBe(409);
    expect((await readError(young)).code).toBe('conflict');

    await abandon(IN_FLIGHT_TIMEOUT_MS + 1000);
    const retried = await follow();
    expect(retried.status).toBe(204);
    expect(retried.headers.get('Idempotent-Replayed')).toBeNull();
    expect((await readStoredRow(key))?.status).toBe(204);
  });
});

describe('idempotency keys and binary bodies', () => {
  it('uploads a multipart emote with an Idempotency-Key and replays it without a second emote', async () => {
    const owner = await signUp('idememote');
    const key = crypto.randomUUID();
    const body = buildEmoteUpload('KeyedPng', new Uint8Array([...PNG_SIGNATURE, 1, 2, 3]));
    const first = await postEmote(owner, body, { 'Idempotency-Key': key });
    expect(first.status).toBe(201);
    const created = await first.json();
    const replay = await postEmote(owner, body, { 'Idempotency-Key': key });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await replay.json()).toEqual(created);
    const count = await env.DB.prepare('SELECT count(*) AS n FROM emotes WHERE channel_id = ?')
      .bind(owner.channel.id)
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
  });

  it('tells binary bodies apart byte for byte, even where they are not valid UTF-8', async () => {
    const owner = await signUp('idembytes');
    const key = crypto.randomUUID();
    const upload = (byte: number) =>
      postEmote(owner, buildEmoteUpload('Bytes', new Uint8Array([...PNG_SIGNATURE, byte, byte])), {
        'Idempotency-Key': key,
      });
    expect((await upload(0xff)).status).toBe(201);
    const other = await upload(0xfe);
    expect(other.status).toBe(422);
    expect((await readError(other)).code).toBe('unprocessable');
  });
});

describe('body limits', () => {
  it('answers a JSON body over 64 KiB with 413 and the JSON error body, with or without Content-Length', async () => {
    const owner = await signUp('bigbody');
    const json = JSON.stringify({ channel_id: owner.channel.id, title: 'x'.repeat(70 * 1024) });
    const sized = await callApi('/streams/start', { method: 'POST', token: owner.token, rawBody: json });
    expect(sized.status).toBe(413);
    expect((await readError(sized)).code).toBe('payload_too_large');

    const bytes = new TextEncoder().encode(json);
    const streamed = await SELF.fetch('http://localhost/api/v1/streams/start', {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${owner.token}`,
        'Content-Type': 'application/json',
        'CF-Connecting-IP': createTestIp(),
        'Idempotency-Key': crypto.randomUUID(),
      },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < bytes.byteLength; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
          controller.close();
        },
      }),
    });
    expect(streamed.status).toBe(413);
    expect((await readError(streamed)).code).toBe('payload_too_large');
    const streams = await env.DB.prepare('SELECT count(*) AS n FROM streams WHERE channel_id = ?')
      .bind(owner.channel.id)
      .first<{ n: number }>();
    expect(streams?.n).toBe(0);
  });

  it('lets an emote upload past the JSON limit but not past its own', async () => {
    const owner = await signUp('bigemote');
    const image = new Uint8Array(200 * 1024);
    image.set(PNG_SIGNATURE);
    expect((await postEmote(owner, buildEmoteUpload('Large', image))).status).toBe(201);
    const huge = await postEmote(owner, buildEmoteUpload('Huge', new Uint8Array(600 * 1024)));
    expect(huge.status).toBe(413);
    expect((await readError(huge)).code).toBe('payload_too_large');
  });
});
