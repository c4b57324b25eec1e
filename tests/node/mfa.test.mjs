// The website's two-step sign-in, as its fetch code does it: turn TOTP on (the code computed
// with node:crypto, as an authenticator app does: RFC 6238's HMAC-SHA1, checked against the
// RFC's own test vectors first), sign in with the password and then the code, list the
// sessions, and sign in with a recovery code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, base32Decode, claims, settled, totp, verifyByMail } from '../support/index.mjs';

const url = process.env.AUTH_SERVICE_URL;
const caught = process.env.MAIL_CATCHER_DIR;
assert.ok(url && caught, 'AUTH_SERVICE_URL and MAIL_CATCHER_DIR must be set (scripts/test sets them)');
const { call: request } = api(url);

// The website's fetch calls: a JSON body in, the status and JSON body out.
async function call(method, path, { token, body } = {}) {
  const answer = await request(method, path, { token, json: body });
  return { status: answer.status, body: answer.body };
}

test("RFC 6238 Appendix B's SHA-1 vectors", () => {
  const key = Buffer.from('12345678901234567890');
  for (const [time, code] of [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ]) {
    assert.equal(totp(key, time, 8), code, `T=${time}`);
  }
});

test('two-step sign-in: TOTP on, a login with the code, sessions, a recovery code', async () => {
  const email = `mfa-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  const password = 'correct horse battery';
  assert.equal((await call('POST', '/api/register', { body: { name: 'Two Step', email, password } })).status, 201);
  await verifyByMail(url, caught, email);
  const first = await call('POST', '/api/login', { body: { email, password } });
  assert.equal(first.status, 200);
  const token = first.body.access_token;

  const enrolled = await call('POST', '/api/mfa/totp', { token, body: { password } });
  assert.equal(enrolled.status, 200);
  assert.match(enrolled.body.otpauth_uri, /^otpauth:\/\/totp\/auth-service:/);
  const key = base32Decode(enrolled.body.secret);
  const now = Date.now() / 1000;
  const confirmed = await call('POST', '/api/mfa/totp/confirm', { token, body: { code: totp(key, now) } });
  assert.equal(confirmed.status, 200);
  assert.equal(confirmed.body.recovery_codes.length, 10);
  // The calling session ended with the others; the answer carries a new one that proved the code.
  assert.equal(claims(confirmed.body.access_token).aal, 'aal2');
  const ended = await settled(() => call('GET', '/', { token }), (answer) => answer.status === 401);
  assert.equal(ended.status, 401);

  const step1 = await call('POST', '/api/login', { body: { email, password } });
  assert.deepEqual(Object.keys(step1.body).sort(), ['expires_in', 'message', 'mfa_required', 'mfa_token', 'status']);
  assert.equal(step1.body.mfa_required, true);
  // The confirmation used this step's code; the next step's is within the window and unused.
  const step2 = await call('POST', '/api/login/mfa', {
    body: { mfa_token: step1.body.mfa_token, code: totp(key, now + 30) },
  });
  assert.equal(step2.status, 200, JSON.stringify(step2.body));
  assert.deepEqual(claims(step2.body.access_token).amr, ['pwd', 'otp']);
  assert.equal(claims(step2.body.access_token).aal, 'aal2');
  const again = await call('POST', '/api/login/mfa', {
    body: { mfa_token: step1.body.mfa_token, code: totp(key, now + 30) },
  });
  assert.deepEqual(again, { status: 401, body: { status: 'error', message: 'Invalid code' } });

  const listed = await call('GET', '/api/sessions', { token: step2.body.access_token });
  assert.equal(listed.status, 200);
  const current = listed.body.sessions.filter((s) => s.current);
  assert.equal(current.length, 1);
  assert.equal(current[0].id, claims(step2.body.access_token).sid);
  assert.equal(current[0].user_agent, 'node');

  const step1b = await call('POST', '/api/login', { body: { email, password } });
  const recovered = await call('POST', '/api/login/mfa', {
    body: { mfa_token: step1b.body.mfa_token, recovery_code: confirmed.body.recovery_codes[0] },
  });
  assert.equal(recovered.status, 200);
  assert.deepEqual(claims(recovered.body.access_token).amr, ['pwd', 'recovery']);
  // The session that turned MFA on may end the others, e.g. the recovery code's.
  const others = await call('POST', '/api/logout?scope=others', { token: step2.body.access_token });
  assert.deepEqual(others.body, { status: 'success', message: 'Logged out of other sessions' });
  const recoveredToken = recovered.body.access_token;
  const refused = await settled(() => call('GET', '/', { token: recoveredToken }), (answer) => answer.status === 401);
  assert.equal(refused.status, 401);
});
