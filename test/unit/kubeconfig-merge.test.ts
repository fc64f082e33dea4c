// `hardway-lab kubeconfig [--merge [--use] | --remove]` judged by the real kubectl (the Go-built one
// of the artifacts): the user's other clusters, users and contexts survive, the lab's entries are
// named hardway-<lab>, the current context moves only with --use, the file is 0600 and replaced
// atomically, and a damaged file is refused untouched. (`kubectl --context hardway-<lab> get
// nodes` through the LB is in the hard-way story, test/integration/hardway-steps.test.ts.)

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { main } from '../../main/cli/cli.ts';
import { testArtifacts } from '../helpers/lab-artifacts.ts';

const built = testArtifacts();
const kubectl = built.artifacts ? join(built.artifacts.root, 'bin', 'kubectl') : undefined;
if (built.skip) console.warn(`SKIPPED: kubeconfig merge judged by kubectl: ${built.skip}`);

const EXISTING = `# my clusters; do not lose this comment
apiVersion: v1
kind: Config
clusters:
  - name: work
    cluster:
      server: https://work.example:6443
      insecure-skip-tls-verify: true
users:
  - name: me
    user:
      token: abc
contexts:
  - name: work
    context:
      cluster: work
      user: me
      namespace: team
current-context: work
`;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

test('kubeconfig: print, --merge, again, --use, --remove, a damaged file; checked with kubectl', { skip: built.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-kubeconfig-'));
  const lab = join(dir, 'lab');
  const target = join(dir, 'home', '.kube', 'config');
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = `${target}:${join(dir, 'second-file-ignored')}`;
  const k = (...args: string[]) => execFileSync(kubectl!, ['--kubeconfig', target, ...args], { encoding: 'utf8' }).trim();
  try {
    assert.equal(await main(['init', '--lab', lab, '--preset', 'minimal'], capture().io), 0);
    const render = capture();
    assert.equal(await main(['render', '--lab', lab], render.io), 0, render.err.join('\n'));
    const name = 'hardway-hardway';

    // Printed on its own: a kubeconfig kubectl reads, with the lab's names and the LB's address.
    const printed = capture();
    assert.equal(await main(['kubeconfig', '--lab', lab], printed.io), 0);
    const alone = join(dir, 'alone.kubeconfig');
    writeFileSync(alone, printed.out.join('\n'), { mode: 0o600 });
    assert.equal(execFileSync(kubectl!, ['--kubeconfig', alone, 'config', 'current-context'], { encoding: 'utf8' }).trim(), name);
    assert.match(execFileSync(kubectl!, ['--kubeconfig', alone, 'config', 'view', '-o', 'jsonpath={.clusters[0].cluster.server}'], { encoding: 'utf8' }), /^https:\/\/10\.240\.0\.\d+:6443$/);

    // Merged into a file that does not exist yet (its directory neither): made 0600, the lab's context current.
    const first = capture();
    assert.equal(await main(['kubeconfig', '--merge', '--lab', lab], first.io), 0, first.err.join('\n'));
    assert.match(first.out.join('\n'), new RegExp(`Added cluster, user and context ${name} in ${target}`));
    assert.equal(statSync(target).mode & 0o777, 0o600);
    assert.equal(k('config', 'current-context'), name);

    // Merged into the user's own file: everything else survives, the current context stays.
    writeFileSync(target, EXISTING, { mode: 0o644 });
    const merge = capture();
    assert.equal(await main(['kubeconfig', '--merge', '--lab', lab], merge.io), 0, merge.err.join('\n'));
    assert.match(merge.out.join('\n'), /current context stays work; add --use to switch/);
    assert.deepEqual(k('config', 'get-contexts', '-o', 'name').split('\n').sort(), [name, 'work']);
    assert.equal(k('config', 'current-context'), 'work');
    assert.equal(k('config', 'view', '-o', 'jsonpath={.contexts[?(@.name=="work")].context.namespace}'), 'team');
    assert.equal(k('config', 'view', '-o', 'jsonpath={.users[?(@.name=="me")].user.token}', '--raw'), 'abc');
    assert.equal(k('config', 'view', '-o', `jsonpath={.contexts[?(@.name=="${name}")].context.user}`), name);
    assert.ok(readFileSync(target, 'utf8').startsWith('# my clusters; do not lose this comment'), 'the comment is kept');
    assert.equal(statSync(target).mode & 0o777, 0o600);
    // The merged credentials are the lab's own: same client certificate as the admin kubeconfig.
    const adminCert = execFileSync(kubectl!, ['--kubeconfig', join(lab, 'kubeconfigs', 'admin.kubeconfig'), 'config', 'view', '--raw', '-o', 'jsonpath={.users[0].user.client-certificate-data}'], { encoding: 'utf8' });
    assert.equal(k('config', 'view', '--raw', '-o', `jsonpath={.users[?(@.name=="${name}")].user.client-certificate-data}`), adminCert);

    // Again: nothing changes, byte for byte.
    const before = readFileSync(target, 'utf8');
    const again = capture();
    assert.equal(await main(['kubeconfig', '--merge', '--lab', lab], again.io), 0);
    assert.match(again.out.join('\n'), /Already up to date/);
    assert.equal(readFileSync(target, 'utf8'), before);

    // --use switches; --remove takes the lab's entries out and leaves the rest.
    assert.equal(await main(['kubeconfig', '--merge', '--use', '--lab', lab], capture().io), 0);
    assert.equal(k('config', 'current-context'), name);
    const remove = capture();
    assert.equal(await main(['kubeconfig', '--remove', '--lab', lab], remove.io), 0);
    assert.match(remove.out.join('\n'), new RegExp(`Removed cluster, user and context ${name}`));
    assert.deepEqual(k('config', 'get-contexts', '-o', 'name').split('\n'), ['work']);
    assert.deepEqual(k('config', 'view', '-o', 'jsonpath={.clusters[*].name}'), 'work');

    // A damaged file is refused with what to do, and left as it was.
    writeFileSync(target, 'clusters: [unclosed\n', { mode: 0o600 });
    const damaged = capture();
    assert.equal(await main(['kubeconfig', '--merge', '--lab', lab], damaged.io), 2);
    assert.match(damaged.err.join('\n'), /is not valid YAML/);
    assert.equal(readFileSync(target, 'utf8'), 'clusters: [unclosed\n');
    assert.equal(await main(['kubeconfig', '--use', '--lab', lab], capture().io), 2, '--use needs --merge');
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
