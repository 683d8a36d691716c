import { test, expect } from '@playwright/test';
import { COURSE, checkA11y, jsOn, newLearner, ready, watchConsole } from './helpers';

test('a learner registers, studies a module, and continues where they left off', async ({ page }, info) => {
  const errors = watchConsole(page);
  const me = newLearner(info);

  await page.goto('/');
  await ready(page, info);
  await checkA11y(page, info);
  await page.getByRole('link', { name: 'Performance Engineering Masterclass' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Performance Engineering Masterclass' })).toBeVisible();
  await expect(page.getByText('Lab: Your first load test')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Certification exam' })).toBeVisible();
  await checkA11y(page, info);

  // Module pages need an account: the visitor is sent to log in, then signs up instead.
  await page.goto(`/courses/${COURSE}/what-a-load-test-is-for`);
  await expect(page).toHaveURL(/\/login\?next=/);
  await ready(page, info);
  await checkA11y(page, info);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await ready(page, info);
  await checkA11y(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Display name').fill(me.name);
  await page.getByLabel('Password').fill(me.password);
  await page.getByRole('button', { name: 'Create account' }).click();

  // Back on the module: video with its captions track, transcript, highlighted code.
  await expect(page).toHaveURL(new RegExp(`/courses/${COURSE}/what-a-load-test-is-for$`));
  await expect(page.getByRole('heading', { level: 1, name: 'What a load test is for' })).toBeVisible();
  await ready(page, info);
  const video = page.locator('video');
  await expect(video).toHaveAttribute('src', `/media/${COURSE}/welcome.webm`);
  await expect(video.locator('track[kind="captions"]')).toHaveAttribute('src', `/media/${COURSE}/welcome.en.vtt`);
  const vtt = await page.request.get(`/media/${COURSE}/welcome.en.vtt`);
  expect(await vtt.text()).toContain('WEBVTT');
  await expect(page.getByText('Transcript')).toBeVisible();
  await expect(page.locator('.tok-kw').first()).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'On this page' })).toBeVisible();
  await checkA11y(page, info);

  // Mark complete: the progress bar moves (without a reload when JavaScript is on).
  const progress = page.locator('article progress');
  await expect(progress).toHaveAttribute('value', '0');
  if (jsOn(info)) await page.evaluate(() => { (window as any).__sameDocument = true; });
  await page.getByRole('button', { name: 'Mark complete' }).click();
  await expect(progress).toHaveAttribute('value', '1');
  await expect(page.getByText('You completed this module.')).toBeVisible();
  if (jsOn(info)) expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  // The course page shows the progress too.
  await page.goto(`/courses/${COURSE}`);
  await expect(page.locator('.progress-text').first()).toContainText('1 of');

  // Log out, log in, and "continue" lands on the next module.
  await ready(page, info);
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('link', { name: 'Log in' })).toBeVisible();
  await page.getByRole('link', { name: 'Log in' }).click();
  await ready(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Password').fill('not my password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText('do not match');
  await ready(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Password').fill(me.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('link', { name: me.name })).toBeVisible();
  await page.goto(`/courses/${COURSE}`);
  await page.getByRole('link', { name: /Continue where you left off/ }).click();
  await expect(page).toHaveURL(new RegExp(`/courses/${COURSE}/thresholds-are-slos$`));
  await expect(page.getByRole('heading', { level: 1, name: 'Thresholds are SLOs you can fail' })).toBeVisible();

  expect(errors.filter((e) => !e.includes('favicon'))).toEqual([]);
});

test('a locked module says why', async ({ page }, info) => {
  const me = newLearner(info);
  await page.goto('/register');
  await ready(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Display name').fill(me.name);
  await page.getByLabel('Password').fill(me.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('link', { name: me.name })).toBeVisible();
  await page.goto(`/courses/${COURSE}`);
  await expect(page.locator('.module.locked').first()).toContainText('Complete “What a load test is for” first.');
  await page.goto(`/courses/${COURSE}/thresholds-are-slos`);
  await expect(page.getByText('This module is locked.')).toBeVisible();
});

test('script in module markdown never runs', async ({ page }, info) => {
  const me = newLearner(info);
  let dialogs = 0;
  page.on('dialog', async (d) => { dialogs += 1; await d.dismiss(); });
  await page.goto('/register?next=/courses/sanitizer-check/hostile-markup');
  await ready(page, info);
  await page.getByLabel('Email').fill(me.email);
  await page.getByLabel('Display name').fill(me.name);
  await page.getByLabel('Password').fill(me.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Hostile markup' })).toBeVisible();
  await expect(page.getByText('Text around the payloads survives.')).toBeVisible();
  await page.locator('.prose img').first().scrollIntoViewIfNeeded().catch(() => {});
  await page.waitForTimeout(300);
  expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
  expect(dialogs).toBe(0);
  expect(await page.locator('.prose script').count()).toBe(0);
  expect(await page.locator('.prose [onerror], .prose [onclick], .prose iframe').count()).toBe(0);
});

test('keyboard: the skip link and every form are reachable', async ({ page }, info) => {
  await page.goto('/login');
  await ready(page, info);
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/#main$/);
  await page.getByLabel('Email').focus();
  await page.keyboard.type('nobody@example.com');
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Password')).toBeFocused();
  await page.keyboard.type('wrong password!!');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('alert')).toContainText('do not match');
});

test('unknown pages answer 404 with a way back', async ({ page }, info) => {
  const res = await page.goto('/no-such-page');
  expect(res?.status()).toBe(404);
  await expect(page.getByRole('link', { name: 'Back to the courses' })).toBeVisible();
  await checkA11y(page, info);
});
