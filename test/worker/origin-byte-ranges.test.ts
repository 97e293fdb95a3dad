// Range requests on the origin's media: the byte-range arithmetic of serve-media.ts (RFC 9110 14.1.2).
import { describe, expect, it } from 'vitest';
import { parseByteRange } from '../../workers/origin/serve-media.ts';

describe('byte ranges', () => {
  it('parses byte ranges', () => {
    expect(parseByteRange('bytes=5-', 10)).toEqual({ offset: 5, length: 5 });
    expect(parseByteRange('bytes=2-100', 10)).toEqual({ offset: 2, length: 8 });
    expect(parseByteRange('bytes=-3', 10)).toEqual({ offset: 7, length: 3 });
    expect(parseByteRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=0-1,4-5', 10)).toBeNull();
  });
});
