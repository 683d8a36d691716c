import { test, expect, type Browser, type TestInfo } from '@playwright/test';
import { checkA11y, jsOn, newLearner, ready, watchConsole } from './helpers';

/** The course whose first module the reset test completes (a fixture with no prerequisites). */
const FIXTURE = 'exam-layouts';

test('a failed log-in keeps the email and says why in words, with a clean address', async ({ page }, info) => {
  const errors = watchConsole(page);
  await page.goto('/login?next=/courses');
  await ready(page, info);
  // An address of its own each run: failed sign-ins against one account are throttled.
  const email = `nobody-${info.project.name}-${Date.now().toString(36)}@example.com`;
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('not the password at all');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText('That email and password do not match an account.');
  await expect(page.getByLabel('Email')).toHaveValue(email);
  // Never a password carried back (with JavaScript the page simply stays), never an encoded error in the address.
  if (!jsOn(info)) await expect(page.getByLabel('Password')).toHaveValue('');
  expect(page.url()).not.toContain('__err');
  expect(page.url()).toMatch(/\/login\?next=(%2F|\/)courses$/);
  // A reload is a clean form: the error was said once.
  await page.reload();
  await ready(page, info);
  await expect(page.getByRole('alert')).toHaveCount(0);
  await checkA11y(page, info);
  expect(errors.filter((e) => !e.includes('favicon') && !/40[0-9]/.test(e))).toEqual([]);
});

test('the reset form states the password rules and a bad link is said in words', async ({ page }, info) => {
  await page.goto('/reset-password?token=not-a-real-token');
  await ready(page, info);
  await expect(page.getByText('At least 10 characters (up to 128)')).toBeVisible();
  await page.getByLabel('New password').fill('a long enough password');
  await page.getByRole('button', { name: 'Set password' }).click();
  await expect(page.getByRole('alert')).toContainText('This reset link is invalid or has expired');
  expect(page.url()).not.toContain('__err');
  await checkA11y(page, info);
});

async function adminPage(browser: Browser, info: TestInfo) {
  const admin = await (await browser.newContext({ javaScriptEnabled: jsOn(info), viewport: { width: 1440, height: 900 } })).newPage();
  await admin.goto('/login?next=/admin');
  await ready(admin, info);
  await admin.getByLabel('Email').fill('admin@example.com');
  await admin.getByLabel('Password').fill('admin password 123');
  await admin.getByRole('button', { name: 'Log in' }).click();
  await expect(admin.getByRole('heading', { level: 1, name: 'Administration' })).toBeVisible();
  await ready(admin, info);
  return admin;
}

test('resetting a learner\'s progress asks for confirmation and then shows the counts as they are', async ({ page, browser }, info) => {
  test.setTimeout(90_000);
  const me = newLearner(info);
  await page.goto('/register');
  await ready(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Display name').fill(me.name);
  await page.getByLabel('Password').fill(me.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('link', { name: 'Log in' })).toHaveCount(0);
  const done = await page.request.post('/api/courses/complete', {
    headers: { Origin: new URL(page.url()).origin },
    form: { course: FIXTURE, module: 'about', complete: 'true' },
  });
  expect(done.ok(), await done.text()).toBe(true);

  const admin = await adminPage(browser, info);
  await admin.goto(`/admin/learners?q=${encodeURIComponent(me.email)}`);
  await ready(admin, info);
  const row = admin.locator('table.learners tbody tr');
  await expect(row).toHaveCount(1);
  const modules = row.locator('td').nth(2);
  await expect(modules).toHaveText('1');
  await row.getByLabel(/Course to reset/).selectOption(FIXTURE);
  // Unconfirmed, the browser refuses to send it and nothing is cleared.
  await row.getByRole('button', { name: 'Reset progress' }).click();
  await expect(row.getByRole('checkbox')).toHaveJSProperty('validity.valueMissing', true);
  await expect(modules).toHaveText('1');
  // The table fits the page at 1440 px: it scrolls in its own box, if at all.
  const overflow = await admin.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await checkA11y(admin, info);

  await row.getByRole('checkbox').check();
  await row.getByRole('button', { name: 'Reset progress' }).click();
  if (jsOn(info)) await expect(admin.getByRole('status').filter({ hasText: 'Progress reset: 1 records cleared' })).toBeVisible();
  await expect(admin.locator('table.learners tbody tr td').nth(2)).toHaveText('0');
  await admin.context().close();
});
