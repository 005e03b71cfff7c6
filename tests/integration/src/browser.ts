// Headless Chromium from Debian's `chromium` package, driven by playwright-core (which
// never downloads a browser). Each test gets a fresh profile in a temporary directory,
// removed after. The flags keep Chromium from reaching out on its own (updates, sync,
// QUIC): on this closed network its connections would be refused and slow it down.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Debian's Chromium: scripts/test finds (or installs) it and says where in COMMSTRAT_CHROMIUM. */
export function chromiumPath(): string {
  const path = process.env['COMMSTRAT_CHROMIUM'] ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(`Chromium is not at ${path}: install Debian's package (apt-get install -y chromium; npm test does it through scripts/lib/chromium.sh)`);
  }
  return path;
}

/** A browser with a profile of its own; closed and its profile removed when the test ends. */
export async function openBrowser(): Promise<{ context: BrowserContext; page: Page }> {
  const profile = mkdtempSync(join(tmpdir(), 'commstrat-chromium-'));
  // playwright-core passes the profile as --user-data-dir itself.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1360, height: 860 },
    timeout: 30_000,
  });
  after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  return { context, page };
}

/**
 * Saves a screenshot of the page as `<name>.png` into COMMSTRAT_CONSOLE_SCREENSHOTS when
 * it is set (scripts/console-screenshots sets it to docs/console/); otherwise nothing.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env['COMMSTRAT_CONSOLE_SCREENSHOTS'];
  if (dir === undefined || dir === '') return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}
