// A self-signed certificate for RTMPS on a developer's machine (`npm start`), so OBS and ffmpeg can
// publish to rtmps://localhost:1936/live without any setup. A deployment sets RTMPS_CERT_PATH and
// RTMPS_KEY_PATH to the operator's real certificate instead (docs/security.md).
//
// Generated with the `selfsigned` package (pure JavaScript over WebCrypto), not the `openssl` CLI:
// `npm start` must work on a fresh machine with only Node and npm, and a minimal Debian or a
// container image has no `openssl` binary. The certificate is kept in .wrangler/ (git-ignored) and
// reused until it is near its end, so a client told to trust it keeps trusting it across restarts.
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';

const VALID_DAYS = 365;
/** A certificate this close to its end is replaced rather than reused. */
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;

export interface LocalCertificate {
  certPath: string;
  keyPath: string;
  /** True when this call generated it (the first run, or the old one was expiring). */
  generated: boolean;
}

function isReusable(certPath: string, keyPath: string): boolean {
  if (!existsSync(certPath) || !existsSync(keyPath)) return false;
  try {
    const cert = new X509Certificate(readFileSync(certPath));
    return Date.parse(cert.validTo) - Date.now() > RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}

/** Returns the paths of a valid self-signed certificate for localhost under `dir`, generating it if needed. */
export async function ensureLocalCertificate(dir: string): Promise<LocalCertificate> {
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  if (isReusable(certPath, keyPath)) return { certPath, keyPath, generated: false };
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + VALID_DAYS * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(certPath, pems.cert);
  writeFileSync(keyPath, pems.private, { mode: 0o600 });
  return { certPath, keyPath, generated: true };
}
