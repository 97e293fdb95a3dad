// RTMPS (issue 10, finding 9): RTMP inside TLS on its own port, with the self-signed certificate
// `npm start` generates. ffmpeg publishes over rtmps:// and verifies the certificate against it as
// its CA, so the test proves both that the TLS listener works and that the local certificate is
// valid for 127.0.0.1; a plain RTMP hello on the TLS port is refused without hurting the server.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureLocalCertificate, type LocalCertificate } from '../../../scripts/lib/local-cert.ts';
import { closeHarnesses, type Harness, startHarness } from './harness.ts';
import { connectRaw, probeFlv, spawnPublisher, waitFor } from './helpers.ts';

let dir = '';
let certificate: LocalCertificate;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtmps-test-'));
  certificate = await ensureLocalCertificate(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(closeHarnesses);

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
});
