import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../helpers/app.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Debian's chromium (installed by .ci/run); the suite says so instead of failing where it is absent.
describe.skipIf(!existsSync(CHROMIUM))('the /docs page in a real browser', () => {
  let ctx: TestContext;
  let browser: Browser;
  beforeAll(async () => {
    ctx = await setupTestApp();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await ctx?.close();
  });

  it('loads under the security headers, authorises with a bearer token and runs GET /users/me', async () => {
    const user = await registerAndLogin(ctx.api, 'browser');
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (err) => problems.push(err.message));

    const response = await page.goto(`${ctx.baseUrl}/docs`);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
    await page.locator('.swagger-ui .info .title').waitFor();
    expect(await page.locator('.swagger-ui .info .title').textContent()).toContain('task-api');

    await page.locator('button.authorize').first().click();
    const bearer = page.locator('.modal-ux .auth-container').filter({ hasText: 'bearerAuth' });
    await bearer.locator('input').fill(user.token);
    await bearer.locator('button.authorize').click();
    await page.locator('.modal-ux button.btn-done').first().click();

    const operation = page.locator('.opblock-get').filter({ has: page.locator('[data-path="/api/v1/users/me"]') });
    await operation.locator('.opblock-summary').click();
    await operation.locator('button.try-out__btn').click();
    await operation.locator('button.execute').click();
    const live = operation.locator('.live-responses-table .response');
    await live.first().waitFor();
    expect(await live.locator('.response-col_status').first().textContent()).toContain('200');
    expect(await live.locator('.response-col_description').first().textContent()).toContain(user.username);

    expect(problems.filter((p) => /Content Security Policy|Refused to/i.test(p))).toEqual([]);
    await page.close();
  });
});
