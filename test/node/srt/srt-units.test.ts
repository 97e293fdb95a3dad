// The SRT receiver's pure parts: packet and handshake codecs (draft-sharabayko-srt-01 §3), the key
// material (PBKDF2 + RFC 3394 unwrap + AES-CTR with libsrt's IV rule), and the receive buffer's
// order, loss reports, too-late drop and bounds. The wire format against libsrt itself is tested in
// srt-ingest.test.ts with ffmpeg as the caller.
import { createCipheriv, pbkdf2Sync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildCtrIv,
  decryptPayload,
  readKeyMaterial,
  unwrapKeys,
} from '../../../containers/transcoder/src/srt/key-material.ts';
import {
  ControlType,
  HandshakeType,
  readHandshake,
  readLossList,
  readPacket,
  readStreamId,
  readStreamKey,
  seqAdd,
  seqDiff,
  writeControl,
  writeHandshake,
  writeLossList,
  writeStreamId,
} from '../../../containers/transcoder/src/srt/packet.ts';
import { ReceiveBuffer } from '../../../containers/transcoder/src/srt/receive-buffer.ts';

/** A KM message as a libsrt caller builds one (haicrypt hcrypt_ctx_tx.c), for a given passphrase. */
function buildKeyMaterial(passphrase: string, sek: Buffer, salt = randomBytes(16)): Buffer {
  const kek = pbkdf2Sync(passphrase, salt.subarray(8), 2048, sek.length, 'sha1');
  const wrap = createCipheriv(`id-aes${sek.length * 8}-wrap`, kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
  const wrapped = Buffer.concat([wrap.update(sek), wrap.final()]);
  const header = Buffer.alloc(16);
  header[0] = 0x12; // version 1, packet type 2 (KM)
  header.writeUInt16BE(0x2029, 1);
  header[3] = 1; // even key
  header[8] = 2; // AES-CTR
  header[10] = 2; // SE: MPEG-TS/SRT
  header[14] = 4; // salt 16 bytes
  header[15] = sek.length / 4;
  return Buffer.concat([header, salt, wrapped]);
}

describe('SRT packets', () => {
  it('compares 31-bit sequence numbers across the wrap', () => {
    expect(seqDiff(0x7fff_fffe, 1)).toBe(3);
    expect(seqDiff(1, 0x7fff_fffe)).toBe(-3);
    expect(seqAdd(0x7fff_ffff, 1)).toBe(0);
  });

  it('reads a handshake with its extensions back as it was written', () => {
    const cif = writeHandshake(
      {
        version: 5,
        encryptionField: 2,
        extensionField: 0x5,
        initialSeq: 1234,
        mtu: 1500,
        flowWindow: 8192,
        type: HandshakeType.CONCLUSION,
        socketId: 77,
        cookie: 0xdeadbeef,
        peerIp: Buffer.alloc(16),
      },
      [{ type: 5, content: writeStreamId('live_abc') }],
    );
    const packet = readPacket(writeControl(ControlType.HANDSHAKE, 0, 0, 0, cif));
    expect(packet?.kind).toBe('control');
    const hs = packet?.kind === 'control' ? readHandshake(packet.cif) : null;
    expect(hs).toMatchObject({
      version: 5,
      encryptionField: 2,
      socketId: 77,
      cookie: 0xdeadbeef,
      type: HandshakeType.CONCLUSION,
    });
    expect(readStreamId(hs?.extensions[0]?.content ?? Buffer.alloc(0))).toBe('live_abc');
  });

  it('reads the streamid with each 32-bit word byte-swapped, as libsrt sends it', () => {
    expect(writeStreamId('abcdef')).toEqual(Buffer.from([0x64, 0x63, 0x62, 0x61, 0, 0, 0x66, 0x65]));
    expect(readStreamId(Buffer.from([0x64, 0x63, 0x62, 0x61, 0, 0, 0x66, 0x65]))).toBe('abcdef');
  });

  it('takes the key from a plain streamid or the access-control form, and refuses other modes', () => {
    expect(readStreamKey('live_abc-DEF')).toEqual({ ok: true, key: 'live_abc-DEF', backup: false });
    expect(readStreamKey('#!::r=live_abc,m=publish')).toEqual({ ok: true, key: 'live_abc', backup: false });
    expect(readStreamKey('%23%21%3A%3Ar%3Dlive_abc%2Cm%3Dpublish')).toEqual({
      ok: true,
      key: 'live_abc',
      backup: false,
    });
    // A dual publish's second connection (docs/deploy.md, "Dual publish").
    expect(readStreamKey('#!::r=live_abc,m=publish,backup=1')).toEqual({
      ok: true,
      key: 'live_abc',
      backup: true,
    });
    expect(readStreamKey('#!::backup=0,r=live_abc,m=publish')).toEqual({
      ok: true,
      key: 'live_abc',
      backup: false,
    });
    expect(readStreamKey('#!::r=live_abc,m=request')).toEqual({ ok: false, reason: 'bad_mode' });
    expect(readStreamKey('#!::r=live_abc')).toEqual({ ok: false, reason: 'bad_mode' });
    expect(readStreamKey('live abc')).toEqual({ ok: false, reason: 'bad_request' });
    expect(readStreamKey('#!::m=publish')).toEqual({ ok: false, reason: 'bad_request' });
  });

  it('rejects datagrams too short or too long, and handshakes whose extension lengths lie', () => {
    expect(readPacket(Buffer.alloc(15))).toBeNull();
    expect(readPacket(Buffer.alloc(1501))).toBeNull();
    expect(readHandshake(Buffer.alloc(47))).toBeNull();
    const lying = Buffer.alloc(48 + 4);
    lying.writeUInt16BE(5, 48);
    lying.writeUInt16BE(100, 50); // 400 bytes announced, none there
    expect(readHandshake(lying)).toBeNull();
  });

  it('writes loss lists with ranges flagged by the high bit', () => {
    const cif = writeLossList([
      [5, 5],
      [10, 14],
    ]);
    expect(cif.readUInt32BE(0)).toBe(5);
    expect(cif.readUInt32BE(4)).toBe((0x8000_0000 | 10) >>> 0);
    expect(readLossList(cif)).toEqual([
      [5, 5],
      [10, 14],
    ]);
  });
});

describe('SRT key material', () => {
  const passphrase = 'correct-horse-battery';

  it('unwraps the stream key with the right passphrase and refuses a wrong one', () => {
    const sek = randomBytes(16);
    const read = readKeyMaterial(buildKeyMaterial(passphrase, sek));
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(unwrapKeys(read.km, passphrase)?.even).toEqual(sek);
    expect(unwrapKeys(read.km, 'another-passphrase')).toBeNull();
  });

  it('refuses key material that is truncated, signed otherwise or not AES-CTR', () => {
    const km = buildKeyMaterial(passphrase, randomBytes(16));
    expect(readKeyMaterial(km.subarray(0, km.length - 1))).toEqual({ ok: false, error: 'malformed' });
    const badSign = Buffer.from(km);
    badSign[1] = 0;
    expect(readKeyMaterial(badSign)).toEqual({ ok: false, error: 'malformed' });
    const gcm = Buffer.from(km);
    gcm[8] = 4;
    expect(readKeyMaterial(gcm)).toEqual({ ok: false, error: 'unsupported_cipher' });
  });

  it('decrypts a payload encrypted with the salt-and-sequence counter of libsrt', () => {
    const sek = randomBytes(32);
    const salt = randomBytes(16);
    const read = readKeyMaterial(buildKeyMaterial(passphrase, sek, salt));
    if (!read.ok) throw new Error('km');
    const keys = unwrapKeys(read.km, passphrase);
    if (keys === null) throw new Error('unwrap');
    const seq = 0x1234_5678;
    const iv = buildCtrIv(salt, seq);
    // bytes 10..13 are the packet index XOR the salt; the last two are the block counter.
    expect(iv.readUInt32BE(10)).toBe((seq ^ salt.readUInt32BE(10)) >>> 0);
    expect(iv.readUInt16BE(14)).toBe(0);
    const plain = randomBytes(1316);
    const cipher = createCipheriv('aes-256-ctr', sek, iv);
    const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
    expect(decryptPayload(keys, 1, seq, encrypted)).toEqual(plain);
    // The odd key was never sent: nothing to decrypt with.
    expect(decryptPayload(keys, 2, seq, encrypted)).toBeNull();
  });
});

describe('SRT receive buffer', () => {
  const chunk = (n: number) => Buffer.from([n]);
  const options = { initialSeq: 100, latencyMs: 120, maxPackets: 64, maxBytes: 64 * 1024 };

  it('delivers in order, reports a gap at once and fills it from a retransmission', () => {
    const buffer = new ReceiveBuffer(options);
    expect(buffer.receive(100, chunk(0), 0).deliver).toEqual([chunk(0)]);
    const gap = buffer.receive(103, chunk(3), 1);
    expect(gap.deliver).toEqual([]);
    expect(gap.newLosses).toEqual([[101, 102]]);
    expect(buffer.receive(102, chunk(2), 2).deliver).toEqual([]);
    expect(buffer.receive(101, chunk(1), 3).deliver).toEqual([chunk(1), chunk(2), chunk(3)]);
    expect(buffer.ackSeq).toBe(104);
    expect(buffer.lossRanges).toBe(0);
    expect(buffer.receive(102, chunk(2), 4)).toEqual({ deliver: [], newLosses: [] });
    expect(buffer.duplicatePackets).toBe(1);
  });

  it('re-reports a loss only after the interval, and gives it up after the latency', () => {
    const buffer = new ReceiveBuffer(options);
    buffer.receive(101, chunk(1), 0);
    expect(buffer.takeLossReport(10, 20)).toEqual([]);
    expect(buffer.takeLossReport(25, 20)).toEqual([[100, 100]]);
    expect(buffer.dropLate(100)).toEqual([]);
    expect(buffer.dropLate(121)).toEqual([chunk(1)]);
    expect(buffer.droppedPackets).toBe(1);
    expect(buffer.ackSeq).toBe(102);
    expect(buffer.takeLossReport(1_000, 20)).toEqual([]);
  });

  it('holds no more than its byte bound, giving the oldest gap up', () => {
    const buffer = new ReceiveBuffer({ ...options, maxBytes: 3_000 });
    const big = Buffer.alloc(1_000);
    buffer.receive(101, big, 0);
    buffer.receive(102, big, 0);
    buffer.receive(103, big, 0);
    const over = buffer.receive(104, big, 0);
    expect(over.deliver).toHaveLength(4);
    expect(buffer.heldBytes).toBe(0);
    expect(buffer.droppedPackets).toBe(1);
  });

  it('jumps when a sender runs further ahead than the buffer spans, without walking the gap', () => {
    const buffer = new ReceiveBuffer(options);
    buffer.receive(101, chunk(1), 0);
    const started = performance.now();
    const jump = buffer.receive(seqAdd(100, 0x3fff_0000), chunk(9), 0);
    expect(performance.now() - started).toBeLessThan(50);
    expect(jump.deliver).toEqual([chunk(1)]);
    expect(buffer.heldPackets).toBe(1);
    expect(buffer.lossRanges).toBeLessThanOrEqual(1);
  });
});
