// The lab PKI for the ha preset, judged by the real openssl: chains, names, SANs, usages, key
// pairs, file modes; then what re-runs, plan changes and rotation do to the files on disk.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpecText, parseSpec } from '../../main/spec/parse-spec.ts';
import { buildPlan, nodesOf, type Plan } from '../../main/plan/address-plan.ts';
import type { CertificatePlan } from '../../main/plan/certificate-plan.ts';
import { labPaths, type LabPaths } from '../../main/lab/lab-dir.ts';
import { ensureEncryptionKey, ensurePki, readPkiFile, type PkiResult } from '../../main/pki/ensure-pki.ts';
import { inspectCertificate } from '../../main/pki/inspect-certificate.ts';
import { openssl, opensslOk, publicKeysOf } from './pki-openssl.ts';

const tempDirs: string[] = [];
function tempLab(): LabPaths {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-pki-'));
  tempDirs.push(dir);
  return labPaths(dir);
}
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function haPlan(): Plan {
  return buildPlan(parseSpec(defaultSpecText()).spec);
}

function certificate(plan: Plan, id: string): CertificatePlan {
  const found = plan.certificates.find((c) => c.id === id);
  assert.ok(found, `the plan has no certificate ${id}`);
  return found;
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

/** Every file of pki/ with its bytes, to compare runs. */
function snapshot(paths: LabPaths): Map<string, string> {
  return new Map(readdirSync(paths.pki).map((name) => [name, readFileSync(join(paths.pki, name), 'utf8')]));
}

/** subjectAltName, extendedKeyUsage and subject as openssl prints them. */
async function describeCert(paths: LabPaths, id: string): Promise<string> {
  return opensslOk('x509', '-noout', '-ext', 'subjectAltName,extendedKeyUsage', '-subject', '-in', join(paths.pki, `${id}.crt`));
}

describe('ensurePki, ha preset, ecdsa-p256', () => {
  const plan = haPlan();
  const paths = tempLab();
  const crt = (id: string) => join(paths.pki, `${id}.crt`);
  const key = (id: string) => join(paths.pki, `${id}.key`);
  const leaves = plan.certificates.filter((c) => c.kind === 'leaf');
  let first: PkiResult;

  before(async () => {
    first = await ensurePki(plan, paths, { algorithm: 'ecdsa-p256' });
  });

  test('issues exactly the planned certificates and key pairs', () => {
    assert.deepEqual([...first.created].sort(), plan.certificates.map((c) => c.id).sort());
    assert.deepEqual(first.kept, []);
    const expectedFiles = plan.certificates.flatMap((c) => (c.kind === 'keypair' ? [`${c.id}.key`, `${c.id}.pub`] : [`${c.id}.crt`, `${c.id}.key`]));
    // Also proves no temporary file was left behind.
    assert.deepEqual(readdirSync(paths.pki).sort(), expectedFiles.sort());
  });

  test('pki/ is 0700, private keys 0600, certificates and public keys 0644', () => {
    assert.equal(mode(paths.pki), 0o700);
    for (const name of readdirSync(paths.pki)) {
      assert.equal(mode(join(paths.pki, name)), name.endsWith('.key') ? 0o600 : 0o644, `mode of ${name}`);
    }
  });

  test('private keys are PKCS#8 PEM, the service-account public key SPKI PEM', () => {
    for (const c of plan.certificates) assert.match(readFileSync(key(c.id), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/, `${c.id}.key`);
    assert.match(readFileSync(join(paths.pki, 'service-accounts.pub'), 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
  });

  test('openssl verify -CAfile ca.crt passes for every leaf', async () => {
    assert.ok(leaves.length >= 12, `expected the ha preset to plan at least 12 leaves, got ${leaves.length}`);
    for (const leaf of leaves) {
      const result = await openssl('verify', '-CAfile', crt('ca'), crt(leaf.id));
      assert.equal(result.code, 0, `openssl verify ${leaf.id}.crt: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, new RegExp(`${leaf.id}\\.crt: OK`));
    }
  });

  test('the CA: CA:TRUE pathlen 0, keyCertSign + cRLSign, self-signed, valid ten years', async () => {
    const text = await opensslOk('x509', '-noout', '-ext', 'basicConstraints,keyUsage', '-subject', '-in', crt('ca'));
    assert.match(text, /critical\n\s+CA:TRUE, pathlen:0/);
    assert.match(text, /Certificate Sign, CRL Sign/);
    assert.match(text, /subject=O = Hardway Lab, CN = Hardway Lab CA/);
    assert.equal((await openssl('verify', '-CAfile', crt('ca'), crt('ca'))).code, 0);
    const day = 24 * 3600;
    assert.equal((await openssl('x509', '-noout', '-checkend', String(3640 * day), '-in', crt('ca'))).code, 0, 'CA valid for ~10 years');
    assert.equal((await openssl('x509', '-noout', '-checkend', String(3660 * day), '-in', crt('ca'))).code, 1, 'CA not valid past 10 years');
  });

  test('leaves: CA:FALSE, digitalSignature only (ECDSA), AKI = CA SKI, valid one year', async () => {
    const caSki = /Subject Key Identifier: \n\s+([0-9A-F:]+)/.exec(await opensslOk('x509', '-noout', '-ext', 'subjectKeyIdentifier', '-in', crt('ca')))?.[1];
    assert.ok(caSki, 'the CA has a subject key identifier');
    const day = 24 * 3600;
    for (const leaf of leaves) {
      const text = await opensslOk('x509', '-noout', '-ext', 'basicConstraints,keyUsage,authorityKeyIdentifier,subjectKeyIdentifier', '-in', crt(leaf.id));
      assert.match(text, /Basic Constraints: critical\n\s+CA:FALSE/, leaf.id);
      assert.match(text, /Key Usage: critical\n\s+Digital Signature\n/, leaf.id);
      assert.match(text, new RegExp(`Authority Key Identifier: \\n\\s+${caSki}`), `${leaf.id} names the CA's key`);
      assert.match(text, /Subject Key Identifier: \n\s+[0-9A-F:]{59}/, leaf.id);
      assert.equal((await openssl('x509', '-noout', '-checkend', String(360 * day), '-in', crt(leaf.id))).code, 0, `${leaf.id} valid ~1 year`);
      assert.equal((await openssl('x509', '-noout', '-checkend', String(367 * day), '-in', crt(leaf.id))).code, 1, `${leaf.id} not valid past 1 year`);
    }
  });

  test('kube-apiserver: CN kubernetes, serverAuth, every SAN clients use', async () => {
    const text = await describeCert(paths, 'kube-apiserver');
    const lb = nodesOf(plan, 'lb')[0]!;
    const controllers = nodesOf(plan, 'controller');
    assert.equal(controllers.length, 3);
    const required = [
      'IP Address:10.32.0.1',
      'IP Address:127.0.0.1',
      `IP Address:${lb.ip}`,
      ...controllers.map((c) => `IP Address:${c.ip}`),
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster',
      'DNS:kubernetes.default.svc.cluster.local',
    ];
    for (const san of required) assert.ok(text.includes(`${san},`) || text.includes(`${san}\n`), `kube-apiserver.crt lacks ${san}:\n${text}`);
    assert.equal(lb.ip, '10.240.0.10');
    assert.ok(!text.includes('DNS:kubernetes.svc.cluster.local'), 'the wrong name from one guide must not appear');
    assert.match(text, /TLS Web Server Authentication/);
    assert.match(text, /subject=.*CN = kubernetes$/m);
  });

  test('kubelets: CN system:node:NAME, O system:nodes, SAN name and IP, server and client', async () => {
    const workers = nodesOf(plan, 'worker');
    assert.equal(workers.length, 2);
    for (const worker of workers) {
      const text = await describeCert(paths, `kubelet-${worker.name}`);
      assert.match(text, new RegExp(`subject=O = system:nodes, CN = system:node:${worker.name}$`, 'm'));
      assert.match(text, new RegExp(`DNS:${worker.name}, IP Address:${worker.ip.replace(/\./g, '\\.')}\\n`));
      assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    }
  });

  test('etcd members: serverAuth AND clientAuth, SAN own IP and 127.0.0.1', async () => {
    for (const controller of nodesOf(plan, 'controller')) {
      const text = await describeCert(paths, `etcd-${controller.name}`);
      assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/, `etcd-${controller.name}`);
      assert.ok(text.includes(`IP Address:${controller.ip}`), `etcd-${controller.name} lacks its IP`);
      assert.ok(text.includes('IP Address:127.0.0.1'), `etcd-${controller.name} lacks 127.0.0.1`);
    }
  });

  test('client identities: admin in system:masters, kube-proxy in system:node-proxier, scheduler and controller-manager CNs', async () => {
    const expectations: Array<[string, RegExp]> = [
      ['admin', /subject=O = system:masters, CN = admin$/m],
      ['kube-proxy', /subject=O = system:node-proxier, CN = system:kube-proxy$/m],
      ['kube-scheduler', /subject=.*CN = system:kube-scheduler$/m],
      ['kube-controller-manager', /subject=.*CN = system:kube-controller-manager$/m],
      ['apiserver-etcd-client', /subject=CN = kube-apiserver-etcd-client$/m],
    ];
    for (const [id, subject] of expectations) {
      const text = await describeCert(paths, id);
      assert.match(text, subject, id);
      assert.match(text, /Extended Key Usage: \n\s+TLS Web Client Authentication\n/, `${id} is a client certificate`);
    }
  });

  test('every key matches its certificate (openssl x509 -pubkey vs openssl pkey -pubout)', async () => {
    for (const c of plan.certificates.filter((p) => p.kind !== 'keypair')) {
      const { fromCert, fromKey } = await publicKeysOf(crt(c.id), key(c.id));
      // Two empty outputs would compare equal: that is how a published checker always passed.
      assert.match(fromCert, /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]{40,}-----END PUBLIC KEY-----\n$/, `${c.id}.crt public key`);
      assert.equal(fromKey, fromCert, `${c.id}.key does not match ${c.id}.crt`);
    }
    const fromKey = await opensslOk('pkey', '-pubout', '-in', key('service-accounts'));
    assert.ok(fromKey.includes('BEGIN PUBLIC KEY'));
    assert.equal(readFileSync(join(paths.pki, 'service-accounts.pub'), 'utf8'), fromKey);
  });

  test('serial numbers are random: all different, 16 bytes', async () => {
    const serials = await Promise.all(leaves.map(async (l) => (await opensslOk('x509', '-noout', '-serial', '-in', crt(l.id))).trim()));
    assert.equal(new Set(serials).size, serials.length);
    for (const s of serials) assert.match(s, /^serial=[0-9A-F]{32}$/);
  });

  test('inspectCertificate passes every probe on every issued certificate', async () => {
    const caPem = readPkiFile(paths, 'ca', 'crt');
    for (const c of plan.certificates.filter((p) => p.kind !== 'keypair')) {
      const probes = await inspectCertificate({ certPem: readPkiFile(paths, c.id, 'crt'), keyPem: readPkiFile(paths, c.id, 'key'), caPem, plan: c });
      const failed = probes.filter((p) => !p.ok);
      assert.deepEqual(failed, [], `${c.id}: ${JSON.stringify(failed, null, 2)}`);
      assert.ok(probes.some((p) => p.name === 'key matches certificate'));
    }
  });

  test('a re-run keeps every file byte-identical and reports everything as kept', async () => {
    const before = snapshot(paths);
    const again = await ensurePki(plan, paths, { algorithm: 'ecdsa-p256' });
    assert.deepEqual(again.created, []);
    assert.deepEqual([...again.kept].sort(), plan.certificates.map((c) => c.id).sort());
    assert.deepEqual(snapshot(paths), before);
  });

  test('a re-run puts loosened modes back without touching the bytes', async () => {
    const lab = tempLab();
    cpSync(paths.pki, lab.pki, { recursive: true });
    chmodSync(join(lab.pki, 'admin.key'), 0o644);
    chmodSync(lab.pki, 0o755);
    const before = snapshot(lab);
    const result = await ensurePki(plan, lab, { algorithm: 'ecdsa-p256' });
    assert.deepEqual(result.created, []);
    assert.equal(mode(join(lab.pki, 'admin.key')), 0o600);
    assert.equal(mode(lab.pki), 0o700);
    assert.deepEqual(snapshot(lab), before);
  });

  test('only what no longer matches the plan is re-issued, with the reason', async () => {
    const lab = tempLab();
    cpSync(paths.pki, lab.pki, { recursive: true });
    const before = snapshot(lab);
    const changed = haPlan();
    certificate(changed, 'kube-apiserver').ipAddresses.push('10.240.0.99');
    certificate(changed, 'admin').organization = 'system:admins';
    const result = await ensurePki(changed, lab, { algorithm: 'ecdsa-p256' });
    assert.deepEqual([...result.created].sort(), ['admin', 'kube-apiserver']);
    assert.match(result.reissued?.find((r) => r.id === 'kube-apiserver')?.reason ?? '', /10\.240\.0\.99/);
    assert.match(result.reissued?.find((r) => r.id === 'admin')?.reason ?? '', /organization/);
    assert.match(await describeCert(lab, 'kube-apiserver'), /IP Address:10\.240\.0\.99/);
    assert.match(await describeCert(lab, 'admin'), /O = system:admins/);
    for (const [name, text] of snapshot(lab)) {
      if (name.startsWith('admin.') || name.startsWith('kube-apiserver.')) assert.notEqual(text, before.get(name), `${name} re-issued`);
      else assert.equal(text, before.get(name), `${name} kept`);
    }
  });

  test('a certificate paired with the wrong key is re-issued', async () => {
    const lab = tempLab();
    cpSync(paths.pki, lab.pki, { recursive: true });
    // As after a crash between writing a new key and its certificate.
    writeFileSync(join(lab.pki, 'kube-proxy.key'), readFileSync(join(lab.pki, 'admin.key')), { mode: 0o600 });
    const result = await ensurePki(plan, lab, { algorithm: 'ecdsa-p256' });
    assert.deepEqual(result.created, ['kube-proxy']);
    assert.match(result.reissued?.[0]?.reason ?? '', /key matches certificate/);
    const { fromCert, fromKey } = await publicKeysOf(join(lab.pki, 'kube-proxy.crt'), join(lab.pki, 'kube-proxy.key'));
    assert.ok(fromCert.length > 0);
    assert.equal(fromKey, fromCert);
  });

  test('temporary files a crashed run left behind are removed', async () => {
    const lab = tempLab();
    cpSync(paths.pki, lab.pki, { recursive: true });
    const leftover = join(lab.pki, '.admin.key.tmp-12345-deadbeef');
    writeFileSync(leftover, '-----BEGIN PRIVATE KEY-----\nhalf', { mode: 0o600 });
    const result = await ensurePki(plan, lab, { algorithm: 'ecdsa-p256' });
    assert.deepEqual(result.created, []);
    assert.ok(!readdirSync(lab.pki).includes('.admin.key.tmp-12345-deadbeef'));
  });

  test('rotate re-issues everything under a new CA', async () => {
    const lab = tempLab();
    cpSync(paths.pki, lab.pki, { recursive: true });
    const oldCa = join(lab.root, 'old-ca.crt');
    cpSync(join(lab.pki, 'ca.crt'), oldCa);
    const before = snapshot(lab);
    const result = await ensurePki(plan, lab, { algorithm: 'ecdsa-p256', rotate: true });
    assert.deepEqual([...result.created].sort(), plan.certificates.map((c) => c.id).sort());
    assert.deepEqual(result.kept, []);
    const after = snapshot(lab);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [name, text] of after) assert.notEqual(text, before.get(name), `${name} must change on rotate`);
    const newAdmin = join(lab.pki, 'admin.crt');
    assert.equal((await openssl('verify', '-CAfile', join(lab.pki, 'ca.crt'), newAdmin)).code, 0);
    assert.notEqual((await openssl('verify', '-CAfile', oldCa, newAdmin)).code, 0, 'the new admin.crt must not verify against the old CA');
  });
});

describe('ensurePki, rsa-2048 (CA, the API server and one etcd member)', () => {
  // A reduced plan keeps RSA key generation (slow) to a few keys.
  const full = haPlan();
  const plan: Plan = { ...full, certificates: full.certificates.filter((c) => ['ca', 'kube-apiserver', 'etcd-controller-0', 'service-accounts'].includes(c.id)) };
  const paths = tempLab();
  const crt = (id: string) => join(paths.pki, `${id}.crt`);

  before(async () => {
    await ensurePki(plan, paths, { algorithm: 'rsa-2048' });
  });

  test('keys are RSA 2048, signatures sha256WithRSAEncryption, leaves verify', async () => {
    for (const id of ['ca', 'kube-apiserver', 'etcd-controller-0', 'service-accounts']) {
      assert.match(await opensslOk('pkey', '-noout', '-text', '-in', join(paths.pki, `${id}.key`)), /Private-Key: \(2048 bit/, id);
    }
    for (const id of ['kube-apiserver', 'etcd-controller-0']) {
      const verify = await openssl('verify', '-CAfile', crt('ca'), crt(id));
      assert.equal(verify.code, 0, `${id}: ${verify.stdout}${verify.stderr}`);
      const text = await opensslOk('x509', '-noout', '-text', '-in', crt(id));
      assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
      assert.match(text, /Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/, `${id} RSA leaves allow key encipherment`);
      const { fromCert, fromKey } = await publicKeysOf(crt(id), join(paths.pki, `${id}.key`));
      assert.ok(fromCert.includes('BEGIN PUBLIC KEY'));
      assert.equal(fromKey, fromCert);
    }
    assert.match(await describeCert(paths, 'etcd-controller-0'), /TLS Web Server Authentication, TLS Web Client Authentication/);
  });

  test('a re-run keeps the RSA material; switching to ecdsa-p256 re-issues it all', async () => {
    const before = snapshot(paths);
    assert.deepEqual((await ensurePki(plan, paths, { algorithm: 'rsa-2048' })).created, []);
    assert.deepEqual(snapshot(paths), before);
    const switched = await ensurePki(plan, paths, { algorithm: 'ecdsa-p256' });
    assert.deepEqual([...switched.created].sort(), ['ca', 'etcd-controller-0', 'kube-apiserver', 'service-accounts']);
    assert.match(switched.reissued?.find((r) => r.id === 'ca')?.reason ?? '', /rsa-2048.*ecdsa-p256/);
    assert.match(await opensslOk('pkey', '-noout', '-text', '-in', join(paths.pki, 'ca.key')), /ASN1 OID: prime256v1/);
  });
});

describe('ensureEncryptionKey and readPkiFile', () => {
  test('the encryption key is 32 random bytes in base64, 0600 in a 0700 dir, kept on re-run', async () => {
    const paths = tempLab();
    const key = await ensureEncryptionKey(paths);
    assert.equal(Buffer.from(key, 'base64').length, 32);
    assert.equal(readFileSync(join(paths.secrets, 'encryption-key'), 'utf8'), key);
    assert.equal(mode(join(paths.secrets, 'encryption-key')), 0o600);
    assert.equal(mode(paths.secrets), 0o700);
    assert.equal(await ensureEncryptionKey(paths), key);
    assert.notEqual(await ensureEncryptionKey(tempLab()), key, 'two labs get different keys');
  });

  test('a damaged encryption key is reported, never replaced', async () => {
    const paths = tempLab();
    await ensureEncryptionKey(paths);
    writeFileSync(join(paths.secrets, 'encryption-key'), 'c2hvcnQ=');
    await assert.rejects(ensureEncryptionKey(paths), /encryption-key does not hold 32 base64-encoded bytes/);
    assert.equal(readFileSync(join(paths.secrets, 'encryption-key'), 'utf8'), 'c2hvcnQ=');
  });

  test('readPkiFile names the missing file and the command that creates it', () => {
    const paths = tempLab();
    assert.throws(() => readPkiFile(paths, 'admin', 'crt'), (error: Error) => {
      assert.ok(error.message.includes(join(paths.pki, 'admin.crt')));
      assert.ok(error.message.includes('hardway-lab pki'));
      return true;
    });
  });
});
