// The demo page embeds the compiled client (demo/assets/baton-client.js,
// committed so `go build` needs no npm). It must be this build: after
// changing src/, run `make demo`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './harness.js';

test('the demo embeds the current build of the client', () => {
  const built = readFileSync(join(repoRoot, 'clients/js/dist/index.js'), 'utf8');
  const embedded = readFileSync(join(repoRoot, 'demo/assets/baton-client.js'), 'utf8');
  assert.ok(embedded === built, 'demo/assets/baton-client.js differs from a fresh build of clients/js: run `make demo`');
});

test('the package has no runtime dependencies', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'clients/js/package.json'), 'utf8'));
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.peerDependencies, undefined);
});
