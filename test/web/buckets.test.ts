import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Browser, Page } from 'playwright-core';
import { openHeadlessPage } from '../support/browser.ts';
import { exists, putObject, testS3Client } from '../support/buckets.ts';
import { eicarBytes } from '../support/eicar.ts';
import { type S3rverHandle, startS3rver } from '../support/s3rver.ts';
import { KEY_A, startTestService, type TestService } from '../support/service.ts';

export const SCREENSHOT = path.join(tmpdir(), 'scangate-buckets.png');

describe('bucket scans page in headless Chromium', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  let service: TestService;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];

  before(async () => {
    s3 = await startS3rver(['web-bucket', 'web-quarantine']);
    client = testS3Client(s3);
    service = await startTestService({
      s3: s3.config,
      buckets: { grants: ['tenant-a=web-bucket', 'tenant-a=web-quarantine'], pageSize: 5 },
    });
    for (let index = 0; index < 9; index++)
      await putObject(client, 'web-bucket', `site/page-${index}.html`, randomBytes(300));
    await putObject(client, 'web-bucket', 'site/payload.com', eicarBytes());
    ({ browser, page, pageErrors } = await openHeadlessPage());
  });

  after(async () => {
    await browser?.close();
    await service?.stop();
    client?.destroy();
    await s3?.stop();
  });

  test('without a key the page sends you to sign in', async () => {
    await page.goto(`${service.url}/buckets`);
    await page.locator('#signed-out').waitFor();
    assert.equal(await page.locator('#buckets-view').isVisible(), false);
  });

  test('start a scan with quarantine, watch it finish, see the actions on each object', async () => {
    await page.goto(service.url);
    await page.fill('#api-key', KEY_A);
    await page.click('#login-form button[type=submit]');
    await page.locator('#app-view').waitFor();
    await page.click('a.nav-link[href="/buckets"]');
    await page.locator('#buckets-view').waitFor();

    await page.fill('#scan-bucket', 'web-bucket');
    await page.fill('#scan-prefix', 'site/');
    await page.selectOption('#scan-infected', 'quarantine');
    await page.fill('#scan-quarantine', 's3://web-quarantine/held/');
    await page.click('#scan-form button[type=submit]');

    const row = page.locator('#bucket-scans tbody tr', { hasText: 's3://web-bucket/site/' });
    await row.locator('.badge-state-done').waitFor({ timeout: 60_000 });
    const cells = await row.locator('td').allTextContents();
    assert.match(cells[3] ?? '', /10 \/ 10/);
    assert.equal(cells[4], '9');
    assert.equal(cells[5], '1');

    await row.click();
    const infected = page.locator('#bucket-objects tbody tr', { hasText: 'site/payload.com' });
    await infected.waitFor();
    assert.match(
      (await infected.textContent()) ?? '',
      /infected[\s\S]*Eicar[\s\S]*✓ tag[\s\S]*✓ quarantine: moved to s3:\/\/web-quarantine\/held\/site\/payload\.com/,
    );
    assert.equal(await exists(client, 'web-bucket', 'site/payload.com'), false);
    await page.selectOption('#objects-filter', 'infected');
    // Waited for through locators: a string predicate would be evaluated, and the page's CSP forbids eval.
    await page.locator('#bucket-objects tbody tr', { hasText: 'page-0.html' }).waitFor({ state: 'detached' });
    assert.equal(await page.locator('#bucket-objects tbody tr').count(), 1);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  test('a refused scan shows the reason in the form', async () => {
    await page.fill('#scan-bucket', 'not-granted-bucket');
    await page.fill('#scan-prefix', '');
    await page.selectOption('#scan-infected', 'none');
    await page.click('#scan-form button[type=submit]');
    await page.locator('#scan-error', { hasText: 'not granted' }).waitFor();
    // The browser reports the refused request (403) itself; nothing else may appear.
    assert.deepEqual(
      pageErrors.filter((message) => !/status of 403/.test(message)),
      [],
    );
  });
});
