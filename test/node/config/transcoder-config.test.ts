// The transcoder's environment settings that the hot standby adds (HOT_STANDBY_TIERS).
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../containers/transcoder/src/config.ts';

const BASE = { ORIGIN_URL: 'http://127.0.0.1:8787', INGEST_SECRET: 'a-long-enough-secret' };

describe('transcoder configuration', () => {
  it('gives partner streams a hot standby by default, and takes a list of tiers or none', () => {
    expect(readConfig(BASE, 2).HOT_STANDBY_TIERS).toEqual(['partner']);
    expect(readConfig({ ...BASE, HOT_STANDBY_TIERS: 'partner, affiliate' }, 2).HOT_STANDBY_TIERS).toEqual([
      'partner',
      'affiliate',
    ]);
    expect(readConfig({ ...BASE, HOT_STANDBY_TIERS: '' }, 2).HOT_STANDBY_TIERS).toEqual([]);
  });

  it('refuses a tier that does not exist', () => {
    expect(() => readConfig({ ...BASE, HOT_STANDBY_TIERS: 'partner,gold' }, 2)).toThrow(/HOT_STANDBY_TIERS/);
  });
});
