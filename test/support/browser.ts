import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's Chromium: a test tool's own browser download cannot reach the internet here. */
const CHROMIUM = '/usr/bin/chromium';

/**
 * The flags the machine needs: without the background-networking ones Chromium keeps dialling
 * Google's hosts, which this closed network refuses.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface HeadlessPage {
  browser: Browser;
  page: Page;
  /** Script errors and console errors (a CSP violation shows up here): a page must run clean. */
  pageErrors: string[];
}

export async function openHeadlessPage(): Promise<HeadlessPage> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  return { browser, page, pageErrors };
}
