// Reads a WHEP viewer's SDP offer (draft-ietf-wish-whep §4.2) before any PeerConnection exists, with
// the bounds of a WHIP offer (sdp-offer.ts: 32 KiB, 1,000 lines, RFC 8866 line syntax): receive-only
// sections, one video and at most one audio, and the H.264 format the source is sent in. The offer
// handed to the WebRTC stack keeps only that format, so the answer cannot name another one.
import {
  attribute,
  fmtpParameter,
  keepOnly,
  OfferError,
  readFormats,
  splitSections,
} from '../whip/sdp-offer.ts';

export interface ViewerOffer {
  readonly sdp: string;
  readonly video: { readonly mid: string; readonly payloadType: number; readonly fmtp: string };
  /** The audio section, answered inactive: the real-time feed is video only (docs/webrtc.md). */
  readonly audio: { readonly mid: string; readonly payloadType: number } | null;
}

/**
 * RFC 6184 §8.1: `profile-level-id` is profile_idc, profile-iop and level_idc in hex. The format whose
 * profile_idc is the source's is taken (the stream is forwarded as the publisher encoded it, never
 * re-encoded); else the first H.264 with packetization-mode=1 (RFC 6184 §5.8: FU-A, which every
 * WebRTC receiver takes), since browsers that offer any H.264 profile decode the common ones.
 */
export function readViewerOffer(sdp: string, sourceProfileIdc: number | null): ViewerOffer {
  const { session, sections } = splitSections(sdp);
  const out: string[] = [...session];
  let video: ViewerOffer['video'] | null = null;
  let audio: ViewerOffer['audio'] = null;
  for (const section of sections) {
    if (section.kind === 'application') {
      throw new OfferError('unsupported', 'data channels are not served to a WHEP viewer');
    }
    if (!section.mLine.includes(' UDP/TLS/RTP/SAVPF ')) {
      throw new OfferError('malformed', 'media must be UDP/TLS/RTP/SAVPF (RFC 8829)');
    }
    const all = [...session, ...section.lines];
    if (attribute(all, 'ice-ufrag') === null || attribute(all, 'ice-pwd') === null) {
      throw new OfferError('malformed', 'offer lacks ICE credentials');
    }
    if (attribute(all, 'fingerprint') === null)
      throw new OfferError('malformed', 'offer lacks a DTLS fingerprint');
    const mid = attribute(section.lines, 'mid');
    if (mid === null || !/^[\w.-]{1,32}$/.test(mid))
      throw new OfferError('malformed', 'every section needs an a=mid');
    const direction = section.lines.find((line) => /^a=(sendonly|sendrecv|recvonly|inactive)$/.test(line));
    if (direction !== 'a=recvonly' && direction !== 'a=sendrecv') {
      throw new OfferError('unsupported', 'a WHEP offer receives media (a=recvonly)');
    }
    const formats = readFormats(section);
    if (section.kind === 'video') {
      if (video !== null) throw new OfferError('unsupported', 'one video track at most');
      const h264 = formats.filter(
        (format) =>
          format.encoding === 'h264' &&
          format.clockRate === 90_000 &&
          fmtpParameter(format.fmtp, 'packetization-mode') === '1',
      );
      const sameProfile = h264.find(
        (format) =>
          sourceProfileIdc !== null &&
          Number.parseInt((fmtpParameter(format.fmtp, 'profile-level-id') ?? '').slice(0, 2), 16) ===
            sourceProfileIdc,
      );
      const chosen = sameProfile ?? h264[0];
      if (chosen === undefined) {
        throw new OfferError('unsupported', 'the viewer must take H.264 with packetization-mode=1');
      }
      video = { mid, payloadType: chosen.payloadType, fmtp: chosen.fmtp ?? 'packetization-mode=1' };
      out.push(...keepOnly(section, chosen.payloadType));
    } else {
      if (audio !== null) throw new OfferError('unsupported', 'one audio track at most');
      const opus = formats.find((format) => format.encoding === 'opus' && format.clockRate === 48_000);
      if (opus === undefined) throw new OfferError('unsupported', 'audio must be Opus');
      audio = { mid, payloadType: opus.payloadType };
      out.push(...keepOnly(section, opus.payloadType));
    }
  }
  if (video === null) throw new OfferError('unsupported', 'the offer has no video section');
  return { sdp: `${out.join('\r\n')}\r\n`, video, audio };
}
