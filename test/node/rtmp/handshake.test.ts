import { describe, expect, it } from 'vitest';
import {
  HANDSHAKE_PACKET_SIZE,
  HandshakeError,
  ServerHandshake,
} from '../../../containers/transcoder/src/rtmp/handshake.ts';

function createClientBytes(trailing: number[]): { c1: Buffer; bytes: Buffer } {
  const c1 = Buffer.alloc(HANDSHAKE_PACKET_SIZE);
  for (let i = 0; i < c1.length; i += 1) c1[i] = (i * 31 + 7) & 0xff;
  const c2 = Buffer.alloc(HANDSHAKE_PACKET_SIZE, 0x5a);
  return { c1, bytes: Buffer.concat([Buffer.from([3]), c1, c2, Buffer.from(trailing)]) };
}

describe('ServerHandshake', () => {
  it('answers S0+S1+S2 echoing C1 and hands over the bytes after C2, at every split point', () => {
    const { c1, bytes } = createClientBytes([0xc3, 1, 2]);
    for (let split = 0; split <= bytes.length; split += 97) {
      const handshake = new ServerHandshake();
      const first = handshake.push(bytes.subarray(0, split));
      const second = handshake.push(bytes.subarray(split));
      const reply = first.reply ?? second.reply;
      expect(first.reply !== null && second.reply !== null).toBe(false);
      expect(reply?.length).toBe(1 + 2 * HANDSHAKE_PACKET_SIZE);
      expect(reply?.[0]).toBe(3);
      expect(reply?.subarray(1 + HANDSHAKE_PACKET_SIZE).equals(c1)).toBe(true);
      expect(second.done).toBe(true);
      expect([...second.rest]).toEqual([0xc3, 1, 2]);
    }
  });

  it('completes when fed one byte at a time', () => {
    const { bytes } = createClientBytes([]);
    const handshake = new ServerHandshake();
    let replies = 0;
    for (let i = 0; i < bytes.length; i += 1) {
      const progress = handshake.push(bytes.subarray(i, i + 1));
      if (progress.reply !== null) replies += 1;
      expect(progress.done).toBe(i === bytes.length - 1);
    }
    expect(replies).toBe(1);
    expect(handshake.done).toBe(true);
  });

  it('rejects a version other than 3 on its first byte', () => {
    expect(() => new ServerHandshake().push(Buffer.from([6]))).toThrow(HandshakeError);
    expect(() => new ServerHandshake().push(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(HandshakeError);
  });
});
