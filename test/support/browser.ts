/** Debian's Chromium (/usr/bin/chromium), headless, driven by playwright-core: it never downloads a browser. */
import { chromium, type Browser } from 'playwright-core';

/** Launches the machine's Chromium for a browser test; close it in afterAll. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
