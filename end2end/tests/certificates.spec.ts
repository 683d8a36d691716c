import { test, expect } from '@playwright/test';
import { checkA11y, jsOn, passShortExam, ready, SHORT } from './helpers';

test('a passed exam earns a certificate that anyone can open, verify, and see revoked', async ({ page, browser, baseURL }, info) => {
  // The short exam alone takes about 23 s of waiting (its 8 s plus the server's grace).
  test.setTimeout(120_000);
  await passShortExam(page, info);
  await checkA11y(page, info);
  const name = `Ada Tester ${info.project.name} ${Date.now().toString(36)}`;
  await page.getByLabel('Name on certificate').fill(name);
  await page.getByRole('button', { name: 'Issue my certificate' }).click();
  await expect(page).toHaveURL(/\/certificates\/[0-9a-f]{32}$/);
  const id = /\/certificates\/([0-9a-f]{32})$/.exec(page.url())![1];
  await ready(page, info);
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
  await expect(page.getByText('Valid.')).toBeVisible();
  // The fixture course's certificates are valid for 12 months.
  await expect(page.getByText(/Valid until \d{4}-\d\d-\d\d/)).toBeVisible();
  await expect(page.getByRole('link', { name: 'Add to LinkedIn profile' })).toHaveAttribute('href', /linkedin\.com\/profile\/add\?startTask=CERTIFICATION_NAME/);
  await checkA11y(page, info);

  // The exam page leads to the certificate from now on.
  await page.goto(`/courses/${SHORT}/exam`);
  await ready(page, info);
  await expect(page.getByRole('link', { name: 'View your certificate' })).toHaveAttribute('href', `/certificates/${id}`);
  await checkA11y(page, info);

  // Anyone, signed in or not, sees the same page.
  const visitor = await browser.newContext({ javaScriptEnabled: jsOn(info) });
  const v = await visitor.newPage();
  await v.goto(`${baseURL}/certificates/${id}`);
  await expect(v.getByText(name).first()).toBeVisible();

  // The verification page checks the downloaded credential.
  const jwt = await (await page.request.get(`/certificates/${id}/credential.jwt`)).text();
  await v.goto(`${baseURL}/certificates/verify`);
  await ready(v, info);
  await v.getByLabel('Credential (VC-JWT)').fill(jwt);
  await v.getByRole('button', { name: 'Verify', exact: true }).click();
  await expect(v.getByText('Valid: this credential was issued by Masterclass')).toBeVisible();
  await checkA11y(v, info);
  await v.getByLabel('Credential (VC-JWT)').fill(jwt.slice(0, -4) + 'AAAA');
  await v.getByRole('button', { name: 'Verify', exact: true }).click();
  await expect(v.getByText(/Not valid: .*signature/)).toBeVisible();

  // An administrator revokes it; the public page says so.
  const adminContext = await browser.newContext({ javaScriptEnabled: jsOn(info) });
  const admin = await adminContext.newPage();
  await admin.goto(`${baseURL}/login?next=/admin/certificates`);
  await ready(admin, info);
  await admin.getByLabel('Email').fill('admin@example.com');
  await admin.getByLabel('Password').fill('admin password 123');
  await admin.getByRole('button', { name: 'Log in' }).click();
  await expect(admin).toHaveURL(/\/admin\/certificates$/);
  await ready(admin, info);
  await checkA11y(admin, info);
  const row = admin.getByRole('row').filter({ hasText: name });
  await row.getByLabel(`Reason for revoking ${name}'s certificate`).fill('Issued in error (browser test)');
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(admin.getByRole('row').filter({ hasText: name })).toContainText('Revoked: Issued in error (browser test)');

  await v.goto(`${baseURL}/certificates/${id}`);
  await expect(v.getByText('Revoked.')).toBeVisible();
  await expect(v.getByText('Issued in error (browser test)')).toBeVisible();
  await visitor.close();
  await adminContext.close();
});
