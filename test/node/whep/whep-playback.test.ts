// WHEP playback (draft-ietf-wish-whep) on the transcoder as it ships: main.ts as its own process, an
// ffmpeg RTMP publisher, an origin stand-in on loopback, and a libdatachannel viewer that offers
// receive-only H.264 as a browser does. The viewer's RTP is depacketized and decoded by ffprobe.
// docs/webrtc.md, "WHEP playback".
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';
import {
  findFreePort,
  type ManagedProcess,
  startTranscoder,
  waitForTcp,
} from '../../../scripts/lib/platform.ts';
import { type Publisher, spawnPublisher, waitFor } from '../rtmp/helpers.ts';
import { type FakeOrigin, startFakeOrigin } from '../upload/fake-origin.ts';
import { publishOverWhip } from '../whip/whip-publisher.ts';
import {
  BASELINE_PT,
  createViewerOffer,
  decodeH264,
  depacketizeH264,
  HIGH_PT,
  watchOverWhep,
} from './whep-viewer-client.ts';

const KEY = 'live_whep_source_key';
const GRANT: AuthorizeResponse = {
  channel_id: 'chan-whep',
  stream_id: 'stream-whep',
  publish_id: 'pub-whep',
  tier: 'none',
  continued: false,
  next_msn: 0,
};
const WHIP_KEY = 'live_whep_whip_source_key';
const WHIP_GRANT: AuthorizeResponse = { ...GRANT, channel_id: 'chan-whip-src', stream_id: 'stream-whip-src' };
/** A second stream with B-frames, for the node's cap on real-time renditions. */
const BFRAMES_KEY = 'live_whep_second_bframes_key';
const BFRAMES_GRANT: AuthorizeResponse = {
  ...GRANT,
  channel_id: 'chan-bf2',
  stream_id: 'stream-bf2',
  publish_id: 'pub-bf2',
};
const MAX_VIEWERS = 2;

/** The transcoder's child processes whose command line has `needle`, from /proc. */
function childProcesses(pid: number, needle: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const parent = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1];
        return parent === String(pid) && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The transcoder's child ffmpegs that encode Opus (the WHEP audio). */
const opusEncoders = (pid: number) => childProcesses(pid, 'libopus');
/** Its real-time renditions: ffmpeg reading FLV on stdin and encoding with `-bf 0`. */
const realtimeEncoders = (pid: number) => childProcesses(pid, 'zerolatency\u0000-bf\u00000');

/**
 * The RTP timestamp of each access unit (the packet with the marker bit, RFC 6184 §5.1), in the
 * order they were sent: with no B-frames, presentation order is decode order and they only grow.
 */
function unitTimestamps(packets: readonly Buffer[]): number[] {
  return packets.filter((packet) => ((packet[1] ?? 0) & 0x80) !== 0).map((packet) => packet.readUInt32BE(4));
}

describe('WHEP playback', () => {
  let origin: FakeOrigin;
  let transcoder: ManagedProcess;
  let base: string;
  let rtmpPort: number;
  let whipPort: number;
  let publisher: Publisher | undefined;
  const lines: string[] = [];
  const count = (event: string) => lines.filter((line) => line.includes(`"event":"${event}"`)).length;

  beforeAll(async () => {
    origin = await startFakeOrigin();
    origin.respond((request) => {
      if (request.path.endsWith('/authorize')) {
        const key = (JSON.parse(request.body.toString()) as { stream_key: string }).stream_key;
        const grant = key === WHIP_KEY ? WHIP_GRANT : key === BFRAMES_KEY ? BFRAMES_GRANT : GRANT;
        return { status: 200, body: JSON.stringify(grant) };
      }
      return { status: 204 };
    });
    whipPort = await findFreePort();
    rtmpPort = await findFreePort();
    transcoder = await startTranscoder({
      rtmpPort,
      httpPort: await findFreePort(),
      originUrl: origin.baseUrl,
      ingestSecret: 'whep-test-secret',
      env: {
        RTMP_HOST: '127.0.0.1',
        TRANSCODER_ENCODER: 'x264',
        WHIP_PORT: String(whipPort),
        WHIP_HOST: '127.0.0.1',
        WHIP_ICE_PORT: String(await findFreePort()),
        WHIP_ICE_BIND: '127.0.0.1',
        WHEP_MAX_VIEWERS: String(MAX_VIEWERS),
        WHEP_MAX_REALTIME_ENCODES: '1',
      },
      onLine: (line) => lines.push(line),
    });
    await waitForTcp(whipPort, 10_000);
    base = `http://127.0.0.1:${whipPort}`;
  }, 30_000);

  afterAll(async () => {
    publisher?.kill();
    await transcoder?.stop();
    await origin?.close();
  });

  it('answers 404 with the JSON error body for a channel that is not live, before reading an offer', async () => {
    const { pc, sdp } = await createViewerOffer();
    pc.close();
    const response = await fetch(`${base}/whep/chan-whep`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: sdp,
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: 'not_live', message: expect.any(String) } });
  });

  it('sends a viewer decodable H.264 from an RTMP publish: SPS, PPS and an IDR first, then pictures ffprobe decodes', async () => {
    publisher = spawnPublisher(`rtmp://127.0.0.1:${rtmpPort}/live/${KEY}`, 180);
    await waitFor(() => lines.some((line) => line.includes('"event":"pipeline.')), 20_000, 'the pipeline');
    const viewer = await watchOverWhep(`${base}/whep/chan-whep`);
    try {
      expect(viewer.status).toBe(201);
      expect(viewer.location).toMatch(/^\/whep\/sessions\/[0-9a-f-]{36}$/);
      expect(viewer.etag).toMatch(/^".+"$/);
      // The source is x264 High profile: of the two H.264 formats offered, the High one is answered.
      expect(viewer.answer).toMatch(new RegExp(`m=video \\d+ UDP/TLS/RTP/SAVPF ${HIGH_PT}\\r\\n`));
      expect(viewer.answer).toContain('a=sendonly');
      expect(viewer.answer).toMatch(/m=audio \d+ UDP\/TLS\/RTP\/SAVPF 111\r\n(?:[^m][^\r]*\r\n)*a=sendonly/);
      // The publisher's GOP is 2 s: a viewer starts on the next keyframe.
      await waitFor(() => viewer.packets.length > 200, 15_000, 'RTP from the WHEP session');
      const { annexB, nalTypes } = depacketizeH264(viewer.packets);
      expect(nalTypes.has(7)).toBe(true);
      expect(nalTypes.has(8)).toBe(true);
      expect(nalTypes.has(5)).toBe(true);
      expect(viewer.packets.every((packet) => (packet[1] ?? 0) % 128 === HIGH_PT)).toBe(true);
      const decoded = await decodeH264(annexB);
      expect(decoded).toMatchObject({ width: 320, height: 180 });
      expect(decoded.frames).toBeGreaterThan(20);
      // RTP timestamps advance at 90 kHz with the media: ~3 s of packets span ~3 s of RTP time.
      const first = viewer.packets[0]?.readUInt32BE(4) ?? 0;
      const last = viewer.packets.at(-1)?.readUInt32BE(4) ?? 0;
      expect(((last - first) >>> 0) / 90_000).toBeGreaterThan(0.5);

      // The AAC audio arrives as Opus (RFC 7587): one 20 ms frame per packet (TOC config & 3 = 3,
      // code 0, RFC 6716 §3.1), RTP time advancing 960 a packet at 48 kHz (more across a gap).
      await waitFor(() => viewer.audioPackets.length > 50, 10_000, 'Opus RTP');
      const audio = viewer.audioPackets.slice(0, 50);
      expect(audio.every((packet) => (packet[1] ?? 0) % 128 === 111)).toBe(true);
      expect(
        audio.every((packet) => ((packet[12] ?? 0) >> 3) % 4 === 3 && ((packet[12] ?? 0) & 3) === 0),
      ).toBe(true);
      const steps = audio
        .slice(1)
        .map((packet, index) => (packet.readUInt32BE(4) - (audio[index]?.readUInt32BE(4) ?? 0)) >>> 0);
      expect(steps.filter((step) => step <= 0 || step > 4_800)).toEqual([]);
      expect(steps.filter((step) => step === 960).length).toBeGreaterThan(40);

      // One Opus encoder for the stream while it has WHEP viewers, none after the last one left.
      expect(opusEncoders(transcoder.child.pid ?? 0)).toHaveLength(1);
      // This source has no B-frames (x264 zerolatency): its own H.264 is sent, nothing re-encodes it.
      expect(realtimeEncoders(transcoder.child.pid ?? 0)).toEqual([]);
      expect(count('whep.realtime_started')).toBe(0);
      const deleted = await fetch(new URL(viewer.location, base), { method: 'DELETE' });
      expect(deleted.status).toBe(200);
      expect((await fetch(new URL(viewer.location, base), { method: 'DELETE' })).status).toBe(404);
      await waitFor(
        () =>
          lines.some(
            (line) => line.includes('"event":"whep.viewer_closed"') && line.includes('viewer_closed'),
          ),
        5_000,
        'the viewer to be closed',
      );
      await waitFor(
        () => opusEncoders(transcoder.child.pid ?? 0).length === 0,
        5_000,
        'the Opus encoder to exit',
      );
    } finally {
      viewer.close();
    }
  }, 60_000);

  it(`serves ${MAX_VIEWERS} viewers and answers the next 503 + Retry-After, so the player falls back to LL-HLS`, async () => {
    const viewers = [
      await watchOverWhep(`${base}/whep/stream-whep`),
      await watchOverWhep(`${base}/whep/chan-whep`),
    ];
    try {
      expect(viewers.map((viewer) => viewer.status)).toEqual([201, 201]);
      const { pc, sdp } = await createViewerOffer();
      pc.close();
      const refused = await fetch(`${base}/whep/chan-whep`, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: sdp,
      });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('30');
      expect(await refused.json()).toMatchObject({ error: { code: 'node_full' } });
      // Both viewers get media.
      await waitFor(
        () => viewers.every((viewer) => viewer.packets.length > 50),
        15_000,
        'RTP for both viewers',
      );
    } finally {
      for (const viewer of viewers) viewer.close();
    }
    // A viewer that closes its PeerConnection without DELETE frees its place.
    await waitFor(
      () => lines.filter((line) => line.includes('"event":"whep.viewer_closed"')).length >= 3,
      20_000,
      'the dropped viewers to be noticed',
    );
    const again = await watchOverWhep(`${base}/whep/chan-whep`);
    again.close();
    expect([again.status, again.errorBody]).toEqual([201, null]);
  }, 60_000);

  it('refuses an oversized offer (413), garbage (400), a send-only offer (406) and a non-SDP body (415)', async () => {
    await waitFor(
      () => count('whep.viewer_closed') === count('whep.viewer_started'),
      30_000,
      'viewers to be gone',
    );
    const { pc, sdp } = await createViewerOffer();
    pc.close();
    const post = (body: string, contentType = 'application/sdp') =>
      fetch(`${base}/whep/chan-whep`, { method: 'POST', headers: { 'content-type': contentType }, body });
    const big = await post(`${sdp}${'a=x\r\n'.repeat(8_000)}`);
    expect(big.status).toBe(413);
    const garbage = await post('v=0\r\nnot an sdp line\r\n');
    expect(garbage.status).toBe(400);
    expect(await garbage.json()).toMatchObject({ error: { code: 'bad_offer' } });
    const sendOnly = await post(sdp.replaceAll('a=recvonly', 'a=sendonly'));
    expect(sendOnly.status).toBe(406);
    expect((await post(sdp, 'text/plain')).status).toBe(415);
    // A refused offer to a live stream starts nothing: no Opus encoder was spawned for it.
    expect(opusEncoders(transcoder.child.pid ?? 0)).toEqual([]);
  });

  it('counts offers still being read against the cap and drops one whose body is not sent within 5 s', async () => {
    await waitFor(
      () => count('whep.viewer_closed') === count('whep.viewer_started'),
      30_000,
      'viewers to be gone',
    );
    // Two offers that declare 1,000 bytes and send 5: they hold both places while being read.
    const slow = Array.from({ length: MAX_VIEWERS }, () => {
      const req = request({
        host: '127.0.0.1',
        port: whipPort,
        method: 'POST',
        path: '/whep/chan-whep',
        headers: { 'content-type': 'application/sdp', 'content-length': '1000' },
      });
      req.on('error', () => {});
      const closed = new Promise<number>((resolve) => req.once('close', () => resolve(Date.now())));
      req.write('v=0\r\n');
      return { req, closed, sentAt: Date.now() };
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { pc, sdp } = await createViewerOffer();
    pc.close();
    const refused = await fetch(`${base}/whep/chan-whep`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: sdp,
    });
    expect(refused.status).toBe(503);
    const closedAt = await Promise.all(slow.map((entry) => entry.closed));
    closedAt.forEach((at, index) => {
      expect(at - (slow[index]?.sentAt ?? 0)).toBeGreaterThanOrEqual(4_500);
      expect(at - (slow[index]?.sentAt ?? 0)).toBeLessThan(9_000);
    });
    const viewer = await watchOverWhep(`${base}/whep/chan-whep`);
    viewer.close();
    expect([viewer.status, viewer.errorBody]).toEqual([201, null]);
  }, 60_000);

  it('frees the places held by offers that never connect after 15 s (the cap cannot be squatted)', async () => {
    await waitFor(
      () => count('whep.viewer_closed') === count('whep.viewer_started'),
      30_000,
      'earlier viewers to be gone',
    );
    // Two offers whose viewers vanish before ICE: they hold both places of the node's cap.
    const squatters = [
      await watchOverWhep(`${base}/whep/chan-whep`),
      await watchOverWhep(`${base}/whep/chan-whep`),
    ];
    for (const squatter of squatters) squatter.close();
    expect(squatters.map((squatter) => [squatter.status, squatter.errorBody])).toEqual([
      [201, null],
      [201, null],
    ]);
    const { pc, sdp } = await createViewerOffer();
    pc.close();
    const post = () =>
      fetch(`${base}/whep/chan-whep`, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: sdp,
      });
    expect((await post()).status).toBe(503);
    await waitFor(
      () => count('whep.viewer_closed') === count('whep.viewer_started'),
      20_000,
      'the unconnected viewers to be closed',
    );
    expect(lines.filter((line) => line.includes('"event":"whep.viewer_closed"')).slice(-2)).toEqual([
      expect.stringContaining('"reason":"viewer_lost"'),
      expect.stringContaining('"reason":"viewer_lost"'),
    ]);
    const viewer = await watchOverWhep(`${base}/whep/chan-whep`);
    viewer.close();
    expect([viewer.status, viewer.errorBody]).toEqual([201, null]);
  }, 60_000);

  it('closes its viewers when the publish ends, and the stream is then 404', async () => {
    const viewer = await watchOverWhep(`${base}/whep/chan-whep`);
    try {
      expect(viewer.status).toBe(201);
      await waitFor(() => viewer.packets.length > 20, 15_000, 'RTP');
      publisher?.kill();
      await waitFor(
        () =>
          lines.some(
            (line) => line.includes('"event":"whep.viewer_closed"') && line.includes('source_ended'),
          ),
        15_000,
        'the viewer to be closed with the source',
      );
      // Nothing more is sent (libdatachannel's close sends the peer nothing it acts on: RTP stops).
      const received = viewer.packets.length;
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(viewer.packets.length).toBe(received);
      const { pc, sdp } = await createViewerOffer();
      pc.close();
      const gone = await fetch(`${base}/whep/chan-whep`, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: sdp,
      });
      expect(gone.status).toBe(404);
    } finally {
      viewer.close();
    }
  }, 40_000);

  it('sends a viewer decodable H.264 from a WHIP publish (Constrained Baseline answered)', async () => {
    // This run's lines only: a retry must not take the first run's pipeline for its own.
    const before = lines.length;
    const source = await publishOverWhip(`http://127.0.0.1:${whipPort}/whip`, WHIP_KEY, 30);
    try {
      expect(source.status).toBe(201);
      await waitFor(
        () =>
          lines
            .slice(before)
            .some(
              (line) =>
                line.includes('"event":"pipeline.transcode_starting"') && line.includes('stream-whip-src'),
            ),
        20_000,
        'the WHIP pipeline',
      );
      const viewer = await watchOverWhep(`${base}/whep/chan-whip-src`);
      try {
        expect(viewer.status).toBe(201);
        expect(viewer.answer).toMatch(new RegExp(`m=video \\d+ UDP/TLS/RTP/SAVPF ${BASELINE_PT}\\r\\n`));
        // Two seconds of media: RTP time advances 90,000 a second.
        const span = () =>
          ((viewer.packets.at(-1)?.readUInt32BE(4) ?? 0) - (viewer.packets[0]?.readUInt32BE(4) ?? 0)) >>> 0;
        await waitFor(() => viewer.packets.length > 0 && span() >= 180_000, 15_000, '2 s of RTP').catch(
          (error: unknown) => {
            // How far it got says whether the viewer never connected or the media stopped.
            throw new Error(`${String(error)}: ${viewer.packets.length} packets, ${span() / 90_000} s`);
          },
        );
        const { annexB, nalTypes } = depacketizeH264(viewer.packets);
        expect([...nalTypes].filter((type) => type === 5 || type === 7 || type === 8).sort()).toEqual([
          5, 7, 8,
        ]);
        const decoded = await decodeH264(annexB);
        expect(decoded).toMatchObject({ width: 640, height: 360 });
        expect(decoded.frames).toBeGreaterThan(30);
      } finally {
        viewer.close();
      }
    } finally {
      // DELETE, not only a closed connection: a retry of this test publishes the same key at once.
      await source.end();
    }
  }, 60_000);
  it('sends a source with B-frames (OBS x264) as a real-time rendition without them, only while watched and within the node cap', async () => {
    // This test holds two viewers at once (MAX_VIEWERS): the tests before must have left none.
    await waitFor(
      () => count('whep.viewer_started') === count('whep.viewer_closed'),
      20_000,
      'the earlier viewers to be closed',
    );
    const before = lines.length;
    publisher = spawnPublisher(`rtmp://127.0.0.1:${rtmpPort}/live/${KEY}`, 60, ['-bf', '2']);
    const second = spawnPublisher(`rtmp://127.0.0.1:${rtmpPort}/live/${BFRAMES_KEY}`, 60, ['-bf', '2']);
    const offer = async (channel: string) => {
      const { pc, sdp } = await createViewerOffer();
      pc.close();
      return fetch(`${base}/whep/${channel}`, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: sdp,
      });
    };
    try {
      const started = (stream: string) =>
        lines
          .slice(before)
          .some((line) => line.includes('"event":"pipeline.') && line.includes(`"${stream}"`));
      await waitFor(() => started('stream-whep') && started('stream-bf2'), 20_000, 'both pipelines');
      const viewer = await watchOverWhep(`${base}/whep/chan-whep`);
      try {
        expect(viewer.status).toBe(201);
        expect(viewer.answer).toMatch(new RegExp(`m=video \\d+ UDP/TLS/RTP/SAVPF ${HIGH_PT}\\r\\n`));
        await waitFor(() => unitTimestamps(viewer.packets).length > 45, 20_000, '1.5 s of access units');
        // Sent in presentation order: each unit's RTP time after the one before it.
        const stamps = unitTimestamps(viewer.packets);
        const steps = stamps.slice(1).map((stamp, index) => (stamp - (stamps[index] ?? 0)) | 0);
        expect(steps.filter((step) => step <= 0)).toEqual([]);
        expect(count('whep.realtime_started')).toBe(1);
        expect(realtimeEncoders(transcoder.child.pid ?? 0)).toHaveLength(1);
        const { annexB, nalTypes } = depacketizeH264(viewer.packets);
        expect(nalTypes.has(5)).toBe(true);
        const decoded = await decodeH264(annexB);
        expect(decoded).toMatchObject({ width: 320, height: 180 });
        expect(decoded.frames).toBeGreaterThan(30);

        // The attack: viewers of another B-frame stream asking this node for a second encode
        // (WHEP_MAX_REALTIME_ENCODES=1). The first is closed when its stream turns out to need one;
        // once that is known, offers get 503 + Retry-After and the player plays LL-HLS.
        const refused = await watchOverWhep(`${base}/whep/chan-bf2`);
        try {
          expect(refused.status).toBe(201);
          await waitFor(() => count('whep.realtime_refused') === 1, 15_000, 'the rendition to be refused');
        } finally {
          refused.close();
        }
        const busy = await offer('chan-bf2');
        expect(busy.status).toBe(503);
        expect(busy.headers.get('retry-after')).toBe('30');
        expect(await busy.json()).toEqual({ error: { code: 'realtime_busy', message: expect.any(String) } });
        expect(realtimeEncoders(transcoder.child.pid ?? 0)).toHaveLength(1);

        expect((await fetch(new URL(viewer.location, base), { method: 'DELETE' })).status).toBe(200);
        // Nobody watching: the rendition's ffmpeg is gone with the last viewer, and its slot is free.
        await waitFor(
          () => realtimeEncoders(transcoder.child.pid ?? 0).length === 0,
          5_000,
          'the real-time encoder to exit',
        );
        const next = await watchOverWhep(`${base}/whep/chan-bf2`);
        try {
          expect(next.status).toBe(201);
          await waitFor(() => count('whep.realtime_started') === 2, 10_000, "the second stream's rendition");
        } finally {
          next.close();
        }
      } finally {
        viewer.close();
      }
    } finally {
      publisher?.kill();
      second.kill();
    }
  }, 90_000);
});
