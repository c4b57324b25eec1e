// The package as a user gets it: `npm pack`, installed from the tarball into a fresh folder,
// and the README's example run there against the service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const url = process.env.AUTH_SERVICE_URL;
const root = fileURLToPath(new URL('..', import.meta.url));

test('the packed tarball installs and its README example runs', () => {
  const folder = mkdtempSync(join(tmpdir(), 'auth-client-pack-'));
  try {
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', folder], { cwd: root }));
    const { filename, size, unpackedSize, files } = packed[0];
    console.log(`npm pack: ${filename}, ${size} bytes (${unpackedSize} unpacked), ${files.length} files`);
    assert.deepEqual(files.map((f) => f.path).sort(), [
      'README.md', 'package.json', 'src/admin.d.ts', 'src/admin.js', 'src/index.d.ts', 'src/index.js', 'src/openapi.d.ts', 'src/verify.d.ts', 'src/verify.js',
    ]);
    writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'fresh', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', join(folder, filename)], { cwd: folder });
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /## Example\n\n```js\n([\s\S]*?)```/.exec(readme)[1];
    writeFileSync(join(folder, 'example.mjs'), example);
    const output = execFileSync('node', ['example.mjs'], { cwd: folder, env: { ...process.env, AUTH_SERVICE_URL: url } });
    assert.equal(output.toString(), 'signed in\n401\n');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
