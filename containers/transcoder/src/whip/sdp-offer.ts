// Reads a WHIP publisher's SDP offer (RFC 9725 §4.2, SDP per RFC 8866) before any socket exists:
// bounded in size and lines, one audio and one video section at most, and the codec this node takes
// chosen per section. The offer handed to the WebRTC stack keeps only that codec, so its answer
// offers nothing else and the publisher cannot switch to a format the bridge to ffmpeg does not
// expect. A garbage offer is refused here (400), an offer with nothing we can take with 406.

/** An offer is a few KiB (Chromium's ~5 KiB with every codec); anything far past that is not one. */
export const MAX_OFFER_BYTES = 32 * 1024;
const MAX_OFFER_LINES = 1_000;

export type VideoCodecChoice = 'h264' | 'vp8';

export interface ChosenVideo {
  readonly mid: string;
  readonly payloadType: number;
  readonly codec: VideoCodecChoice;
  /** The section's fmtp for that payload type, passed to ffmpeg's SDP unchanged. */
  readonly fmtp: string | null;
}

export interface ChosenAudio {
  readonly mid: string;
  readonly payloadType: number;
  readonly channels: number;
}

export interface ReadOffer {
  /** The offer with every other payload type removed from the chosen sections. */
  readonly sdp: string;
  readonly video: ChosenVideo | null;
  readonly audio: ChosenAudio | null;
}

/** `unsupported` maps to 406 (RFC 9725 §4.2: nothing acceptable), `malformed` to 400. */
export class OfferError extends Error {
  override readonly name = 'OfferError';
  readonly kind: 'malformed' | 'unsupported';
  constructor(kind: 'malformed' | 'unsupported', message: string) {
    super(message);
    this.kind = kind;
  }
}

export interface Section {
  readonly kind: string;
  readonly mLine: string;
  readonly lines: string[];
}

export interface Format {
  readonly payloadType: number;
  readonly encoding: string;
  readonly clockRate: number;
  readonly channels: number;
  readonly fmtp: string | null;
}

/** RFC 8866 §5: every line is `<type>=<value>` with a one-letter type. */
const LINE = /^[a-z]=.*$/;
/** RFC 8866 §5.7 `c=IN IP4|IP6 <address>` and §5.2 `o=<user> <id> <version> IN IP4|IP6 <address>`. */
const C_LINE = /^c=IN IP[46] [0-9A-Za-z.:-]+(?:\/\d+){0,2}$/;
const O_LINE = /^o=\S+ \d+ \d+ IN IP[46] \S+$/;
const M_LINE = /^m=(audio|video|application) (\d+)(?:\/\d+)? ([A-Z/]+) ([\w -]+)$/;

export function splitSections(sdp: string): { session: string[]; sections: Section[] } {
  if (Buffer.byteLength(sdp) > MAX_OFFER_BYTES) throw new OfferError('malformed', 'offer too large');
  const lines = sdp.split(/\r?\n/).filter((line) => line !== '');
  if (lines.length > MAX_OFFER_LINES) throw new OfferError('malformed', 'offer has too many lines');
  if (lines[0] !== 'v=0') throw new OfferError('malformed', 'an SDP starts with v=0');
  const session: string[] = [];
  const sections: Section[] = [];
  for (const line of lines) {
    if (!LINE.test(line)) throw new OfferError('malformed', 'not an SDP line');
    if (line.startsWith('c=') && !C_LINE.test(line)) throw new OfferError('malformed', 'bad c= line');
    if (line.startsWith('o=') && !O_LINE.test(line)) throw new OfferError('malformed', 'bad o= line');
    if (line.startsWith('m=')) {
      const match = M_LINE.exec(line);
      if (match === null) throw new OfferError('malformed', 'bad m= line');
      sections.push({ kind: match[1] ?? '', mLine: line, lines: [] });
      continue;
    }
    const current = sections.at(-1);
    if (current === undefined) session.push(line);
    else current.lines.push(line);
  }
  if (sections.length === 0) throw new OfferError('malformed', 'offer has no media');
  return { session, sections };
}

export function attribute(lines: readonly string[], name: string): string | null {
  const prefix = `a=${name}:`;
  const line = lines.find((candidate) => candidate.startsWith(prefix));
  return line === undefined ? null : line.slice(prefix.length);
}

export function readFormats(section: Section): Format[] {
  const payloadTypes = section.mLine.split(' ').slice(3).map(Number);
  return payloadTypes.flatMap((payloadType) => {
    const mapLine = section.lines.find((line) => line.startsWith(`a=rtpmap:${payloadType} `));
    if (mapLine === undefined) return [];
    const map = mapLine.slice(`a=rtpmap:${payloadType} `.length);
    const [encoding = '', clockRate = '0', channels = '1'] = map.split('/');
    const fmtpLine = section.lines.find((line) => line.startsWith(`a=fmtp:${payloadType} `));
    return [
      {
        payloadType,
        encoding: encoding.toLowerCase(),
        clockRate: Number(clockRate),
        channels: Number(channels) || 1,
        fmtp: fmtpLine?.slice(`a=fmtp:${payloadType} `.length) ?? null,
      },
    ];
  });
}

export function fmtpParameter(fmtp: string | null, name: string): string | null {
  for (const pair of fmtp?.split(';') ?? []) {
    const [key, value] = pair.trim().split('=');
    if (key?.toLowerCase() === name) return value ?? '';
  }
  return null;
}

/**
 * RFC 6184 §5.8: packetization-mode=1 (FU-A, STAP-A) is what every WebRTC H.264 sender uses;
 * mode 0 sends one NAL unit per packet and is not offered by browsers or OBS. Constrained Baseline
 * (42e0..) first: it has no B-frames, so RTP order is decode order.
 */
function chooseVideo(formats: readonly Format[]): Format | null {
  const h264 = formats.filter(
    (format) =>
      format.encoding === 'h264' &&
      format.clockRate === 90_000 &&
      fmtpParameter(format.fmtp, 'packetization-mode') === '1',
  );
  const baseline = h264.find((format) =>
    (fmtpParameter(format.fmtp, 'profile-level-id') ?? '').toLowerCase().startsWith('42e0'),
  );
  return baseline ?? h264[0] ?? formats.find((format) => format.encoding === 'vp8') ?? null;
}

/** RFC 7587 §7: Opus is always `opus/48000/2` in SDP, whatever the channels sent. */
function chooseAudio(formats: readonly Format[]): Format | null {
  return formats.find((format) => format.encoding === 'opus' && format.clockRate === 48_000) ?? null;
}

export function keepOnly(section: Section, payloadType: number): string[] {
  const parts = section.mLine.split(' ');
  const mLine = [...parts.slice(0, 3), String(payloadType)].join(' ');
  const other = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)[ ]/;
  const lines = section.lines.filter((line) => {
    const match = other.exec(line);
    return match === null || Number(match[1]) === payloadType;
  });
  return [mLine, ...lines];
}

/** Validates the offer and picks this node's codecs. Throws OfferError. */
export function readOffer(sdp: string): ReadOffer {
  const { session, sections } = splitSections(sdp);
  const hasIce = (lines: readonly string[]) =>
    attribute(lines, 'ice-ufrag') !== null && attribute(lines, 'ice-pwd') !== null;
  const hasFingerprint = (lines: readonly string[]) => attribute(lines, 'fingerprint') !== null;
  let video: ChosenVideo | null = null;
  let audio: ChosenAudio | null = null;
  const out: string[] = [...session];
  for (const section of sections) {
    if (section.kind === 'application') {
      throw new OfferError('unsupported', 'data channels are not taken by a WHIP ingest');
    }
    if (!section.mLine.includes(' UDP/TLS/RTP/SAVPF ')) {
      throw new OfferError('malformed', 'media must be UDP/TLS/RTP/SAVPF (RFC 8829)');
    }
    if (!hasIce([...session, ...section.lines]) || !hasFingerprint([...session, ...section.lines])) {
      throw new OfferError('malformed', 'offer lacks ICE credentials or a DTLS fingerprint');
    }
    const mid = attribute(section.lines, 'mid');
    if (mid === null || mid.length > 32) throw new OfferError('malformed', 'every section needs an a=mid');
    const direction = section.lines.find((line) => /^a=(sendonly|sendrecv|recvonly|inactive)$/.test(line));
    if (direction !== undefined && direction !== 'a=sendonly' && direction !== 'a=sendrecv') {
      throw new OfferError('unsupported', 'a WHIP offer sends media (a=sendonly)');
    }
    const formats = readFormats(section);
    if (section.kind === 'video') {
      if (video !== null) throw new OfferError('unsupported', 'one video track at most');
      const chosen = chooseVideo(formats);
      if (chosen === null)
        throw new OfferError('unsupported', 'video must be H.264 (packetization-mode=1) or VP8');
      video = {
        mid,
        payloadType: chosen.payloadType,
        codec: chosen.encoding === 'vp8' ? 'vp8' : 'h264',
        fmtp: chosen.fmtp,
      };
      out.push(...keepOnly(section, chosen.payloadType));
    } else {
      if (audio !== null) throw new OfferError('unsupported', 'one audio track at most');
      const chosen = chooseAudio(formats);
      if (chosen === null) throw new OfferError('unsupported', 'audio must be Opus');
      audio = { mid, payloadType: chosen.payloadType, channels: chosen.channels };
      out.push(...keepOnly(section, chosen.payloadType));
    }
  }
  return { sdp: `${out.join('\r\n')}\r\n`, video, audio };
}
