// Three replicas on one PostgreSQL and one bucket, behind nginx (scripts/lib/replicas.sh starts
// them): what a user of the site sees through the load balancer, then one replica killed with
// SIGKILL under load. PROXY_URL is nginx; FRONT_URL a proxy in front of it (the README's TLS
// proxy); VICTIM_PID the replica to kill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { PASSWORD as password, api, png, settled } from '../support/index.mjs';

const url = process.env.PROXY_URL;
const front = process.env.FRONT_URL;
const victim = Number(process.env.VICTIM_PID);
assert.ok(url && front && victim, 'PROXY_URL, FRONT_URL and VICTIM_PID must be set (scripts/lib/replicas.sh sets them)');

const { call: request } = api(url, { timeoutMs: 15000 });

// A call through nginx, and which replica answered it.
async function call(method, path, options) {
  const answer = await request(method, path, options);
  return { ...answer, upstream: answer.headers.get('x-upstream') };
}

// A request from another loopback address (fetch cannot choose its own), so that nginx and the
// replicas see a client that is not the proxy.
function from(localAddress, method, path, json, extraHeaders = {}, base = url) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(json);
    const target = new URL(path, base);
    const request = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method,
        localAddress,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...extraHeaders },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode, body: JSON.parse(text), upstream: response.headers['x-upstream'] }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function uploadForm(filename) {
  const form = new FormData();
  form.append('profile_pic', new Blob([png], { type: 'image/png' }), filename);
  return form;
}

let counter = 0;
async function newUser(tag) {
  const email = `${tag}-${process.pid}-${++counter}@example.com`;
  const registered = await call('POST', '/api/register', { json: { name: 'Replica User', email, password } });
  assert.equal(registered.status, 201);
  const login = await call('POST', '/api/login', { json: { email, password } });
  assert.equal(login.status, 200);
  return { email, token: login.body.access_token };
}

test('a picture uploaded through one replica is served by every replica', async () => {
  const { token } = await newUser('picture');
  const uploaded = await call('POST', '/api/upload_profile_pic', { form: uploadForm('shared.png'), token });
  assert.equal(uploaded.status, 200);
  const answeredBy = new Set();
  let first;
  for (let i = 0; i < 6; i++) {
    const picture = await fetch(uploaded.body.profile_pic_url);
    assert.equal(picture.status, 200);
    assert.equal(picture.headers.get('content-type'), 'image/png');
    const bytes = Buffer.from(await picture.arrayBuffer());
    first ??= bytes;
    assert.deepEqual(bytes, first);
    answeredBy.add(picture.headers.get('x-upstream'));
  }
  assert.equal(answeredBy.size, 3, `answered by ${[...answeredBy]}`);
  console.log(`picture uploaded via ${uploaded.upstream}, served by ${[...answeredBy].join(', ')}`);
});

test('a logout on one replica is seen by all, their session caches included', async () => {
  const { token } = await newUser('logout');
  // Every replica answers twice first, the second time from its session cache.
  for (let i = 0; i < 6; i++) assert.equal((await call('GET', '/', { token })).status, 200);
  const logout = await call('POST', '/api/logout', { json: {}, token });
  assert.equal(logout.status, 200);
  const loggedOutAt = Date.now();
  const refusedBy = new Map();
  for (let i = 0; i < 6; i++) {
    const me = await settled(() => call('GET', '/', { token }), (answer) => answer.status === 401);
    assert.deepEqual([me.status, me.body], [401, { status: 'error', message: 'Not logged in' }]);
    if (!refusedBy.has(me.upstream)) refusedBy.set(me.upstream, Date.now() - loggedOutAt);
  }
  assert.equal(refusedBy.size, 3);
  const after = [...refusedBy].map(([upstream, ms]) => `${upstream} (${ms} ms)`).join(', ');
  console.log(`logged out via ${logout.upstream}, refused by ${after}`);
});

test('login limits count across replicas, per client address from X-Forwarded-For', async () => {
  const { email } = await newUser('limits');
  // RATE_LIMIT_LOGIN_PER_ACCOUNT_AND_IP=5/15m: five failures from 127.0.0.3, whichever replica.
  const answeredBy = new Set();
  for (let i = 0; i < 5; i++) {
    const wrong = await from('127.0.0.3', 'POST', '/api/login', { email, password: 'wrong password' });
    assert.deepEqual([wrong.status, wrong.body], [401, { status: 'error', message: 'Invalid credentials' }]);
    answeredBy.add(wrong.upstream);
  }
  assert.equal(answeredBy.size, 3);
  const limited = await from('127.0.0.3', 'POST', '/api/login', { email, password });
  assert.deepEqual([limited.status, limited.body], [429, { status: 'error', message: 'Too many requests, try again later' }]);
  // A forged header does not make it another client: nginx appends the real address.
  const forged = await from('127.0.0.3', 'POST', '/api/login', { email, password }, { 'X-Forwarded-For': '198.51.100.7' });
  assert.equal(forged.status, 429);
  // The account's owner on another address (and nginx's own, 127.0.0.1) is not refused.
  const owner = await from('127.0.0.4', 'POST', '/api/login', { email, password });
  assert.equal(owner.status, 200);
  console.log(`5 failures over ${[...answeredBy].join(', ')}: the 6th is 429 on ${limited.upstream}; another address logs in`);
});

test('behind a front proxy, as the README deploys it, each client is its own address', async () => {
  // Before: compose trusted nginx alone, so every client of the TLS proxy in front of it was one
  // address (Docker's gateway): five wrong passwords from one of them, and the owner got 429.
  const { email } = await newUser('front');
  const viaFront = (client, json, headers = {}) => from(client, 'POST', '/api/login', json, headers, front);
  for (let i = 0; i < 5; i++) {
    const wrong = await viaFront('127.0.0.5', { email, password: 'wrong password' });
    assert.deepEqual([wrong.status, wrong.body], [401, { status: 'error', message: 'Invalid credentials' }]);
  }
  const limited = await viaFront('127.0.0.5', { email, password });
  assert.equal(limited.status, 429);
  // A header the client forges is left of the one the front proxy appends: ignored.
  const forged = await viaFront('127.0.0.5', { email, password }, { 'X-Forwarded-For': '198.51.100.7' });
  assert.equal(forged.status, 429);
  const owner = await viaFront('127.0.0.6', { email, password });
  assert.equal(owner.status, 200);
  console.log('through the front proxy: 127.0.0.5 refused after 5 failures, 127.0.0.6 logs in');
});

test('SIGKILL of one replica under load: nginx fails over and every 2xx is durable', async () => {
  const log = [];
  const users = new Map();
  let killedAt = null;
  const started = Date.now();
  const until = started + 6000;
  async function worker(id) {
    let n = 0;
    while (Date.now() < until) {
      const email = `load-${process.pid}-${id}-${++n}@example.com`;
      const note = (op, result) => log.push({ op, status: result.status, upstream: result.upstream, afterKill: killedAt !== null });
      const safely = async (op, request) => {
        try {
          const result = await request();
          note(op, result);
          return result;
        } catch (error) {
          note(op, { status: `network error (${error.cause?.code ?? error.name})`, upstream: null });
          return { status: 0 };
        }
      };
      const registered = await safely('register', () => call('POST', '/api/register', { json: { name: 'Load', email, password } }));
      if (registered.status !== 201) continue;
      const user = { email, uploads: [], stored: null, token: null };
      users.set(email, user);
      const login = await safely('login', () => call('POST', '/api/login', { json: { email, password } }));
      if (login.status !== 200) continue;
      user.token = login.body.access_token;
      const filename = `load-${n}.png`;
      user.uploads.push(filename);
      const upload = await safely('upload', () => call('POST', '/api/upload_profile_pic', { form: uploadForm(filename), token: user.token }));
      if (upload.status === 200) user.stored = upload.body.profile_pic_url;
      const refreshed = await safely('refresh', () => call('POST', '/api/token/refresh', { json: { refresh_token: login.body.refresh_token } }));
      if (refreshed.status === 200) user.token = refreshed.body.access_token;
    }
  }
  const killer = new Promise((resolve) =>
    setTimeout(() => {
      process.kill(victim, 'SIGKILL');
      killedAt = Date.now();
      resolve();
    }, 2000),
  );
  await Promise.all([killer, ...Array.from({ length: 6 }, (_, id) => worker(id))]);

  const tally = (rows) => {
    const counts = {};
    for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1;
    return JSON.stringify(counts);
  };
  const before = log.filter((row) => !row.afterKill);
  const after = log.filter((row) => row.afterKill);
  console.log(`load: 6 clients for 6 s, replica pid ${victim} killed with SIGKILL after ${killedAt - started} ms`);
  console.log(`before the kill: ${before.length} requests, by status ${tally(before)}`);
  console.log(`after the kill:  ${after.length} requests, by status ${tally(after)}`);
  const upstreamsAfter = new Set(after.filter((row) => row.status < 500).map((row) => row.upstream));
  console.log(`answering after the kill: ${[...upstreamsAfter].join(', ')}`);
  for (const op of ['register', 'login', 'upload', 'refresh']) {
    const rows = log.filter((row) => row.op === op);
    console.log(`  ${op}: ${tally(rows)}`);
  }
  // Failover: requests after the kill were answered, by the two replicas left.
  assert.ok(after.filter((row) => row.status >= 200 && row.status < 300).length > 20, 'too few 2xx after the kill');
  // Only the requests the dead replica had in hand can fail, and only as nginx's 502.
  const failed = log.filter((row) => !(row.status >= 200 && row.status < 300));
  assert.ok(failed.every((row) => row.status === 502), `unexpected failures: ${tally(failed)}`);
  assert.ok(failed.length <= 6, `more failures than clients in flight: ${tally(failed)}`);

  // Durable: every account that got its 201 logs in; every picture that got its 200 is the
  // one its row names (or a later upload the dead replica had committed), and is served.
  async function durable(user) {
    const login = await call('POST', '/api/login', { json: { email: user.email, password } });
    assert.equal(login.status, 200, `${user.email} was registered (201) but cannot log in`);
    if (user.stored) {
      const me = await call('GET', '/', { token: login.body.access_token });
      const named = me.body.user.profile_pic_url;
      const attempted = user.uploads.slice(user.uploads.indexOf(user.stored.split('_').pop()));
      assert.ok(attempted.some((filename) => named.endsWith(`_${filename}`)), `${user.email}: ${named}`);
      const picture = await fetch(named);
      assert.equal(picture.status, 200, named);
    }
  }
  const all = [...users.values()];
  for (let at = 0; at < all.length; at += 8) await Promise.all(all.slice(at, at + 8).map(durable));
  const checked = all.length;
  console.log(`durable: ${checked} accounts that got a 201 log in; ${[...users.values()].filter((u) => u.stored).length} pictures that got a 200 are named and served`);
});
