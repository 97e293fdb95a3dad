// The few ISO-BMFF rewrites a clip needs: an init segment that states the clip's duration, and
// fragments copied with their decode times moved and their sequence numbers renumbered. Copies,
// never in place: the inputs are archived media.
import {
  type Box,
  concatBytes,
  copyBox,
  findChild,
  readBoxes,
  readChildren,
  viewOf,
  writeBox,
  writeUint64,
} from './boxes.ts';
import type { Fragment } from './fragments.ts';

export interface ClipDurations {
  /** Whole clip, in the movie timescale. */
  movie: number;
  /** Per track id, in that track's timescale. */
  tracks: Map<number, number>;
}

/** Copies a full box and sets its duration field, which sits `v0`/`v1` bytes into the payload. */
function patchDuration(bytes: Uint8Array, box: Box, v0: number, v1: number, value: number): Uint8Array {
  const copy = copyBox(bytes, box);
  const data = viewOf(copy);
  const payload = box.payload - box.start;
  if (copy[payload] === 1) writeUint64(data, payload + v1, value);
  else data.setUint32(payload + v0, Math.min(value, 0xffffffff));
  return copy;
}

/**
 * A copy of the init segment that states the clip's duration: mvhd, every tkhd and mdhd, and an
 * mvex/mehd. "The Movie Extends Header is optional, and provides the overall duration, including
 * fragments, of a fragmented movie" (14496-12 8.8.2): players read it instead of scanning fragments.
 */
export function rewriteInit(bytes: Uint8Array, durations: ClipDurations): Uint8Array {
  const out: Uint8Array[] = [];
  for (const top of readBoxes(bytes)) {
    if (top.type !== 'moov') {
      out.push(copyBox(bytes, top));
      continue;
    }
    const moovChildren: Uint8Array[] = [];
    for (const child of readChildren(bytes, top)) {
      if (child.type === 'mvhd') {
        // mvhd: version/flags, creation, modification, timescale, then duration.
        moovChildren.push(patchDuration(bytes, child, 16, 24, durations.movie));
      } else if (child.type === 'trak') {
        moovChildren.push(rewriteTrak(bytes, child, durations));
      } else if (child.type === 'mvex') {
        const kept = readChildren(bytes, child)
          .filter((b) => b.type !== 'mehd')
          .map((b) => copyBox(bytes, b));
        const mehd = new Uint8Array(12);
        mehd[0] = 1; // version 1: a 64-bit fragment_duration
        writeUint64(viewOf(mehd), 4, durations.movie);
        moovChildren.push(writeBox('mvex', [writeBox('mehd', [mehd]), ...kept]));
      } else {
        moovChildren.push(copyBox(bytes, child));
      }
    }
    out.push(writeBox('moov', moovChildren));
  }
  return concatBytes(out);
}

function rewriteTrak(bytes: Uint8Array, trak: Box, durations: ClipDurations): Uint8Array {
  const data = viewOf(bytes);
  const tkhd = findChild(bytes, trak, 'tkhd');
  const trackId = tkhd ? data.getUint32(tkhd.payload + (bytes[tkhd.payload] === 1 ? 20 : 12)) : 0;
  const children: Uint8Array[] = [];
  for (const child of readChildren(bytes, trak)) {
    if (child.type === 'tkhd') {
      // tkhd: version/flags (4), creation, modification (4 or 8 each), track_ID (4), reserved (4),
      // then duration (movie timescale): at 4+4+4+4+4 = 20 in version 0, 4+8+8+4+4 = 28 in version 1.
      children.push(patchDuration(bytes, child, 20, 28, durations.movie));
    } else if (child.type === 'mdia') {
      const mdiaChildren = readChildren(bytes, child).map((b) =>
        b.type === 'mdhd'
          ? patchDuration(bytes, b, 16, 24, durations.tracks.get(trackId) ?? 0)
          : copyBox(bytes, b),
      );
      children.push(writeBox('mdia', mdiaChildren));
    } else {
      children.push(copyBox(bytes, child));
    }
  }
  return writeBox('trak', children);
}

/** Copies a fragment with its tfdt times moved by `shift` (per track) and its mfhd sequence set. */
export function rewriteFragment(
  bytes: Uint8Array,
  fragment: Fragment,
  sequence: number,
  shift: Map<number, number>,
): Uint8Array {
  const copy = bytes.slice(fragment.start, fragment.end);
  const data = viewOf(copy);
  // mfhd: size, type, version/flags, then sequence_number. "The sequence number ... in
  // increasing order" (8.8.5): a clip numbers its fragments from 1.
  if (fragment.mfhd !== null) data.setUint32(fragment.mfhd - fragment.start + 12, sequence);
  for (const traf of fragment.trafs) {
    if (traf.tfdt === null) continue;
    const at = traf.tfdt - fragment.start;
    const time = Math.max(0, traf.baseMediaDecodeTime - (shift.get(traf.trackId) ?? 0));
    if (copy[at + 8] === 1) writeUint64(data, at + 12, time);
    else data.setUint32(at + 12, time);
  }
  return copy;
}
