import { expect, type BrowserContext, type Page, type TestInfo } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const COURSE = 'performance-engineering-masterclass';

/** The shipped exam's question count and time limit, read from its blueprint so an author can tune them. */
export function shippedExam(): { questions: number; seconds: number } {
  const yaml = readFileSync(join(__dirname, '../../content', COURSE, 'exam/blueprint.yaml'), 'utf8');
  const minutes = Number(/^time_limit_minutes:\s*(\d+)\s*$/m.exec(yaml)?.[1]);
  const questions = [...yaml.matchAll(/^\s+count:\s*(\d+)\s*$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  if (!(minutes > 0 && questions > 0)) throw new Error(`cannot read the shipped blueprint:\n${yaml}`);
  return { questions, seconds: minutes * 60 };
}

/** The exam page's countdown: h:mm:ss from an hour up, m:ss below. */
function clock(secs: number): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  if (secs >= 3600) return `${Math.floor(secs / 3600)}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`;
  return `${Math.floor(secs / 60)}:${pad(secs % 60)}`;
}

/** Matches the timer during the first `minutes` minutes of a time limit of `secs` seconds. */
export function firstMinute(secs: number, minutes = 1): RegExp {
  const later = Array.from({ length: minutes }, (_, m) => clock(secs - 59 - 60 * m).replace(/\d\d$/, '\\d\\d'));
  return new RegExp(`Time left: (${[clock(secs), ...later].join('|')})`);
}

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

/** The fixture course with a two-question, eight-second exam (pass mark 50%). */
export const SHORT = 'exam-expiry';

/** Registers, answers one question of the short exam right, and lets the server submit it. */
export async function passShortExam(page: Page, info: TestInfo): Promise<string> {
  const me = newLearner(info);
  await page.goto(`/register?next=${encodeURIComponent(`/courses/${SHORT}/exam`)}`);
  await ready(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Display name').fill(me.name);
  await page.getByLabel('Password').fill(me.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(new RegExp(`/courses/${SHORT}/exam$`));
  await ready(page, info);
  await page.getByRole('button', { name: 'Start the exam' }).click();
  await expect(page).toHaveURL(/\/exam\/\d+\/q\/1$/);
  const attempt = /\/exam\/(\d+)\//.exec(page.url())![1];
  await ready(page, info);
  // With JavaScript the router changes the URL before the question is drawn: read
  // which question came first only once it is on the page.
  const question = page.getByText(/The sky on a clear day is blue|Water boils at 50 °C/);
  await expect(question).toBeVisible();
  const sky = /sky/.test(await question.innerText());
  const pick = page.getByRole('radio', { name: sky ? 'True' : 'False' });
  if (jsOn(info)) {
    const saved = page.waitForResponse((r) => r.url().includes('/api/exam/save'));
    await pick.check();
    const answer = await saved;
    expect(answer.ok(), await answer.text()).toBe(true);
  } else {
    await pick.check();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
  }
  // The attempt runs out; the server submits it, and the certificate can be claimed.
  await expect(async () => {
    await page.goto(`/exam/${attempt}/certificate`);
    await expect(page.getByLabel('Name on certificate')).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 45_000, intervals: [1_000] });
  await ready(page, info);
  return attempt;
}
