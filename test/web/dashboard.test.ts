import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { eicarBytes } from '../../src/engine/eicar.ts';
import { openHeadlessPage } from '../support/browser.ts';
import { peExecutable } from '../support/policy-samples.ts';
import { KEY_A, startTestService, type TestService } from '../support/service.ts';

/**
 * The page's DOM as far as the predicates run in it use it (tests compile without the DOM library).
 * A predicate is passed as a function, not a string: a string is evaluated with eval() in the page,
 * which the dashboard's Content-Security-Policy refuses as soon as a first check fails and polls.
 */
declare const document: {
  querySelectorAll(selector: string): Iterable<{ querySelector(selector: string): unknown }>;
};

export const SCREENSHOT = path.join(tmpdir(), 'scangate-dashboard.png');

describe('web dashboard in headless Chromium', () => {
  let service: TestService;
  let browser: Browser;
  let page: Page;
  let files: string;
  let pageErrors: string[];

  before(async () => {
    service = await startTestService();
    files = await mkdtemp(path.join(tmpdir(), 'scangate-web-'));
    await writeFile(path.join(files, 'eicar.com'), eicarBytes());
    await writeFile(path.join(files, 'report.pdf'), randomBytes(200_000));
    await writeFile(path.join(files, 'setup.pdf'), peExecutable());
    ({ browser, page, pageErrors } = await openHeadlessPage());
  });

  after(async () => {
    await browser?.close();
    await service?.stop();
    if (files) await rm(files, { recursive: true, force: true });
  });

  test('a refused key stays on the login form', async () => {
    await page.goto(service.url);
    await page.locator('#login-form').waitFor();
    await page.fill('#api-key', 'not-a-valid-key-at-all');
    await page.click('#login-form button[type=submit]');
    await page.locator('#login-error', { hasText: 'refused' }).waitFor();
    assert.equal(await page.locator('#app-view').isVisible(), false);
    // The browser's own 401 report for the refused fetch is expected; nothing else is.
    pageErrors.length = 0;
  });

  test('sign in, drop EICAR and a clean file, watch the verdicts arrive', async () => {
    await page.fill('#api-key', KEY_A);
    await page.click('#login-form button[type=submit]');
    await page.locator('#app-view').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('scangate.apiKey')), KEY_A);

    await page.setInputFiles('#file-input', [path.join(files, 'eicar.com'), path.join(files, 'report.pdf')]);
    const infected = page.locator('#uploads li[data-status="infected"]');
    await infected.waitFor();
    assert.match((await infected.textContent()) ?? '', /eicar\.com[\s\S]*infected[\s\S]*Eicar-Signature/);
    await page.locator('#uploads li[data-status="clean"]', { hasText: 'report.pdf' }).waitFor();

    // The recent-scans table and the chart refresh once a verdict arrives.
    await page.locator('#scans tbody tr', { hasText: 'eicar.com' }).locator('.badge-infected').waitFor();
    await page.locator('#chart svg rect.bar-infected').waitFor();
    assert.match((await page.locator('#totals').textContent()) ?? '', /1\s*infected/);
  });

  test('the status filter narrows the list', async () => {
    await page.selectOption('#status-filter', 'clean');
    // Evaluated in the page: every listed row is clean once the filtered list has loaded.
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#scans tbody tr')];
      return rows.length > 0 && rows.every((row) => row.querySelector('.badge-clean'));
    });
    assert.equal(await page.locator('#scans tbody tr', { hasText: 'eicar.com' }).count(), 0);
    await page.selectOption('#status-filter', '');
    await page.locator('#scans tbody tr', { hasText: 'eicar.com' }).waitFor();
  });

  test('the content policy card shows the tenant policy; a blocked scan shows its evidence', async () => {
    await page.locator('#policy-name', { hasText: 'default' }).waitFor();
    const set = await fetch(`${service.url}/v1/policy`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      body: JSON.stringify({ block: ['executables', 'macros'], allowed_types: ['pdf', 'png'] }),
    });
    assert.equal(set.status, 200);
    await page.setInputFiles('#file-input', path.join(files, 'setup.pdf'));
    await page.locator('#scans tbody tr', { hasText: 'executables: PE32' }).waitFor();
    await page.click('#refresh');
    await page.locator('#policy-name', { hasText: 'custom' }).waitFor();
    assert.equal(await page.locator('#policy-blocks').textContent(), 'executables, macros');
    assert.equal(await page.locator('#policy-types').textContent(), 'pdf, png');
    await page.locator('.total-blocked strong', { hasText: '1' }).waitFor();
  });

  test('engine status comes from /readyz', async () => {
    await page.locator('#engine-pill', { hasText: 'engine ready' }).waitFor();
    assert.match((await page.locator('#engine-version').textContent()) ?? '', /^\d+\.\d+/);
    assert.equal(await page.locator('#store-kind').textContent(), 'sqlite');
    // The service runs on the offline test database: the page says so, with the database's name and age.
    await page.locator('#test-signatures-banner').waitFor({ state: 'visible' });
    assert.match((await page.locator('#signature-version').textContent()) ?? '', /^scangate-test \d+$/);
    assert.match((await page.locator('#signature-age').textContent()) ?? '', /^\d+ min$/);
    assert.match(
      (await page.locator('#signature-update').textContent()) ?? '',
      /not run by scangate \(test\)/,
    );
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.deepEqual(pageErrors, []);
  });

  test('signing out forgets the key', async () => {
    await page.click('#logout');
    await page.locator('#login-form').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('scangate.apiKey')), null);
  });
});
