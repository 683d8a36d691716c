import { expect, type BrowserContext, type Page, type TestInfo } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { readFileSync, readdirSync } from 'node:fs';
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

/** A list under the shipped blueprint's `eligibility:` (`modules_completed`, `labs_passed`). */
function required(yaml: string, key: string): string[] {
  const block = new RegExp(`^  ${key}:\\n((?:    - .*\\n?)*)`, 'm').exec(yaml);
  return block ? [...block[1].matchAll(/^    - (.+)$/gm)].map((m) => m[1].trim()) : [];
}

/** Does what the shipped exam's blueprint requires before an attempt, as the signed-in
 *  learner of `page`, through the API the pages use: completes every required module
 *  (a module whose prerequisites are not done yet is tried again after them) and passes
 *  every required lab with its solution (graded for real, about as long as a learner's run). */
export async function becomeEligible(page: Page) {
  const dir = join(__dirname, '../../content', COURSE);
  const yaml = readFileSync(join(dir, 'exam/blueprint.yaml'), 'utf8');
  const origin = new URL(page.url()).origin;
  const post = (endpoint: string, form: Record<string, string>) =>
    page.request.post(`/api/${endpoint}`, { headers: { Origin: origin }, form });
  let todo = required(yaml, 'modules_completed');
  for (let round = 0; todo.length && round <= todo.length; round++) {
    const left: string[] = [];
    for (const module of todo) {
      const r = await post('courses/complete', { course: COURSE, module, complete: 'true' });
      if (!r.ok()) left.push(module);
    }
    todo = left;
  }
  expect(todo, 'modules that cannot be completed').toEqual([]);
  for (const lab of required(yaml, 'labs_passed')) {
    const folder = readdirSync(join(dir, 'labs')).find((d) => d.replace(/^\d+-/, '') === lab);
    if (!folder) throw new Error(`the blueprint requires a lab with no folder: ${lab}`);
    const form: Record<string, string> = { course: COURSE, lab };
    for (const f of readdirSync(join(dir, 'labs', folder, 'solution'))) {
      form[`files[${f}]`] = readFileSync(join(dir, 'labs', folder, 'solution', f), 'utf8');
    }
    const started = await post('labs/run', form);
    expect(started.ok(), await started.text()).toBe(true);
    const run = String(await started.json());
    await expect(async () => {
      const v = await (await post('labs/run-view', { run })).json();
      expect(v.status, JSON.stringify(v.report ?? v)).toBe('done');
      expect(v.report?.passed, `${lab}: ${JSON.stringify(v.report)}`).toBe(true);
    }).toPass({ timeout: 90_000, intervals: [500] });
  }
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
