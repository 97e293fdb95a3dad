import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkWriter } from '../../../containers/transcoder/src/rtmp/chunk-writer.ts';
import { closeHarnesses, command, startHarness, urlFor } from './harness.ts';
import { connectRaw, performHandshake, probeFlv, RawRtmpClient, spawnPublisher, waitFor } from './helpers.ts';

afterEach(closeHarnesses);

describe('RtmpServer with a real ffmpeg publisher', () => {
  it('authorizes the key before any media, then delivers FLV that ffprobe reads as h264 320x180 + aac with a 2 s keyframe interval', async () => {
    const harness = await startHarness(async () => {
      // A slow origin: nothing may flow until it answers.
      await new Promise((resolve) => setTimeout(resolve, 300));
      return { ok: true, grant: { channelId: 'channel-1' } };
    });
    const publisher = spawnPublisher(urlFor(harness, 'live_secretkey123'), 4.6);
    try {
      await waitFor(() => harness.published.length === 1, 10_000, 'onPublish');
      const record = harness.published[0];
      if (record === undefined) throw new Error('no publish');
      // A consumer that attaches mid-stream (an ffmpeg restart) must be able to decode too.
      await waitFor(() => (record.session.stats.lastMediaTimestamp ?? 0) > 2500, 10_000, 'media past 2.5 s');
      const lateChunks: Buffer[] = [];
      record.session.onMedia((bytes) => lateChunks.push(bytes));
      expect(await publisher.exited).toBe(0);
      await waitFor(() => record.closeReason !== null, 5000, 'onClose');

      expect(harness.authorizeCalls).toEqual([
        {
          app: 'live',
          streamKey: 'live_secretkey123',
          remoteAddress: '127.0.0.1',
          traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
          backup: false,
          relay: false,
          mediaBytesSoFar: 0,
        },
      ]);
      // One trace id from the connect on: authorize carries it, the session keeps it, and every
      // line the connection logged (connect, publish start, close) names it.
      const traceId = harness.authorizeCalls[0]?.traceId;
      expect(record.session.traceId).toBe(traceId);
      const connectionLines = harness.logs.filter((line) => line.event !== 'rtmp.listening');
      expect(connectionLines.map((line) => line.event)).toEqual(
        expect.arrayContaining(['rtmp.connected', 'rtmp.publish_started', 'rtmp.connection_closed']),
      );
      for (const line of connectionLines) expect(line.trace_id).toBe(traceId);
      expect(record.session.streamKey).toBe('live_secretkey123');
      expect(record.session.grant).toEqual({ channelId: 'channel-1' });
      expect(record.closeReason).toBe('publisher_closed');

      const streams = await probeFlv(Buffer.concat(record.chunks));
      expect(streams).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ codec_type: 'video', codec_name: 'h264', width: 320, height: 180 }),
          expect.objectContaining({ codec_type: 'audio', codec_name: 'aac' }),
        ]),
      );
      const lateStreams = await probeFlv(Buffer.concat(lateChunks));
      expect(lateStreams.map((stream) => stream.codec_name).sort()).toEqual(['aac', 'h264']);

      const stats = record.session.stats;
      expect(stats.keyframeIntervalMs).toBeGreaterThanOrEqual(1900);
      expect(stats.keyframeIntervalMs).toBeLessThanOrEqual(2100);
      expect(stats).toMatchObject({
        videoCodec: 'avc',
        audioCodec: 'aac',
        width: 320,
        height: 180,
        frameRate: 30,
      });
      expect(stats.bytesIn).toBeGreaterThan(record.mediaBytes * 0.9);
      // The key never appears in full in the logs.
      expect(JSON.stringify(harness.logs)).not.toContain('live_secretkey123');
      expect(JSON.stringify(harness.logs)).toContain('live…');
    } finally {
      publisher.kill();
    }
  });

  it('refuses a bad key with an error ffmpeg exits on, without calling onPublish or passing media', async () => {
    const harness = await startHarness(async () => ({ ok: false, reason: 'bad_key' }));
    const publisher = spawnPublisher(urlFor(harness, 'wrong_key'), 3);
    try {
      const code = await Promise.race([
        publisher.exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000)),
      ]);
      expect(code).not.toBe('hung');
      expect(code).not.toBe(0);
      expect(harness.authorizeCalls.map((call) => call.streamKey)).toEqual(['wrong_key']);
      expect(harness.published).toHaveLength(0);
      expect(harness.logs).toContainEqual(
        expect.objectContaining({ event: 'rtmp.publish_refused', reason: 'bad_key' }),
      );
    } finally {
      publisher.kill();
    }
  });

  it("reads a dual publish's backup flag from the stream name or the application, and passes neither query on", async () => {
    const harness = await startHarness(async () => ({ ok: false, reason: 'bad_key' }));
    const exits = async (publisher: ReturnType<typeof spawnPublisher>) => {
      try {
        await Promise.race([publisher.exited, new Promise((r) => setTimeout(r, 10_000))]);
      } finally {
        publisher.kill();
      }
    };
    await exits(spawnPublisher(urlFor(harness, 'key_in_name?backup=1'), 3));
    // OBS with a backup server `rtmp://host/live?backup=1` sends that as its app (YouTube's form).
    await exits(
      spawnPublisher(`rtmp://127.0.0.1:${harness.server.port}`, 3, [
        '-rtmp_app',
        'live?backup=1',
        '-rtmp_playpath',
        'key_in_app',
      ]),
    );
    expect(harness.authorizeCalls.map(({ app, streamKey, backup }) => ({ app, streamKey, backup }))).toEqual([
      { app: 'live', streamKey: 'key_in_name', backup: true },
      { app: 'live', streamKey: 'key_in_app', backup: true },
    ]);
  });

  it('refuses a connect to an application other than the allowed ones', async () => {
    const harness = await startHarness();
    const publisher = spawnPublisher(urlFor(harness, 'any_key', 'other'), 3);
    try {
      const code = await Promise.race([
        publisher.exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000)),
      ]);
      expect(code).not.toBe('hung');
      expect(code).not.toBe(0);
      expect(harness.authorizeCalls).toHaveLength(0);
      expect(harness.logs).toContainEqual(
        expect.objectContaining({ event: 'rtmp.connect_rejected', app: 'other' }),
      );
    } finally {
      publisher.kill();
    }
  });

  it('refuses a second publisher with the same key while the first runs, before authorize is asked', async () => {
    const harness = await startHarness();
    const first = spawnPublisher(urlFor(harness, 'shared_key'), 8);
    const second = { current: null as ReturnType<typeof spawnPublisher> | null };
    try {
      await waitFor(() => harness.totalMediaBytes() > 20_000, 10_000, 'first publisher media');
      second.current = spawnPublisher(urlFor(harness, 'shared_key'), 3);
      const code = await Promise.race([
        second.current.exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000)),
      ]);
      expect(code).not.toBe('hung');
      expect(code).not.toBe(0);
      expect(harness.authorizeCalls).toHaveLength(1);
      expect(harness.published).toHaveLength(1);
      expect(harness.logs).toContainEqual(
        expect.objectContaining({ event: 'rtmp.publish_refused', reason: 'already_publishing' }),
      );
      const before = harness.totalMediaBytes();
      await waitFor(() => harness.totalMediaBytes() > before + 10_000, 5000, 'first publisher still flowing');
      expect(harness.published[0]?.closeReason).toBeNull();
    } finally {
      first.kill();
      second.current?.kill();
    }
  });

  it('closes hostile connections one by one while a concurrent ffmpeg publish keeps flowing', async () => {
    const harness = await startHarness(undefined, { handshakeTimeoutMs: 2000 });
    const publisher = spawnPublisher(urlFor(harness, 'steady_key'), 7);
    const hostile: Array<Awaited<ReturnType<typeof connectRaw>>> = [];
    try {
      await waitFor(() => harness.totalMediaBytes() > 20_000, 10_000, 'publisher media');
      const port = harness.server.port;

      // Random bytes, starting with a valid version byte so the garbage reaches the chunk parser.
      const random = await connectRaw(port);
      random.socket.write(Buffer.concat([Buffer.from([3]), randomBytes(64 * 1024)]));
      // A valid handshake, then a fmt 1 header on a chunk stream that never had a fmt 0.
      const corrupt = await connectRaw(port);
      await performHandshake(corrupt);
      corrupt.socket.write(Buffer.from([0x47, 0, 0, 0, 0, 0, 10, 9, 1, 2, 3]));
      // Set Chunk Size 2^31: the top bit must be zero.
      const chunkSize = await connectRaw(port);
      await performHandshake(chunkSize);
      const control = new ChunkWriter();
      chunkSize.socket.write(
        control.write({ csid: 2, type: 1, streamId: 0, timestamp: 0, payload: Buffer.from([0x80, 0, 0, 0]) }),
      );
      // The largest length a chunk header can state (0xFFFFFF, 16 MiB): past the message limit.
      const huge = await connectRaw(port);
      await performHandshake(huge);
      huge.socket.write(Buffer.from([0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0, 1, 2, 3]));
      // Within the per-message limit before authorization (64 KiB): 48 KiB chunks of 60 KiB
      // messages on three chunk streams, so 180 KiB of unfinished messages: past the buffer cap.
      const hoarder = await connectRaw(port);
      await performHandshake(hoarder);
      const hoard = new ChunkWriter();
      hoarder.socket.write(
        hoard.write({
          csid: 2,
          type: 1,
          streamId: 0,
          timestamp: 0,
          payload: Buffer.from([0x00, 0x00, 0xc0, 0x00]),
        }),
      );
      for (const csid of [10, 11, 12]) {
        const header = Buffer.from([csid, 0, 0, 0, 0x00, 0xf0, 0x00, 9, 1, 0, 0, 0]);
        hoarder.socket.write(Buffer.concat([header, Buffer.alloc(48 * 1024, csid)]));
      }
      hostile.push(random, corrupt, chunkSize, huge, hoarder);

      const closedWithin = await Promise.all(hostile.map((connection) => connection.closed));
      for (const ms of closedWithin) expect(ms).toBeLessThan(5000);
      const protocolErrors = harness.logs.filter(
        (event) => event.event === 'rtmp.connection_closed' && event.reason === 'protocol_error',
      );
      expect(protocolErrors.map((event) => String(event.detail))).toEqual(
        expect.arrayContaining([
          expect.stringContaining('fmt 1 chunk on chunk stream 7'),
          expect.stringContaining('invalid chunk size'),
          expect.stringContaining('exceeds'),
          expect.stringContaining('buffered'),
        ]),
      );

      const before = harness.totalMediaBytes();
      await waitFor(() => harness.totalMediaBytes() > before + 10_000, 5000, 'publisher still flowing');
      expect(await publisher.exited).toBe(0);
      await waitFor(() => harness.published[0]?.closeReason !== null, 5000, 'publish end');
      expect(harness.published[0]?.closeReason).toBe('publisher_closed');
    } finally {
      publisher.kill();
      for (const connection of hostile) connection.socket.destroy();
    }
  });

  it('close() ends every publish with server_closed, drops idle sockets and the publisher exits', async () => {
    const harness = await startHarness();
    const publisher = spawnPublisher(urlFor(harness, 'closing_key'), 20);
    try {
      await waitFor(() => harness.totalMediaBytes() > 10_000, 10_000, 'publisher media');
      const idle = await connectRaw(harness.server.port);
      await harness.server.close();
      expect(harness.published[0]?.closeReason).toBe('server_closed');
      expect(await idle.closed).toBeGreaterThanOrEqual(0);
      const code = await Promise.race([
        publisher.exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000)),
      ]);
      expect(code).not.toBe('hung');
      await expect(connectRaw(harness.server.port || 1)).rejects.toThrow();
    } finally {
      publisher.kill();
    }
  });
});

describe('RtmpServer with a raw client', () => {
  it('closes a silent socket once the handshake timeout passes', async () => {
    const harness = await startHarness(undefined, { handshakeTimeoutMs: 400 });
    const silent = await connectRaw(harness.server.port);
    const closedAfter = await silent.closed;
    expect(closedAfter).toBeGreaterThanOrEqual(350);
    expect(closedAfter).toBeLessThan(3000);
    expect(harness.logs).toContainEqual(expect.objectContaining({ detail: 'setup_timeout' }));
  });

  it('answers a ping, and drops media sent before Publish.Start while authorize is pending', async () => {
    let releaseAuthorize: (() => void) | null = null;
    const harness = await startHarness(
      () =>
        new Promise((resolve) => {
          releaseAuthorize = () => resolve({ ok: true, grant: { channelId: 'raw' } });
        }),
    );
    const client = await RawRtmpClient.open(harness.server.port);
    try {
      client.send(
        { csid: 2, type: 4, streamId: 0, timestamp: 0, payload: Buffer.from([0, 6, 0, 0, 0x12, 0x34]) },
        command(0, 'connect', 1, { app: 'live', type: 'nonprivate' }),
        command(0, 'createStream', 2, null),
        command(1, 'publish', 3, null, 'raw_key', 'live'),
        // Too early: Publish.Start has not been sent.
        { csid: 6, type: 9, streamId: 1, timestamp: 0, payload: Buffer.from([0x17, 0x00, 0xde, 0xad]) },
      );
      await waitFor(() => harness.authorizeCalls.length === 1, 5000, 'authorize');
      await waitFor(
        () => client.messages.some((m) => m.type === 4 && m.payload.readUInt16BE(0) === 7),
        5000,
        'ping response',
      );
      const pong = client.messages.find((m) => m.type === 4 && m.payload.readUInt16BE(0) === 7);
      expect(pong?.payload.readUInt32BE(2)).toBe(0x1234);
      expect(
        client.messages.some((m) => m.type === 20 && m.payload.includes('NetStream.Publish.Start')),
      ).toBe(false);

      const release: () => void = releaseAuthorize ?? (() => {});
      release();
      await waitFor(
        () => client.messages.some((m) => m.type === 20 && m.payload.includes('NetStream.Publish.Start')),
        5000,
        'Publish.Start',
      );
      client.send({
        csid: 6,
        type: 9,
        streamId: 1,
        timestamp: 40,
        payload: Buffer.from([0x17, 0x00, 0xbe, 0xef]),
      });
      await waitFor(() => (harness.published[0]?.mediaBytes ?? 0) > 13, 5000, 'media after Publish.Start');
      const flv = Buffer.concat(harness.published[0]?.chunks ?? []);
      expect(flv.includes(Buffer.from([0xbe, 0xef]))).toBe(true);
      expect(flv.includes(Buffer.from([0xde, 0xad]))).toBe(false);
      // connect was answered with WinAckSize, SetPeerBandwidth, SetChunkSize(4096) and _result.
      const answers = client.messages.filter((m) => m.type !== 4).map((m) => m.type);
      expect(answers.slice(0, 4)).toEqual([5, 6, 1, 20]);
      expect(client.reader.chunkSize).toBe(4096);

      client.send(command(1, 'FCUnpublish', 4, null, 'raw_key'));
      await waitFor(() => harness.published[0]?.closeReason !== null, 5000, 'publish end');
      expect(harness.published[0]?.closeReason).toBe('publisher_closed');
    } finally {
      client.connection.socket.destroy();
    }
  });

  it('tells a publisher that stopped (FCUnpublish) from a connection that just went away (a bare FIN)', async () => {
    const harness = await startHarness();
    for (const stop of ['FCUnpublish', 'FIN'] as const) {
      const client = await RawRtmpClient.open(harness.server.port);
      try {
        client.send(
          command(0, 'connect', 1, { app: 'live', type: 'nonprivate' }),
          command(0, 'createStream', 2, null),
          command(1, 'publish', 3, null, `key_${stop}`, 'live'),
        );
        await waitFor(() => harness.published.length === (stop === 'FIN' ? 2 : 1), 5000, 'the publish');
        if (stop === 'FCUnpublish') client.send(command(1, 'FCUnpublish', 4, null, `key_${stop}`));
        else client.connection.socket.end();
        await waitFor(() => harness.published.at(-1)?.closeReason != null, 5000, 'publish end');
      } finally {
        client.connection.socket.destroy();
      }
    }
    expect(harness.published.map((record) => record.closeReason)).toEqual([
      'publisher_closed',
      'publisher_lost',
    ]);
  });

  it('lets the session kick its publisher, which ends the connection with kicked', async () => {
    const harness = await startHarness();
    const client = await RawRtmpClient.open(harness.server.port);
    try {
      client.send(
        command(0, 'connect', 1, { app: 'live' }),
        command(0, 'createStream', 2, null),
        command(1, 'publish', 3, null, 'kick_key', 'live'),
      );
      await waitFor(() => harness.published.length === 1, 5000, 'publish');
      harness.published[0]?.session.close();
      expect(harness.published[0]?.closeReason).toBe('kicked');
      expect(await client.connection.closed).toBeGreaterThan(0);
      // The key is free again once the kicked publisher is gone.
      const again = await RawRtmpClient.open(harness.server.port);
      again.send(
        command(0, 'connect', 1, { app: 'live' }),
        command(0, 'createStream', 2, null),
        command(1, 'publish', 3, null, 'kick_key', 'live'),
      );
      await waitFor(() => harness.published.length === 2, 5000, 'second publish');
      again.connection.socket.destroy();
    } finally {
      client.connection.socket.destroy();
    }
  });

  it('drops a publisher that goes silent after Publish.Start once the publishing idle timeout passes, and frees its key', async () => {
    // The setup phases keep the long idle timeout; only a publishing connection gets the short one.
    const harness = await startHarness(undefined, { idleTimeoutMs: 30_000, publishIdleTimeoutMs: 600 });
    const waiting = await RawRtmpClient.open(harness.server.port);
    const client = await RawRtmpClient.open(harness.server.port);
    try {
      waiting.send(command(0, 'connect', 1, { app: 'live' }));
      client.send(
        command(0, 'connect', 1, { app: 'live' }),
        command(0, 'createStream', 2, null),
        command(1, 'publish', 3, null, 'silent_key', 'live'),
      );
      await waitFor(() => harness.published.length === 1, 5000, 'publish');
      const publishedAt = Date.now();
      client.send({ csid: 6, type: 9, streamId: 1, timestamp: 0, payload: Buffer.from([0x17, 0x00, 1, 2]) });
      // Then nothing: the encoder's host is gone but no FIN or RST ever arrives.
      await waitFor(
        () => harness.published[0]?.closeReason !== null,
        5000,
        'the silent publisher to be dropped',
      );
      const silentFor = Date.now() - publishedAt;
      expect(harness.published[0]?.closeReason).toBe('publisher_lost');
      expect(silentFor).toBeGreaterThanOrEqual(550);
      expect(silentFor).toBeLessThan(3000);
      expect(harness.logs).toContainEqual(
        expect.objectContaining({
          event: 'rtmp.connection_closed',
          detail: 'idle_timeout',
          phase: 'publishing',
        }),
      );
      // The connection that never published is still open, longer than the publishing timeout.
      const waitingClosed = await Promise.race([
        waiting.connection.closed,
        new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 200)),
      ]);
      expect(waitingClosed).toBe('open');
      // OBS reconnecting with the same key is accepted at once.
      const again = await RawRtmpClient.open(harness.server.port);
      again.send(
        command(0, 'connect', 1, { app: 'live' }),
        command(0, 'createStream', 2, null),
        command(1, 'publish', 3, null, 'silent_key', 'live'),
      );
      await waitFor(() => harness.published.length === 2, 5000, 'the reconnect to publish');
      again.connection.socket.destroy();
    } finally {
      waiting.connection.socket.destroy();
      client.connection.socket.destroy();
    }
  });
});
