// Writes src/openapi.d.ts from the service's OpenAPI document: node scripts/generate-types.mjs
// URL (a running service's /api/openapi.json; default http://127.0.0.1:5000/api/openapi.json).
// test/types.test.mjs fails when the committed file and the served document disagree.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generate } from './types.mjs';

const url = process.argv[2] ?? 'http://127.0.0.1:5000/api/openapi.json';
const target = fileURLToPath(new URL('../src/openapi.d.ts', import.meta.url));
writeFileSync(target, await generate(url));
console.log(`wrote ${target} from ${url}`);
