// The VOD page's chat replay follows next_from through every page of a window (issue: "the VOD
// chat replay follows every page"), bounded, and never loops on a next_from that does not advance.
import { describe, expect, it } from 'vitest';
import { collectReplayWindow, type ReplayPage } from '../../../web/src/chat/replay-pages.ts';

/** A replay API over `offsets` (seconds) that answers at most `perPage` messages per request. */
function createReplayApi(offsets: number[], perPage: number) {
  const requests: Array<[number, number]> = [];
  const fetchPage = async (from: number, to: number): Promise<ReplayPage<number>> => {
    requests.push([from, to]);
    const inWindow = offsets.filter((o) => o >= from && o < to);
    const page = inWindow.slice(0, perPage);
    const rest = inWindow[perPage];
    return { messages: page, next_from: rest === undefined ? null : rest };
  };
  return { fetchPage, requests };
}

describe('chat replay pages', () => {
  it('follows next_from to the end of a busy window and returns every message once', async () => {
    const offsets = Array.from({ length: 250 }, (_, i) => 10 + i * 0.1);
    const replay = createReplayApi(offsets, 100);
    const window = await collectReplayWindow(10, 40, replay.fetchPage, 20);
    expect(window.messages).toEqual(offsets);
    expect(window.loadedTo).toBe(40);
    expect(replay.requests.map(([from]) => from)).toEqual([10, offsets[100], offsets[200]]);
  });

  it('stops after maxPages and says where the window continues', async () => {
    const offsets = Array.from({ length: 50 }, (_, i) => i * 0.5);
    const replay = createReplayApi(offsets, 10);
    const window = await collectReplayWindow(0, 30, replay.fetchPage, 2);
    expect(window.messages).toEqual(offsets.slice(0, 20));
    expect(window.loadedTo).toBe(offsets[20]);
    expect(replay.requests).toHaveLength(2);
  });

  it('treats a next_from that does not advance as the end of the window', async () => {
    const requests: number[] = [];
    const window = await collectReplayWindow(
      5,
      35,
      async (from) => {
        requests.push(from);
        return { messages: [from], next_from: 5 };
      },
      20,
    );
    expect(requests).toEqual([5]);
    expect(window).toEqual({ messages: [5], loadedTo: 35 });
  });
});
