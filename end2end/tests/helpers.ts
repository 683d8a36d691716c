import { expect, type BrowserContext, type Page, type TestInfo } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

export const COURSE = 'performance-engineering-masterclass';

export const jsOn = (info: TestInfo) => info.project.name === 'javascript-on';

/** A fresh learner identity per test and project. */
export function newLearner(info: TestInfo) {
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  return { email: `learner-${info.project.name}-${id}@example.com`, name: `Learner ${id}`, password: 'a long learner password' };
}

/** Waits until the page is interactive: hydrated with JavaScript, immediately without. */
export async function ready(page: Page, info: TestInfo) {
  if (jsOn(info)) {
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  }
}

/** Fails on serious or critical accessibility violations of the current page.
 *  axe is a script, so with JavaScript off the same URL is checked in a
 *  JavaScript-enabled twin context that shares the cookies. */
export async function checkA11y(page: Page, info: TestInfo) {
  let target = page;
  let twin: BrowserContext | undefined;
  if (!jsOn(info)) {
    const browser = page.context().browser();
    if (!browser) throw new Error('no browser');
    twin = await browser.newContext({ storageState: await page.context().storageState(), javaScriptEnabled: true });
    target = await twin.newPage();
    await target.goto(page.url());
  }
  const results = await new AxeBuilder({ page: target }).analyze();
  await twin?.close();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)).toEqual([]);
}

/** Collects console errors (a CSP violation or a hydration panic shows up here). */
export function watchConsole(page: Page) {
  const errors: string[] = [];
  // A 4xx answer to a deliberately wrong form is expected; anything else is not.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}
