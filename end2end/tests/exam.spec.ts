import { test, expect, type Page, type TestInfo } from '@playwright/test';
import { COURSE, becomeEligible, checkA11y, firstMinute, jsOn, newLearner, ready, shippedExam, watchConsole } from './helpers';

/** The fixture course whose exam runs out after a few seconds (end2end/fixtures/content/exam-expiry). */
const SHORT = 'exam-expiry';

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

/** Runs `act`; with JavaScript on, also waits for the autosave it triggers to be answered. */
async function saving(page: Page, info: TestInfo, act: () => Promise<void>) {
  if (!jsOn(info)) return act();
  const saved = page.waitForResponse((r) => r.url().includes('/api/exam/save') && r.request().method() === 'POST');
  await act();
  await saved;
}

/** Answers the question on the page, whatever its type; returns a check that the answer is shown. */
async function answer(page: Page, info: TestInfo): Promise<() => Promise<void>> {
  const form = page.locator('form.answer-form');
  const radios = form.locator('input[type=radio]');
  if (await radios.count()) {
    const r = radios.last();
    await saving(page, info, () => r.check());
    return () => expect(r).toBeChecked();
  }
  const boxes = form.locator('input[type=checkbox]');
  if (await boxes.count()) {
    const b = boxes.first();
    await saving(page, info, () => b.check());
    return () => expect(b).toBeChecked();
  }
  const text = form.locator('input[type=text]');
  if (await text.count()) {
    // Leaving the field is what fires `change`, and with it the save.
    await saving(page, info, async () => { await text.fill('42'); await text.press('Tab'); });
    return () => expect(text).toHaveValue('42');
  }
  const order = form.locator('ol.order-list .order-text');
  if (await order.count()) {
    // Ordering: move the last item up one place (without JavaScript the move posts the form).
    const before = await order.allTextContents();
    const want = [...before];
    want.splice(want.length - 2, 0, want.pop()!);
    await saving(page, info, () => form.getByRole('button', { name: `Move up: ${before[before.length - 1]}` }).click());
    await expect(order).toHaveText(want);
    return () => expect(order).toHaveText(want);
  }
  const selects = form.locator('select');
  const n = await selects.count();
  expect(n).toBeGreaterThan(0);
  const want: string[] = [];
  for (let i = 0; i < n; i++) {
    // Matching: left i gets the i-th right side; each pick saves.
    const value = String(i);
    want.push(value);
    await saving(page, info, () => selects.nth(i).selectOption(value));
  }
  return async () => {
    for (let i = 0; i < n; i++) await expect(selects.nth(i)).toHaveValue(want[i]);
  };
}

const navTo = (page: Page, label: string) => page.getByRole('navigation', { name: 'Questions' }).getByRole('link', { name: label, exact: true });

test('a learner takes the exam: answers, reloads, flags, reviews, submits, sees the result', async ({ page }, info) => {
  test.setTimeout(240_000);
  const errors = watchConsole(page);
  await register(page, info, `/courses/${COURSE}/exam`);
  await expect(page.getByRole('heading', { level: 1, name: 'Certification exam' })).toBeVisible();
  const exam = shippedExam();
  await expect(page.getByText(`${exam.questions} questions, ${exam.seconds / 60} minutes.`)).toBeVisible();
  // A new account has done nothing the exam requires: the page says what, and offers no start.
  await expect(page.getByRole('status').filter({ hasText: 'Complete these modules first' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Start the exam' })).toHaveCount(0);
  await checkA11y(page, info);

  // The modules read and the labs passed, the exam can start.
  await becomeEligible(page);
  await page.reload();
  await ready(page, info);

  await page.getByRole('button', { name: 'Start the exam' }).click();
  await expect(page).toHaveURL(/\/exam\/\d+\/q\/1$/);
  const attempt = /\/exam\/(\d+)\//.exec(page.url())![1];
  await expect(page.getByRole('heading', { level: 1, name: /^Question 1 of \d+$/ })).toBeVisible();
  await expect(page.getByRole('timer')).toContainText(firstMinute(exam.seconds));
  await ready(page, info);
  await checkA11y(page, info);

  // Question 1: answer, then save and move on with the button.
  const first = await answer(page, info);
  await page.getByRole('button', { name: 'Save and next →' }).click();
  await expect(page).toHaveURL(new RegExp(`/exam/${attempt}/q/2$`));
  await expect(page.getByRole('heading', { level: 1, name: /^Question 2 of/ })).toBeVisible();
  await ready(page, info);

  // Question 2: with JavaScript the change alone saves it, so leave by a plain link;
  // without JavaScript the form's Save button does.
  const second = await answer(page, info);
  if (!jsOn(info)) {
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect(navTo(page, 'Question 2, answered')).toBeVisible();
  }
  await navTo(page, 'Question 3, not answered').click();
  await expect(page).toHaveURL(new RegExp(`/exam/${attempt}/q/3$`));
  await ready(page, info);

  // Question 3: flag it for review.
  await page.getByRole('button', { name: 'Flag for review' }).click();
  await expect(page.getByRole('button', { name: 'Remove the review flag' })).toBeVisible();
  await expect(navTo(page, 'Question 3, not answered, flagged')).toBeVisible();

  // A reload (or another device) finds everything as it was.
  await page.reload();
  await ready(page, info);
  await expect(page.getByRole('heading', { level: 1, name: /^Question 3 of/ })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Remove the review flag' })).toBeVisible();
  await navTo(page, 'Question 1, answered').click();
  await expect(page).toHaveURL(new RegExp(`/exam/${attempt}/q/1$`));
  await first();
  await page.goto(`/exam/${attempt}/q/2`);
  await ready(page, info);
  await second();

  // Question 4: an answer typed (with JavaScript off, not yet saved) and then
  // flagged is kept, not lost to the flag.
  await navTo(page, 'Question 4, not answered').click();
  await expect(page).toHaveURL(new RegExp(`/exam/${attempt}/q/4$`));
  await ready(page, info);
  const fourth = await answer(page, info);
  await page.getByRole('button', { name: 'Flag for review' }).click();
  await expect(navTo(page, 'Question 4, answered, flagged')).toBeVisible();
  await page.reload();
  await ready(page, info);
  await fourth();

  // The review page sums it up; submitting from there shows the result.
  await page.getByRole('link', { name: 'Review and submit' }).click();
  await expect(page).toHaveURL(new RegExp(`/exam/${attempt}$`));
  await expect(page.getByRole('heading', { level: 1, name: 'Review your answers' })).toBeVisible();
  await expect(page.getByText(/^3 of \d+ answered; 2 flagged for review\.$/)).toBeVisible();
  // The review lists what is left: questions 3 and 4 are flagged, 3 has no answer.
  await expect(page.getByRole('region', { name: 'Flagged for review' }).getByRole('link')).toHaveText(['Question 3', 'Question 4']);
  const open = page.getByRole('region', { name: 'Not answered yet' });
  await expect(open.getByRole('link', { name: 'Question 3', exact: true })).toBeVisible();
  await expect(open.getByRole('link', { name: 'Question 4', exact: true })).toHaveCount(0);
  await expect(page.getByText(/^\d+ questions have no answer yet\.$/)).toBeVisible();
  await ready(page, info);
  await checkA11y(page, info);
  await page.getByRole('button', { name: 'Submit the exam' }).click();

  await expect(page).toHaveURL(new RegExp(`/exam/${attempt}/result$`));
  await expect(page.getByRole('heading', { level: 1, name: 'Your result' })).toBeVisible();
  await expect(page.getByText('You did not pass this time.')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'By category' })).toBeVisible();
  await expect(page.locator('table.categories tbody tr')).toHaveCount(5);
  await expect(page.getByText('Your answer: (no answer)').first()).toBeVisible();
  // Attempts are left: the review says what to read again, and keeps the keys back.
  await expect(page.getByRole('heading', { name: 'What to review' })).toBeVisible();
  await expect(page.getByText('To review:').first()).toBeVisible();
  await expect(page.getByText('shown once you have no attempts left')).toBeVisible();
  await expect(page.getByText('Right answer:')).toHaveCount(0);
  await ready(page, info);
  await checkA11y(page, info);

  // The attempt is over: its questions say so, and the exam page lists it.
  await page.goto(`/exam/${attempt}/q/1`);
  await expect(page.getByRole('heading', { level: 1, name: 'This attempt is over' })).toBeVisible();
  await page.goto(`/courses/${COURSE}/exam`);
  await expect(page.getByText('Attempts: 1 of 3 used.')).toBeVisible();
  await expect(page.locator('table.attempts')).toContainText('Not passed');

  expect(errors.filter((e) => !e.includes('favicon'))).toEqual([]);
});

test('a short exam runs out on its own and the server submits the saved answers', async ({ page, baseURL }, info) => {
  // About 23 s of it is waiting: the exam's 8 s plus the server's grace.
  test.setTimeout(120_000);
  await register(page, info, `/courses/${SHORT}/exam`);
  await expect(page.getByText('2 questions, 8 seconds.', { exact: false })).toBeVisible();
  await page.getByRole('button', { name: 'Start the exam' }).click();
  await expect(page).toHaveURL(/\/exam\/\d+\/q\/1$/);
  const attempt = /\/exam\/(\d+)\//.exec(page.url())![1];
  await ready(page, info);

  // Answer "True" before the time runs out, and leave the other question alone.
  const yes = page.getByRole('radio', { name: 'True' });
  await saving(page, info, () => yes.check());
  if (!jsOn(info)) await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(navTo(page, 'Question 1, answered')).toBeVisible();

  // With JavaScript the countdown (started from the server's figure) reaches zero and says so.
  if (jsOn(info)) {
    await expect(page.getByText('Time is up. Your saved answers are being submitted.')).toBeVisible({ timeout: 20_000 });
  }

  // Nobody submits: once the deadline and its network grace have passed, the server has.
  await expect(async () => {
    await page.goto(`/exam/${attempt}/result`);
    await expect(page.getByRole('heading', { level: 1, name: 'Your result' })).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 45_000, intervals: [1_000] });
  await expect(page.getByText('Time ran out: the server submitted your saved answers at the deadline.')).toBeVisible();
  await expect(page.getByText('Your answer: True')).toBeVisible();
  await expect(page.getByText('Your answer: (no answer)')).toBeVisible();
  await ready(page, info);
  await checkA11y(page, info);

  // A late answer is refused with a clear message, and the question page says the attempt is over.
  const late = await page.request.post('/api/exam/save', {
    headers: { Origin: baseURL! },
    form: { attempt, position: '2', 'answer[0]': 'false' },
  });
  expect(late.status()).toBe(409);
  expect(await late.text()).toContain('Time is up');
  await page.goto(`/exam/${attempt}/q/2`);
  await expect(page.getByRole('alert')).toContainText('Time is up: this attempt was submitted automatically at its deadline.');
  await ready(page, info);
  await checkA11y(page, info);
});
