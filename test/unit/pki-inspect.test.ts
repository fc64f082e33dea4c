// The checks must be able to fail: certificates that are wrong in exactly one way (a missing SAN,
// an etcd member without clientAuth, the wrong key, another CA, expiry, wrong names) must each be
// caught by inspectCertificate with the probe and hint a learner needs, and by openssl.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpecText, parseSpec } from '../../main/spec/parse-spec.ts';
import { buildPlan, nodesOf, type Plan } from '../../main/plan/address-plan.ts';
import type { CertificatePlan } from '../../main/plan/certificate-plan.ts';
import { labPaths, type LabPaths } from '../../main/lab/lab-dir.ts';
import { ensurePki, readPkiFile } from '../../main/pki/ensure-pki.ts';
import { inspectCertificate, type CertificateProbe } from '../../main/pki/inspect-certificate.ts';
import { issueCertificate, type Issuer } from '../../main/pki/issue-certificate.ts';
import { generateKeyPair, privateKeyPem } from '../../main/pki/key-pair.ts';
import { loadIssuer } from '../../main/pki/load-issuer.ts';
import { encodePem } from '../../main/pki/pem.ts';
import { openssl, opensslOk, publicKeysOf } from './pki-openssl.ts';

const plan: Plan = buildPlan(parseSpec(defaultSpecText()).spec);
const root = mkdtempSync(join(tmpdir(), 'hwl-pki-inspect-'));
const lab: LabPaths = labPaths(join(root, 'lab'));
const otherLab: LabPaths = labPaths(join(root, 'other-lab'));
let issuer: Issuer;
let caPem: string;

before(async () => {
  await ensurePki(plan, lab, { algorithm: 'ecdsa-p256' });
  await ensurePki(plan, otherLab, { algorithm: 'ecdsa-p256' });
  issuer = await loadIssuer(lab);
  caPem = readPkiFile(lab, 'ca', 'crt');
});
after(() => rmSync(root, { recursive: true, force: true }));

function planOf(id: string): CertificatePlan {
  const found = plan.certificates.find((c) => c.id === id);
  assert.ok(found, `no certificate ${id} in the plan`);
  return found;
}

/** Issues a certificate from a variant of the plan, signed by the lab CA; returns its PEMs. */
async function issueVariant(variant: CertificatePlan): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair('ecdsa-p256');
  const cert = await issueCertificate(variant, keys, { algorithm: 'ecdsa-p256', issuer });
  return { certPem: encodePem('CERTIFICATE', cert.rawData), keyPem: await privateKeyPem(keys.privateKey) };
}

function writeTemp(name: string, text: string): string {
  const file = join(root, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

function failing(probes: CertificateProbe[]): CertificateProbe[] {
  return probes.filter((p) => !p.ok);
}

describe('inspectCertificate catches what is wrong', () => {
  test('an API server certificate missing the load balancer IP', async () => {
    const planned = planOf('kube-apiserver');
    const lbIp = nodesOf(plan, 'lb')[0]!.ip;
    const variant = await issueVariant({ ...planned, ipAddresses: planned.ipAddresses.filter((ip) => ip !== lbIp) });

    // The variant really lacks it, as openssl sees it.
    const text = await opensslOk('x509', '-noout', '-ext', 'subjectAltName', '-in', writeTemp('apiserver-no-lb.crt', variant.certPem));
    assert.ok(!text.includes(`IP Address:${lbIp}`) && text.includes('IP Address:10.32.0.1'), text);

    const probes = await inspectCertificate({ ...variant, caPem, plan: planned });
    const failed = failing(probes);
    assert.deepEqual(failed.map((p) => p.name), [`SAN IP:${lbIp}`]);
    assert.match(failed[0]!.hint, new RegExp(`not ${lbIp.replace(/\./g, '\\.')}`));
    assert.match(failed[0]!.hint, /hardway-lab pki/);
    assert.ok(failed[0]!.seen.includes('IP:10.32.0.1'), 'seen lists the SANs that are there');
  });

  test('an etcd member certificate without clientAuth', async () => {
    const planned = planOf('etcd-controller-0');
    const variant = await issueVariant({ ...planned, usages: ['serverAuth'] });
    const text = await opensslOk('x509', '-noout', '-ext', 'extendedKeyUsage', '-in', writeTemp('etcd-server-only.crt', variant.certPem));
    assert.match(text, /TLS Web Server Authentication\n/);
    assert.ok(!text.includes('Client Authentication'));

    const failed = failing(await inspectCertificate({ ...variant, caPem, plan: planned }));
    assert.deepEqual(failed.map((p) => p.name), ['usage clientAuth']);
    assert.match(failed[0]!.hint, /etcd peers need clientAuth/);
    assert.match(failed[0]!.hint, /context deadline exceeded/);
    assert.equal(failed[0]!.seen, 'extendedKeyUsage serverAuth');
  });

  test('a certificate paired with the wrong key (and openssl shows the public keys differ)', async () => {
    const certPem = readPkiFile(lab, 'admin', 'crt');
    const wrongKey = readPkiFile(lab, 'kube-proxy', 'key');
    const failed = failing(await inspectCertificate({ certPem, keyPem: wrongKey, caPem, plan: planOf('admin') }));
    assert.deepEqual(failed.map((p) => p.name), ['key matches certificate']);
    assert.match(failed[0]!.hint, /admin\.crt and admin\.key come from different issuances/);
    assert.match(failed[0]!.hint, /hardway-lab pki --rotate/);

    const { fromCert, fromKey } = await publicKeysOf(join(lab.pki, 'admin.crt'), join(lab.pki, 'kube-proxy.key'));
    assert.ok(fromCert.includes('BEGIN PUBLIC KEY') && fromKey.includes('BEGIN PUBLIC KEY'));
    assert.notEqual(fromKey, fromCert);
  });

  test('an empty or unreadable key never counts as a match', async () => {
    const certPem = readPkiFile(lab, 'admin', 'crt');
    for (const keyPem of ['', 'not a key', readPkiFile(lab, 'admin', 'crt')]) {
      const probe = (await inspectCertificate({ certPem, keyPem, caPem, plan: planOf('admin') })).find((p) => p.name === 'key matches certificate');
      assert.equal(probe?.ok, false, `key ${JSON.stringify(keyPem.slice(0, 20))} must not match`);
    }
  });

  test('a certificate from another CA: openssl verify fails and so does the chain probe', async () => {
    const foreign = join(otherLab.pki, 'admin.crt');
    const result = await openssl('verify', '-CAfile', join(lab.pki, 'ca.crt'), foreign);
    assert.notEqual(result.code, 0, `openssl verify must fail: ${result.stdout}`);
    assert.match(result.stderr + result.stdout, /unable to get local issuer certificate|certificate signature failure/);
    // Positive control: it does verify against its own CA.
    assert.equal((await openssl('verify', '-CAfile', join(otherLab.pki, 'ca.crt'), foreign)).code, 0);

    const failed = failing(
      await inspectCertificate({ certPem: readPkiFile(otherLab, 'admin', 'crt'), keyPem: readPkiFile(otherLab, 'admin', 'key'), caPem, plan: planOf('admin') }),
    );
    assert.deepEqual(failed.map((p) => p.name), ['signed by the lab CA']);
    assert.match(failed[0]!.hint, /another CA/);
  });

  test('expired, and not yet valid (a clock behind)', async () => {
    const input = { certPem: readPkiFile(lab, 'admin', 'crt'), caPem, plan: planOf('admin') };
    const later = new Date(Date.now() + 400 * 24 * 3600 * 1000);
    const expired = failing(await inspectCertificate({ ...input, now: later }));
    assert.deepEqual(expired.map((p) => p.name), ['not expired']);
    assert.match(expired[0]!.hint, /expired on/);

    const earlier = new Date(Date.now() - 24 * 3600 * 1000);
    const early = failing(await inspectCertificate({ ...input, now: earlier }));
    assert.deepEqual(early.map((p) => p.name), ['not expired']);
    assert.match(early[0]!.hint, /clock is behind/);
  });

  test('a kubelet with the wrong CN, an admin outside system:masters', async () => {
    const kubelet = planOf('kubelet-worker-0');
    const badCn = await issueVariant({ ...kubelet, commonName: 'worker-0' });
    const cnFailed = failing(await inspectCertificate({ ...badCn, caPem, plan: kubelet }));
    assert.deepEqual(cnFailed.map((p) => p.name), ['common name']);
    assert.match(cnFailed[0]!.hint, /Node authorizer/);

    const admin = planOf('admin');
    const badO = await issueVariant({ ...admin, organization: 'system:nodes' });
    const oFailed = failing(await inspectCertificate({ ...badO, caPem, plan: admin }));
    assert.deepEqual(oFailed.map((p) => p.name), ['organization']);
    assert.equal(oFailed[0]!.seen, 'O system:nodes');
    assert.match(oFailed[0]!.hint, /system:masters/);
  });

  test('the scheduler is checked by CN only (a guide has a typo in its O)', async () => {
    const scheduler = planOf('kube-scheduler');
    const typo = await issueVariant({ ...scheduler, organization: 'system:system:kube-scheduler' });
    const probes = await inspectCertificate({ ...typo, caPem, plan: scheduler });
    assert.deepEqual(failing(probes), []);
    assert.ok(!probes.some((p) => p.name === 'organization'));
    const wrongCn = await issueVariant({ ...scheduler, commonName: 'kube-scheduler' });
    assert.deepEqual(failing(await inspectCertificate({ ...wrongCn, caPem, plan: scheduler })).map((p) => p.name), ['common name']);
  });

  test('the CA: checked as a CA, and a leaf passed off as the CA fails', async () => {
    const caPlan = planOf('ca');
    const ok = await inspectCertificate({ certPem: caPem, keyPem: readPkiFile(lab, 'ca', 'key'), caPem, plan: caPlan });
    assert.deepEqual(failing(ok), []);
    assert.ok(ok.some((p) => p.name === 'is a CA' && p.ok));
    const leafAsCa = readPkiFile(lab, 'admin', 'crt');
    const names = failing(await inspectCertificate({ certPem: leafAsCa, caPem: leafAsCa, plan: caPlan })).map((p) => p.name);
    assert.ok(names.includes('is a CA') && names.includes('self-signed lab CA'), names.join(', '));
  });

  test('unreadable input is a failing probe, a key pair is refused with an explanation', async () => {
    const probes = await inspectCertificate({ certPem: '', caPem, plan: planOf('admin') });
    assert.equal(probes.length, 1);
    assert.equal(probes[0]!.ok, false);
    assert.match(probes[0]!.seen, /empty/);
    await assert.rejects(inspectCertificate({ certPem: caPem, caPem, plan: planOf('service-accounts') }), /key pair/);
  });
});
