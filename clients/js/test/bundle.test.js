// baton's pages embed the compiled client (pages/assets/baton-client.js,
// committed so `go build` needs no npm), for their passkey sign-in and for
// the demo page. It must be this build: after changing src/, run
// `make demo`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './harness.js';

test('the pages embed the current build of the client', () => {
  const built = readFileSync(join(repoRoot, 'clients/js/dist/index.js'), 'utf8');
  const embedded = readFileSync(join(repoRoot, 'pages/assets/baton-client.js'), 'utf8');
  assert.ok(embedded === built, 'pages/assets/baton-client.js differs from a fresh build of clients/js: run `make demo`');
});

test('the package has no runtime dependencies', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'clients/js/package.json'), 'utf8'));
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.peerDependencies, undefined);
});
