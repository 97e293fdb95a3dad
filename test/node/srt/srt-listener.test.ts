// The SRT listener in-process, against ffmpeg's libsrt caller and raw datagrams: what a stranger can
// make it hold (nothing, whatever it sends), the per-network handshake rate it shares with RTMP's
// guard, and loss recovery (NAK → retransmission) through a lossy relay. The origin is the narrow
// seam here (two functions); srt-ingest.test.ts runs the whole service against an HTTP origin.
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { PreAuthGuard } from '../../../containers/transcoder/src/rtmp/pre-auth-guard.ts';
import {
  ControlType,
  HandshakeType,
  readHandshake,
  readPacket,
  writeControl,
  writeHandshake,
  writeStreamId,
} from '../../../containers/transcoder/src/srt/packet.ts';
import { SrtServer } from '../../../containers/transcoder/src/srt/srt-server.ts';
import { waitFor } from '../rtmp/helpers.ts';
import { spawnSrtPublisher, srtUrl } from './srt-publisher.ts';

const KEY = 'live_srt_listener_key';
const PASSPHRASE = 'listener-passphrase-0123';

interface Harness {
  server: SrtServer<{ id: string }>;
  guard: PreAuthGuard;
  calls: { passphrase: string[]; authorize: string[] };
  published: Array<{ bytes: number }>;
}

const harnesses: Harness[] = [];
const sockets: Socket[] = [];

async function startListener(
  limits: Partial<ConstructorParameters<typeof PreAuthGuard>[0]> = {},
  latencyMs = 120,
): Promise<Harness> {
  const guard = new PreAuthGuard({
    maxPerNetwork: 8,
    maxTotal: 64,
    maxTlsHandshakes: 32,
    budgetBytes: 4 * 1024 * 1024,
    connectsPerNetworkPerMinute: 30,
    ...limits,
  });
  const calls = { passphrase: [] as string[], authorize: [] as string[] };
  const published: Array<{ bytes: number }> = [];
  const server = new SrtServer<{ id: string }>({
    host: '127.0.0.1',
    port: 0,
    latencyMs,
    guard,
    log: () => {},
    passphrase: async ({ streamKey }) => {
      calls.passphrase.push(streamKey);
      return streamKey === KEY ? { ok: true, passphrase: PASSPHRASE } : { ok: false, reason: 'bad_key' };
    },
    authorize: async ({ streamKey }) => {
      calls.authorize.push(streamKey);
      return { ok: true, grant: { id: 'grant' } };
    },
    onPublish: (session) => {
      const entry = { bytes: 0 };
      published.push(entry);
      session.onMedia((flv) => {
        entry.bytes += flv.length;
      });
    },
    onUnstarted: () => {},
  });
  await server.start();
  const harness = { server, guard, calls, published };
  harnesses.push(harness);
  return harness;
}

async function openSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

/** Sends one datagram and returns the first answer within `timeoutMs`, or null. */
async function exchange(
  socket: Socket,
  port: number,
  datagram: Buffer,
  timeoutMs = 500,
): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      resolve(null);
    }, timeoutMs);
    const onMessage = (message: Buffer) => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(message);
    };
    socket.on('message', onMessage);
    socket.send(datagram, port, '127.0.0.1');
  });
}

function handshake(
  type: number,
  fields: { version?: number; cookie?: number; socketId?: number } = {},
  extensions: Array<{ type: number; content: Buffer }> = [],
): Buffer {
  return writeControl(
    ControlType.HANDSHAKE,
    0,
    0,
    0,
    writeHandshake(
      {
        version: fields.version ?? 4,
        encryptionField: 0,
        extensionField: 2,
        initialSeq: 1000,
        mtu: 1500,
        flowWindow: 8192,
        type,
        socketId: fields.socketId ?? 4242,
        cookie: fields.cookie ?? 0,
        peerIp: Buffer.alloc(16),
      },
      extensions,
    ),
  );
}

function hsReq(): Buffer {
  const content = Buffer.alloc(12);
  content.writeUInt32BE(0x010501, 0);
  content.writeUInt32BE(0xbf, 4);
  content.writeUInt32BE((120 << 16) | 120, 8);
  return content;
}

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  for (const harness of harnesses.splice(0)) await harness.server.close();
});

describe('SRT listener', () => {
  it('answers an induction with a cookie and holds nothing for it', async () => {
    const { server, guard } = await startListener();
    const socket = await openSocket();
    const answer = await exchange(socket, server.port, handshake(HandshakeType.INDUCTION));
    const packet = answer === null ? null : readPacket(answer);
    const hs = packet?.kind === 'control' ? readHandshake(packet.cif) : null;
    expect(hs).toMatchObject({ version: 5, extensionField: 0x4a17, type: HandshakeType.INDUCTION });
    expect(hs?.cookie).not.toBe(0);
    expect(packet?.destSocketId).toBe(4242);
    expect(server.pendingCount).toBe(0);
    expect(guard.connections).toBe(0);
  });

  it('leaks nothing after 20 garbage datagrams and 20 bogus handshakes, and still takes a publisher', async () => {
    const { server, guard, calls, published } = await startListener();
    const socket = await openSocket();
    const garbage: Buffer[] = [
      Buffer.alloc(0),
      Buffer.alloc(3, 0xff),
      Buffer.alloc(15),
      Buffer.alloc(2000, 0x41),
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    ];
    for (let i = garbage.length; i < 20; i += 1) {
      const random = Buffer.alloc(16 + ((i * 37) % 1400));
      for (let j = 0; j < random.length; j += 1) random[j] = (i * 31 + j * 17) & 0xff;
      garbage.push(random);
    }
    for (const datagram of garbage) socket.send(datagram, server.port, '127.0.0.1');
    // Handshakes: a cookie is needed for a conclusion to be read at all.
    const induction = await exchange(socket, server.port, handshake(HandshakeType.INDUCTION));
    const inductionPacket = induction === null ? null : readPacket(induction);
    const cookie =
      inductionPacket?.kind === 'control' ? (readHandshake(inductionPacket.cif)?.cookie ?? 0) : 0;
    const bogus: Buffer[] = [];
    for (let i = 0; i < 5; i += 1)
      bogus.push(
        handshake(HandshakeType.CONCLUSION, { version: 5, cookie: cookie ^ (i + 1), socketId: 100 + i }),
      );
    for (let i = 0; i < 5; i += 1) bogus.push(handshake(HandshakeType.WAVEAHAND, { socketId: 200 + i }));
    // Valid cookie, but: no HSREQ; no streamid; a bad streamid; no passphrase; garbage key material.
    bogus.push(handshake(HandshakeType.CONCLUSION, { version: 5, cookie, socketId: 300 }));
    bogus.push(
      handshake(HandshakeType.CONCLUSION, { version: 5, cookie, socketId: 301 }, [
        { type: 1, content: hsReq() },
      ]),
    );
    bogus.push(
      handshake(HandshakeType.CONCLUSION, { version: 5, cookie, socketId: 302 }, [
        { type: 1, content: hsReq() },
        { type: 5, content: writeStreamId('not a key!') },
      ]),
    );
    bogus.push(
      handshake(HandshakeType.CONCLUSION, { version: 5, cookie, socketId: 303 }, [
        { type: 1, content: hsReq() },
        { type: 5, content: writeStreamId(KEY) },
      ]),
    );
    bogus.push(
      handshake(HandshakeType.CONCLUSION, { version: 5, cookie, socketId: 304 }, [
        { type: 1, content: hsReq() },
        { type: 5, content: writeStreamId(KEY) },
        { type: 3, content: Buffer.alloc(40, 0x12) },
      ]),
    );
    bogus.push(handshake(HandshakeType.CONCLUSION, { version: 4, cookie, socketId: 305 }));
    for (let i = 0; i < 3; i += 1) bogus.push(handshake(HandshakeType.INDUCTION, { socketId: 400 + i }));
    bogus.push(writeControl(ControlType.SHUTDOWN, 0, 0, 12345));
    expect(bogus).toHaveLength(20);
    for (const datagram of bogus) socket.send(datagram, server.port, '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.sessionCount).toBe(0);
    expect(server.pendingCount).toBe(0);
    expect(server.bridgePids).toEqual([]);
    expect(guard.connections).toBe(0);
    expect(guard.heldBytes).toBe(0);
    // Not one of them reached the origin.
    expect(calls).toEqual({ passphrase: [], authorize: [] });
    expect(server.ignoredDatagrams).toBeGreaterThanOrEqual(25);

    const publisher = spawnSrtPublisher(srtUrl(server.port, KEY, PASSPHRASE), 6);
    try {
      await waitFor(() => (published[0]?.bytes ?? 0) > 20_000, 20_000, 'media from the real publisher');
      // A SHUTDOWN for the live session from another socket (a guessed socket id) is ignored.
      const live = server.sessions[0];
      socket.send(
        writeControl(ControlType.SHUTDOWN, 0, 0, live?.socketId ?? 0, Buffer.alloc(4)),
        server.port,
        '127.0.0.1',
      );
      const bytes = published[0]?.bytes ?? 0;
      await waitFor(
        () => (published[0]?.bytes ?? 0) > bytes + 5_000,
        10_000,
        'media after the forged SHUTDOWN',
      );
      expect(server.sessionCount).toBe(1);
    } finally {
      publisher.kill();
    }
    expect(calls.authorize).toEqual([KEY]);
  }, 40_000);

  it("refuses a network's conclusions past the connect rate, before the origin is asked", async () => {
    const { server, calls } = await startListener({ connectsPerNetworkPerMinute: 3 });
    const socket = await openSocket();
    const induction = await exchange(socket, server.port, handshake(HandshakeType.INDUCTION));
    const packet = induction === null ? null : readPacket(induction);
    const cookie = packet?.kind === 'control' ? (readHandshake(packet.cif)?.cookie ?? 0) : 0;
    const codes: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      // Well-formed conclusions with framed key material, one new caller socket each...
      const answer = await exchange(
        socket,
        server.port,
        handshake(HandshakeType.CONCLUSION, { version: 5, cookie, socketId: 500 + i }, [
          { type: 1, content: hsReq() },
          { type: 5, content: writeStreamId('live_unknown_key') },
          { type: 3, content: validLookingKm() },
        ]),
      );
      const reply = answer === null ? null : readPacket(answer);
      codes.push(reply?.kind === 'control' ? (readHandshake(reply.cif)?.type ?? 0) : 0);
    }
    // ...with key material: the first three reach the passphrase lookup (unknown key: 2401), the
    // rest are over the network's rate (SRT_REJX_OVERLOAD, 2402) and never reach the origin.
    expect(codes).toEqual([2401, 2401, 2401, 2402, 2402]);
    expect(calls.passphrase).toHaveLength(3);
    expect(calls.authorize).toEqual([]);
  });

  it('recovers packets a lossy network dropped (NAK and retransmission), without giving any up', async () => {
    const { server, published } = await startListener({}, 1_000);
    const relay = await openSocket();
    let callerPort = 0;
    let dataPackets = 0;
    const lost = new Set<number>();
    const resent = new Set<number>();
    relay.on('message', (message, rinfo) => {
      if (rinfo.port === server.port) {
        relay.send(message, callerPort, '127.0.0.1');
        return;
      }
      callerPort = rinfo.port;
      const parsed = readPacket(message);
      if (parsed?.kind === 'data') {
        if (parsed.retransmitted) {
          resent.add(parsed.seq);
        } else {
          dataPackets += 1;
          // Every 25th data packet (4 %) is lost on its first transmission.
          if (dataPackets % 25 === 0) {
            lost.add(parsed.seq);
            return;
          }
        }
      }
      relay.send(message, server.port, '127.0.0.1');
    });
    const publisher = spawnSrtPublisher(srtUrl(relay.address().port, KEY, PASSPHRASE, '&latency=1000000'), 8);
    try {
      await waitFor(
        () => (published[0]?.bytes ?? 0) > 20_000 && lost.size >= 10,
        20_000,
        'media through the lossy relay',
      );
      const lostSoFar = [...lost];
      // Each loss was reported (NAK) and the caller sent that packet again.
      await waitFor(() => lostSoFar.every((seq) => resent.has(seq)), 5_000, 'the lost packets to be resent');
      const session = server.sessions[0];
      expect(session?.stats.dropped).toBe(0);
      expect(session?.stats.undecryptable).toBe(0);
    } finally {
      publisher.kill();
    }
  }, 40_000);
});

/** Key material whose framing is right (so it reaches the passphrase lookup); its wrap is random. */
function validLookingKm(): Buffer {
  const km = Buffer.alloc(16 + 16 + 24, 0x5a);
  km[0] = 0x12;
  km.writeUInt16BE(0x2029, 1);
  km[3] = 1;
  km.writeUInt32BE(0, 4);
  km[8] = 2;
  km[9] = 0;
  km[10] = 2;
  km[14] = 4;
  km[15] = 4;
  return km;
}
