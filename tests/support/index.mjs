// What the JavaScript tests share (tests/node/, tests/replicas/, clients/js/test/): requests as
// the website's fetch code makes them, TOTP codes as an authenticator app computes them, and the
// messages the SMTP server of scripts/test caught (tests/smtp/catcher.py keeps each as a file).
import { createHmac } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const PASSWORD = 'correct horse battery';

// A 1x1 PNG.
export const png = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

let counter = 0;
/** An address no other test of any process uses. */
// Calls `ask` until `done` holds of its answer, for at most `ms` (what a change takes to reach
// every replica's session cache: docs/SCALING.md), and returns the last answer.
export async function settled(ask, done, ms = 1000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const answer = await ask();
    if (done(answer) || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export const uniqueEmail = (tag) => `${tag}-${process.pid}-${Date.now()}-${++counter}@example.com`;

/** Requests to the service at `baseUrl`: `call(method, path, { json, form, token })` answers
 * `{ status, body, headers }`, the body parsed as JSON (null when it is not). */
export function api(baseUrl, { timeoutMs } = {}) {
  async function call(method, path, { json, form, token } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    const signal = timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined;
    const response = await fetch(baseUrl + path, { method, headers, body, signal });
    const text = await response.text();
    let parsed = null;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, body: parsed, headers: response.headers };
  }
  /** POST of a JSON body: `{ status, body }`, as the website's fetch code reads it. */
  async function postJson(path, json, token) {
    const { status, body } = await call('POST', path, { json, token });
    return { status, body };
  }
  return { call, postJson };
}

/** The decoded claims of a JWT. */
export function claims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

/** RFC 6238 §4: HOTP (RFC 4226) of the 30-second step of `unixSeconds`, `digits` long. */
export function totp(key, unixSeconds, digits = 6) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 4648 base32, as the service shows a TOTP secret. */
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of text.replace(/=+$/, '')) bits += alphabet.indexOf(char).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The code an authenticator app shows now for the base32 `secret`, or `steps` steps ahead. */
export function totpNow(secret, steps = 0) {
  return totp(base32Decode(secret), Date.now() / 1000 + steps * 30);
}

/** A message as a mail client shows it: quoted-printable soft breaks and escapes undone. */
export function readable(raw) {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const body = rest.join('\r\n\r\n');
  if (!/Content-Transfer-Encoding: quoted-printable/i.test(head)) return raw;
  const decoded = body
    .replace(/=\r\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  return `${head}\r\n\r\n${decoded}`;
}

/** The messages the catcher in `dir` holds for `email` with `subject`, once there are `count`. */
export async function messagesTo(dir, email, subject, count = 1) {
  let found = [];
  for (let i = 0; i < 200; i++) {
    found = readdirSync(dir)
      .filter((name) => name.endsWith('.eml'))
      .map((name) => readable(readFileSync(join(dir, name), 'utf8')))
      .filter((message) => message.includes(`To: ${email}\r\n`) && message.includes(`Subject: ${subject}\r\n`));
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${found.length} of ${count} "${subject}" messages to ${email} arrived`);
}

/** The six-digit code a message carries. */
export function codeIn(message) {
  return /code: (\d{6})\b/.exec(message)[1];
}

/** Proves `email`'s mailbox with the code its registration mailed (caught in `dir`), as its
 * owner would: a second factor is set up only on a proved address. */
export async function verifyByMail(baseUrl, dir, email) {
  const code = codeIn((await messagesTo(dir, email, `Your code to verify ${email}`))[0]);
  const answer = await api(baseUrl).call('POST', '/api/email/verify', { json: { email, code } });
  if (answer.status !== 200) throw new Error(`verify ${email}: ${answer.status} ${JSON.stringify(answer.body)}`);
}

/** A browser's part of a sign-in with an outside provider: from `start` (the service's
 * authorize URL), redirects followed one at a time, cookies kept by host, name and path (each
 * sent only under its path, as a browser does), `loginHint` added at the provider's `/auth`
 * (`issuer`, the tests' OpenID provider), until it is sent to `page`, which is not fetched:
 * the URL it was sent to is returned, its fragment what the page would read. */
export async function followToPage(start, { page, issuer, loginHint }) {
  const jar = new Map();
  let next = new URL(start);
  for (let hop = 0; hop < 12; hop++) {
    if (next.href.startsWith(page)) return next;
    if (next.origin === issuer && next.pathname === '/auth') next.searchParams.set('login_hint', loginHint);
    const cookie = [...jar.values()]
      .filter((c) => c.host === next.host && next.pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    const response = await fetch(next, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      const path = attributes.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      jar.set(`${next.host} ${name} ${path}`, { host: next.host, name, value, path });
    }
    const location = response.headers.get('location');
    if (!location) throw new Error(`${next} answered ${response.status} without a redirect: ${await response.text()}`);
    next = new URL(location, next);
  }
  throw new Error('too many redirects');
}
