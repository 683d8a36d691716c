import { test, expect, type Page, type TestInfo } from '@playwright/test';
import { COURSE, checkA11y, jsOn, newLearner, ready, watchConsole } from './helpers';

async function register(page: Page, info: TestInfo, next: string) {
  const me = newLearner(info);
  await page.goto(`/register?next=${encodeURIComponent(next)}`);
  await ready(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Display name').fill(me.name);
  await page.getByLabel('Password').fill(me.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(new RegExp(`${next}$`));
  await ready(page, info);
}

test('a learner watches a live run progress and finish', async ({ page }, info) => {
  const errors = watchConsole(page);
  await register(page, info, '/courses/lab-live/labs/live-smoke');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await expect(page).toHaveURL(/\/courses\/lab-live\/labs\/live-smoke\/runs\/\d+$/);
  // Twelve seconds of real time, so even a slow page sees it running: the live
  // figures arrive while it runs, streamed with JavaScript and by the page
  // reloading itself without.
  await expect(page.getByText('Running Live run (1 of 1)')).toBeVisible({ timeout: 15_000 });
  await expect(page.locator('section.live progress')).toBeVisible();
  await expect(page.locator('.live-stats')).toContainText('VUs');
  await checkA11y(page, info);
  await expect(page.getByRole('heading', { name: 'Lab passed' })).toBeVisible({ timeout: 30_000 });
  await expect(page.locator('figure.chart svg').first()).toBeVisible();
  expect(errors).toEqual([]);
});

test('a learner runs lab 1, reads the hint, fixes the threshold and passes', async ({ page }, info) => {
  const errors = watchConsole(page);
  const lab = `/courses/${COURSE}/labs/first-load-test`;
  await register(page, info, lab);
  await expect(page.getByRole('heading', { level: 1, name: 'Your first load test' })).toBeVisible();
  await expect(page.getByText('(not run yet)').first()).toBeVisible();
  await checkA11y(page, info);

  // The starter as it is: the latency threshold is stricter than the objective.
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await expect(page).toHaveURL(/\/runs\/\d+$/);
  await expect(page.getByRole('heading', { name: 'Not passed yet' })).toBeVisible({ timeout: 30_000 });
  const failed = page.locator('li.check.failed', { hasText: 'The latency threshold is the objective' });
  await expect(failed).toBeVisible();
  await expect(failed.getByText(/^Hint: .*p\(95\)<500/)).toBeVisible();
  await expect(page.locator('table.thresholds tr.crossed')).toContainText('p(95)<5');
  await expect(page.getByRole('img', { name: /Request duration percentiles/ }).first()).toBeVisible();
  await checkA11y(page, info);

  // Back to the editor: the draft is there; change the threshold to the objective.
  await page.getByRole('link', { name: 'Back to the lab' }).click();
  await ready(page, info);
  await expect(page.getByText('(not passed yet)').first()).toBeVisible();
  const editor = page.locator('textarea[name="files[load.js]"]');
  const script = await editor.inputValue();
  expect(script).toContain("p(95)<5'");
  await editor.fill(script.replace("p(95)<5'", "p(95)<500'"));
  if (jsOn(info)) await expect(page.getByText('Draft saved')).toBeVisible();
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Lab passed' })).toBeVisible({ timeout: 30_000 });
  await expect(page.locator('li.check.failed')).toHaveCount(0);

  // The draft survives a reload, and the pass counts in the course.
  await page.goto(lab);
  await ready(page, info);
  await expect(page.locator('textarea[name="files[load.js]"]')).toHaveValue(/p\(95\)<500'/);
  await expect(page.locator('.lab-meta .badge.passed')).toHaveText('Passed');

  // A third graded run lets the learner reveal the solution, which shows at once.
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Lab passed' })).toBeVisible({ timeout: 30_000 });
  await page.goto(lab);
  await ready(page, info);
  await page.getByRole('button', { name: 'Reveal the solution' }).click();
  await expect(page.getByText('The reference solution. Compare it with yours.')).toBeVisible();
  await expect(page.locator('#solution textarea').first()).toBeVisible();
  await page.goto(`/courses/${COURSE}`);
  await expect(page.locator('li.module.lab.done', { hasText: 'Lab: Your first load test' })).toContainText('Passed');
  expect(errors).toEqual([]);
});

test('the PromQL box charts a run\'s series and explains a bad query', async ({ page }, info) => {
  const lab = `/courses/${COURSE}/labs/first-load-test`;
  await register(page, info, lab);
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Not passed yet' })).toBeVisible({ timeout: 30_000 });
  await page.getByLabel('PromQL').fill('sum by (status) (rate(http_requests_total[30s]))');
  await page.getByRole('button', { name: 'Query' }).click();
  await expect(page.locator('.query-box figure.chart svg')).toBeVisible();
  await page.getByLabel('PromQL').fill('sum(rate(http_requests_total[30s])');
  await page.getByRole('button', { name: 'Query' }).click();
  await expect(page.locator('.query-box [role="alert"]')).toBeVisible();
});
