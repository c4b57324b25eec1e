// Two tabs of a real browser (headless Chromium, /usr/bin/chromium or CHROMIUM) sharing
// localStorage: with an expired access token, both tabs' calls at once refresh once, through the
// Web Locks API (each tab has its own copy of the module, so nothing else joins them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { refreshes } from '../scripts/metrics.mjs';

const url = process.env.AUTH_SERVICE_URL;
assert.ok(url, 'AUTH_SERVICE_URL must be set (scripts/test sets it)');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

const PAGE = `<!doctype html><script type="module">
  import { AuthClient, localStorageStorage } from '/src/index.js';
  window.client = new AuthClient({ baseUrl: ${JSON.stringify(url)}, storage: localStorageStorage() });
  window.ready = true;
</script>`;

// The page and the package's sources, from an origin of their own (the service allows any
// origin outside production).
function servePage() {
  const server = createServer((request, response) => {
    if (request.url === '/') {
      response.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
    } else if (/^\/src\/[a-z]+\.js$/.test(request.url)) {
      const file = new URL(`..${request.url}`, import.meta.url);
      response.writeHead(200, { 'Content-Type': 'text/javascript' }).end(readFileSync(file));
    } else {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}


test('two tabs with one expired session refresh it once', async () => {
  const server = await servePage();
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const context = await browser.newContext();
    const origin = `http://127.0.0.1:${server.address().port}/`;
    const tabs = [await context.newPage(), await context.newPage()];
    for (const tab of tabs) {
      await tab.goto(origin);
      await tab.waitForFunction(() => window.ready === true);
    }
    const email = `tabs-${process.pid}-${Date.now()}@example.com`;
    await tabs[0].evaluate(async (email) => {
      await window.client.register({ name: 'Tabs', email, password: 'correct horse battery' });
      await window.client.login({ email, password: 'correct horse battery' });
    }, email);
    assert.equal(await tabs[1].evaluate(async () => (await window.client.me()).email), email);

    for (let round = 0; round < 3; round++) {
      await tabs[0].evaluate(() => {
        const session = JSON.parse(localStorage.getItem('auth-service.session'));
        localStorage.setItem('auth-service.session', JSON.stringify({ ...session, expiresAt: Date.now() - 1000 }));
      });
      const before = await refreshes(url);
      const seen = await Promise.all(
        tabs.map((tab) => tab.evaluate(async () => (await Promise.all([1, 2, 3, 4, 5].map(() => window.client.me()))).map((u) => u.email))),
      );
      assert.deepEqual(seen.flat(), Array(10).fill(email));
      assert.equal((await refreshes(url)) - before, 1, `round ${round}: one refresh for both tabs`);
    }
    assert.equal(await tabs[1].evaluate(async () => (await window.client.sessions()).length), 1);
  } finally {
    await browser.close();
    server.close();
  }
});
