// The committed declarations are those of the document the service serves now: regenerate
// with `npm run generate -- URL` when this fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generate } from '../scripts/types.mjs';

const url = process.env.AUTH_SERVICE_URL;
assert.ok(url, 'AUTH_SERVICE_URL must be set (scripts/test sets it)');

test('src/openapi.d.ts is generated from the served /api/openapi.json', async () => {
  const committed = readFileSync(new URL('../src/openapi.d.ts', import.meta.url), 'utf8');
  assert.equal(committed, await generate(`${url}/api/openapi.json`), 'run: npm run generate -- URL/api/openapi.json');
});
