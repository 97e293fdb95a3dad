// Channel engagement end to end (issue 16: "a poll and a prediction run to completion with points
// paid out exactly once"): ffmpeg publishes, a viewer's watch page in Chromium plays the stream and
// earns channel points from its presence signal (CHANNEL_POINTS shortened to 100 points per 5 s
// watched), votes in a poll and stakes on a prediction from the channel-points panel, sees live
// results arrive over chat, and sees the payout in its balance after the broadcaster resolves the
// prediction from the dashboard. A second resolve and a cancel after it are refused, and the
// balances do not move again.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';
import { collectPageErrors, launchWebBrowser, openContext, sampleWatchPlayer } from './web-pages.ts';

const CHANNEL_POINTS = {
  watch_points: 100,
  watch_interval_seconds: 5,
  bonus_points: 50,
  bonus_interval_seconds: 900,
};

interface Points {
  balance: number;
}
interface Poll {
  id: string;
  choices: { id: string; title: string; votes: number }[];
}
interface Prediction {
  id: string;
  status: string;
  outcomes: { id: string; title: string; points: number }[];
}

let platform: Platform;
let browser: Browser;
let publisher: Publisher | undefined;
const contexts: BrowserContext[] = [];

async function newPage(token: string): Promise<Page> {
  const context = await openContext(browser, { token });
  contexts.push(context);
  return context.newPage();
}

async function readBalance(api: ApiClient, channelId: string): Promise<number> {
  const res = await api.request<Points>('GET', `/channels/${channelId}/points`);
  expect(res.status).toBe(200);
  return res.body.balance;
}

describe('channel points, a poll and a prediction, in a real browser', () => {
  beforeAll(async () => {
    platform = await startPlatform({ vars: { CHANNEL_POINTS: JSON.stringify(CHANNEL_POINTS) } });
    browser = await launchWebBrowser();
  });

  afterAll(async () => {
    await publisher?.stop('SIGKILL');
    for (const context of contexts) await context.close();
    await browser?.close();
    await platform?.stop();
  });

  it('runs a poll and a prediction to completion, paying the winner exactly once, shown to the viewer', async () => {
    const streamerApi = new ApiClient(platform.baseUrl);
    const streamer = await streamerApi.signup(uniqueName('eng'));
    const channelId = streamer.channel.id;
    const viewerApi = new ApiClient(platform.baseUrl);
    const viewer: SignedUp = await viewerApi.signup(uniqueName('watcher'));
    const rivalApi = new ApiClient(platform.baseUrl);
    await rivalApi.signup(uniqueName('rival'));

    await platform.startTranscoder();
    publisher = publishTestPattern(
      `${platform.rtmpUrl}/${(await streamerApi.streamKey(channelId)).stream_key}`,
    );
    await waitFor(
      'the stream to go live',
      async () =>
        (await streamerApi.request('GET', `/streams/${channelId}/live`)).status === 200 ? true : undefined,
      30_000,
      250,
    );

    // The viewer watches in Chromium: the player's presence signal (every 20 s) earns points.
    const page = await newPage(viewer.token);
    const errors = collectPageErrors(page);
    await page.goto(`${platform.baseUrl}/${streamer.channel.name}`);
    await waitFor(
      'the watch page to play',
      async () => ((await sampleWatchPlayer(page)).currentTime > 0 ? true : undefined),
      30_000,
      250,
    );
    await waitFor(
      'the viewer to earn points by watching',
      async () => ((await readBalance(viewerApi, channelId)) >= 200 ? true : undefined),
      60_000,
      1000,
    );
    // Paused, the player stops signalling: the balance holds still for exact checks from here.
    await page.evaluate(() => document.querySelector<HTMLVideoElement>('.player video')?.pause());
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const start = await readBalance(viewerApi, channelId);
    // The rival earns through the same presence signal, from the API: two signals 6 s apart.
    const signal = () =>
      rivalApi.request('POST', `/channels/${channelId}/presence`, { viewer_id: 'rivalviewer00000001' });
    expect((await signal()).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 6000));
    expect((await signal()).status).toBe(200);
    expect(await readBalance(rivalApi, channelId)).toBe(100);

    // ---- the poll: started by the broadcaster, voted from the viewer's panel, results live ----
    const pollRes = await streamerApi.request<Poll>('POST', `/channels/${channelId}/polls`, {
      title: 'Best colour?',
      choices: ['Blue', 'Red'],
      duration_seconds: 60,
    });
    expect(pollRes.status).toBe(201);
    const panel = page.getByRole('region', { name: 'Channel points' });
    await panel.getByRole('button', { name: 'Vote Blue' }).click({ timeout: 15_000 });
    await panel.locator('li[data-choice="Blue"][data-votes="1"]').waitFor({ timeout: 15_000 });
    const red = pollRes.body.choices.find((choice) => choice.title === 'Red');
    const rivalVote = await rivalApi.request(
      'POST',
      `/channels/${channelId}/polls/${pollRes.body.id}/votes`,
      {
        choice_id: red?.id,
        request_id: crypto.randomUUID(),
      },
    );
    expect(rivalVote.status).toBe(200);
    // The rival's vote reaches the viewer's page over chat, within the 1 s results interval.
    await panel.locator('li[data-choice="Red"][data-votes="1"]').waitFor({ timeout: 15_000 });
    const ended = await streamerApi.request('POST', `/channels/${channelId}/polls/${pollRes.body.id}/end`);
    expect(ended.status).toBe(200);
    await panel.locator('[data-poll-status="ended"]').waitFor({ timeout: 15_000 });
    await page.locator('.chat-line', { hasText: 'Poll ended: Best colour?' }).waitFor({ timeout: 15_000 });
    const late = await rivalApi.request('POST', `/channels/${channelId}/polls/${pollRes.body.id}/votes`, {
      choice_id: red?.id,
      request_id: crypto.randomUUID(),
    });
    expect(late.status).toBe(409);

    // ---- the prediction: the viewer stakes from the panel, the rival from the API ----
    const predictionRes = await streamerApi.request<Prediction>(
      'POST',
      `/channels/${channelId}/predictions`,
      {
        title: 'Who wins?',
        outcomes: ['Blue', 'Red'],
        window_seconds: 120,
      },
    );
    expect(predictionRes.status).toBe(201);
    const stakeForm = panel.locator('form.stake-form');
    await stakeForm.waitFor({ timeout: 15_000 });
    await stakeForm.locator('select').selectOption({ label: 'Blue' });
    await stakeForm.locator('input[type="number"]').fill('150');
    await stakeForm.getByRole('button', { name: 'Predict' }).click();
    await panel
      .locator(`[data-testid="points-balance"][data-balance="${start - 150}"]`)
      .waitFor({ timeout: 15_000 });
    const redOutcome = predictionRes.body.outcomes.find((outcome) => outcome.title === 'Red');
    const stakePath = `/channels/${channelId}/predictions/${predictionRes.body.id}/stakes`;
    const overdraw = await rivalApi.request('POST', stakePath, {
      outcome_id: redOutcome?.id,
      points: 101,
      request_id: crypto.randomUUID(),
    });
    expect(overdraw.status).toBe(422);
    const rivalStake = { outcome_id: redOutcome?.id, points: 60, request_id: crypto.randomUUID() };
    expect((await rivalApi.request('POST', stakePath, rivalStake)).status).toBe(200);
    // The same stake again (a retried request): no second debit.
    expect((await rivalApi.request('POST', stakePath, rivalStake)).status).toBe(200);
    expect(await readBalance(rivalApi, channelId)).toBe(40);
    await panel.locator('li[data-outcome="Red"][data-points="60"]').waitFor({ timeout: 15_000 });
    const locked = await streamerApi.request(
      'POST',
      `/channels/${channelId}/predictions/${predictionRes.body.id}/lock`,
    );
    expect(locked.status).toBe(200);

    // ---- resolved from the dashboard: Blue won, the viewer takes the whole pot of 210 ----
    const dashboard = await newPage(streamer.token);
    await dashboard.goto(`${platform.baseUrl}/dashboard`);
    await dashboard.getByRole('button', { name: 'Blue won' }).click({ timeout: 20_000 });
    await panel.locator('[data-prediction-status="resolved"]').waitFor({ timeout: 15_000 });
    await panel
      .locator(`[data-testid="points-balance"][data-balance="${start + 60}"]`)
      .waitFor({ timeout: 15_000 });
    await page
      .locator('.chat-line', { hasText: 'Prediction resolved: Who wins? — Blue won' })
      .waitFor({ timeout: 15_000 });

    // Exactly once: a second resolve and a cancel after it are refused; nothing moves again.
    const base = `/channels/${channelId}/predictions/${predictionRes.body.id}`;
    expect(
      (await streamerApi.request('POST', `${base}/resolve`, { winning_outcome_id: redOutcome?.id })).status,
    ).toBe(409);
    expect((await streamerApi.request('POST', `${base}/cancel`)).status).toBe(409);
    expect(await readBalance(viewerApi, channelId)).toBe(start + 60);
    expect(await readBalance(rivalApi, channelId)).toBe(40);
    expect(errors).toEqual([]);
  });
});
