import { test, expect, type Page, type TestInfo } from '@playwright/test';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { COURSE, checkA11y, jsOn, newLearner, ready, shippedExam, watchConsole } from './helpers';

// Issue 20, "Finding the way": the catalog and the course page say what a course
// teaches, who teaches it, how long it takes and what the exam asks, before anyone
// signs up; the header keeps its height; Next and Previous walk the course in its
// order, labs included; marking a module complete keeps the learner's place and
// offers the next step; a passed lab offers the way on.

const dir = join(__dirname, '../../content', COURSE);
const modules = readdirSync(join(dir, 'modules')).filter((f) => f.endsWith('.md')
  && !/^draft:\s*true\s*$/m.test(readFileSync(join(dir, 'modules', f), 'utf8'))).length;
const labs = readdirSync(join(dir, 'labs')).length;
const blueprint = readFileSync(join(dir, 'exam/blueprint.yaml'), 'utf8');
const passMark = /^pass_mark_percent:\s*(\d+)\s*$/m.exec(blueprint)![1];
const attempts = /^attempts_allowed:\s*(\d+)\s*$/m.exec(blueprint)![1];
/** The one wording both pages use for what the course holds. */
const holds = `${modules} modules · ${labs} labs`;

async function register(page: Page, info: TestInfo, next = `/courses/${COURSE}`) {
  const me = newLearner(info);
  await page.goto(`/register?next=${encodeURIComponent(next)}`);
  await ready(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Display name').fill(me.name);
  await page.getByLabel('Password').fill(me.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('link', { name: me.name })).toBeVisible();
  return me;
}

/** Calls a server function as the signed-in learner of `page`, as the pages do. */
async function post(page: Page, endpoint: string, form: Record<string, string>) {
  const origin = new URL(page.url()).origin;
  const r = await page.request.post(`/api/${endpoint}`, { headers: { Origin: origin }, form });
  expect(r.ok(), `${endpoint}: ${await r.text()}`).toBe(true);
  return r;
}

async function complete(page: Page, ...slugs: string[]) {
  for (const module of slugs) await post(page, 'courses/complete', { course: COURSE, module, complete: 'true' });
}

const nextLink = (page: Page) => page.locator('nav.prev-next a[rel="next"]');
const prevLink = (page: Page) => page.locator('nav.prev-next a[rel="prev"]');

test('a visitor reads what the course teaches, who teaches it and the exam rules before signing up', async ({ page }, info) => {
  const errors = watchConsole(page);
  await page.goto('/');
  await ready(page, info);
  const card = page.locator('.card', { has: page.getByRole('link', { name: 'Performance Engineering Masterclass' }) });
  await expect(card).toContainText('Taught by Leandro Melendez (Grafana k6), Henrik Rexed (Dynatrace) and Felipe Cardeneti Mendes (ScyllaDB) · hosted by ScyllaDB');
  await expect(card.locator('.meta')).toContainText(`Intermediate · 4 sections · ${holds} · certification exam · about`);
  await expect(card.getByRole('heading', { name: 'You will be able to' })).toBeVisible();
  const catalogFacts = await card.locator('.meta').innerText();
  await checkA11y(page, info);

  await page.goto(`/courses/${COURSE}`);
  await ready(page, info);
  // The same count, in the same words, as the catalog.
  await expect(page.locator('.course-hero .meta')).toHaveText(catalogFacts);
  await expect(page.getByRole('link', { name: 'Sign up to start' }).first()).toBeVisible();
  await expect(page.getByRole('heading', { name: 'What you will be able to do' })).toBeVisible();
  const people = page.locator('section', { has: page.getByRole('heading', { name: 'Who teaches it' }) });
  for (const name of ['Leandro Melendez', 'Henrik Rexed', 'Felipe Cardeneti Mendes']) await expect(people).toContainText(name);
  await expect(people).toContainText('Host: ScyllaDB');
  await expect(page.getByText('Level: Intermediate')).toBeVisible();
  const inside = page.locator('dl.inside');
  await expect(inside).toContainText(`${modules} modules in 4 sections`);
  await expect(inside).toContainText(`${labs} hands-on labs`);
  // The first section names who teaches it.
  await expect(page.locator('#section-load-testing-and-slos ~ .taught-by').first()).toHaveText('With Leandro Melendez (Grafana k6)');

  // The exam's rules, from its blueprint.
  const { questions, seconds } = shippedExam();
  const rules = page.locator('dl.exam-rules');
  const minutes = seconds / 60;
  const limit = minutes >= 120 && minutes % 60 === 0 ? `${minutes / 60} hours` : `${minutes} minutes`;
  await expect(rules).toContainText(`${questions} questions in ${limit}.`);
  await expect(rules).toContainText(`Pass mark${passMark}%`);
  await expect(rules).toContainText(`${attempts} attempts`);
  await expect(rules).toContainText(`First complete all ${modules} modules and pass all ${labs} labs.`);
  // A visitor's outline is a syllabus: nothing locked, nothing to click into.
  await expect(page.locator('.module.locked')).toHaveCount(0);
  await expect(page.locator('ol.modules a')).toHaveCount(0);
  await checkA11y(page, info);
  expect(errors).toEqual([]);
});

test('the header keeps one height signed in and out, on a desktop and on a phone', async ({ page }, info) => {
  const height = async () => (await page.locator('header.site-header').boundingBox())!.height;
  const out: number[] = [];
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 800 });
    await page.goto('/');
    await ready(page, info);
    out.push(await height());
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await register(page, info);
  const signedIn: number[] = [];
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 800 });
    await page.goto('/');
    await ready(page, info);
    await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
    signedIn.push(await height());
  }
  expect(signedIn).toEqual(out);
});

test('the outline leads with what to do next and mutes what is locked', async ({ page }, info) => {
  const errors = watchConsole(page);
  await register(page, info);
  await page.goto(`/courses/${COURSE}`);
  await ready(page, info);
  await expect(page.getByRole('link', { name: 'Start: What a load test is for' })).toBeVisible();
  await expect(page.locator('.module.next')).toHaveCount(1);
  await expect(page.locator('.module.next')).toContainText('What a load test is for');
  await expect(page.locator('.module.next')).toContainText('Next up');
  // Locked items are muted text, not boxes, and cannot be followed.
  const locked = page.locator('.module.locked').first();
  await expect(locked).toContainText('Locked');
  await expect(locked.locator('a')).toHaveCount(0);
  expect(await locked.evaluate((el) => getComputedStyle(el).borderTopWidth)).toBe('0px');
  await expect(page.locator('.progress-text').first()).toHaveText(`0 of ${modules} modules · 0 of ${labs} labs done (0%)`);

  await complete(page, 'what-a-load-test-is-for', 'thresholds-are-slos', 'k6-scripts-checks-and-stages');
  await page.goto(`/courses/${COURSE}`);
  await ready(page, info);
  // After the third module comes its lab, in course order.
  await expect(page.getByRole('link', { name: 'Continue where you left off: Lab: Your first load test' })).toBeVisible();
  await expect(page.locator('.module.next')).toContainText('Lab: Your first load test');
  await expect(page.locator('.progress-text').first()).toHaveText(`3 of ${modules} modules · 0 of ${labs} labs done (${Math.floor(300 / (modules + labs))}%)`);
  // A learner who has begun sees the outline first, the about part after it.
  const outlineFirst = await page.evaluate(() => {
    const outline = document.getElementById('outline');
    const about = document.querySelector('.about');
    return !!outline && !!about && !!(outline.compareDocumentPosition(about) & Node.DOCUMENT_POSITION_FOLLOWING);
  });
  expect(outlineFirst).toBe(true);
  await checkA11y(page, info);
  expect(errors).toEqual([]);
});

test('Next and Previous walk the course in its order, labs included, up to the exam', async ({ page }, info) => {
  const errors = watchConsole(page);
  await register(page, info);
  await complete(page, 'what-a-load-test-is-for', 'thresholds-are-slos', 'k6-scripts-checks-and-stages', 'executors-and-workload-models');

  await page.goto(`/courses/${COURSE}/k6-scripts-checks-and-stages`);
  await ready(page, info);
  await expect(nextLink(page)).toHaveAttribute('href', `/courses/${COURSE}/labs/first-load-test`);
  await expect(nextLink(page)).toContainText('Lab: Your first load test');

  // The lab page goes on, and back, in the same order, loaded directly.
  await page.goto(`/courses/${COURSE}/labs/first-load-test`);
  await ready(page, info);
  await expect(prevLink(page)).toHaveAttribute('href', `/courses/${COURSE}/k6-scripts-checks-and-stages`);
  await expect(nextLink(page)).toHaveAttribute('href', `/courses/${COURSE}/executors-and-workload-models`);
  await checkA11y(page, info);
  await nextLink(page).click();
  await expect(page).toHaveURL(new RegExp(`/courses/${COURSE}/executors-and-workload-models$`));
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(nextLink(page)).toHaveAttribute('href', `/courses/${COURSE}/labs/find-the-knee`);
  await page.goto(`/courses/${COURSE}/labs/find-the-knee`);
  await ready(page, info);
  await expect(prevLink(page)).toHaveAttribute('href', `/courses/${COURSE}/executors-and-workload-models`);
  await expect(nextLink(page)).toHaveAttribute('href', `/courses/${COURSE}/test-types`);

  // After the last module of the course, the exam.
  await complete(page, 'making-performance-a-habit');
  await page.goto(`/courses/${COURSE}/when-kpis-trend-the-wrong-way`);
  await ready(page, info);
  await expect(nextLink(page)).toHaveAttribute('href', `/courses/${COURSE}/exam`);
  await expect(nextLink(page)).toContainText('Certification exam');
  expect(errors).toEqual([]);
});

test('Mark complete keeps the place, shows its confirmation and offers Next', async ({ page }, info) => {
  const errors = watchConsole(page);
  await register(page, info);
  await complete(page, 'what-a-load-test-is-for', 'thresholds-are-slos');
  await page.goto(`/courses/${COURSE}/k6-scripts-checks-and-stages`);
  await ready(page, info);
  const button = page.getByRole('button', { name: 'Mark complete' });
  await button.scrollIntoViewIfNeeded();
  const before = await page.evaluate(() => window.scrollY);
  expect(before, 'the form is far down the page').toBeGreaterThan(500);
  if (jsOn(info)) await page.evaluate(() => { (window as any).__sameDocument = true; });
  await button.click();
  await expect(page.getByText('You completed this module.')).toBeVisible();
  const next = page.locator('#complete').getByRole('link', { name: 'Next: Lab: Your first load test →' });
  await expect(next).toBeVisible();
  await expect(next).toHaveAttribute('href', `/courses/${COURSE}/labs/first-load-test`);
  await expect(page.locator('article progress')).toHaveAttribute('value', '3');
  if (jsOn(info)) {
    // Updated in place: the same document, and not a pixel of scrolling.
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    expect(await page.evaluate(() => window.scrollY)).toBe(before);
    await expect(page.getByRole('button', { name: 'Mark as not complete' })).toBeFocused();
  } else {
    // Without JavaScript the answer comes back to the form, not the top of the page.
    await expect(page).toHaveURL(new RegExp(`/courses/${COURSE}/k6-scripts-checks-and-stages#complete$`));
    const form = await page.locator('#complete').boundingBox();
    expect(form!.y, 'the form is in view').toBeLessThan(800);
    expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(500);
  }
  // And back again: the form undoes itself the same way.
  await page.getByRole('button', { name: 'Mark as not complete' }).click();
  await expect(page.getByRole('button', { name: 'Mark complete' })).toBeVisible();
  await expect(page.getByText('You completed this module.')).toHaveCount(0);
  await expect(page.locator('article progress')).toHaveAttribute('value', '2');
  expect(errors).toEqual([]);
});

test('a passed lab offers the way on', async ({ page }, info) => {
  test.setTimeout(150_000);
  const errors = watchConsole(page);
  await register(page, info);
  const folder = join(dir, 'labs', '01-first-load-test', 'solution');
  const form: Record<string, string> = { course: COURSE, lab: 'first-load-test' };
  for (const f of readdirSync(folder)) form[`files[${f}]`] = readFileSync(join(folder, f), 'utf8');
  const run = String(await (await post(page, 'labs/run', form)).json());
  await expect(async () => {
    const v = await (await post(page, 'labs/run-view', { run })).json();
    expect(v.status).toBe('done');
    expect(v.report?.passed, JSON.stringify(v.report)).toBe(true);
  }).toPass({ timeout: 120_000, intervals: [1_000] });

  const onward = `/courses/${COURSE}/executors-and-workload-models`;
  await page.goto(`/courses/${COURSE}/labs/first-load-test/runs/${run}`);
  await ready(page, info);
  await expect(page.getByRole('heading', { name: 'Lab passed' })).toBeVisible();
  await expect(page.locator('.verdict .way-on a')).toHaveAttribute('href', onward);

  await page.goto(`/courses/${COURSE}/labs/first-load-test`);
  await ready(page, info);
  const wayOn = page.locator('.lab-header .way-on').getByRole('link', { name: /^Next: Scenarios, executors and workload models/ });
  await expect(wayOn).toHaveAttribute('href', onward);
  await checkA11y(page, info);
  await wayOn.click();
  await expect(page).toHaveURL(new RegExp(`${onward}$`));
  expect(errors).toEqual([]);
});
