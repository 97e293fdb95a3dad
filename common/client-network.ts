// Which network a client address belongs to, for per-client limits and scopes. An IPv6 client
// usually holds a whole /64 (RFC 6177 recommends at least that per site, and SLAAC privacy
// addresses rotate inside it), so keying on the full address would hand each client 2^64 buckets.
// Runtime-neutral (no Node or Workers API): the Worker's per-client limits and the transcoder's RTMP
// pre-auth limits key on the same buckets.

const IPV6_GROUPS = 8;
const PREFIX_GROUPS = 4;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** The 8 groups of an IPv6 address (an embedded IPv4 tail counts as two), or null if malformed. */
function expandIpv6(address: string): number[] | null {
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const parseHalf = (half: string | undefined): number[] | null => {
    if (half === undefined || half === '') return [];
    const groups: number[] = [];
    for (const part of half.split(':')) {
      if (IPV4.test(part)) {
        const [a = 0, b = 0, c = 0, d = 0] = part.split('.').map(Number);
        groups.push((a << 8) | b, (c << 8) | d);
      } else if (HEX_GROUP.test(part)) {
        groups.push(Number.parseInt(part, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const head = parseHalf(halves[0]);
  const tail = parseHalf(halves[1]);
  if (!head || !tail) return null;
  if (halves.length === 1) return head.length === IPV6_GROUPS ? head : null;
  const missing = IPV6_GROUPS - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...Array<number>(missing).fill(0), ...tail];
}

/**
 * The bucket for a client address: an IPv4 address as is, an IPv6 address as its /64
 * ("2001:db8:1:2::/64"), an IPv4-mapped IPv6 address as the IPv4 address it maps. Anything
 * unparseable is its own bucket.
 */
export function toClientNetwork(address: string): string {
  const trimmed = address.trim().toLowerCase();
  if (!trimmed.includes(':')) return trimmed;
  const groups = expandIpv6(trimmed.replace(/%.*$/, ''));
  if (!groups) return trimmed;
  // ::ffff:a.b.c.d is an IPv4 client reached over IPv6 (RFC 4291 section 2.5.5.2).
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  return `${groups
    .slice(0, PREFIX_GROUPS)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

const IPV6_64 = /^([0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}):[0-9a-f]{1,4}::\/64$/;

/**
 * The coarser bucket: an IPv6 client's /48 ("2001:db8:1::/48"). A site is usually given a /48
 * (RFC 6177 section 2), 65,536 /64s, so a limit that must hold per client counts the /48 beside the
 * /64, with a higher limit since a /48 may be shared (docs/security.md, "Limits"). Null for an
 * IPv4 address (an IPv4-mapped one included) or an unparseable one, whose /64 bucket is already
 * the narrowest.
 */
export function toClientNetworkBlock(address: string): string | null {
  const match = IPV6_64.exec(toClientNetwork(address));
  return match ? `${match[1]}::/48` : null;
}
