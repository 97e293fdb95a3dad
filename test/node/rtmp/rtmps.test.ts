// RTMPS (issue 10, finding 9): RTMP inside TLS on its own port, with the self-signed certificate
// `npm start` generates. ffmpeg publishes over rtmps:// and verifies the certificate against it as
// its CA, so the test proves both that the TLS listener works and that the local certificate is
// valid for 127.0.0.1; a plain RTMP hello on the TLS port is refused without hurting the server,
// and a flood of silent TCP connects (TLS handshakes never begun) cannot keep a publisher out.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_CONNECTS_PER_NETWORK_PER_MINUTE,
  DEFAULT_PRE_AUTH_PER_NETWORK,
  DEFAULT_PRE_AUTH_TLS_HANDSHAKES,
  DEFAULT_PRE_AUTH_TOTAL,
} from '../../../containers/transcoder/src/rtmp/pre-auth-guard.ts';
import { ensureLocalCertificate, type LocalCertificate } from '../../../scripts/lib/local-cert.ts';
import { closeHarnesses, type Harness, startHarness } from './harness.ts';
import { connectRaw, probeFlv, type RawConnection, spawnPublisher, waitFor } from './helpers.ts';

let dir = '';
let certificate: LocalCertificate;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtmps-test-'));
  certificate = await ensureLocalCertificate(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const opened: RawConnection[] = [];
afterEach(async () => {
  for (const connection of opened.splice(0)) connection.socket.destroy();
  await closeHarnesses();
});

async function startTlsHarness(): Promise<Harness & { tlsPort: number }> {
  const harness = await startHarness(undefined, {
    tls: { port: 0, cert: readFileSync(certificate.certPath), key: readFileSync(certificate.keyPath) },
  });
  return { ...harness, tlsPort: harness.server.tlsPort ?? 0 };
}

/** ffmpeg's TLS options: verify the server against the local certificate, as a client told to trust it. */
function trustingLocalCertificate(): string[] {
  return ['-tls_verify', '1', '-ca_file', certificate.certPath];
}

describe('RTMPS', () => {
  it('reuses the local certificate on the next start instead of generating another', async () => {
    expect(certificate.generated).toBe(true);
    const again = await ensureLocalCertificate(dir);
    expect(again).toEqual({ ...certificate, generated: false });
  });

  it('authorizes an ffmpeg publish over rtmps:// that verifies the self-signed certificate, and delivers its media', async () => {
    const harness = await startTlsHarness();
    expect(harness.tlsPort).toBeGreaterThan(0);
    expect(harness.tlsPort).not.toBe(harness.server.port);
    const publisher = spawnPublisher(
      `rtmps://127.0.0.1:${harness.tlsPort}/live/live_tls_key`,
      3,
      trustingLocalCertificate(),
    );
    try {
      expect(await publisher.exited).toBe(0);
      await waitFor(() => harness.published[0]?.closeReason !== null, 5000, 'publish end');
      expect(harness.authorizeCalls).toEqual([
        expect.objectContaining({ app: 'live', streamKey: 'live_tls_key', mediaBytesSoFar: 0 }),
      ]);
      expect(harness.published[0]?.closeReason).toBe('publisher_closed');
      const streams = await probeFlv(Buffer.concat(harness.published[0]?.chunks ?? []));
      expect(streams.map((stream) => stream.codec_name).sort()).toEqual(['aac', 'h264']);
    } finally {
      publisher.kill();
    }
  });

  it('refuses a plain RTMP hello on the TLS port cleanly, and goes on serving RTMPS', async () => {
    const harness = await startTlsHarness();
    const plain = await connectRaw(harness.tlsPort);
    plain.socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536, 1)]));
    expect(await plain.closed).toBeLessThan(3000);
    // No RTMP answer (S0 is the byte 3): at most a TLS alert record (content type 21).
    const answer = plain.received();
    expect(answer[0] === undefined || answer[0] === 21).toBe(true);
    expect(harness.logs).toContainEqual(expect.objectContaining({ event: 'rtmp.tls_refused' }));
    expect(harness.server.preAuth.connections).toBe(0);

    const publisher = spawnPublisher(
      `rtmps://127.0.0.1:${harness.tlsPort}/live/after_refusal`,
      1,
      trustingLocalCertificate(),
    );
    try {
      expect(await publisher.exited).toBe(0);
      expect(harness.authorizeCalls.map((call) => call.streamKey)).toEqual(['after_refusal']);
    } finally {
      publisher.kill();
    }
  });

  it('counts sockets still in their TLS handshake as strangers: 270 silent connects do not keep an rtmps:// publisher out', async () => {
    const harness = await startTlsHarness();
    // Ten addresses, each just under its connect rate: more silent sockets than Node's old
    // maxConnections (256) would let the TLS listener hold, RTMPS publishers included.
    const perAddress = DEFAULT_CONNECTS_PER_NETWORK_PER_MINUTE - 3;
    for (let a = 0; a < 10; a += 1)
      for (let i = 0; i < perAddress; i += 1)
        opened.push(await connectRaw(harness.tlsPort, `127.0.20.${a + 1}`));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const during = harness.server.preAuth;
    const publisher = spawnPublisher(
      `rtmps://127.0.0.1:${harness.tlsPort}/live/behind_the_flood`,
      2,
      trustingLocalCertificate(),
    );
    try {
      expect(await publisher.exited).toBe(0);
    } finally {
      publisher.kill();
    }
    expect(harness.authorizeCalls.map((call) => call.streamKey)).toEqual(['behind_the_flood']);
    expect(harness.published[0]?.mediaBytes).toBeGreaterThan(0);
    // While the flood held: past its per-network quota a silent socket was refused at once; past
    // the handshake cap the oldest handshakes of the most represented network made room.
    expect(during.connections).toBe(DEFAULT_PRE_AUTH_TLS_HANDSHAKES);
    expect(during.evictions).toBeGreaterThanOrEqual(
      10 * DEFAULT_PRE_AUTH_PER_NETWORK - DEFAULT_PRE_AUTH_TLS_HANDSHAKES,
    );
    expect(harness.logs).toContainEqual(
      expect.objectContaining({ event: 'rtmp.connection_refused', reason: 'per_network_limit' }),
    );
    expect(harness.server.preAuth.connections).toBeLessThanOrEqual(DEFAULT_PRE_AUTH_TOTAL);
    // The handshake deadline (the setup deadline, 5 s) ends the silent ones that are left.
    await waitFor(() => harness.server.preAuth.connections === 0, 8000, 'silent handshakes to time out');
  }, 30_000);
});
