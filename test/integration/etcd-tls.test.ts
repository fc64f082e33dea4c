// The generated etcd certificates in a real 3-member etcd cluster over mutual TLS, on 127.0.0.1:
// the cluster forms, clients need a certificate, plain http is refused; and members whose
// certificates lack clientAuth never form a cluster (the classic "context deadline exceeded").

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpecText, parseSpec } from '../../main/spec/parse-spec.ts';
import { buildPlan, nodesOf, type Plan } from '../../main/plan/address-plan.ts';
import { labPaths, type LabPaths } from '../../main/lab/lab-dir.ts';
import { ensurePki } from '../../main/pki/ensure-pki.ts';
import { issueCertificate } from '../../main/pki/issue-certificate.ts';
import { generateKeyPair, privateKeyPem } from '../../main/pki/key-pair.ts';
import { loadIssuer } from '../../main/pki/load-issuer.ts';
import { encodePem } from '../../main/pki/pem.ts';
import { testArtifacts } from '../helpers/lab-artifacts.ts';

// The etcd the lab installs: built from its Go module by the test runner's artifacts tier.
const built = testArtifacts();
const ETCD = built.artifacts ? join(built.artifacts.root, 'bin', 'etcd') : '/nonexistent/etcd';
const ETCDCTL = built.artifacts ? join(built.artifacts.root, 'bin', 'etcdctl') : '/nonexistent/etcdctl';
const skipReason = built.skip ?? ([ETCD, ETCDCTL].some((binary) => !existsSync(binary)) ? `${ETCD} or ${ETCDCTL} is missing` : undefined);
if (skipReason) console.warn(`SKIPPED: etcd TLS integration test: ${skipReason}`);

const CLUSTER_FORM_TIMEOUT_MS = 60_000;
/** How long a cluster with server-only certificates is watched without ever becoming healthy. */
const BROKEN_CLUSTER_WATCH_MS = 20_000;

interface MemberFiles {
  name: string;
  cert: string;
  key: string;
}

interface Member extends MemberFiles {
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  process?: ChildProcess;
}

interface Cluster {
  members: Member[];
  endpoints: string;
  stop(): Promise<void>;
  /** The last lines of every member's log, for failure messages. */
  logTails(lines?: number): string;
}

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Every etcd this file starts, so they die with it even if a hook never runs. */
const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function run(command: string, args: string[], timeoutMs = 20_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8', timeout: timeoutMs, env: process.env }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr: stderr + (error && code === -1 ? `\n${error.message}` : '') });
    });
  });
}

async function startCluster(dir: string, caFile: string, membersFiles: MemberFiles[]): Promise<Cluster> {
  const members: Member[] = [];
  for (const files of membersFiles) {
    members.push({
      ...files,
      clientPort: await freePort(),
      peerPort: await freePort(),
      dataDir: join(dir, `${files.name}.etcd`),
      logFile: join(dir, `${files.name}.log`),
    });
  }
  const initialCluster = members.map((m) => `${m.name}=https://127.0.0.1:${m.peerPort}`).join(',');
  for (const member of members) {
    mkdirSync(member.dataDir, { recursive: true, mode: 0o700 });
    const log = openSync(member.logFile, 'a');
    const args = [
      `--name=${member.name}`,
      `--data-dir=${member.dataDir}`,
      `--cert-file=${member.cert}`,
      `--key-file=${member.key}`,
      `--peer-cert-file=${member.cert}`,
      `--peer-key-file=${member.key}`,
      `--trusted-ca-file=${caFile}`,
      `--peer-trusted-ca-file=${caFile}`,
      '--client-cert-auth',
      '--peer-client-cert-auth',
      `--listen-client-urls=https://127.0.0.1:${member.clientPort}`,
      `--advertise-client-urls=https://127.0.0.1:${member.clientPort}`,
      `--listen-peer-urls=https://127.0.0.1:${member.peerPort}`,
      `--initial-advertise-peer-urls=https://127.0.0.1:${member.peerPort}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=hwl-etcd-tls-${process.pid}`,
      '--logger=zap',
      '--log-outputs=stderr',
    ];
    writeFileSync(log, `$ ${ETCD} ${args.join(' ')}\n`);
    const child = spawn(ETCD, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    started.add(child);
    child.once('exit', () => started.delete(child));
    member.process = child;
  }
  const logTails = (lines = 15) =>
    members
      .map((m) => `--- ${m.name} (${m.logFile}) ---\n${readFileSync(m.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')}`)
      .join('\n');
  return {
    members,
    endpoints: members.map((m) => `https://127.0.0.1:${m.clientPort}`).join(','),
    logTails,
    stop: () => Promise.all(members.map((m) => stopProcess(m.process))).then(() => undefined),
  };
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function tlsFlags(caFile: string, client?: { cert: string; key: string }): string[] {
  return [`--cacert=${caFile}`, ...(client ? [`--cert=${client.cert}`, `--key=${client.key}`] : []), '--dial-timeout=3s', '--command-timeout=5s'];
}

function lastLine(result: CommandResult): string {
  return (result.stdout + result.stderr).trim().split('\n').slice(-1)[0] ?? '';
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('etcd over mutual TLS with the lab certificates', { skip: skipReason }, () => {
  let dir: string;
  let paths: LabPaths;
  let plan: Plan;
  let caFile: string;
  let client: { cert: string; key: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hwl-etcd-tls-'));
    paths = labPaths(join(dir, 'lab'));
    plan = buildPlan(parseSpec(defaultSpecText()).spec);
    await ensurePki(plan, paths, { algorithm: 'ecdsa-p256' });
    caFile = join(paths.pki, 'ca.crt');
    client = { cert: join(paths.pki, 'apiserver-etcd-client.crt'), key: join(paths.pki, 'apiserver-etcd-client.key') };
  });
  after(async () => {
    // Also catches members of a cluster whose start failed half way.
    await Promise.all([...started].map((child) => stopProcess(child)));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('a 3-member cluster with the generated etcd-controller-N certificates', () => {
    let cluster: Cluster;

    before(async () => {
      const controllers = nodesOf(plan, 'controller');
      assert.equal(controllers.length, 3, 'the ha preset has 3 controllers');
      cluster = await startCluster(
        join(dir, 'good'),
        caFile,
        controllers.map((c) => ({ name: c.name, cert: join(paths.pki, `etcd-${c.name}.crt`), key: join(paths.pki, `etcd-${c.name}.key`) })),
      );
    });
    after(async () => {
      await cluster?.stop();
    });

    test('every member reports healthy to a client with the apiserver-etcd-client certificate', async () => {
      const deadline = Date.now() + CLUSTER_FORM_TIMEOUT_MS;
      let last: CommandResult;
      do {
        last = await run(ETCDCTL, [...tlsFlags(caFile, client), `--endpoints=${cluster.endpoints}`, 'endpoint', 'health']);
        if (last.code === 0) break;
        await pause(1_000);
      } while (Date.now() < deadline);
      assert.equal(last.code, 0, `etcdctl endpoint health did not pass within ${CLUSTER_FORM_TIMEOUT_MS / 1000} s:\n${last.stdout}${last.stderr}\n${cluster.logTails()}`);
      // etcdctl 3.4 prints the health lines on stderr.
      const output = last.stdout + last.stderr;
      const healthy = output.split('\n').filter((line) => / is healthy: /.test(line));
      assert.equal(healthy.length, 3, `expected 3 healthy endpoints:\n${output}`);
    });

    test('member list shows 3 started members; exactly one leader; writes replicate', async () => {
      const list = await run(ETCDCTL, [...tlsFlags(caFile, client), `--endpoints=${cluster.endpoints}`, 'member', 'list']);
      assert.equal(list.code, 0, list.stderr);
      const rows = list.stdout.trim().split('\n');
      assert.equal(rows.length, 3, list.stdout);
      for (const member of cluster.members) assert.ok(rows.some((r) => r.includes(', started, ') && r.includes(`, ${member.name}, `)), `${member.name} started:\n${list.stdout}`);

      const status = await run(ETCDCTL, [...tlsFlags(caFile, client), `--endpoints=${cluster.endpoints}`, 'endpoint', 'status', '--write-out=json']);
      assert.equal(status.code, 0, status.stderr);
      const statuses = JSON.parse(status.stdout) as Array<{ Status: { header: { member_id: number }; leader: number } }>;
      const leaders = new Set(statuses.map((s) => s.Status.leader));
      assert.equal(leaders.size, 1, 'all members agree on the leader');
      assert.equal(statuses.filter((s) => s.Status.header.member_id === s.Status.leader).length, 1, 'exactly one leader');

      const [first, , third] = cluster.members;
      const put = await run(ETCDCTL, [...tlsFlags(caFile, client), `--endpoints=https://127.0.0.1:${first!.clientPort}`, 'put', 'hardway', 'tls-ok']);
      assert.equal(put.code, 0, put.stderr);
      const get = await run(ETCDCTL, [...tlsFlags(caFile, client), `--endpoints=https://127.0.0.1:${third!.clientPort}`, 'get', 'hardway', '--print-value-only']);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(get.stdout.trim(), 'tls-ok');
    });

    test('a client without a certificate is refused', async (t) => {
      const result = await run(ETCDCTL, [...tlsFlags(caFile), `--endpoints=${cluster.endpoints}`, 'endpoint', 'health']);
      assert.notEqual(result.code, 0, `etcd accepted a client without a certificate:\n${result.stdout}${result.stderr}`);
      assert.ok(!/ is healthy: /.test(result.stdout + result.stderr), result.stdout + result.stderr);
      assert.match(result.stdout + result.stderr, /unhealthy|bad certificate|deadline exceeded/);
      t.diagnostic(`etcdctl without a client certificate: ${lastLine(result)}`);
      // Control: the same request with the client certificate passes, so the certificate made the difference.
      const withCert = await run(ETCDCTL, [...tlsFlags(caFile, client), `--endpoints=${cluster.endpoints}`, 'endpoint', 'health']);
      assert.equal(withCert.code, 0, withCert.stdout + withCert.stderr);
      const logs = cluster.members.map((m) => readFileSync(m.logFile, 'utf8')).join('\n');
      assert.match(logs, /rejected connection.*(didn't provide a certificate|certificate required|bad certificate)/);
    });

    test('plain http to the client port fails', async (t) => {
      const port = cluster.members[0]!.clientPort;
      const result = await run(ETCDCTL, ['--dial-timeout=3s', '--command-timeout=5s', `--endpoints=http://127.0.0.1:${port}`, 'endpoint', 'health']);
      assert.notEqual(result.code, 0, `plain http was answered:\n${result.stdout}${result.stderr}`);
      assert.ok(!/ is healthy: /.test(result.stdout + result.stderr), result.stdout + result.stderr);

      // And a plain HTTP request to /health never gets etcd's answer.
      let body = '';
      try {
        const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) });
        body = `${response.status} ${await response.text()}`;
      } catch (error) {
        body = `refused: ${(error as Error).message}`;
      }
      assert.ok(!body.includes('"health":"true"'), `plain http /health answered: ${body}`);
      t.diagnostic(`etcdctl over http: ${lastLine(result)}; GET http:///health: ${body.trim()}`);
      const overTls = await run(ETCDCTL, [...tlsFlags(caFile, client), `--endpoints=https://127.0.0.1:${port}`, 'endpoint', 'health']);
      assert.equal(overTls.code, 0, `control: https on the same port must pass:\n${overTls.stdout}${overTls.stderr}`);
    });
  });

  describe('members whose certificates lack clientAuth', () => {
    let cluster: Cluster;

    before(async () => {
      const issuer = await loadIssuer(paths);
      const serverOnly = join(dir, 'server-only');
      mkdirSync(serverOnly, { recursive: true, mode: 0o700 });
      const files: MemberFiles[] = [];
      for (const controller of nodesOf(plan, 'controller')) {
        const planned = plan.certificates.find((c) => c.id === `etcd-${controller.name}`)!;
        const keys = await generateKeyPair('ecdsa-p256');
        const cert = await issueCertificate({ ...planned, usages: ['serverAuth'] }, keys, { algorithm: 'ecdsa-p256', issuer });
        const member = { name: controller.name, cert: join(serverOnly, `${controller.name}.crt`), key: join(serverOnly, `${controller.name}.key`) };
        writeFileSync(member.cert, encodePem('CERTIFICATE', cert.rawData));
        writeFileSync(member.key, await privateKeyPem(keys.privateKey), { mode: 0o600 });
        files.push(member);
      }
      cluster = await startCluster(join(dir, 'broken'), caFile, files);
    });
    after(async () => {
      await cluster?.stop();
    });

    test(`never becomes healthy within ${BROKEN_CLUSTER_WATCH_MS / 1000} s: peers cannot authenticate to each other`, async (t) => {
      const deadline = Date.now() + BROKEN_CLUSTER_WATCH_MS;
      let attempts = 0;
      let last: CommandResult | undefined;
      while (Date.now() < deadline) {
        const askedAt = Date.now();
        last = await run(ETCDCTL, [...tlsFlags(caFile, client), `--endpoints=${cluster.endpoints}`, 'endpoint', 'health'], 15_000);
        attempts++;
        assert.notEqual(last.code, 0, `the cluster formed although its certificates lack clientAuth:\n${last.stdout}\n${cluster.logTails()}`);
        assert.ok(Date.now() - askedAt < 15_000, 'each health check gives its answer within a bounded time');
        await pause(1_000);
      }
      assert.ok(attempts >= 2, `only ${attempts} health checks ran`);
      assert.match(last!.stdout + last!.stderr, /unhealthy|deadline exceeded/);
      // The members' own logs say why: the peer's certificate is refused for client use.
      const logs = cluster.members.map((m) => readFileSync(m.logFile, 'utf8')).join('\n');
      const rejection = /.*(bad certificate|incompatible key usage).*/.exec(logs);
      assert.ok(rejection, `expected a TLS rejection between peers in the logs:\n${cluster.logTails()}`);
      t.diagnostic(`after ${attempts} failed health checks; a member logged: ${rejection[0].slice(0, 300)}`);
    });
  });
});
