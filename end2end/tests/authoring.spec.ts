import { test, expect, type Browser, type TestInfo } from '@playwright/test';
import { checkA11y, jsOn, newLearner, ready, watchConsole } from './helpers';

// A fixture course of its own, so editing it cannot disturb the other tests.
const COURSE = 'authoring-check';
const MODULE = 'edit-me';
const PATH = 'modules/01-edit-me.md';

async function adminPage(browser: Browser, info: TestInfo) {
  const admin = await (await browser.newContext({ javaScriptEnabled: jsOn(info) })).newPage();
  await admin.goto('/login?next=/admin');
  await ready(admin, info);
  await admin.getByLabel('Email').fill('admin@example.com');
  await admin.getByLabel('Password').fill('admin password 123');
  await admin.getByRole('button', { name: 'Log in' }).click();
  await expect(admin.getByRole('heading', { level: 1, name: 'Administration' })).toBeVisible();
  await ready(admin, info);
  return admin;
}

async function learnerPage(browser: Browser, info: TestInfo) {
  const page = await (await browser.newContext({ javaScriptEnabled: jsOn(info) })).newPage();
  const me = newLearner(info);
  await page.goto('/register');
  await ready(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Display name').fill(me.name);
  await page.getByLabel('Password').fill(me.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('link', { name: 'Log in' })).toHaveCount(0);
  return page;
}

test('an administrator edits a module with a preview, publishes it, a learner reads it, and restoring the old revision brings the old text back', async ({ page, browser }, info) => {
  test.setTimeout(120_000);
  const errors = watchConsole(page);
  const marker = `Freshly edited ${info.project.name} ${Date.now().toString(36)}`;
  const admin = await adminPage(browser, info);
  await checkA11y(admin, info);

  await admin.getByRole('link', { name: 'Authoring check', exact: true }).click();
  await expect(admin.getByRole('heading', { level: 1, name: 'Content of Authoring check' })).toBeVisible();
  await ready(admin, info);
  await checkA11y(admin, info);
  await admin.getByRole('link', { name: 'Edit me' }).click();
  await expect(admin.getByRole('heading', { level: 1, name: `Edit ${PATH}` })).toBeVisible();
  await ready(admin, info);
  await checkA11y(admin, info);
  const revisionBefore = Number(/Revision (\d+)/.exec(await admin.locator('main p.muted').first().innerText())![1]);

  // Write a paragraph under the front matter.
  const editor = admin.locator('textarea[name="text"]');
  const original = await editor.inputValue();
  const end = original.indexOf('\n---\n', 3) + 5;
  await editor.fill(`${original.slice(0, end)}\n${marker}\n${original.slice(end)}`);
  const preview = admin.locator('.authoring-preview');
  if (jsOn(info)) {
    await expect(preview).toContainText(marker); // live, while typing
  } else {
    await expect(preview).not.toContainText(marker);
    await admin.getByRole('button', { name: 'Preview' }).click();
    await expect(preview).toContainText(marker);
    await expect(admin.locator('textarea[name="text"]')).toHaveValue(new RegExp(marker));
  }

  // The learner does not see a draft.
  const learner = await learnerPage(browser, info);
  await learner.goto(`/courses/${COURSE}/${MODULE}`);
  await ready(learner, info);
  await expect(learner.getByRole('heading', { level: 1, name: 'Edit me' })).toBeVisible();
  await expect(learner.locator('main')).not.toContainText(marker);

  await admin.getByRole('button', { name: 'Save and publish' }).click();
  await expect(admin.locator('main p.muted').first()).toContainText(`Revision ${revisionBefore + 1}`);

  await learner.reload();
  await ready(learner, info);
  await expect(learner.locator('main')).toContainText(marker);

  // The history shows both revisions and their diff; restoring brings the old text back.
  await admin.getByRole('link', { name: 'History and diffs' }).click();
  await expect(admin.getByRole('heading', { level: 1, name: `History of ${PATH}` })).toBeVisible();
  await ready(admin, info);
  await admin.getByRole('button', { name: 'Compare' }).click();
  await expect(admin.locator('pre.diff')).toContainText(`+ ${marker}`);
  await ready(admin, info);
  await checkA11y(admin, info);
  await admin.getByRole('button', { name: `Restore revision ${revisionBefore}` }).click();
  if (jsOn(info)) {
    await expect(admin.getByRole('status')).toContainText(`Restored as revision ${revisionBefore + 2}`);
  } else {
    await expect(admin.getByRole('cell', { name: `${revisionBefore + 2} (current)` })).toBeVisible();
  }

  await learner.reload();
  await ready(learner, info);
  await expect(learner.getByRole('heading', { level: 1, name: 'Edit me' })).toBeVisible();
  await expect(learner.locator('main')).not.toContainText(marker);
  expect(errors).toEqual([]);
});

test('a broken edit is refused with the line that is wrong, and the text is kept', async ({ browser }, info) => {
  const admin = await adminPage(browser, info);
  await admin.goto(`/admin/content/${COURSE}/edit?path=${PATH}`);
  await ready(admin, info);
  const editor = admin.locator('textarea[name="text"]');
  const original = await editor.inputValue();
  const broken = original.replace('order: 1', 'order: [');
  await editor.fill(broken);
  await admin.getByRole('button', { name: 'Save and publish' }).click();
  if (jsOn(info)) {
    await expect(admin.locator('.form-error')).toContainText(`${COURSE}/${PATH}`);
  } else {
    await admin.waitForURL(/__err=|edit\?/);
  }
  await admin.waitForLoadState('load');
  await admin.goto(`/admin/content/${COURSE}/edit?path=${PATH}`);
  await ready(admin, info);
  await expect(admin.locator('textarea[name="text"]')).toHaveValue(broken);
  await expect(admin.locator('.authoring-preview [role="alert"]')).toContainText(PATH);
  await Promise.all([
    admin.waitForResponse((r) => r.url().includes('/api/admin/content/discard')),
    admin.getByRole('button', { name: 'Discard my draft' }).click(),
  ]);
  await admin.waitForLoadState('load');
  await admin.goto(`/admin/content/${COURSE}/edit?path=${PATH}`);
  await ready(admin, info);
  await expect(admin.locator('textarea[name="text"]')).toHaveValue(original);
});

test('learners cannot open the authoring pages', async ({ browser }, info) => {
  const learner = await learnerPage(browser, info);
  await learner.goto(`/admin/content/${COURSE}`);
  await ready(learner, info);
  await expect(learner.getByRole('heading', { level: 1, name: 'Not allowed' })).toBeVisible();
  await expect(learner.locator('textarea')).toHaveCount(0);
});
