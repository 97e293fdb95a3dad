// WHIP ingest (RFC 9725) on the transcoder as it ships: main.ts as its own process with WHIP on,
// a libdatachannel publisher sending ffmpeg's H.264 + Opus RTP over ICE/DTLS-SRTP, and an origin
// stand-in on loopback that authorizes the key and records the uploads. docs/webrtc.md.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTraceparent } from '../../../common/trace.ts';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';
import {
  findFreePort,
  type ManagedProcess,
  startTranscoder,
  waitForTcp,
} from '../../../scripts/lib/platform.ts';
import { waitFor } from '../rtmp/helpers.ts';
import { type FakeOrigin, type RecordedRequest, startFakeOrigin } from '../upload/fake-origin.ts';
import { createOffer, publishOverWhip, VIDEO_SSRC } from './whip-publisher.ts';

const GOOD_KEY = 'live_whip_good_key';
const GRANT: AuthorizeResponse = {
  channel_id: 'chan-whip',
  stream_id: 'stream-whip',
  publish_id: 'pub-whip',
  tier: 'none',
  continued: false,
  next_msn: 0,
};

const kindOf = (request: RecordedRequest): string => request.path.split('/')[5] ?? '';
const authorizations = (origin: FakeOrigin) => origin.requests.filter((r) => r.path.endsWith('/authorize'));

/** The transcoder's children (bridge and pipeline ffmpegs) and its open descriptors, from /proc. */
function childPids(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}
const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const udpPortBound = (port: number): boolean =>
  readFileSync('/proc/net/udp', 'utf8').includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} `);

describe('WHIP ingest', () => {
  let origin: FakeOrigin;
  let transcoder: ManagedProcess;
  let whipUrl: string;
  let icePort: number;
  const lines: string[] = [];

  beforeAll(async () => {
    origin = await startFakeOrigin();
    origin.respond((request) => {
      if (request.path.endsWith('/authorize')) {
        const key = (JSON.parse(request.body.toString()) as { stream_key: string }).stream_key;
        return key === GOOD_KEY ? { status: 200, body: JSON.stringify(GRANT) } : { status: 403 };
      }
      return { status: 204 };
    });
    const whipPort = await findFreePort();
    icePort = await findFreePort();
    transcoder = await startTranscoder({
      rtmpPort: await findFreePort(),
      httpPort: await findFreePort(),
      originUrl: origin.baseUrl,
      ingestSecret: 'whip-test-secret',
      env: {
        RTMP_HOST: '127.0.0.1',
        TRANSCODER_ENCODER: 'x264',
        WHIP_PORT: String(whipPort),
        WHIP_HOST: '127.0.0.1',
        WHIP_ICE_PORT: String(icePort),
        WHIP_ICE_BIND: '127.0.0.1',
      },
      onLine: (line) => lines.push(line),
    });
    await waitForTcp(whipPort, 10_000);
    whipUrl = `http://127.0.0.1:${whipPort}/whip`;
  }, 30_000);

  afterAll(async () => {
    await transcoder?.stop();
    await origin?.close();
  });

  it('refuses a bad stream key with 401 and the JSON error body before any ICE port or process exists', async () => {
    const { pc, sdp } = await createOffer();
    pc.close();
    const response = await fetch(whipUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', authorization: 'Bearer live_not_a_key' },
      body: sdp,
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(await response.json()).toEqual({ error: { code: 'bad_stream_key', message: expect.any(String) } });
    expect(authorizations(origin).at(-1)?.body.toString()).toContain('live_not_a_key');
    // The first session of the process binds the shared ICE port: a refused offer never got there.
    expect(udpPortBound(icePort)).toBe(false);
    expect(childPids(transcoder.child.pid ?? 0)).toEqual([]);
  });

  it('answers 401 without asking the origin when no bearer token is sent, and 415 to a non-SDP body', async () => {
    const before = authorizations(origin).length;
    const noKey = await fetch(whipUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: 'v=0',
    });
    expect(noKey.status).toBe(401);
    const json = await fetch(whipUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` },
      body: '{}',
    });
    expect(json.status).toBe(415);
    expect(await json.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });
    expect(authorizations(origin).length).toBe(before);
  });

  it('answers 400 to 20 garbage offers with a good key and leaks no socket, port or process', async () => {
    const { pc, sdp: good } = await createOffer();
    pc.close();
    const garbage = [
      '',
      'hello',
      'v=1\r\n',
      'v=0\r\nm=video\r\n',
      'v=0\r\nnot a line\r\n',
      good.replace(/a=fingerprint:[^\r\n]+/g, ''),
      good.replace(/a=ice-ufrag:[^\r\n]+/g, ''),
      good.replace(/a=mid:[^\r\n]+/g, ''),
      good.replace(/UDP\/TLS\/RTP\/SAVPF/g, 'RTP/AVP'),
      good.replace(/^v=0/, 'x'),
      `${good}m=video 9 UDP/TLS/RTP/SAVPF 96\r\n`,
      good.replaceAll('\r\n', '\r\n\u0000'),
      'v=0\r\n'.repeat(2_000),
      `v=0\r\n${'a=x\r\n'.repeat(10_000)}`,
      Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 37) % 256)).toString('latin1'),
      good.split('\r\n').slice(0, 8).join('\r\n'),
      good.replace(/m=video [^\r\n]+/, 'm=video 9 UDP/TLS/RTP/SAVPF'),
      good.replace(/m=audio \d+/, 'm=audio x'),
      good.replace(/c=IN IP4/g, 'c=IN IP9\u00ff'),
      'v=0\r\ns=-\r\nt=0 0\r\n',
    ];
    expect(garbage).toHaveLength(20);
    const fdsBefore = openFds(transcoder.child.pid ?? 0);
    const authorizedBefore = authorizations(origin).length;
    for (const body of garbage) {
      const response = await fetch(whipUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp', authorization: `Bearer ${GOOD_KEY}` },
        body,
      });
      expect([400, 413], `offer ${garbage.indexOf(body)}`).toContain(response.status);
      expect(await response.json()).toMatchObject({ error: { code: expect.any(String) } });
    }
    // Refused while being read: the origin never heard of them, no ICE port, no ffmpeg, no descriptor.
    expect(authorizations(origin).length).toBe(authorizedBefore);
    expect(udpPortBound(icePort)).toBe(false);
    expect(childPids(transcoder.child.pid ?? 0)).toEqual([]);
    await waitFor(
      () => openFds(transcoder.child.pid ?? 0) <= fdsBefore,
      5_000,
      'descriptors back to where they were',
    );
  });

  it('publishes H.264 and Opus through the same pipeline as RTMP: 201 + Location + ETag, parts uploaded, DELETE ends it', async () => {
    const publisher = await publishOverWhip(whipUrl, GOOD_KEY, 30);
    try {
      expect(publisher.status).toBe(201);
      expect(publisher.location).toMatch(/^\/whip\/sessions\/[0-9a-f-]{36}$/);
      expect(publisher.etag).toMatch(/^".+"$/);
      expect(udpPortBound(icePort)).toBe(true);
      await waitFor(
        () => origin.requests.filter((r) => kindOf(r) === 'part').length >= 3,
        25_000,
        'parts of the ladder at the origin',
      );
      const inits = origin.requests.filter((r) => kindOf(r) === 'init').map((r) => r.path.split('/')[6]);
      expect(inits).toContain('audio');
      expect(inits.some((name) => name !== 'audio')).toBe(true);
      // A keyframe was asked for (PLI: PSFB 206, FMT 1, RFC 4585 §6.3.1) on the publisher's video SSRC.
      const pli = publisher.rtcp.find((packet) => packet.type === 206 && packet.fmt === 1);
      expect(pli?.bytes.readUInt32BE(8)).toBe(VIDEO_SSRC);
      // And again every 2 s (GOP_SECONDS): a WebRTC encoder's keyframes come only when asked.
      await waitFor(
        () => publisher.rtcp.filter((packet) => packet.type === 206 && packet.fmt === 1).length >= 3,
        8_000,
        'a PLI every 2 s',
      );

      const another = await createOffer();
      another.pc.close();
      const second = await fetch(whipUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp', authorization: `Bearer ${GOOD_KEY}` },
        body: another.sdp,
      });
      expect(second.status).toBe(409);

      const sessionUrl = new URL(publisher.location, whipUrl).toString();
      const wrongKey = await fetch(sessionUrl, {
        method: 'DELETE',
        headers: { authorization: 'Bearer live_other' },
      });
      expect(wrongKey.status).toBe(401);
      const deleted = await fetch(sessionUrl, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${GOOD_KEY}` },
      });
      expect(deleted.status).toBe(200);
      await waitFor(() => origin.requests.some((r) => kindOf(r) === 'end'), 10_000, 'the end of the publish');
      const end = origin.requests.find((r) => kindOf(r) === 'end');
      expect(JSON.parse(end?.body.toString() ?? '{}')).toMatchObject({ reason: 'publisher_closed' });
      // One trace id for this publish, minted at its offer: on the authorize call, every upload,
      // heartbeat and the end, and on every line the transcoder logged about the stream.
      const authorizeAt = origin.requests.findLastIndex(
        (r) => r.path.endsWith('/authorize') && r.body.toString().includes(GOOD_KEY),
      );
      const traceIds = new Set(
        origin.requests
          .slice(authorizeAt)
          .map((r) => parseTraceparent(String(r.headers.traceparent))?.traceId),
      );
      expect(traceIds.size).toBe(1);
      const [traceId] = traceIds;
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      const streamLines = lines
        .flatMap((line): Array<Record<string, unknown>> => (line.startsWith('{') ? [JSON.parse(line)] : []))
        .filter((line) => line.stream_id === GRANT.stream_id || line.trace_id === traceId);
      expect(streamLines.map((line) => line.event)).toEqual(
        expect.arrayContaining([
          'whip.offer_received',
          'whip.publish_started',
          'pipeline.transcode_starting',
        ]),
      );
      for (const line of streamLines) expect(line.trace_id, String(line.event)).toBe(traceId);
      await waitFor(() => childPids(transcoder.child.pid ?? 0).length === 0, 10_000, 'both ffmpegs to exit');
      expect((await fetch(sessionUrl, { method: 'DELETE' })).status).toBe(404);
    } finally {
      publisher.close();
    }
  }, 60_000);

  it('asks the publisher to resend a lost video packet with a Generic NACK (RFC 4585 §6.2.1)', async () => {
    const publisher = await publishOverWhip(whipUrl, GOOD_KEY, 10);
    try {
      expect(publisher.status).toBe(201);
      await waitFor(() => publisher.videoPacketsSent() > 20, 10_000, 'video packets flowing');
      publisher.dropNextVideoPacket();
      await waitFor(
        () => publisher.rtcp.some((packet) => packet.type === 205 && packet.fmt === 1),
        5_000,
        'a NACK',
      );
      const nack = publisher.rtcp.find((packet) => packet.type === 205 && packet.fmt === 1);
      expect(nack?.bytes.readUInt32BE(8)).toBe(VIDEO_SSRC);
    } finally {
      publisher.close();
    }
  }, 30_000);
});
