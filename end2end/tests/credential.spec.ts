// The certificate's artefacts checked by implementations that are not ours: the
// VC-JWT and the status list with `jose` against the published JWKS, the Open
// Badges 3.0 fields, and the PDF through poppler (pdftoppm, pdftotext) and a QR
// decoder. None of it depends on the page, so it runs in one project only.
import { test, expect, type Browser, type Page, type TestInfo } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as jose from 'jose';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { jsOn, passShortExam, ready } from './helpers';

/** Fetches a text resource and fails on anything but 200. */
async function fetchText(page: Page, path: string): Promise<string> {
  const r = await page.request.get(path);
  expect(r.status(), `GET ${path}`).toBe(200);
  return r.text();
}

/** Whether bit `index` of a Bitstring Status List is set (first index = leftmost bit). */
function statusBit(statusJwtPayload: jose.JWTPayload, index: number): boolean {
  const subject = statusJwtPayload.credentialSubject as Record<string, unknown>;
  expect(subject.type).toBe('BitstringStatusList');
  expect(subject.statusPurpose).toBe('revocation');
  const encoded = subject.encodedList as string;
  expect(encoded.startsWith('u'), 'encodedList is multibase base64url (u prefix)').toBe(true);
  const bits = gunzipSync(Buffer.from(encoded.slice(1), 'base64url'));
  // The spec's minimum length, for herd privacy.
  expect(bits.length).toBeGreaterThanOrEqual(16 * 1024);
  expect(index).toBeLessThan(bits.length * 8);
  return (bits[index >> 3] & (0x80 >> (index % 8))) !== 0;
}

async function revokeAsAdmin(browser: Browser, baseURL: string, info: TestInfo, name: string, reason: string) {
  const context = await browser.newContext({ javaScriptEnabled: jsOn(info), baseURL });
  const admin = await context.newPage();
  await admin.goto('/login?next=/admin/certificates');
  await ready(admin, info);
  await admin.getByLabel('Email').fill('admin@example.com');
  await admin.getByLabel('Password').fill('admin password 123');
  await admin.getByRole('button', { name: 'Log in' }).click();
  await expect(admin).toHaveURL(/\/admin\/certificates$/);
  await ready(admin, info);
  const row = admin.getByRole('row').filter({ hasText: name });
  await row.getByLabel(`Reason for revoking ${name}'s certificate`).fill(reason);
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(admin.getByRole('row').filter({ hasText: name })).toContainText(`Revoked: ${reason}`);
  await context.close();
}

test('the credential, its status and the PDF check out with independent tools', async ({ page, browser, baseURL }, info) => {
  test.skip(!jsOn(info), 'checks files, not pages: once is enough');
  test.setTimeout(120_000);

  await passShortExam(page, info);
  const name = `Grace Verifier ${Date.now().toString(36)}`;
  await page.getByLabel('Name on certificate').fill(name);
  await page.getByRole('button', { name: 'Issue my certificate' }).click();
  await expect(page).toHaveURL(/\/certificates\/[0-9a-f]{32}$/);
  const id = /\/certificates\/([0-9a-f]{32})$/.exec(page.url())![1];

  const jwt = (await fetchText(page, `/certificates/${id}/credential.jwt`)).trim();
  const jwks = jose.createLocalJWKSet(JSON.parse(await fetchText(page, '/.well-known/jwks.json')));
  const opts: jose.JWTVerifyOptions = { algorithms: ['EdDSA'], typ: 'vc+jwt' };

  const { payload: vc, protectedHeader } = await test.step('a genuine credential verifies with jose against the JWKS', async () => {
    const verified = await jose.jwtVerify(jwt, jwks, opts);
    expect(verified.protectedHeader.alg).toBe('EdDSA');
    expect(verified.protectedHeader.kid).toBeTruthy();
    return verified;
  });

  await test.step('a tampered credential fails on its signature', async () => {
    const [h, , s] = jwt.split('.');
    const forged = { ...vc, name: 'Something I did not earn' };
    const tampered = `${h}.${jose.base64url.encode(JSON.stringify(forged))}.${s}`;
    await expect(jose.jwtVerify(tampered, jwks, opts)).rejects.toBeInstanceOf(jose.errors.JWSSignatureVerificationFailed);
    // A signature from elsewhere, too.
    const flipped = `${jwt.slice(0, -4)}${jwt.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    await expect(jose.jwtVerify(flipped, jwks, opts)).rejects.toBeInstanceOf(jose.errors.JWSSignatureVerificationFailed);
  });

  await test.step('a wrong key fails', async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const other = { ...(await jose.exportJWK(publicKey)), kid: protectedHeader.kid, alg: 'EdDSA' };
    // The real credential against a stranger's key published under the same kid…
    await expect(jose.jwtVerify(jwt, jose.createLocalJWKSet({ keys: [other] }), opts))
      .rejects.toBeInstanceOf(jose.errors.JWSSignatureVerificationFailed);
    // …and a credential a stranger signed, under our kid, against our keys.
    const impostor = await new jose.SignJWT(vc).setProtectedHeader({ alg: 'EdDSA', kid: protectedHeader.kid, typ: 'vc+jwt' }).sign(privateKey);
    await expect(jose.jwtVerify(impostor, jwks, opts)).rejects.toBeInstanceOf(jose.errors.JWSSignatureVerificationFailed);
  });

  await test.step('the credential expires 12 months after issue, and then fails with ERR_JWT_EXPIRED', async () => {
    // The fixture course's blueprint sets certificate_valid_months: 12.
    expect(typeof vc.validUntil, 'validUntil').toBe('string');
    expect(typeof vc.exp, 'exp').toBe('number');
    const from = new Date(vc.validFrom as string);
    const until = new Date(vc.validUntil as string);
    expect(vc.exp! * 1000, 'exp and validUntil agree').toBe(until.getTime());
    // Twelve calendar months on, same time of day (29 February becomes the 28th).
    const expected = new Date(from);
    expected.setUTCFullYear(from.getUTCFullYear() + 1);
    if (expected.getUTCMonth() !== from.getUTCMonth()) expected.setUTCDate(0);
    expect(until.toISOString()).toBe(expected.toISOString());

    // Valid a second before, expired from then on: jose judges `exp` by the date it is given.
    await jose.jwtVerify(jwt, jwks, { ...opts, currentDate: new Date(until.getTime() - 1000) });
    const later = new Date(until.getTime() + 60_000);
    const failure = await jose.jwtVerify(jwt, jwks, { ...opts, currentDate: later }).then(() => null, (e: unknown) => e);
    expect(failure).toBeInstanceOf(jose.errors.JWTExpired);
    expect((failure as jose.errors.JWTExpired).code).toBe('ERR_JWT_EXPIRED');
  });

  await test.step('it carries every field Open Badges 3.0 requires of an OpenBadgeCredential', async () => {
    const ctx = vc['@context'] as string[];
    expect(Array.isArray(ctx)).toBe(true);
    expect(ctx[0]).toBe('https://www.w3.org/ns/credentials/v2');
    expect(ctx).toContainEqual(expect.stringMatching(/^https:\/\/purl\.imsglobal\.org\/spec\/ob\/v3p0\/context-3\.0\.\d+\.json$/));
    expect(vc.type).toEqual(expect.arrayContaining(['VerifiableCredential', 'OpenBadgeCredential']));
    expect(vc.id).toEqual(expect.stringMatching(/^https?:\/\//));
    expect(vc.id).toContain(id);
    expect(typeof vc.name).toBe('string');
    expect((vc.name as string).length).toBeGreaterThan(0);

    const issuer = vc.issuer as Record<string, unknown>;
    expect(issuer.id).toEqual(expect.stringMatching(/^https?:\/\//));
    expect(issuer.type).toEqual(expect.arrayContaining(['Profile']));
    expect(issuer.name).toBe('Masterclass');

    expect(vc.validFrom).toEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/));
    expect(Math.abs(Date.parse(vc.validFrom as string) - Date.now())).toBeLessThan(10 * 60_000);

    const subject = vc.credentialSubject as Record<string, any>;
    expect(subject.type).toEqual(expect.arrayContaining(['AchievementSubject']));
    // The recipient is identified by id or by an identifier (here: the name, as confirmed).
    expect(subject.id ?? subject.identifier).toBeTruthy();
    if (subject.identifier) {
      expect(subject.identifier).toContainEqual(expect.objectContaining({
        type: 'IdentityObject', identityType: 'name', hashed: false, identityHash: name,
      }));
    }
    const achievement = subject.achievement;
    expect(achievement.id).toEqual(expect.stringMatching(/^https?:\/\//));
    expect(achievement.type).toEqual(expect.arrayContaining(['Achievement']));
    expect(achievement.name).toBe('Exam expiry check'); // the fixture course's title
    expect(achievement.name.length).toBeGreaterThan(0);
    expect(typeof achievement.description).toBe('string');
    expect(achievement.description.length).toBeGreaterThan(0);
    // Criteria: an id or a narrative, at least one.
    expect(achievement.criteria).toBeTruthy();
    expect(achievement.criteria.id ?? achievement.criteria.narrative).toBeTruthy();

    const status = vc.credentialStatus as Record<string, string>;
    expect(status.type).toBe('BitstringStatusListEntry');
    expect(status.statusPurpose).toBe('revocation');
    expect(status.id).toEqual(expect.stringMatching(/^https?:\/\//));
    expect(status.statusListIndex).toMatch(/^\d+$/);
    expect(status.statusListCredential).toEqual(expect.stringMatching(/\/status\/revocation$/));
  });

  const status = vc.credentialStatus as Record<string, string>;
  const index = Number(status.statusListIndex);
  const statusPath = new URL(status.statusListCredential).pathname;
  const statusList = async () => {
    const { payload } = await jose.jwtVerify((await fetchText(page, statusPath)).trim(), jwks, { algorithms: ['EdDSA'] });
    expect(payload.type).toEqual(expect.arrayContaining(['VerifiableCredential', 'BitstringStatusListCredential']));
    expect(payload.id).toBe(status.statusListCredential);
    return payload;
  };

  await test.step('the signed status list says: not revoked', async () => {
    expect(statusBit(await statusList(), index)).toBe(false);
  });

  await test.step('the PDF renders and holds the name, course, id, and a QR code of the public page', async () => {
    const pdf = await page.request.get(`/certificates/${id}/certificate.pdf`);
    expect(pdf.status()).toBe(200);
    expect(pdf.headers()['content-type']).toBe('application/pdf');
    const dir = mkdtempSync(join(tmpdir(), 'masterclass-pdf-'));
    try {
      const file = join(dir, 'certificate.pdf');
      writeFileSync(file, await pdf.body());
      execFileSync('pdftoppm', ['-png', '-r', '100', file, join(dir, 'page')]);
      const pngs = readdirSync(dir).filter((f) => f.endsWith('.png'));
      expect(pngs, 'one page').toHaveLength(1);
      const text = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
      expect(text).toContain(name);
      expect(text).toContain('Exam expiry check');
      expect(text).toContain(id);
      expect(text).toContain(`Valid until ${(vc.validUntil as string).slice(0, 10)}`);

      const png = PNG.sync.read(readFileSync(join(dir, pngs[0])));
      expect(png.width).toBeGreaterThan(png.height); // landscape
      const qr = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
      expect(qr, 'a QR code on the page').not.toBeNull();
      const publicUrl = (vc.issuer as Record<string, string>).url;
      expect(qr!.data).toBe(`${publicUrl}/certificates/${id}`);
      expect(new URL(qr!.data).pathname).toBe(new URL(page.url()).pathname);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  await revokeAsAdmin(browser, baseURL!, info, name, 'Revoked by the credential test');

  await test.step('after revocation the signed status list says: revoked', async () => {
    expect(statusBit(await statusList(), index)).toBe(true);
    // The credential itself still verifies: revocation is the status list's to say.
    await jose.jwtVerify(jwt, jwks, opts);
  });
});
