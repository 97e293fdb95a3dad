// The WHEP pieces that need no socket: the FLV → H.264 access unit feed (ISO/IEC 14496-15 avcC,
// FLV v10.1 E.4.3.1) and the reading of a viewer's offer (draft-ietf-wish-whep §4.2). docs/webrtc.md.
import { describe, expect, it } from 'vitest';
import { encodeFlvTag, FLV_HEADER, FlvTagType } from '../../../containers/transcoder/src/rtmp/flv.ts';
import { AvcFeed } from '../../../containers/transcoder/src/whep/avc-feed.ts';
import { readViewerOffer } from '../../../containers/transcoder/src/whep/viewer-offer.ts';
import { OfferError } from '../../../containers/transcoder/src/whip/sdp-offer.ts';

const SPS = Buffer.from([0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9]);
const PPS = Buffer.from([0x68, 0xeb, 0xe3, 0xcb]);
const IDR = Buffer.from([0x65, 0x88, 0x84, 0x00, 0x33]);
const SLICE = Buffer.from([0x41, 0x9a, 0x02, 0x0c]);

function avcC(lengthSize: number): Buffer {
  return Buffer.concat([
    Buffer.from([1, 0x64, 0x00, 0x1f, 0xfc | (lengthSize - 1), 0xe1, 0, SPS.length]),
    SPS,
    Buffer.from([1, 0, PPS.length]),
    PPS,
  ]);
}

function nalus(lengthSize: number, ...units: Buffer[]): Buffer {
  return Buffer.concat(
    units.flatMap((unit) => {
      const length = Buffer.alloc(lengthSize);
      length.writeUIntBE(unit.length, 0, lengthSize);
      return [length, unit];
    }),
  );
}

function videoTag(timestamp: number, head: number[], body: Buffer): Buffer {
  return encodeFlvTag(FlvTagType.VIDEO, timestamp, Buffer.concat([Buffer.from(head), body]));
}

const withLength4 = (...units: Buffer[]) => nalus(4, ...units);

describe('AvcFeed', () => {
  it('puts SPS and PPS before a keyframe, re-frames 2-byte NAL lengths as 4-byte ones and adds the composition time', () => {
    const feed = new AvcFeed();
    expect(feed.push(Buffer.concat([FLV_HEADER, videoTag(0, [0x17, 0, 0, 0, 0], avcC(2))]))).toEqual([]);
    expect(feed.profileIdc).toBe(100);
    const [key] = feed.push(videoTag(40, [0x17, 1, 0, 0, 80], nalus(2, IDR)));
    expect(key).toEqual({ ptsMs: 120, keyframe: true, reordered: true, data: withLength4(SPS, PPS, IDR) });
    // CompositionTime is SI24: a negative offset (rare, but legal) is read as one.
    const [delta] = feed.push(videoTag(80, [0x27, 1, 0xff, 0xff, 0xf6], nalus(2, SLICE)));
    expect(delta).toEqual({ ptsMs: 70, keyframe: false, reordered: true, data: withLength4(SLICE) });
    // CompositionTime 0: decoded when presented, as in a stream without B-frames.
    const [plain] = feed.push(videoTag(120, [0x27, 1, 0, 0, 0], nalus(2, SLICE)));
    expect(plain).toMatchObject({ ptsMs: 120, reordered: false });
  });

  it('yields nothing before the sequence header, and skips a frame whose NAL lengths overrun the tag', () => {
    const feed = new AvcFeed();
    expect(feed.push(Buffer.concat([FLV_HEADER, videoTag(0, [0x17, 1, 0, 0, 0], nalus(4, IDR))]))).toEqual(
      [],
    );
    feed.push(videoTag(0, [0x17, 0, 0, 0, 0], avcC(4)));
    const broken = nalus(4, IDR);
    broken.writeUInt32BE(1_000, 0);
    expect(feed.push(videoTag(33, [0x17, 1, 0, 0, 0], broken))).toEqual([]);
    expect(feed.push(videoTag(66, [0x17, 1, 0, 0, 0], nalus(4, SPS, PPS, IDR)))[0]?.data).toEqual(
      withLength4(SPS, PPS, IDR),
    );
  });

  it('says the source is not H.264 for an Enhanced RTMP HEVC stream', () => {
    const feed = new AvcFeed();
    expect(feed.codecSupported).toBeNull();
    const hevc = Buffer.concat([Buffer.from([0x90]), Buffer.from('hvc1'), Buffer.alloc(8)]);
    feed.push(Buffer.concat([FLV_HEADER, encodeFlvTag(FlvTagType.VIDEO, 0, hevc)]));
    expect(feed.codecSupported).toBe(false);
  });
});

const VIEWER_OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 102 104 106',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=mid:0',
  'a=recvonly',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:102 H264/90000',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=rtpmap:104 H264/90000',
  'a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=64001f',
  'a=rtpmap:106 H264/90000',
  'a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=mid:1',
  'a=recvonly',
  'a=rtpmap:111 opus/48000/2',
  '',
].join('\r\n');

describe('WHEP viewer offer', () => {
  it("answers the H.264 format of the source's profile with packetization-mode=1, keeping only it", () => {
    const offer = readViewerOffer(VIEWER_OFFER, 100);
    expect(offer.video).toEqual({ mid: '0', payloadType: 106, fmtp: expect.stringContaining('64001f') });
    expect(offer.audio).toEqual({ mid: '1', payloadType: 111 });
    expect(offer.sdp).toContain('m=video 9 UDP/TLS/RTP/SAVPF 106\r\n');
    expect(offer.sdp).not.toMatch(/a=rtpmap:(96|102|104) /);
  });

  it('falls back to the first packetization-mode=1 format when no profile matches the source', () => {
    expect(readViewerOffer(VIEWER_OFFER, 77).video.payloadType).toBe(102);
    expect(readViewerOffer(VIEWER_OFFER, null).video.payloadType).toBe(102);
  });

  it('refuses a sending offer, one without H.264, a data channel, and garbage', () => {
    const outcomes = [
      VIEWER_OFFER.replaceAll('a=recvonly', 'a=sendonly'),
      VIEWER_OFFER.replace('96 102 104 106', '96'),
      `${VIEWER_OFFER}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n`,
      VIEWER_OFFER.replace(/a=fingerprint:[^\r]+/, ''),
      'v=0\r\nhello\r\n',
    ].map((sdp) => {
      try {
        readViewerOffer(sdp, 100);
        return 'accepted';
      } catch (error) {
        return error instanceof OfferError ? error.kind : 'other';
      }
    });
    expect(outcomes).toEqual(['unsupported', 'unsupported', 'unsupported', 'malformed', 'malformed']);
  });
});
