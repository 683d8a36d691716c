import { test, expect, type Page, type TestInfo } from '@playwright/test';
import { COURSE, SHORT, jsOn, newLearner, passShortExam, ready, watchConsole } from './helpers';

// Every page, loaded directly (a reload, a bookmark, a link from outside), must
// hydrate: a page whose server HTML and view code disagree panics in the browser,
// and from then on nothing on it responds. Clicking through never shows it, as
// the router then builds the page in the browser. So each page here is opened
// with page.goto, watched for page errors and console panics, and proven alive
// by a link click that the router, not the browser, must handle.

/** Opens `path` directly and checks it hydrated without a page error or panic. */
async function loadDirectly(page: Page, info: TestInfo, errors: string[], path: string) {
  const answer = await page.goto(path);
  expect(answer?.status(), `${path} answers`).toBeLessThan(400);
  await ready(page, info);
  await expect(page.locator('main h1').first(), `${path} has its heading`).toBeVisible();
  expect(errors, `page errors on ${path}`).toEqual([]);
}

/** Clicks the header's "Courses" link and checks that the router handled it in
 *  this very document (a dead page would make the browser load a new one). */
async function stillAlive(page: Page, path: string) {
  await page.evaluate(() => { (window as unknown as { alive: string }).alive = 'yes'; });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Courses', exact: true }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  const alive = await page.evaluate(() => (window as unknown as { alive?: string }).alive);
  expect(alive, `the page at ${path} still answered clicks after hydration`).toBe('yes');
}

/** The hrefs of the links on the page that match `re`, in page order, once each. */
async function links(page: Page, re: RegExp): Promise<string[]> {
  const hrefs = await page.locator('main a[href]').evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
  return [...new Set(hrefs.filter((h) => re.test(h)))];
}

test.describe('every page, loaded directly', () => {
  test('a learner opens each module and lab in course order, and the exam, result and certificate pages', async ({ page }, info) => {
    test.skip(!jsOn(info), 'hydration is what JavaScript adds');
    test.setTimeout(300_000);
    const errors = watchConsole(page);
    const me = newLearner(info);
    await page.goto(`/register?next=${encodeURIComponent(`/courses/${COURSE}`)}`);
    await ready(page, info);
    await page.getByLabel('Email').fill(me.email);
    await page.getByLabel('Display name').fill(me.name);
    await page.getByLabel('Password').fill(me.password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page).toHaveURL(new RegExp(`/courses/${COURSE}$`));

    // The course in order as a learner unlocks it: the first module, then each
    // page's "Next" (labs included, up to the exam), opening the labs a module's
    // "Practise it" box offers on the way.
    const lab = new RegExp(`^/courses/${COURSE}/labs/[a-z0-9-]+$`);
    const exam = `/courses/${COURSE}/exam`;
    const seen = new Set<string>();
    let next: string | null = (await links(page, new RegExp(`^/courses/${COURSE}/(?!labs/|exam$)[a-z0-9-]+$`)))[0];
    while (next && next !== exam && !seen.has(next)) {
      const path: string = next;
      seen.add(path);
      await loadDirectly(page, info, errors, path);
      if (lab.test(path)) {
        const onward = page.locator('nav.prev-next a[rel="next"]');
        next = (await onward.count()) ? await onward.getAttribute('href') : null;
        await stillAlive(page, path);
        continue;
      }
      // The completion form works on the freshly hydrated page, and unlocks the next module.
      await page.getByRole('button', { name: 'Mark complete' }).click();
      await expect(page.getByText('You completed this module.'), path).toBeVisible();
      expect(errors, `page errors after completing ${path}`).toEqual([]);
      const labs = await page.getByRole('complementary', { name: 'Practise it' }).locator('a[href]')
        .evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
      const onward = page.locator('nav.prev-next a[rel="next"]');
      next = (await onward.count()) ? await onward.getAttribute('href') : null;
      await stillAlive(page, path);
      // The lab the walk goes to next is opened there, in order.
      for (const l of labs.filter((h) => lab.test(h) && !seen.has(h) && h !== next)) {
        seen.add(l);
        await loadDirectly(page, info, errors, l);
        await stillAlive(page, l);
      }
    }
    const opened = [...seen];
    expect(opened.filter((p) => !lab.test(p)).length, 'modules opened').toBeGreaterThan(10);
    expect(opened.filter((p) => lab.test(p)).length, 'labs opened').toBeGreaterThan(3);
    // Any lab no module offers, from the overview.
    await page.goto(`/courses/${COURSE}`);
    for (const l of (await links(page, lab)).filter((h) => !seen.has(h))) {
      await loadDirectly(page, info, errors, l);
      await stillAlive(page, l);
    }
    for (const path of ['/', `/courses/${COURSE}`, `/courses/${COURSE}/exam`, '/certificates', '/certificates/verify', '/account']) {
      await loadDirectly(page, info, errors, path);
      await stillAlive(page, path);
    }

    // An attempt of the short fixture exam: its question, summary, result,
    // certificate claim and the certificate itself.
    const attempt = await passShortExam(page, info);
    await page.getByLabel('Name on certificate').fill(me.name);
    await page.getByRole('button', { name: 'Issue my certificate' }).click();
    await expect(page).toHaveURL(/\/certificates\/[0-9a-f]+$/);
    const certificate = new URL(page.url()).pathname;
    for (const path of [`/exam/${attempt}/q/1`, `/exam/${attempt}`, `/exam/${attempt}/result`, `/exam/${attempt}/certificate`, certificate, `/courses/${SHORT}/exam`]) {
      await loadDirectly(page, info, errors, path);
      await stillAlive(page, path);
    }
  });

  test('an administrator opens each administration page', async ({ page }, info) => {
    test.skip(!jsOn(info), 'hydration is what JavaScript adds');
    test.setTimeout(180_000);
    const errors = watchConsole(page);
    await page.goto('/login?next=%2Fadmin');
    await ready(page, info);
    await page.getByLabel('Email').fill('admin@example.com');
    await page.getByLabel('Password').fill('admin password 123');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(/\/admin$/);
    await page.goto(`/admin/content/${COURSE}`);
    const editors = await links(page, /\/edit\?path=/);
    const labTest = (await links(page, /\/test-lab\?lab=/))[0];
    const module = editors.find((h) => h.includes('.md'));
    const admin = [
      '/admin', '/admin/learners', '/admin/audit', `/admin/analytics/${COURSE}`, `/admin/content/${COURSE}`,
      module, editors.find((h) => h.includes('lab.yaml')), module?.replace('/edit?', '/history?'),
      labTest, '/admin/exam', `/admin/exam/${COURSE}`,
      `/admin/exam/${COURSE}/attempts`, `/admin/exam/${COURSE}/statistics`, '/admin/certificates',
    ];
    expect(admin.every((p) => p), 'a module and a lab file to edit').toBe(true);
    for (const path of admin as string[]) {
      await loadDirectly(page, info, errors, path);
      await stillAlive(page, path);
    }
  });
});
