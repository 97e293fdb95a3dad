import { describe, expect, it } from 'vitest';
import {
  Amf0DecodeError,
  Amf0EcmaArray,
  type Amf0Value,
  decodeAmf0Value,
  decodeAmf0Values,
  encodeAmf0,
} from '../../../containers/transcoder/src/rtmp/amf0.ts';

function expectDecodeError(bytes: number[] | Buffer, code: string): void {
  try {
    decodeAmf0Values(Buffer.from(bytes));
  } catch (error) {
    expect(error).toBeInstanceOf(Amf0DecodeError);
    expect((error as Amf0DecodeError).code).toBe(code);
    return;
  }
  throw new Error('decoding succeeded');
}

describe('AMF0', () => {
  it('round-trips every supported type', () => {
    const values: Amf0Value[] = [
      0,
      -1.5,
      2 ** 53,
      true,
      false,
      '',
      'héllo wörld',
      'x'.repeat(70_000),
      null,
      undefined,
      new Date(1_700_000_000_123),
      { app: 'live', nested: { depth: 2, list: [1, 'two', null] } },
      new Amf0EcmaArray({ width: 320, height: 180, encoder: 'Lavf59' }),
      [1, [2, [3]], {}],
    ];
    const decoded = decodeAmf0Values(encodeAmf0(...values));
    expect(decoded).toEqual(values);
    expect(decoded[12]).toBeInstanceOf(Amf0EcmaArray);
  });

  it('encodes strings longer than 65535 bytes as long strings and short ones as strings', () => {
    expect(encodeAmf0('abc')[0]).toBe(0x02);
    expect(encodeAmf0('x'.repeat(65_536))[0]).toBe(0x0c);
  });

  it('decodes the connect command as ffmpeg writes it', () => {
    // "connect", 1, {app: "live", type: "nonprivate"}: bytes as on the wire.
    const bytes = Buffer.from([
      0x02,
      0x00,
      0x07,
      ...Buffer.from('connect'),
      0x00,
      0x3f,
      0xf0,
      0,
      0,
      0,
      0,
      0,
      0,
      0x03,
      0x00,
      0x03,
      ...Buffer.from('app'),
      0x02,
      0x00,
      0x04,
      ...Buffer.from('live'),
      0x00,
      0x04,
      ...Buffer.from('type'),
      0x02,
      0x00,
      0x0a,
      ...Buffer.from('nonprivate'),
      0x00,
      0x00,
      0x09,
    ]);
    expect(decodeAmf0Values(bytes)).toEqual(['connect', 1, { app: 'live', type: 'nonprivate' }]);
  });

  it('leaves out a property named with the empty string, which AMF0 cannot write, so its output always decodes', () => {
    const encoded = encodeAmf0({ '': 1, app: 'live' }, new Amf0EcmaArray({ '': 2, width: 320 }));
    expect(decodeAmf0Values(encoded)).toEqual([{ app: 'live' }, new Amf0EcmaArray({ width: 320 })]);
  });

  it('decodes one value at an offset and reports where it ended', () => {
    const bytes = encodeAmf0('a', 7);
    expect(decodeAmf0Value(bytes, 4)).toEqual({ value: 7, offset: bytes.length });
  });

  it.each([
    ['a truncated number', [0x00, 1, 2, 3], 'truncated'],
    ['a string longer than its message', [0x02, 0xff, 0xff, 0x41], 'truncated'],
    ['an object without its end marker', [0x03, 0x00, 0x01, 0x61, 0x05], 'truncated'],
    ['a strict array count larger than the message', [0x0a, 0xff, 0xff, 0xff, 0xff, 0x05], 'truncated'],
    ['an unknown marker', [0x42], 'unknown_marker'],
    ['a reference', [0x07, 0x00, 0x01], 'unsupported_marker'],
    ['an AVM+ switch', [0x11, 0x01], 'unsupported_marker'],
    ['a stray object end', [0x09], 'unsupported_marker'],
  ])('fails with a typed error on %s', (_name, bytes, code) => {
    expectDecodeError(bytes, code);
  });

  it('refuses nesting deeper than the limit', () => {
    // 40 strict arrays of one element each, nested.
    const parts: number[] = [];
    for (let i = 0; i < 40; i += 1) parts.push(0x0a, 0, 0, 0, 1);
    parts.push(0x05);
    expectDecodeError(parts, 'too_deep');
    expect(() => decodeAmf0Values(Buffer.from(parts), { maxDepth: 64 })).not.toThrow();
  });

  it('refuses strings longer than the limit before reading them', () => {
    const bytes = encodeAmf0('x'.repeat(5000));
    expect(() => decodeAmf0Values(bytes, { maxStringLength: 4096 })).toThrow(
      expect.objectContaining({ code: 'too_large' }),
    );
  });
});
