import { test, expect, type Page, type TestInfo } from '@playwright/test';
import { checkA11y, jsOn, newLearner, ready, watchConsole } from './helpers';

/** The fixture course whose exam is one ordering and one matching question (end2end/fixtures/content/exam-layouts). */
const LAYOUTS = 'exam-layouts';

async function startExam(page: Page, info: TestInfo): Promise<string> {
  const me = newLearner(info);
  await page.goto(`/register?next=${encodeURIComponent(`/courses/${LAYOUTS}/exam`)}`);
  await ready(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Display name').fill(me.name);
  await page.getByLabel('Password').fill(me.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(new RegExp(`/courses/${LAYOUTS}/exam$`));
  await ready(page, info);
  await page.getByRole('button', { name: 'Start the exam' }).click();
  await expect(page).toHaveURL(/\/exam\/\d+\/q\/1$/);
  await ready(page, info);
  return /\/exam\/(\d+)\//.exec(page.url())![1];
}

const itemTexts = (page: Page) => page.locator('ol.order-list .order-text');

/** Goes to question `n` and says whether it is the ordering one (else it is the matching one). */
async function open(page: Page, info: TestInfo, attempt: string, n: number): Promise<boolean> {
  await page.goto(`/exam/${attempt}/q/${n}`);
  await ready(page, info);
  await expect(page.getByRole('heading', { level: 1, name: `Question ${n} of 2` })).toBeVisible();
  return (await page.locator('ol.order-list').count()) > 0;
}

test('an ordering question is a numbered list moved by keyboard, and matching is one row per item', async ({ page }, info) => {
  test.setTimeout(120_000);
  const errors = watchConsole(page);
  const attempt = await startExam(page, info);
  const ordering = (await open(page, info, attempt, 1)) ? 1 : 2;
  const matching = 3 - ordering;

  await open(page, info, attempt, ordering);
  // Four items, shuffled for each attempt, numbered 1 to 4; the ends cannot move further.
  await expect(page.locator('ol.order-list > li')).toHaveCount(4);
  const start = await itemTexts(page).allTextContents();
  expect([...start].sort()).toEqual(['Hold at the target rate', 'Ramp down', 'Ramp up', 'Report the summary']);
  await expect(page.getByRole('button', { name: `Move up: ${start[0]}` })).toHaveAttribute('aria-disabled', 'true');
  await expect(page.getByRole('button', { name: `Move down: ${start[3]}` })).toHaveAttribute('aria-disabled', 'true');
  await checkA11y(page, info);

  // By keyboard alone: focus "Move down" on the first item and press Enter twice.
  const moved = start[0];
  const down = page.getByRole('button', { name: `Move down: ${moved}` });
  const after = [
    [start[1], moved, start[2], start[3]],
    [start[1], start[2], moved, start[3]],
  ];
  for (const want of after) {
    await down.focus();
    if (jsOn(info)) {
      const saved = page.waitForResponse((r) => r.url().includes('/api/exam/save') && r.request().method() === 'POST');
      await page.keyboard.press('Enter');
      expect((await saved).ok()).toBe(true);
      // The move happened in place: the button that was pressed still has the focus.
      await expect(down).toBeFocused();
    } else {
      // Without JavaScript the button posts the form and the page comes back at the item.
      await page.keyboard.press('Enter');
      await expect(page).toHaveURL(new RegExp(`/exam/${attempt}/q/${ordering}#order-\\d$`));
    }
    await expect(itemTexts(page)).toHaveText(want);
  }
  // The order is saved: a reload (or another device) shows it, and the navigator counts it answered.
  await page.reload();
  await ready(page, info);
  await expect(itemTexts(page)).toHaveText(after[1]);
  await expect(page.getByRole('navigation', { name: 'Questions' }).getByRole('link', { name: `Question ${ordering}, answered`, exact: true })).toBeVisible();

  // Matching: each item on a row of its own with its own drop-down, at desktop and phone widths.
  await open(page, info, attempt, matching);
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    const rows = page.locator('form.answer-form label.field.match');
    await expect(rows).toHaveCount(3);
    let bottom = -1;
    for (let i = 0; i < 3; i++) {
      await expect(rows.nth(i).locator('select')).toHaveCount(1);
      const box = (await rows.nth(i).boundingBox())!;
      expect(box.y).toBeGreaterThanOrEqual(bottom);
      bottom = box.y + box.height;
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await checkA11y(page, info);
  expect(errors.filter((e) => !e.includes('favicon'))).toEqual([]);
});
