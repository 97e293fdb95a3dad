// Issue 10, finding 2: what a stranger (a connection whose publish is not authorized yet) can make
// the ingest server hold. Each test performs the attack on a real socket against the server's
// default limits and asserts the defence; the last one runs a real ffmpeg publish beside them.
// Several loopback source addresses (127.0.0.x) stand in for several clients.
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkWriter } from '../../../containers/transcoder/src/rtmp/chunk-writer.ts';
import {
  DEFAULT_CONNECTS_PER_NETWORK_PER_MINUTE,
  DEFAULT_PRE_AUTH_BUDGET_BYTES,
  DEFAULT_PRE_AUTH_PER_NETWORK,
  DEFAULT_PRE_AUTH_TOTAL,
  PRE_AUTH_MAX_BYTES_IN,
  PRE_AUTH_MAX_MESSAGE_LENGTH,
  PRE_AUTH_MIN_CHUNK_SIZE,
} from '../../../containers/transcoder/src/rtmp/pre-auth-guard.ts';
import { closeHarnesses, command, type Harness, startHarness, urlFor } from './harness.ts';
import {
  connectRaw,
  performHandshake,
  type RawConnection,
  RawRtmpClient,
  spawnPublisher,
  waitFor,
} from './helpers.ts';

const opened: RawConnection[] = [];
afterEach(async () => {
  for (const connection of opened.splice(0)) connection.socket.destroy();
  await closeHarnesses();
});

async function open(port: number, localAddress = '127.0.0.1'): Promise<RawConnection> {
  const connection = await connectRaw(port, localAddress);
  opened.push(connection);
  return connection;
}

/** Set Chunk Size on chunk stream 2, as the spec's protocol control messages go. */
function setChunkSize(size: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(size);
  return new ChunkWriter().write({ csid: 2, type: 1, streamId: 0, timestamp: 0, payload });
}

/** A fmt 0 chunk header on `csid` announcing a message of `length` bytes of type `type`. */
function messageHeader(csid: number, length: number, type: number): Buffer {
  const header = Buffer.alloc(12);
  header[0] = csid;
  header.writeUIntBE(length, 4, 3);
  header[7] = type;
  return header;
}

/**
 * A stranger that makes the server hold two unfinished 60 KiB commands (~120 KiB) for the price
 * of their first 128-byte chunks (the default chunk size).
 */
async function openHoarder(port: number, localAddress: string): Promise<RawConnection> {
  const hoarder = await open(port, localAddress);
  await performHandshake(hoarder);
  const length = 60 * 1024;
  hoarder.socket.write(
    Buffer.concat([
      messageHeader(3, length, 20),
      Buffer.alloc(128, 1),
      messageHeader(4, length, 20),
      Buffer.alloc(128, 1),
    ]),
  );
  return hoarder;
}

function closedDetails(harness: Harness): string[] {
  return harness.logs
    .filter((event) => event.event === 'rtmp.connection_closed')
    .map((event) => String(event.detail));
}

describe('RTMP before a publish is authorized', () => {
  it('closes a stranger that sets a 1-byte chunk size: each payload byte would cost a chunk header parse', async () => {
    const harness = await startHarness();
    const attacker = await open(harness.server.port);
    await performHandshake(attacker);
    attacker.socket.write(
      Buffer.concat([setChunkSize(1), messageHeader(3, 60 * 1024, 20), Buffer.from([2])]),
    );
    expect(await attacker.closed).toBeLessThan(3000);
    expect(closedDetails(harness)).toContainEqual(
      expect.stringContaining(`chunk size 1 below ${PRE_AUTH_MIN_CHUNK_SIZE}`),
    );
    expect(harness.server.preAuth).toEqual({ connections: 0, heldBytes: 0, evictions: 0 });
  });

  it('closes a stranger that announces an 8 MiB message as soon as the header arrives, before its payload', async () => {
    const harness = await startHarness();
    const attacker = await open(harness.server.port);
    await performHandshake(attacker);
    attacker.socket.write(Buffer.concat([messageHeader(3, 8 * 1024 * 1024, 20), Buffer.from([2])]));
    expect(await attacker.closed).toBeLessThan(3000);
    expect(closedDetails(harness)).toContainEqual(
      expect.stringContaining(`exceeds ${PRE_AUTH_MAX_MESSAGE_LENGTH}`),
    );
    expect(harness.server.preAuth).toEqual({ connections: 0, heldBytes: 0, evictions: 0 });
  });

  it('accounts an unfinished 60 KiB command at its announced length, plus a little fixed state', async () => {
    const harness = await startHarness();
    const client = await RawRtmpClient.open(harness.server.port);
    opened.push(client.connection);
    const length = 60 * 1024;
    // One 128-byte chunk of it: the rest never comes.
    client.connection.socket.write(Buffer.concat([messageHeader(3, length, 18), Buffer.alloc(128, 2)]));
    await waitFor(() => harness.server.preAuth.heldBytes >= length, 5000, 'the command to be held');
    expect(harness.server.preAuth.heldBytes).toBeLessThan(length + 2048);
    expect(harness.server.preAuth.connections).toBe(1);
  });

  it(`closes a stranger once it has sent ${PRE_AUTH_MAX_BYTES_IN / 1024} KiB without publishing`, async () => {
    const harness = await startHarness();
    const client = await RawRtmpClient.open(harness.server.port);
    opened.push(client.connection);
    // Data messages (dropped before a publish, so they hold nothing) within every other limit.
    const data = { csid: 4, type: 18, streamId: 1, timestamp: 0, payload: Buffer.alloc(60 * 1024, 7) };
    for (let i = 0; i < 5; i += 1) client.send(data);
    expect(await client.connection.closed).toBeLessThan(3000);
    expect(closedDetails(harness)).toContain('pre_auth_bytes');
  });

  it(`refuses connect ${DEFAULT_CONNECTS_PER_NETWORK_PER_MINUTE + 1} from one address within a minute, one at a time`, async () => {
    const harness = await startHarness();
    for (let i = 0; i < DEFAULT_CONNECTS_PER_NETWORK_PER_MINUTE; i += 1) {
      const connection = await open(harness.server.port, '127.0.9.1');
      await performHandshake(connection);
      connection.socket.destroy();
      await connection.closed;
    }
    await waitFor(() => harness.server.preAuth.connections === 0, 5000, 'the connections to close');
    const refused = await open(harness.server.port, '127.0.9.1');
    expect(await refused.closed).toBeLessThan(2000);
    expect(refused.received()).toHaveLength(0);
    expect(harness.logs).toContainEqual(
      expect.objectContaining({ event: 'rtmp.connection_refused', reason: 'connect_rate_limit' }),
    );
    // Another address is not affected.
    const other = await open(harness.server.port, '127.0.9.2');
    await performHandshake(other);
    expect(other.received()[0]).toBe(3);
  });

  it(`refuses connection ${DEFAULT_PRE_AUTH_PER_NETWORK + 1} from one address while another address still gets in`, async () => {
    const harness = await startHarness();
    const port = harness.server.port;
    const first: RawConnection[] = [];
    for (let i = 0; i < DEFAULT_PRE_AUTH_PER_NETWORK; i += 1) first.push(await open(port, '127.0.0.1'));
    await waitFor(
      () => harness.server.preAuth.connections === DEFAULT_PRE_AUTH_PER_NETWORK,
      5000,
      'the first connections',
    );
    const refused = await open(port, '127.0.0.1');
    // Closed before any handshake byte: nothing was parsed, nothing held.
    expect(await refused.closed).toBeLessThan(2000);
    expect(refused.received()).toHaveLength(0);
    expect(harness.logs).toContainEqual(
      expect.objectContaining({ event: 'rtmp.connection_refused', reason: 'per_network_limit' }),
    );
    const other = await open(port, '127.0.0.2');
    await performHandshake(other);
    expect(other.received()[0]).toBe(3);
    // The first ones are still open: the limit refuses newcomers, it does not drop anyone.
    await performHandshake(first[0] ?? other);
    expect(harness.server.preAuth.connections).toBe(DEFAULT_PRE_AUTH_PER_NETWORK + 1);
  });

  it(`keeps at most ${DEFAULT_PRE_AUTH_TOTAL} strangers: a newcomer past that evicts the oldest one from the most represented network`, async () => {
    const harness = await startHarness();
    const port = harness.server.port;
    // One lone stranger first (the oldest of all), then full quotas from other addresses.
    const lone = await open(port, '127.0.1.200');
    const crowd: RawConnection[] = [];
    const addresses = (DEFAULT_PRE_AUTH_TOTAL - 1) / DEFAULT_PRE_AUTH_PER_NETWORK;
    for (let a = 0; a < Math.ceil(addresses); a += 1)
      for (let i = 0; i < DEFAULT_PRE_AUTH_PER_NETWORK && crowd.length < DEFAULT_PRE_AUTH_TOTAL - 1; i += 1)
        crowd.push(await open(port, `127.0.1.${a + 1}`));
    await waitFor(
      () => harness.server.preAuth.connections === DEFAULT_PRE_AUTH_TOTAL,
      5000,
      'the connections to be admitted',
    );
    expect(harness.server.preAuth.evictions).toBe(0);
    const newcomer = await open(port, '127.0.2.1');
    await performHandshake(newcomer);
    expect(newcomer.received()[0]).toBe(3);
    // Room was made: the crowd's oldest (127.0.1.1, a full network) went, the lone one stayed.
    expect(await crowd[0]?.closed).toBeLessThan(3000);
    expect(closedDetails(harness)).toEqual(['pre_auth_evicted']);
    expect(harness.server.preAuth).toMatchObject({ connections: DEFAULT_PRE_AUTH_TOTAL, evictions: 1 });
    await performHandshake(lone);
    expect(lone.received()[0]).toBe(3);
  });

  it(`lets a publisher and its reconnect in while ${DEFAULT_PRE_AUTH_TOTAL} strangers from ${DEFAULT_PRE_AUTH_TOTAL / 2} addresses hold every slot and refill it as they are evicted`, async () => {
    const harness = await startHarness();
    const port = harness.server.port;
    const deadline = Date.now() + 20_000;
    let attacking = true;
    let opens = 0;
    /** A stranger that gets as far as a publisher does before `publish` (handshake, connect), and comes back when evicted. */
    const occupy = async (address: string): Promise<void> => {
      while (attacking && Date.now() < deadline && opens < 2 * DEFAULT_PRE_AUTH_TOTAL + 200) {
        opens += 1;
        const client = await RawRtmpClient.open(port, address).catch(() => null);
        if (client === null) return;
        opened.push(client.connection);
        client.send(command(0, 'connect', 1, { app: 'live' }), command(0, 'createStream', 2, null));
        await client.connection.closed;
      }
    };
    // Two per address: the review's "~26 addresses" keeping the table full with a 5 s deadline.
    const attackers = Array.from({ length: DEFAULT_PRE_AUTH_TOTAL }, (_, i) =>
      occupy(`127.0.10.${(i % 32) + 1}`),
    );
    await waitFor(
      () => harness.server.preAuth.connections === DEFAULT_PRE_AUTH_TOTAL,
      10_000,
      'the strangers to fill the table',
    );
    // A publisher (and a streamer's reconnect after it) from an address of its own.
    const publisher = spawnPublisher(urlFor(harness, 'crowded_key'), 2);
    let reconnect: ReturnType<typeof spawnPublisher> | null = null;
    try {
      expect(await publisher.exited).toBe(0);
      reconnect = spawnPublisher(urlFor(harness, 'crowded_key'), 1);
      expect(await reconnect.exited).toBe(0);
    } finally {
      attacking = false;
      publisher.kill();
      reconnect?.kill();
    }
    expect(harness.authorizeCalls.map((call) => call.streamKey)).toEqual(['crowded_key', 'crowded_key']);
    expect(harness.published.map((record) => record.mediaBytes > 0)).toEqual([true, true]);
    expect(harness.server.preAuth.evictions).toBeGreaterThan(0);
    for (const connection of opened) connection.socket.destroy();
    await Promise.all(attackers);
  });

  it('closes the largest holders once strangers together pass the byte budget, and a newcomer still gets through', async () => {
    const harness = await startHarness(async () => ({ ok: false, reason: 'bad_key' }));
    const port = harness.server.port;
    // 40 hoarders of ~120 KiB each, from five addresses: ~4.8 MiB, past the 4 MiB budget.
    for (let i = 0; i < 40; i += 1) await openHoarder(port, `127.0.3.${(i % 5) + 1}`);
    await waitFor(
      () => closedDetails(harness).filter((detail) => detail === 'pre_auth_budget').length >= 5,
      5000,
      'evictions',
    );
    expect(harness.server.preAuth.heldBytes).toBeLessThanOrEqual(DEFAULT_PRE_AUTH_BUDGET_BYTES);
    // A legitimate publisher holds a few hundred bytes: it is never the largest, so it is answered.
    const client = await RawRtmpClient.open(port, '127.0.3.9');
    opened.push(client.connection);
    client.send(command(0, 'connect', 1, { app: 'live' }), command(0, 'createStream', 2, null));
    await waitFor(
      () => client.messages.filter((message) => message.type === 20).length >= 2,
      5000,
      'connect and createStream results',
    );
    client.send(command(1, 'publish', 3, null, 'some_key', 'live'));
    await waitFor(() => harness.authorizeCalls.length === 1, 5000, 'authorize');
    expect(harness.server.preAuth.heldBytes).toBeLessThanOrEqual(DEFAULT_PRE_AUTH_BUDGET_BYTES);
  });

  it('closes a connection that has not published within 5 s of connecting', async () => {
    const harness = await startHarness();
    const client = await RawRtmpClient.open(harness.server.port);
    opened.push(client.connection);
    client.send(command(0, 'connect', 1, { app: 'live' }), command(0, 'createStream', 2, null));
    const closedAfter = await client.connection.closed;
    expect(closedAfter).toBeGreaterThanOrEqual(4500);
    expect(closedAfter).toBeLessThan(6500);
    expect(closedDetails(harness)).toContain('setup_timeout');
  });

  it('keeps an authorized ffmpeg publish flowing, uncounted by the limits, while strangers attack', async () => {
    const harness = await startHarness();
    const port = harness.server.port;
    const publisher = spawnPublisher(urlFor(harness, 'steady_key'), 8);
    try {
      await waitFor(() => harness.totalMediaBytes() > 20_000, 10_000, 'publisher media');
      // The publisher left the pre-auth counts: its address may open a full quota of strangers.
      expect(harness.server.preAuth.connections).toBe(0);
      for (let i = 0; i < DEFAULT_PRE_AUTH_PER_NETWORK; i += 1) await open(port, '127.0.0.1');
      // An 8 MiB announcement in 1-byte chunks, hoarders past the budget, then slot fillers from
      // other addresses until the full table evicts the oldest.
      const flooder = await open(port, '127.0.6.1');
      await performHandshake(flooder);
      flooder.socket.write(Buffer.concat([setChunkSize(1), messageHeader(3, 8 * 1024 * 1024, 20)]));
      for (let i = 0; i < 40; i += 1) await openHoarder(port, `127.0.4.${(i % 5) + 1}`);
      for (let i = 0; i < 24; i += 1) await open(port, `127.0.5.${(i % 3) + 1}`);
      await waitFor(
        () => closedDetails(harness).includes('pre_auth_evicted'),
        5000,
        'the full table to evict a stranger',
      );

      const before = harness.totalMediaBytes();
      await waitFor(() => harness.totalMediaBytes() > before + 20_000, 5000, 'publisher still flowing');
      expect(harness.server.preAuth.heldBytes).toBeLessThanOrEqual(DEFAULT_PRE_AUTH_BUDGET_BYTES);
      expect(await publisher.exited).toBe(0);
      await waitFor(() => harness.published[0]?.closeReason !== null, 5000, 'publish end');
      expect(harness.published[0]?.closeReason).toBe('publisher_closed');
    } finally {
      publisher.kill();
    }
  });
});
