// The coarser per-client bucket: an IPv6 client's /48. A site is usually given a /48 (RFC 6177
// section 2), 65,536 /64s, so a limit that must hold per client counts the /48 beside the /64
// (toClientNetwork), with a higher limit since a /48 may be shared (docs/api.md, "Limits").
import { toClientNetwork } from './client-network.ts';

const IPV6_64 = /^([0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}):[0-9a-f]{1,4}::\/64$/;

/**
 * The /48 of an IPv6 address ("2001:db8:1::/48"), or null for an IPv4 address (an IPv4-mapped
 * one included) or an unparseable one, whose toClientNetwork bucket is already the narrowest.
 */
export function toClientNetworkBlock(address: string): string | null {
  const match = IPV6_64.exec(toClientNetwork(address));
  return match ? `${match[1]}::/48` : null;
}
