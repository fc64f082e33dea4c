// Debian's Chromium driven by playwright-core, and the helpers the UI tests share: launching,
// reading what a terminal shows on screen, waiting with clear messages, saving screenshots.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.HWL_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = new URL('../../../docs/screenshots/', import.meta.url).pathname;

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
];

/** Why the browser tests cannot run here, or undefined. */
export function chromiumUnavailableReason(): string | undefined {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium)`;
  return undefined;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** A page with a desktop-sized viewport that reports page errors (a broken renderer fails loudly). */
export async function openApp(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(url).origin });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console error: ${message.text()}`);
  });
  await page.goto(url);
  return { page, errors };
}

/** The text a terminal shows on screen: the rows xterm.js rendered into the DOM. */
export async function terminalScreen(page: Page, frameSelector: string): Promise<string> {
  return page.$eval(`${frameSelector} .xterm-rows`, (rows) => [...rows.children].map((row) => (row.textContent ?? '').replace(/\u00a0/g, ' ')).join('\n'));
}

export async function waitForTerminalText(page: Page, frameSelector: string, expected: string | RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let screen = '';
  while (Date.now() < deadline) {
    screen = await terminalScreen(page, frameSelector).catch(() => '');
    if (typeof expected === 'string' ? screen.includes(expected) : expected.test(screen)) return screen;
    await page.waitForTimeout(100);
  }
  throw new Error(`the terminal ${frameSelector} never showed ${String(expected)} within ${timeoutMs / 1000} s; it shows:\n${screen}`);
}

export async function screenshot(page: Page, name: string, directory = SCREENSHOTS): Promise<string> {
  mkdirSync(directory, { recursive: true });
  const path = join(directory, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** A violation axe-core found, as the test reports it. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * Runs axe-core (WCAG 2 A and AA rules) on what the page shows now; returns the serious and
 * critical violations. Injected through the DevTools protocol, so the app's CSP stays as it is.
 */
export async function seriousAxeViolations(page: Page, include = 'body'): Promise<AxeViolation[]> {
  const { createRequire } = await import('node:module');
  const { readFileSync } = await import('node:fs');
  const source = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  const violations = await page.evaluate(async (selector) => {
    const axe = (window as unknown as { axe: { run: (ctx: unknown, options: unknown) => Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe;
    const result = await axe.run({ include: [selector] }, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => String(n.target[0])) }));
  }, include);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
