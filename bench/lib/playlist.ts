// Just enough of an LL-HLS media playlist reader for the benchmarks: the listed parts with their
// program date-times, the preload hint (the next part to block on) and the server's hold-backs.

export interface ListedPart {
  msn: number;
  part: number;
  uri: string;
  duration: number;
  independent: boolean;
  /** Epoch ms of the part's first sample, from the nearest PROGRAM-DATE-TIME before it. */
  pdt: number | null;
}

export interface MediaPlaylist {
  mediaSequence: number;
  partTarget: number | null;
  partHoldBack: number | null;
  /** PROGRAM-DATE-TIME of the first listed segment (epoch ms). */
  firstPdt: number | null;
  segments: number;
  parts: ListedPart[];
  preloadHint: { msn: number; part: number; uri: string } | null;
  ended: boolean;
}

const PART_URI = /(\d+)\.(\d+)\.m4s$/;

function readAttribute(line: string, name: string): string | null {
  const match = new RegExp(`(?:^|[:,])${name}=("[^"]*"|[^,]*)`).exec(line);
  const value = match?.[1];
  if (value === undefined) return null;
  return value.startsWith('"') ? value.slice(1, -1) : value;
}

function readPartNumbers(uri: string): { msn: number; part: number } | null {
  const match = PART_URI.exec(uri);
  return match?.[1] && match[2] ? { msn: Number(match[1]), part: Number(match[2]) } : null;
}

export function parseMediaPlaylist(text: string): MediaPlaylist {
  const playlist: MediaPlaylist = {
    mediaSequence: 0,
    partTarget: null,
    partHoldBack: null,
    firstPdt: null,
    segments: 0,
    parts: [],
    preloadHint: null,
    ended: false,
  };
  let clock: number | null = null;
  let offsetInSegment = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) {
      playlist.mediaSequence = Number(line.slice('#EXT-X-MEDIA-SEQUENCE:'.length));
    } else if (line.startsWith('#EXT-X-PART-INF:')) {
      playlist.partTarget = Number(readAttribute(line, 'PART-TARGET'));
    } else if (line.startsWith('#EXT-X-SERVER-CONTROL:')) {
      const holdBack = readAttribute(line, 'PART-HOLD-BACK');
      playlist.partHoldBack = holdBack === null ? null : Number(holdBack);
    } else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      clock = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
      if (playlist.firstPdt === null && playlist.segments === 0) playlist.firstPdt = clock;
      offsetInSegment = 0;
    } else if (line.startsWith('#EXT-X-PART:')) {
      const uri = readAttribute(line, 'URI') ?? '';
      const numbers = readPartNumbers(uri);
      const duration = Number(readAttribute(line, 'DURATION'));
      if (numbers) {
        playlist.parts.push({
          ...numbers,
          uri,
          duration,
          independent: readAttribute(line, 'INDEPENDENT') === 'YES',
          pdt: clock === null ? null : clock + offsetInSegment * 1000,
        });
      }
      offsetInSegment += duration;
    } else if (line.startsWith('#EXTINF:')) {
      const duration = Number.parseFloat(line.slice('#EXTINF:'.length));
      if (clock !== null) clock += duration * 1000;
      offsetInSegment = 0;
      playlist.segments += 1;
    } else if (line.startsWith('#EXT-X-PRELOAD-HINT:')) {
      const uri = readAttribute(line, 'URI') ?? '';
      const numbers = readPartNumbers(uri);
      if (numbers) playlist.preloadHint = { ...numbers, uri };
    } else if (line === '#EXT-X-ENDLIST') {
      playlist.ended = true;
    }
  }
  return playlist;
}

/** The blocking-reload query for a part: "_HLS_msn=M&_HLS_part=N waits for part N of M". */
export function buildBlockingQuery(next: { msn: number; part: number }): string {
  return `_HLS_msn=${next.msn}&_HLS_part=${next.part}`;
}

/**
 * The part a blocking reload for `wanted` was answered with. A preload hint guesses the next part
 * of the open segment; when a keyframe closes the segment first, that part never exists and
 * "N one past the last part of a finished segment means part 0 of M+1".
 */
export function findAwaitedPart(
  playlist: MediaPlaylist,
  wanted: { msn: number; part: number },
): ListedPart | undefined {
  return (
    playlist.parts.find((p) => p.msn === wanted.msn && p.part === wanted.part) ??
    playlist.parts.find((p) => p.msn === wanted.msn + 1 && p.part === 0)
  );
}
