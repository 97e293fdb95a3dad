// The account settings page (/settings) in Chromium against a running platform: the session list
// shows every sign-in of the account and marks this browser's; signing one out from the page makes
// its token stop working; a password change refuses a wrong current password, then ends every
// other session while this browser stays signed in; "Log out everywhere" ends them all, this one
// included, and lands on the login page.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { collectPageErrors, launchWebBrowser, openContext } from './web-pages.ts';

const PASSWORD = 'correct-horse-battery';
const NEW_PASSWORD = 'battery-staple-horse';

let platform: Platform;
let browser: Browser;
let account: SignedUp;
/**
 * The browser's session, kept across the tests (a password change keeps the session that made it):
 * logins are rate-limited per account and network (wrangler.toml LIMITS), so the tests log in
 * only four times in all.
 */
let mine = '';
/** A session elsewhere that the browser's actions should end. */
let other = '';
const contexts: BrowserContext[] = [];

async function logIn(password: string): Promise<{ status: number; token: string | undefined }> {
  const api = new ApiClient(platform.baseUrl);
  const res = await api.request<{ token?: string }>('POST', '/auth/login', {
    username: account.user.username,
    password,
  });
  return { status: res.status, token: res.body?.token };
}

async function logInOrThrow(password: string): Promise<string> {
  const { status, token } = await logIn(password);
  if (status !== 200 || token === undefined) throw new Error(`login answered ${status}`);
  return token;
}

/** What GET /users/me answers for a token: 200 while its session lives, 401 once it is ended. */
async function readMeStatus(token: string): Promise<number> {
  return (await new ApiClient(platform.baseUrl, token).request('GET', '/users/me')).status;
}

async function openSettings(token: string): Promise<Page> {
  const context = await openContext(browser, { token });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${platform.baseUrl}/settings`);
  await page.getByRole('heading', { name: 'Account settings' }).waitFor({ timeout: 15_000 });
  return page;
}

describe('account settings in a real browser', () => {
  beforeAll(async () => {
    platform = await startPlatform();
    browser = await launchWebBrowser();
    account = await new ApiClient(platform.baseUrl).signup(uniqueName('account'), PASSWORD);
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await platform?.stop();
  });

  it("lists the account's sessions, marks this browser's, and signs another one out so its token stops working", async () => {
    other = account.token;
    mine = await logInOrThrow(PASSWORD);
    const page = await openSettings(mine);
    const errors = collectPageErrors(page);
    const rows = page.getByRole('list', { name: 'Sessions' }).getByRole('listitem');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    await expect(page.getByRole('button', { name: 'Sign out this browser' }).count()).resolves.toBe(1);

    const sessions = await new ApiClient(platform.baseUrl, other).request<{
      data: Array<{ id: string; current: boolean }>;
    }>('GET', '/auth/sessions');
    const otherId = sessions.body.data.find((session) => session.current)?.id;
    if (otherId === undefined) throw new Error('the other session is not listed');
    await page.locator(`[data-session="${otherId}"]`).getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('status').filter({ hasText: 'Session signed out.' }).waitFor();
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
    expect(await readMeStatus(other)).toBe(401);
    expect(await readMeStatus(mine)).toBe(200);
    expect(errors).toEqual([]);
  });

  it('refuses a wrong current password, then changes it: other sessions end, this browser stays signed in', async () => {
    other = await logInOrThrow(PASSWORD);
    const page = await openSettings(mine);

    await page.fill('#current-password', 'not-the-password');
    await page.fill('#new-password', NEW_PASSWORD);
    await page.fill('#repeat-password', NEW_PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('status').filter({ hasText: 'The current password is wrong' }).waitFor();
    expect(await readMeStatus(other)).toBe(200);

    await page.fill('#current-password', PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('status').filter({ hasText: 'Password changed.' }).waitFor();
    expect(await readMeStatus(other)).toBe(401);
    expect(await readMeStatus(mine)).toBe(200);
    expect((await logIn(PASSWORD)).status).toBe(401);
    other = await logInOrThrow(NEW_PASSWORD);
    expect(await readMeStatus(other)).toBe(200);

    await page.reload();
    await page.getByRole('heading', { name: 'Account settings' }).waitFor();
    expect(await page.getByText(`Signed in as ${account.user.username}.`).count()).toBe(1);
  });

  it('logs out everywhere: every token of the account stops working and this browser lands on the login page', async () => {
    const page = await openSettings(mine);
    page.once('dialog', (dialog) => {
      void dialog.accept();
    });
    await page.getByRole('button', { name: 'Log out everywhere' }).click();
    await page.waitForURL(`${platform.baseUrl}/login`, { timeout: 10_000 });
    expect(await readMeStatus(other)).toBe(401);
    expect(await readMeStatus(mine)).toBe(401);
    const stored = await page.evaluate(() => window.localStorage.getItem('edgestream.token'));
    expect(stored).toBeNull();
  });
});
