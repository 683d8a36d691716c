import { test, expect, type Page, type TestInfo } from '@playwright/test';
import { COURSE, becomeEligible, checkA11y, firstMinute, jsOn, newLearner, ready, shippedExam, watchConsole } from './helpers';

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
  return me;
}

async function startExam(page: Page, info: TestInfo) {
  const me = await register(page, info, `/courses/${COURSE}/exam`);
  await becomeEligible(page);
  await page.reload();
  await ready(page, info);
  await page.getByRole('button', { name: 'Start the exam' }).click();
  await expect(page).toHaveURL(/\/exam\/\d+\/q\/1$/);
  await ready(page, info);
  const attempt = /\/exam\/(\d+)\//.exec(page.url())![1];
  return { me, attempt };
}

const answerBox = (page: Page) => page.locator('form.answer-form input[type=text]');
const saveStatus = (page: Page) => page.locator('p.save-status');

test('autosave: typed answers are saved without pressing anything, and survive a reload', async ({ page }, info) => {
  test.skip(!jsOn(info), 'autosave is what JavaScript adds; without it the form saves on submit');
  test.setTimeout(240_000);
  const errors = watchConsole(page);
  const { attempt } = await startExam(page, info);

  // Find a question answered by typing (numeric or short answer).
  let position = 0;
  for (let p = 1; p <= shippedExam().questions && !position; p++) {
    await page.goto(`/exam/${attempt}/q/${p}`);
    await ready(page, info);
    if (await answerBox(page).count()) position = p;
  }
  expect(position).toBeGreaterThan(0);
  const other = position === 1 ? 2 : 1;

  // Typing alone saves, a second after the last key; the page says so.
  const saved = page.waitForResponse((r) => r.url().includes('/api/exam/save') && r.request().method() === 'POST');
  await answerBox(page).pressSequentially('12.5', { delay: 50 });
  await expect(saveStatus(page)).toHaveText(/Saving…|Saved/);
  expect((await saved).status()).toBe(200);
  await expect(saveStatus(page)).toHaveText('Saved');
  await expect(page.getByRole('navigation', { name: 'Questions' }).getByRole('link', { name: `Question ${position}, answered` })).toBeVisible();
  await checkA11y(page, info);
  await page.reload();
  await ready(page, info);
  await expect(answerBox(page)).toHaveValue('12.5');

  // Leaving the question at once (before the pause) still saves what was typed.
  await answerBox(page).fill('7');
  await page.getByRole('navigation', { name: 'Questions' }).getByRole('link', { name: new RegExp(`^Question ${other},`) }).click();
  await expect(page).toHaveURL(new RegExp(`/exam/${attempt}/q/${other}$`));
  await expect(async () => {
    await page.goto(`/exam/${attempt}/q/${position}`);
    await expect(answerBox(page)).toHaveValue('7', { timeout: 1_000 });
  }).toPass({ timeout: 15_000, intervals: [500] });
  await ready(page, info);

  // Leaving the page (a reload here) sends what is unsaved with the page's last breath.
  await answerBox(page).fill('8');
  await page.reload();
  await expect(async () => {
    await page.reload();
    await expect(answerBox(page)).toHaveValue('8', { timeout: 1_000 });
  }).toPass({ timeout: 15_000, intervals: [500] });

  // A stale save (a lower sequence number than the page's) changes nothing.
  await ready(page, info);
  const stale = await page.request.post('/api/exam/save', {
    headers: { Origin: new URL(page.url()).origin },
    form: { attempt, position: String(position), seq: '1', 'answer[0]': '999' },
  });
  expect(stale.status()).toBe(200);
  expect((await stale.json()).applied).toBe(false);
  await page.reload();
  await expect(answerBox(page)).toHaveValue('8');

  expect(errors.filter((e) => !e.includes('favicon'))).toEqual([]);
});

test('an administrator gives a learner extra time, then voids the attempt', async ({ page, browser }, info) => {
  test.setTimeout(240_000);
  const { me, attempt } = await startExam(page, info);
  await expect(page.getByRole('timer')).toContainText(firstMinute(shippedExam().seconds));

  const admin = await (await browser.newContext({ javaScriptEnabled: jsOn(info) })).newPage();
  await admin.goto('/login');
  await ready(admin, info);
  await admin.getByLabel('Email').fill('admin@example.com');
  await admin.getByLabel('Password').fill('admin password 123');
  await admin.getByRole('button', { name: 'Log in' }).click();
  await expect(admin.getByRole('link', { name: 'Exam admin' })).toBeVisible();
  await admin.getByRole('link', { name: 'Exam admin' }).click();
  await expect(admin.getByRole('heading', { level: 1, name: 'Exam administration' })).toBeVisible();
  await ready(admin, info);
  await checkA11y(admin, info);
  await admin.locator(`a[href="/admin/exam/${COURSE}/attempts"]`).click();
  await expect(admin.getByRole('heading', { level: 1, name: /^Exam attempts:/ })).toBeVisible();
  await ready(admin, info);
  const section = admin.locator('section.learner-attempts', { hasText: me.email });
  await expect(section).toContainText('Attempts used: 1 of 3');
  await expect(section).toContainText('In progress');
  await checkA11y(admin, info);

  // Thirty more minutes: the attempt's row says so, and the learner's clock shows it.
  await admin.getByLabel(`Extra minutes for attempt #${attempt}`).fill('30');
  await section.getByRole('button', { name: 'Add time' }).click();
  await expect(section).toContainText('(+30 min granted)');
  if (jsOn(info)) await expect(admin.getByRole('status').filter({ hasText: 'Extra time granted' })).toBeVisible();
  if (jsOn(info)) {
    // The open page catches up with the server on its own within half a minute
    // (the admin's steps above may take minutes of the learner's time on a slow machine).
    await expect(page.getByRole('timer')).toContainText(firstMinute(shippedExam().seconds + 30 * 60, 3), { timeout: 70_000 });
  }
  await page.reload();
  await ready(page, info);
  await expect(page.getByRole('timer')).toContainText(firstMinute(shippedExam().seconds + 30 * 60, 3));

  // Voiding needs a reason; then the attempt is over for the learner and counts for nothing.
  await ready(admin, info);
  await admin.getByLabel(`Reason to void attempt #${attempt}`).fill('Testing the void');
  await section.getByRole('button', { name: 'Void' }).click();
  await expect(section).toContainText('Voided: Testing the void');
  await expect(section).toContainText('Attempts used: 0 of 3');
  await ready(admin, info);
  await checkA11y(admin, info);

  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'This attempt is over' })).toBeVisible();
  await expect(page.getByRole('alert')).toContainText('voided by an administrator');
  await page.goto(`/courses/${COURSE}/exam`);
  await expect(page.getByText('Attempts: 0 of 3 used.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Start the exam' })).toBeVisible();

  // The blueprint and statistics pages are there for the administrator, and only for them.
  await admin.getByRole('link', { name: 'Blueprint' }).click();
  await expect(admin.getByRole('heading', { level: 1, name: /^Exam blueprint:/ })).toBeVisible();
  await expect(admin.getByLabel('Attempts allowed')).toHaveValue('3');
  await ready(admin, info);
  await checkA11y(admin, info);
  await admin.getByRole('link', { name: 'Item statistics' }).click();
  await expect(admin.getByRole('heading', { level: 1, name: /^Item statistics:/ })).toBeVisible();
  await ready(admin, info);
  await checkA11y(admin, info);
  await page.goto(`/admin/exam/${COURSE}/attempts`);
  await expect(page.getByRole('heading', { level: 1, name: 'Not allowed' })).toBeVisible();
  await admin.context().close();
});
