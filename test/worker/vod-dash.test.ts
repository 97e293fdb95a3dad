// The VOD's DASH MPD as the real finalization writes it over a synthetic muxed stream (video and
// audio in every fragment, as the transcoder's video renditions are), and the single-track copies
// the origin derives for it. DASH-IF IOP v4.3 3.2.1: "each Representation shall contain only one
// media component"; dash.js stalled on the old MPD, whose video Representations were muxed.
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { readBoxes } from '../../media/mp4/boxes.ts';
import { readFragments } from '../../media/mp4/fragments.ts';
import { readInit } from '../../media/mp4/init.ts';
import { vodPlaybackApp } from '../../workers/origin/vod-playback.ts';
import { deriveVodId } from '../../workers/vod/finalize-vod.ts';
import { deliverStreamEnded, endSyntheticStream, startSyntheticStream } from './vod-fixtures.ts';

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
}

/** A strict little XML reader for the MPD: every tag must close in order, or it throws. */
function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: '#root', attributes: {}, children: [] };
  const stack = [root];
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  for (match = tag.exec(body); match; match = tag.exec(body)) {
    consumed = tag.lastIndex;
    const [, closing, name, attributeText = '', selfClosing, textNode] = match;
    if (textNode !== undefined) {
      if (textNode.trim() !== '') throw new Error(`unexpected text ${textNode}`);
      continue;
    }
    const parent = stack.at(-1);
    if (!parent || !name) throw new Error('broken stack');
    if (closing) {
      if (parent.name !== name) throw new Error(`</${name}> closes <${parent.name}>`);
      stack.pop();
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const [, key = '', value = ''] of attributeText.matchAll(/([\w:.-]+)="([^"]*)"/g))
      attributes[key] = value;
    const element: XmlElement = { name, attributes, children: [] };
    parent.children.push(element);
    if (!selfClosing) stack.push(element);
  }
  if (consumed !== body.length || stack.length !== 1) throw new Error('XML is not well-formed');
  const [document] = root.children;
  if (!document || root.children.length !== 1) throw new Error('one root element expected');
  return document;
}

function findAll(element: XmlElement, name: string): XmlElement[] {
  return element.children.flatMap((child) => [
    ...(child.name === name ? [child] : []),
    ...findAll(child, name),
  ]);
}

/** A request to the origin's VOD app, waiting for what it leaves running (the edge-cache put). */
async function fetchVod(path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await vodPlaybackApp.request(`http://localhost${path}`, init, env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** A muxed 720p60 stream of 5 segments, the publisher reconnecting before segment 3, as a VOD. */
async function makeVod(): Promise<string> {
  const stream = await startSyntheticStream(['720p60'], 5, { reconnectAfter: 3 });
  await endSyntheticStream(stream);
  await deliverStreamEnded(stream, 10);
  return deriveVodId(stream.streamId);
}

/** The segment numbers a SegmentTemplate's timeline addresses, and its durations' sum. */
function expandTemplate(template: XmlElement): { numbers: number[]; total: number; firstT: number } {
  const start = Number(template.attributes.startNumber);
  let count = 0;
  let total = 0;
  const entries = findAll(template, 'S');
  for (const s of entries) {
    const repeats = 1 + Number(s.attributes.r ?? 0);
    count += repeats;
    total += Number(s.attributes.d) * repeats;
  }
  const numbers = Array.from({ length: count }, (_, i) => start + i);
  return { numbers, total, firstT: Number(entries[0]?.attributes.t) };
}

describe('the VOD DASH MPD', () => {
  it('has one media component per Representation: a video and an audio AdaptationSet over single-track copies, a Period per run', async () => {
    const vodId = await makeVod();
    const res = await fetchVod(`/vod/${vodId}/manifest.mpd`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toBe('application/dash+xml');
    const mpd = parseXml(await res.text());
    expect(mpd.name).toBe('MPD');
    expect(mpd.attributes.type).toBe('static');
    expect(mpd.attributes.profiles).toBe('urn:mpeg:dash:profile:isoff-live:2011');
    expect(mpd.attributes.mediaPresentationDuration).toBe('PT10S');
    const periods = findAll(mpd, 'Period');
    expect(periods.map((p) => [p.attributes.start, p.attributes.duration])).toEqual([
      ['PT0S', 'PT6S'],
      ['PT6S', 'PT4S'],
    ]);
    const hls = (await (await fetchVod(`/vod/${vodId}/720p60.m3u8`)).text()).split('\n');
    const hlsNumbers = hls.flatMap((l) => /^720p60\/(\d+)\.m4s$/.exec(l)?.[1] ?? []).map(Number);
    const hlsInits = hls.filter((l) => l.startsWith('#EXT-X-MAP')).map((l) => /URI="([^"]+)"/.exec(l)?.[1]);
    for (const kind of ['video', 'audio'] as const) {
      const numbers: number[] = [];
      const inits: string[] = [];
      for (const [index, period] of periods.entries()) {
        const sets = findAll(period, 'AdaptationSet');
        expect(sets.map((s) => s.attributes.contentType)).toEqual(['video', 'audio']);
        const set = sets.find((s) => s.attributes.contentType === kind);
        const representations = set ? findAll(set, 'Representation') : [];
        expect(representations).toHaveLength(1);
        const representation = representations[0] as XmlElement;
        // One codec: one media component.
        expect(representation.attributes.codecs).toBe(kind === 'video' ? 'avc1.64001f' : 'mp4a.40.2');
        if (kind === 'audio') {
          expect(representation.attributes.audioSamplingRate).toBe('48000');
          expect(findAll(representation, 'AudioChannelConfiguration')[0]?.attributes.value).toBe('2');
        }
        const template = findAll(representation, 'SegmentTemplate')[0] as XmlElement;
        const track = kind === 'video' ? 1 : 2;
        expect(template.attributes.media).toBe(`720p60/track-${track}/$Number$.m4s`);
        const expanded = expandTemplate(template);
        // The timeline starts at the run's first media time (the reconnect restarts it at 0),
        // which presentationTimeOffset maps to the Period start; it lasts the Period.
        expect(expanded.firstT).toBe(Number(template.attributes.presentationTimeOffset));
        expect(expanded.total).toBe(index === 0 ? 6000 : 4000);
        numbers.push(...expanded.numbers);
        inits.push((template.attributes.initialization ?? '').replace(`track-${track}/`, ''));
      }
      expect(numbers).toEqual(hlsNumbers);
      expect(inits).toEqual(hlsInits);
    }
  });

  it('serves each track of a muxed segment alone: one trak, one traf, that track’s samples only, cached for good; no other track', async () => {
    const vodId = await makeVod();
    const muxed = new Uint8Array(await (await fetchVod(`/vod/${vodId}/720p60/1.m4s`)).arrayBuffer());
    const muxedInit = readInit(
      new Uint8Array(await (await fetchVod(`/vod/${vodId}/720p60/init-1.mp4`)).arrayBuffer()),
    );
    const muxedMdats = readBoxes(muxed).filter((b) => b.type === 'mdat');
    for (const [trackId, handler, sampleBytes] of [
      [1, 'vide', 60],
      [2, 'soun', 40],
    ] as const) {
      const initRes = await fetchVod(`/vod/${vodId}/720p60/track-${trackId}/init-1.mp4`);
      expect(initRes.status).toBe(200);
      const init = readInit(new Uint8Array(await initRes.arrayBuffer()));
      expect(init.tracks.map((t) => [t.trackId, t.handler])).toEqual([[trackId, handler]]);
      const res = await fetchVod(`/vod/${vodId}/720p60/track-${trackId}/1.m4s`);
      expect(res.status).toBe(200);
      expect(res.headers.get('Cache-Control')).toBe('public, max-age=31536000, immutable');
      const bytes = new Uint8Array(await res.arrayBuffer());
      const fragments = readFragments(bytes, init);
      expect(fragments).toHaveLength(muxedMdats.length);
      expect(fragments.every((f) => f.trafs.length === 1 && f.trafs[0]?.trackId === trackId)).toBe(true);
      // The same decode times as the muxed fragments' traf of this track.
      const expected = readFragments(muxed, muxedInit).map(
        (f) => f.trafs.find((t) => t.trackId === trackId)?.baseMediaDecodeTime,
      );
      expect(fragments.map((f) => f.trafs[0]?.baseMediaDecodeTime)).toEqual(expected);
      const mdats = readBoxes(bytes).filter((b) => b.type === 'mdat');
      expect(mdats.map((b) => b.size - 8)).toEqual(muxedMdats.map(() => sampleBytes));
      const etag = res.headers.get('ETag') ?? '';
      expect(etag).not.toBe('');
      const again = await fetchVod(`/vod/${vodId}/720p60/track-${trackId}/1.m4s`, {
        headers: { 'If-None-Match': etag },
      });
      expect(again.status).toBe(304);
    }
    for (const path of ['track-9/1.m4s', 'track-9/init-1.mp4', 'track-1/99.m4s', 'track-1/1.0.m4s']) {
      const res = await fetchVod(`/vod/${vodId}/720p60/${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('Cache-Control')).toBe('no-store');
    }
  });
});
