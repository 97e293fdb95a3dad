// The WHIP pieces that need no socket: reading an offer (RFC 9725 §4.2 with RFC 8866 SDP), the
// Generic NACK encoding and loss tracking (RFC 4585 §6.2.1), and the streaming FLV reader the
// bridge's ffmpeg output goes through. docs/webrtc.md.
import { describe, expect, it } from 'vitest';
import { encodeFlvTag, FLV_HEADER, FlvTagType } from '../../../containers/transcoder/src/rtmp/flv.ts';
import { FlvTagReader } from '../../../containers/transcoder/src/whip/flv-tag-reader.ts';
import { encodeGenericNack, NackTracker } from '../../../containers/transcoder/src/whip/rtp-feedback.ts';
import { OfferError, readOffer } from '../../../containers/transcoder/src/whip/sdp-offer.ts';
import {
  START_BITRATE_KBPS,
  toPublisherAnswer,
} from '../../../containers/transcoder/src/whip/whip-session.ts';

/** The shape of Chromium's offer: VP8 listed before H.264, RTX beside each, Opus with RED. */
const CHROMIUM_OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=mid:0',
  'a=sendonly',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=mid:1',
  'a=sendonly',
  'a=rtpmap:96 VP8/90000',
  'a=rtcp-fb:96 nack',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000',
  'a=rtcp-fb:102 nack pli',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=rtpmap:103 rtx/90000',
  'a=fmtp:103 apt=102',
  '',
].join('\r\n');

describe('WHIP offer', () => {
  it('picks H.264 Constrained Baseline over a VP8 listed first, and Opus, keeping only those payload types', () => {
    const offer = readOffer(CHROMIUM_OFFER);
    expect(offer.video).toEqual({
      mid: '1',
      payloadType: 102,
      codec: 'h264',
      fmtp: expect.stringContaining('42e01f'),
    });
    expect(offer.audio).toEqual({ mid: '0', payloadType: 111, channels: 2 });
    expect(offer.sdp).toContain('m=video 9 UDP/TLS/RTP/SAVPF 102\r\n');
    expect(offer.sdp).toContain('m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n');
    expect(offer.sdp).not.toMatch(/a=rtpmap:(96|97|103|63) /);
    expect(offer.sdp).toContain('a=rtcp-fb:102 nack pli');
  });

  it('takes VP8 when the publisher sends no H.264', () => {
    const vp8Only = CHROMIUM_OFFER.replace('96 97 102 103', '96 97');
    expect(readOffer(vp8Only).video).toMatchObject({ codec: 'vp8', payloadType: 96 });
  });

  it('refuses with "unsupported" (406) an offer with no codec it takes, a receive-only section or a data channel', () => {
    const kinds = [
      CHROMIUM_OFFER.replace('96 97 102 103', '97'),
      CHROMIUM_OFFER.replaceAll('a=sendonly', 'a=recvonly'),
      `${CHROMIUM_OFFER}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n`,
      CHROMIUM_OFFER.replace('opus/48000/2', 'PCMU/8000'),
    ].map((sdp) => {
      try {
        readOffer(sdp);
        return 'accepted';
      } catch (error) {
        return error instanceof OfferError ? error.kind : 'threw';
      }
    });
    expect(kinds).toEqual(['unsupported', 'unsupported', 'unsupported', 'unsupported']);
  });

  it('refuses with "malformed" (400) an offer too large, without DTLS fingerprint, or with a bad c= line', () => {
    expect(() => readOffer(`${CHROMIUM_OFFER}${'a=x\r\n'.repeat(8_000)}`)).toThrow(OfferError);
    expect(() => readOffer(CHROMIUM_OFFER.replace(/a=fingerprint:[^\r\n]+\r\n/, ''))).toThrow(/fingerprint/);
    expect(() => readOffer(CHROMIUM_OFFER.replace('c=IN IP4 0.0.0.0', 'c=IN IP9 x y'))).toThrow(/c= line/);
  });
});

describe('WHIP answer', () => {
  // libdatachannel's answer to Chromium's offer, as the session gets it before rewriting.
  const STACK_ANSWER = [
    'v=0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'a=mid:0',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=sendrecv',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'm=video 9 UDP/TLS/RTP/SAVPF 108',
    'a=mid:1',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=sendrecv',
    'a=rtpmap:108 H264/90000',
    'a=rtcp-fb:108 goog-remb',
    'a=rtcp-fb:108 transport-cc',
    'a=rtcp-fb:108 nack pli',
    'a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  ].join('\r\n');

  it('answers recvonly without transport-cc, which this server never feeds back', () => {
    const answer = toPublisherAnswer(STACK_ANSWER);
    expect(answer).not.toMatch(/transport-cc|transport-wide-cc/);
    expect(answer).not.toContain('a=sendrecv');
    expect(answer.match(/^a=recvonly$/gm)).toHaveLength(2);
    // Everything else stays: the MID extension, REMB, NACK and PLI feedback.
    expect(answer).toContain('a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid');
    expect(answer).toContain('a=rtcp-fb:108 goog-remb');
    expect(answer).toContain('a=rtcp-fb:108 nack pli');
  });

  it('starts the video bandwidth estimate high on the video fmtp only', () => {
    const answer = toPublisherAnswer(STACK_ANSWER);
    expect(answer).toContain(
      `a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f;x-google-start-bitrate=${START_BITRATE_KBPS}`,
    );
    expect(answer).toContain('a=fmtp:111 minptime=10;useinbandfec=1\r\n');
    expect(toPublisherAnswer(answer)).toBe(answer);
  });
});

describe('RTP loss feedback', () => {
  it('asks for each missing sequence number across the 16-bit wrap, at most three times', () => {
    const tracker = new NackTracker();
    for (const seq of [65533, 65534, 1, 2]) tracker.receive(seq, 0);
    expect(tracker.takeNacks(10).sort((a, b) => a - b)).toEqual([0, 65535]);
    tracker.receive(0, 20);
    expect(tracker.takeNacks(30)).toEqual([65535]);
    expect(tracker.takeNacks(40)).toEqual([65535]);
    expect(tracker.takeNacks(50)).toEqual([]);
  });

  it('forgets a hole after a second, and treats a huge jump as a restart rather than loss', () => {
    const tracker = new NackTracker();
    tracker.receive(100, 0);
    tracker.receive(103, 0);
    expect(tracker.takeNacks(1_500)).toEqual([]);
    tracker.receive(30_000, 2_000);
    expect(tracker.missingCount).toBe(0);
  });

  it('encodes PID + BLP entries: 17 consecutive losses fit one FCI', () => {
    const [packet, ...more] = encodeGenericNack(1, 0xabcdef01, [10, 11, 12, 26]);
    expect(more).toEqual([]);
    expect(packet?.subarray(0, 4)).toEqual(Buffer.from([0x81, 205, 0, 3]));
    expect(packet?.readUInt32BE(8)).toBe(0xabcdef01);
    expect(packet?.readUInt16BE(12)).toBe(10);
    expect(packet?.readUInt16BE(14)).toBe(0b1000_0000_0000_0011);
  });
});

describe('streaming FLV reader', () => {
  it('yields the same tags whatever the chunking, and refuses a stream that is not FLV', () => {
    const tags = [
      encodeFlvTag(FlvTagType.VIDEO, 0, Buffer.from([0x17, 0, 0, 0, 0, 1, 2])),
      encodeFlvTag(FlvTagType.AUDIO, 21, Buffer.from([0xaf, 1, 9, 9])),
      encodeFlvTag(FlvTagType.VIDEO, 0x01_00_00_05, Buffer.from([0x27, 1, 0, 0, 0, 3])),
    ];
    const bytes = Buffer.concat([FLV_HEADER, ...tags]);
    for (const size of [1, 3, 7, bytes.length]) {
      const reader = new FlvTagReader();
      const read = [];
      for (let at = 0; at < bytes.length; at += size)
        read.push(...reader.push(bytes.subarray(at, at + size)));
      expect(read.map((tag) => [tag.type, tag.timestamp, tag.payload.length])).toEqual([
        [9, 0, 7],
        [8, 21, 4],
        [9, 0x01_00_00_05, 6],
      ]);
      expect(reader.bufferedBytes).toBe(0);
    }
    expect(() => new FlvTagReader().push(Buffer.from('GIF89a-not-flv'))).toThrow(/not an FLV/);
  });
});
