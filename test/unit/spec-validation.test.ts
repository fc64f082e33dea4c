import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec, SpecError, defaultSpecText } from '../../main/spec/parse-spec.ts';
import { main } from '../../main/cli/cli.ts';

interface BadSpec {
  name: string;
  yaml: string;
  hostMemoryMiB?: number;
  path: string;
  message: RegExp;
  hint: RegExp;
}

const BAD_SPECS: BadSpec[] = [
  {
    name: 'typo in a key',
    yaml: 'nodes:\n  controler:\n    count: 3\n',
    path: 'nodes.controler',
    message: /unknown key "controler"/,
    hint: /did you mean "controller"/,
  },
  {
    name: 'typo at the top level',
    yaml: 'provder: qemu\n',
    path: 'provder',
    message: /unknown key "provder"/,
    hint: /did you mean "provider"/,
  },
  {
    name: 'zero etcd members',
    yaml: 'nodes:\n  controller:\n    count: 0\n',
    path: 'nodes.controller.count',
    message: /no controllers/,
    hint: /set nodes.controller.count to 1 or 3/,
  },
  {
    name: 'pod CIDR overlaps the node subnet',
    yaml: 'network:\n  podCidr: 10.240.0.0/16\n',
    path: 'network.podCidr',
    message: /podCidr 10\.240\.0\.0\/16 overlaps nodeSubnet 10\.240\.0\.0\/24/,
    hint: /every network must be separate/,
  },
  {
    name: 'service CIDR overlaps the pod CIDR',
    yaml: 'network:\n  serviceCidr: 10.200.5.0/24\n',
    path: 'network.serviceCidr',
    message: /serviceCidr 10\.200\.5\.0\/24 overlaps podCidr 10\.200\.0\.0\/16/,
    hint: /every network must be separate/,
  },
  {
    name: 'more nodes than the subnet holds',
    yaml: 'network:\n  nodeSubnet: 10.240.0.0/28\n',
    path: 'network.nodeSubnet',
    message: /10\.240\.0\.0\/28 holds 14 host addresses, too few for 6 nodes/,
    hint: /use a larger subnet/,
  },
  {
    name: 'more workers than pod subnets',
    yaml: 'network:\n  podCidr: 10.200.0.0/23\nnodes:\n  worker:\n    count: 3\n',
    path: 'network.podCidr',
    message: /has 2 \/24 subnets, fewer than the 3 workers/,
    hint: /larger pod CIDR/,
  },
  {
    name: 'node name that is not an RFC 1123 label',
    yaml: 'nodes:\n  worker:\n    count: 2\n    names: [worker-a, Worker_B]\n',
    path: 'nodes.worker.names',
    message: /node name "Worker_B" is not a lowercase RFC 1123 label/,
    hint: /only lowercase letters, digits and "-"/,
  },
  {
    name: 'node name that would reach a shell',
    yaml: 'nodes:\n  worker:\n    count: 1\n    names: ["w1; rm -rf /"]\n',
    path: 'nodes.worker.names',
    message: /node name "w1; rm -rf \/" is not a lowercase RFC 1123 label/,
    hint: /only lowercase letters/,
  },
  {
    name: 'duplicate node names',
    yaml: 'nodes:\n  worker:\n    count: 2\n    names: [node-a, node-a]\n',
    path: 'nodes.worker.names',
    message: /node name "node-a" is used twice/,
    hint: /different name/,
  },
  {
    name: 'names and count disagree',
    yaml: 'nodes:\n  worker:\n    count: 3\n    names: [a, b]\n',
    path: 'nodes.worker.names',
    message: /2 name\(s\) given for 3 worker node\(s\)/,
    hint: /give exactly 3 names/,
  },
  {
    name: 'too little host memory',
    yaml: 'preset: ha\n',
    hostMemoryMiB: 4096,
    path: 'nodes',
    message: /the VMs ask for 10752 MiB .* but this host has 4096 MiB/,
    hint: /lower nodes.<role>.memoryMiB/,
  },
  {
    name: 'unknown preset',
    yaml: 'preset: huge\n',
    path: 'preset',
    message: /unknown preset "huge"/,
    hint: /ha, minimal, classic/,
  },
  {
    name: 'wrong type',
    yaml: 'nodes:\n  worker:\n    count: two\n',
    path: 'nodes.worker.count',
    message: /expected a number, found string "two"/,
    hint: /plain number/,
  },
  {
    name: 'not a CIDR',
    yaml: 'network:\n  nodeSubnet: 10.240.0.5/24\n',
    path: 'network.nodeSubnet',
    message: /not an IPv4 network in CIDR form with no host bits set/,
    hint: /10\.240\.0\.0\/24/,
  },
  {
    name: 'lab name with a shell character',
    yaml: 'name: "lab$(id)"\n',
    path: 'name',
    message: /lab name "lab\$\(id\)" is not a lowercase RFC 1123 label/,
    hint: /lowercase letters, digits and "-"/,
  },
  {
    name: 'version that is not a release',
    yaml: 'versions:\n  etcd: latest\n',
    path: 'versions.etcd',
    message: /version "latest" is not of the form 1\.2\.3/,
    hint: /release version/,
  },
  {
    name: 'too little memory for a controller',
    yaml: 'nodes:\n  controller:\n    memoryMiB: 512\n',
    path: 'nodes.controller.memoryMiB',
    message: /a controller needs at least 1024 MiB/,
    hint: /1024 or more/,
  },
  {
    name: 'YAML syntax error',
    yaml: 'nodes:\n  worker:\n  count: 1\n   cpus: 2\n',
    path: '',
    message: /not valid YAML/,
    hint: /fix the YAML syntax/,
  },
];

for (const bad of BAD_SPECS) {
  test(`spec validation: ${bad.name}`, async () => {
    assert.throws(
      () => parseSpec(bad.yaml, 'test.yaml', { hostMemoryMiB: bad.hostMemoryMiB ?? 64 * 1024 }),
      (error: unknown) => {
        assert.ok(error instanceof SpecError, `expected SpecError, got ${String(error)}`);
        const issue = error.issues.find((i) => i.severity === 'error' && i.path === bad.path && bad.message.test(i.message));
        assert.ok(issue, `no error at ${bad.path} matching ${bad.message}; got:\n${error.message}`);
        assert.match(issue.hint, bad.hint);
        return true;
      },
    );
  });
}

test('spec validation: a bad spec given to the CLI exits 2 with the message and writes no files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-spec-'));
  const lab = join(dir, 'lab');
  for (const bad of BAD_SPECS.filter((b) => b.hostMemoryMiB === undefined)) {
    const specFile = join(dir, 'bad.yaml');
    writeFileSync(specFile, bad.yaml);
    const err: string[] = [];
    for (const command of ['plan', 'pki', 'render']) {
      const code = await main([command, '--lab', lab, '--spec', specFile], { out: () => {}, err: (t) => err.push(t) });
      assert.equal(code, 2, `${bad.name}: ${command} should exit 2`);
      assert.match(err.join('\n'), bad.message);
      assert.equal(existsSync(lab), false, `${bad.name}: ${command} must not create the lab directory`);
    }
  }
});

test('spec validation: even etcd member counts warn but are allowed (classic preset)', () => {
  const { spec, warnings } = parseSpec('preset: classic\n', 'classic.yaml', { hostMemoryMiB: 64 * 1024 });
  assert.equal(spec.nodes.controller.count, 2);
  const warning = warnings.find((w) => w.path === 'nodes.controller.count');
  assert.ok(warning, 'expected a warning about 2 etcd members');
  assert.equal(warning.severity, 'warning');
  assert.match(warning.message, /2 is worse than 1/);
});

test('spec: the embedded default is the ha preset and validates cleanly', () => {
  const { spec, warnings } = parseSpec(defaultSpecText(), 'default', { hostMemoryMiB: 64 * 1024 });
  assert.deepEqual(warnings, []);
  assert.equal(spec.preset, 'ha');
  assert.deepEqual(
    [spec.nodes.lb.count, spec.nodes.controller.count, spec.nodes.worker.count],
    [1, 3, 2],
  );
  assert.equal(spec.network.nodeSubnet, '10.240.0.0/24');
});

test('spec: minimal preset has no load balancer and one controller and worker', () => {
  const { spec } = parseSpec('preset: minimal\n', 'm.yaml', { hostMemoryMiB: 64 * 1024 });
  assert.deepEqual([spec.nodes.lb.count, spec.nodes.controller.count, spec.nodes.worker.count], [0, 1, 1]);
});

test('spec: snapshots.afterEachStep is auto by default, on/off when written, anything else an error with the choices', () => {
  assert.equal(parseSpec('preset: minimal\n', 'm.yaml', { hostMemoryMiB: 64 * 1024 }).spec.snapshots.afterEachStep, 'auto');
  assert.equal(parseSpec('snapshots:\n  afterEachStep: off\n', 's.yaml', { hostMemoryMiB: 64 * 1024 }).spec.snapshots.afterEachStep, 'off');
  assert.throws(
    () => parseSpec('snapshots:\n  afterEachStep: sometimes\n', 's.yaml', { hostMemoryMiB: 64 * 1024 }),
    (error: unknown) => error instanceof SpecError && /snapshots\.afterEachStep/.test(error.message) && /auto, on, off/.test(error.message),
  );
});

test('spec: network.nat is off by default and a boolean; network.dns needs it and must be IPv4 addresses', () => {
  const opts = { hostMemoryMiB: 64 * 1024 };
  assert.equal(parseSpec('preset: minimal\n', 'm.yaml', opts).spec.network.nat, false);
  assert.equal(parseSpec('network:\n  nat: true\n  dns: [9.9.9.9]\n', 'n.yaml', opts).spec.network.nat, true);
  assert.throws(() => parseSpec('network:\n  nat: yes-please\n', 'n.yaml', opts), (e: unknown) => e instanceof SpecError && /network\.nat/.test(e.message) && /true or false/.test(e.message));
  assert.throws(() => parseSpec('network:\n  dns: [9.9.9.9]\n', 'n.yaml', opts), (e: unknown) => e instanceof SpecError && /only used with network\.nat: true/.test(e.message));
  assert.throws(() => parseSpec('network:\n  nat: true\n  dns: [dns.example]\n', 'n.yaml', opts), (e: unknown) => e instanceof SpecError && /not an IPv4 address/.test(e.message));
});
