// The pre-auth guard's bookkeeping where a loopback socket cannot reach: IPv6 clients counted by
// their /64 (a host holds the whole prefix, so keying on addresses would hand it 2^64 quotas), and
// a full table of connections being authorized, which nothing may evict. The socket-level attacks
// are in pre-auth.test.ts and rtmps.test.ts.
import { describe, expect, it } from 'vitest';
import { toClientNetwork } from '../../../common/client-network.ts';
import {
  type GuardedConnection,
  PreAuthGuard,
  type PreAuthStage,
} from '../../../containers/transcoder/src/rtmp/pre-auth-guard.ts';

class Stranger implements GuardedConnection {
  readonly network: string;
  preAuthStage: PreAuthStage;
  closedBy: string | null = null;

  constructor(address: string, stage: PreAuthStage = 'setup') {
    this.network = toClientNetwork(address);
    this.preAuthStage = stage;
  }

  closeByGuard(reason: 'pre_auth_budget' | 'pre_auth_evicted'): void {
    this.closedBy = reason;
  }
}

const limits = {
  maxPerNetwork: 2,
  maxTotal: 4,
  maxTlsHandshakes: 2,
  budgetBytes: 1024,
  connectsPerNetworkPerMinute: 5,
};

describe('PreAuthGuard', () => {
  it('counts every address of one IPv6 /64 as one network, for the connection quota and the connect rate', () => {
    const guard = new PreAuthGuard(limits);
    for (const address of ['2001:db8:1:2::a', '2001:db8:1:2:ffff:1:2:3']) {
      expect(guard.check(address)).toEqual({ ok: true });
      expect(guard.admit(new Stranger(address))).toBe(true);
    }
    expect(guard.check('2001:db8:1:2::b')).toEqual({ ok: false, reason: 'per_network_limit' });
    // Another /64 is another client.
    expect(guard.check('2001:db8:1:3::a')).toEqual({ ok: true });
    // Three connects so far from the first /64 (refused ones count); two more reach its rate of 5
    // a minute, whatever the addresses, and the sixth is refused for the rate.
    guard.check('2001:db8:1:2::c');
    guard.check('2001:db8:1:2::d');
    expect(guard.check('2001:db8:1:2::e')).toEqual({ ok: false, reason: 'connect_rate_limit' });
  });

  it('evicts the oldest stranger of the most represented network for a newcomer, never one being authorized', () => {
    const guard = new PreAuthGuard(limits);
    const lone = new Stranger('192.0.2.1');
    const crowd = [
      new Stranger('198.51.100.7', 'authorizing'),
      new Stranger('198.51.100.7'),
      new Stranger('203.0.113.9'),
    ];
    for (const stranger of [lone, ...crowd]) expect(guard.admit(stranger)).toBe(true);
    expect(guard.admit(new Stranger('192.0.2.200'))).toBe(true);
    // 198.51.100.7 had two: its oldest that is not being authorized went.
    expect([lone, ...crowd].map((stranger) => stranger.closedBy)).toEqual([
      null,
      null,
      'pre_auth_evicted',
      null,
    ]);
    expect(guard.evictions).toBe(1);
  });

  it('refuses a newcomer only when every stranger is being authorized', () => {
    const guard = new PreAuthGuard(limits);
    for (let i = 0; i < limits.maxTotal; i += 1)
      expect(guard.admit(new Stranger(`192.0.2.${i + 1}`, 'authorizing'))).toBe(true);
    expect(guard.admit(new Stranger('198.51.100.1'))).toBe(false);
    expect(guard.connections).toBe(limits.maxTotal);
  });

  it('keeps TLS handshakes under their own cap by evicting the oldest handshake, not an RTMP stranger', () => {
    const guard = new PreAuthGuard(limits);
    const rtmp = new Stranger('192.0.2.1', 'handshake');
    const first = new Stranger('198.51.100.1', 'tls_handshake');
    const second = new Stranger('198.51.100.2', 'tls_handshake');
    for (const stranger of [rtmp, first, second]) expect(guard.admit(stranger)).toBe(true);
    expect(guard.admit(new Stranger('198.51.100.3', 'tls_handshake'))).toBe(true);
    expect([rtmp.closedBy, first.closedBy, second.closedBy]).toEqual([null, 'pre_auth_evicted', null]);
    expect(guard.connections).toBe(3);
  });
});
