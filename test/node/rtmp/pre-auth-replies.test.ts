// Issue 10, finding 2: what a stranger can make the ingest server hold in replies. A peer that
// asks for an Acknowledgement of every byte (Window Acknowledgement Size 1) or sends pings, and
// never reads, would park our replies in the socket's outgoing buffers, Node's and the kernel's
// (which grows to megabytes), outside the strangers' byte budget. Each test performs the attack on
// a real socket. The non-reading peer is a python3 client: Node cannot shrink a TCP socket's
// receive buffer or segment size, which keeps the replies unread in the server's buffers.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { MIN_WINDOW_ACK_SIZE } from '../../../containers/transcoder/src/rtmp/chunk-reader.ts';
import { ChunkWriter } from '../../../containers/transcoder/src/rtmp/chunk-writer.ts';
import { PRE_AUTH_MAX_BYTES_OUT } from '../../../containers/transcoder/src/rtmp/pre-auth-guard.ts';
import { closeHarnesses, command, type Harness, startHarness } from './harness.ts';
import { RawRtmpClient, waitFor } from './helpers.ts';

afterEach(closeHarnesses);

/** Window Acknowledgement Size (type 5) on the protocol control chunk stream. */
function windowAckSize(size: number): {
  csid: number;
  type: number;
  streamId: number;
  timestamp: number;
  payload: Buffer;
} {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(size);
  return { csid: 2, type: 5, streamId: 0, timestamp: 0, payload };
}

/**
 * Connects with a 4 KiB receive buffer and 536-byte segments (so our kernel send buffer stays
 * small too), does the handshake, sends `payload` in 4 KiB writes, and never reads again; it
 * keeps the connection open until it is killed.
 */
const NON_READING_CLIENT = `
import socket, sys, time
port = int(sys.argv[1]); payload = sys.stdin.buffer.read()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
s.settimeout(5)
s.connect(('127.0.0.1', port))
s.sendall(bytes([3]) + bytes(1536))
got = b''
while len(got) < 3073:
    got += s.recv(3073 - len(got))
s.sendall(bytes(1536))
try:
    for i in range(0, len(payload), 4096):
        s.sendall(payload[i:i + 4096])
        time.sleep(0.002)
except OSError:
    pass
# Hold the socket open, unread, until the test kills us: exiting would reset the connection, and
# on a loaded machine the server may not have fallen 16 KiB behind yet.
time.sleep(60)
`;

function closedDetails(harness: Harness): string[] {
  return harness.logs
    .filter((event) => event.event === 'rtmp.connection_closed')
    .map((event) => String(event.detail));
}

describe('RTMP replies to a stranger', () => {
  it(`acknowledges at most once per ${MIN_WINDOW_ACK_SIZE / 1024} KiB when a stranger sets a 1-byte window`, async () => {
    const harness = await startHarness();
    const client = await RawRtmpClient.open(harness.server.port);
    try {
      client.send(command(0, 'connect', 1, { app: 'live' }), windowAckSize(1));
      // 150 reads of 1 KiB data messages (dropped before a publish): 150 KiB in, within every limit.
      const data = { csid: 4, type: 18, streamId: 1, timestamp: 0, payload: Buffer.alloc(1000, 7) };
      for (let i = 0; i < 150; i += 1) {
        client.send(data);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const sent = 150 * 1024;
      await waitFor(() => client.messages.some((message) => message.type === 20), 5000, 'the connect result');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const acknowledgements = client.messages.filter((message) => message.type === 3);
      expect(acknowledgements.length).toBeGreaterThanOrEqual(1);
      expect(acknowledgements.length).toBeLessThanOrEqual(Math.ceil(sent / MIN_WINDOW_ACK_SIZE));
    } finally {
      client.connection.socket.destroy();
    }
  });

  it(`closes a stranger that pings but does not read once ${PRE_AUTH_MAX_BYTES_OUT / 1024} KiB of replies are written`, async () => {
    const harness = await startHarness();
    const writer = new ChunkWriter();
    const ping = Buffer.from([0, 6, 0, 0, 0, 1]);
    // connect, a 1-byte window, then ~35,000 Ping Requests (type 4, event 6), each after the
    // first in a 7-byte fmt 3 chunk: each answer costs us 18 bytes, ~600 KiB in all.
    const parts = [
      writer.write(command(0, 'connect', 1, { app: 'live' })),
      writer.write(windowAckSize(1)),
      writer.write({ csid: 2, type: 4, streamId: 0, timestamp: 0, payload: ping }),
    ];
    for (let i = 0; i < 35_000; i += 1) parts.push(Buffer.from([0xc2, ...ping]));
    const child = spawn('python3', ['-c', NON_READING_CLIENT, String(harness.server.port)], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.stdin.end(Buffer.concat(parts));
    try {
      await waitFor(() => closedDetails(harness).length > 0, 8000, 'the stranger to be closed');
      expect(closedDetails(harness)).toEqual(['too_many_replies']);
      expect(harness.server.preAuth).toEqual({ connections: 0, heldBytes: 0, evictions: 0 });
    } finally {
      child.kill('SIGKILL');
    }
  });
});
