// Unique viewers per stream in a fixed 4 KiB, whatever the audience: a HyperLogLog sketch
// (Flajolet, Fusy, Gandouet, Meunier 2007) with 2^12 one-byte registers, standard error
// 1.04 / sqrt(4096) ≈ 1.6 %.

/** log2 of the register count. */
const PRECISION = 12;
const REGISTER_COUNT = 1 << PRECISION;
/** The bias correction α_m for m ≥ 128, from the paper. */
const ALPHA = 0.7213 / (1 + 1.079 / REGISTER_COUNT);

/** 32-bit FNV-1a over UTF-16 code units followed by murmur3's finalizer to spread the bits. */
function hashString(value: string, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

export class HyperLogLog {
  readonly registers: Uint8Array;

  constructor(registers?: Uint8Array) {
    this.registers = registers?.length === REGISTER_COUNT ? registers : new Uint8Array(REGISTER_COUNT);
  }

  /** Returns true when the sketch changed (so callers persist only then). */
  add(value: string): boolean {
    // Two independent 32-bit hashes: the top PRECISION bits of one pick the register, the other
    // gives the run of leading zeros (ρ), so counts stay exact well past 2^32 / 2^PRECISION.
    const index = hashString(value, 0) >>> (32 - PRECISION);
    const rank = Math.clz32(hashString(value, 0x9e3779b9)) + 1;
    const current = this.registers[index] ?? 0;
    if (rank <= current) return false;
    this.registers[index] = rank;
    return true;
  }

  count(): number {
    let sum = 0;
    let zeros = 0;
    for (const register of this.registers) {
      sum += 2 ** -register;
      if (register === 0) zeros++;
    }
    const estimate = (ALPHA * REGISTER_COUNT * REGISTER_COUNT) / sum;
    // Small-range correction from the paper: linear counting while registers are still empty.
    if (estimate <= 2.5 * REGISTER_COUNT && zeros > 0) {
      return Math.round(REGISTER_COUNT * Math.log(REGISTER_COUNT / zeros));
    }
    return Math.round(estimate);
  }
}
