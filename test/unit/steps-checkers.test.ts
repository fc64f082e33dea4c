// Checkers evaluated from captured command outputs, no VMs. The etcd and haproxy outputs below
// were captured from Debian's etcd 3.4.23 (a 3-member cluster over mutual TLS on 127.0.0.1, then
// with one member killed) and haproxy 2.6.12 (`show stat` on its stats socket); the leaderless
// and two-leader cases are those captures with the leader fields changed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec, defaultSpecText } from '../../main/spec/parse-spec.ts';
import { buildPlan, type Plan } from '../../main/plan/address-plan.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { etcdProbes, parseEtcdJson, parseEndpointStatus, parseMemberList } from '../../main/checkers/etcd-cluster.ts';
import { loadBalancerProbes, parseShowStat, serverUp } from '../../main/checkers/load-balancer.ts';
import { computeProbes } from '../../main/checkers/compute-facts.ts';
import { routeProbes, podTrafficProbe } from '../../main/checkers/pod-routes.ts';
import { encryptionConfigProbes } from '../../main/checkers/encryption-config.ts';
import { certificateProbes } from '../../main/checkers/certificates.ts';
import { preflightProbes } from '../../main/checkers/host-preflight.ts';
import { leaseProbes, rbacProbes } from '../../main/checkers/control-plane.ts';
import { ensurePki } from '../../main/pki/ensure-pki.ts';
import { renderLab } from '../../main/render/render-lab.ts';
import { loadIssuer } from '../../main/pki/load-issuer.ts';
import { issueCertificate } from '../../main/pki/issue-certificate.ts';
import { generateKeyPair, privateKeyPem } from '../../main/pki/key-pair.ts';
import { readPkiFile } from '../../main/pki/pki-files.ts';
import { parseFileFacts, parseReadFiles, type RemoteFile } from '../../main/engine/node-session.ts';
import { labPki } from '../../main/steps/certificates.ts';
import type { Probe } from '../../main/shared/engine-types.ts';
import { readFileSync } from 'node:fs';
import { renderedFilePath } from '../../main/lab/lab-dir.ts';

const ROOMY = { hostMemoryMiB: 256 * 1024 };

/** The ha plan with the 3 controllers mapped onto the captured cluster's members m1..m3 (etcd
 * 3.4.23: these captures include the faults; the green 3.6 cluster is in steps-golden.test.ts). */
function haPlan(): Plan {
  const spec = parseSpec(defaultSpecText().replace(/\betcd: \S+/, 'etcd: 3.4.23'), 'test.yaml', ROOMY).spec;
  return buildPlan(spec);
}

// Captured from etcd 3.4.23 (endpoints rewritten from 127.0.0.1:3237N to the plan's controllers).
const MEMBER_LIST =
  '{"header":{"cluster_id":2128061763281784949,"member_id":9032237900398547446,"raft_term":2},"members":[{"ID":9032237900398547446,"name":"controller-2","peerURLs":["https://10.240.0.13:2380"],"clientURLs":["https://10.240.0.13:2379"]},{"ID":14534276454351077327,"name":"controller-0","peerURLs":["https://10.240.0.11:2380"],"clientURLs":["https://10.240.0.11:2379"]},{"ID":15361938738010964279,"name":"controller-1","peerURLs":["https://10.240.0.12:2380"],"clientURLs":["https://10.240.0.12:2379"]}]}';
const HEALTH_OK =
  '[{"endpoint":"https://10.240.0.11:2379","health":true,"took":"12.151785ms"},{"endpoint":"https://10.240.0.13:2379","health":true,"took":"14.111936ms"},{"endpoint":"https://10.240.0.12:2379","health":true,"took":"14.95847ms"}]';
const STATUS_OK =
  '[{"Endpoint":"https://10.240.0.11:2379","Status":{"header":{"cluster_id":2128061763281784949,"member_id":14534276454351077327,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":9032237900398547446,"raftIndex":8,"raftTerm":2,"raftAppliedIndex":8,"dbSizeInUse":16384}},{"Endpoint":"https://10.240.0.12:2379","Status":{"header":{"cluster_id":2128061763281784949,"member_id":15361938738010964279,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":9032237900398547446,"raftIndex":8,"raftTerm":2,"raftAppliedIndex":8,"dbSizeInUse":20480}},{"Endpoint":"https://10.240.0.13:2379","Status":{"header":{"cluster_id":2128061763281784949,"member_id":9032237900398547446,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":24576,"leader":9032237900398547446,"raftIndex":8,"raftTerm":2,"raftAppliedIndex":8,"dbSizeInUse":16384}}]';
const HEALTH_ONE_DOWN =
  '[{"endpoint":"https://10.240.0.13:2379","health":true,"took":"10.627089ms"},{"endpoint":"https://10.240.0.11:2379","health":true,"took":"28.719046ms"},{"endpoint":"https://10.240.0.12:2379","health":false,"took":"5.001016928s","error":"context deadline exceeded"}]';
const STATUS_ONE_DOWN =
  '[{"Endpoint":"https://10.240.0.11:2379","Status":{"header":{"cluster_id":2128061763281784949,"member_id":14534276454351077327,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":9032237900398547446,"raftIndex":8,"raftTerm":2,"raftAppliedIndex":8,"dbSizeInUse":16384}},{"Endpoint":"https://10.240.0.13:2379","Status":{"header":{"cluster_id":2128061763281784949,"member_id":9032237900398547446,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":24576,"leader":9032237900398547446,"raftIndex":8,"raftTerm":2,"raftAppliedIndex":8,"dbSizeInUse":16384}}]';

function clusterOutput(list: string, health: string, status: string): string {
  return `==> member-list\n${list}\n==> member-list-stderr\n==> endpoint-health\n${health}\n==> endpoint-health-stderr\n==> endpoint-status\n${status}\n==> endpoint-status-stderr\n`;
}

function memberOutput(active: string, plainExit = 1): string {
  return [
    '==> active',
    active,
    '==> version',
    'etcd Version: 3.4.23',
    '==> plain-http',
    plainExit === 0 ? 'http://10.240.0.11:2379 is healthy: successfully committed proposal: took = 2ms' : 'http://10.240.0.11:2379 is unhealthy: failed to commit proposal: context deadline exceeded\nError: unhealthy cluster',
    `exit=${plainExit}`,
    '==> no-client-cert',
    'https://10.240.0.11:2379 is unhealthy: failed to commit proposal: context deadline exceeded',
    'exit=1',
  ].join('\n');
}

function failing(probes: Probe[]): Probe[] {
  return probes.filter((p) => !p.ok);
}

test('etcd: member IDs survive parsing (64-bit, no rounding)', () => {
  const members = parseMemberList(MEMBER_LIST);
  assert.deepEqual(
    members.map((m) => m.id),
    ['9032237900398547446', '14534276454351077327', '15361938738010964279'],
  );
  const status = parseEndpointStatus(STATUS_OK);
  assert.equal(status[2]!.memberId, status[2]!.leader);
  // Naive JSON.parse rounds these IDs; the reason for parseEtcdJson.
  assert.notEqual(String((JSON.parse(MEMBER_LIST) as { members: { ID: number }[] }).members[1]!.ID), '14534276454351077327');
  assert.deepEqual(parseEtcdJson<{ a: string }>('{"a":12345678901234567890}'), { a: '12345678901234567890' });
});

test('etcd: a healthy 3-member cluster passes every probe', () => {
  const plan = haPlan();
  const controllers = plan.nodes.filter((n) => n.role === 'controller');
  const probes = etcdProbes(
    plan,
    controllers.map((node) => ({ node, output: memberOutput('active') })),
    { askedFrom: 'controller-0', output: clusterOutput(MEMBER_LIST, HEALTH_OK, STATUS_OK) },
  );
  assert.deepEqual(failing(probes), []);
  const leader = probes.find((p) => p.name === 'exactly one leader')!;
  assert.match(leader.seen, /controller-2 leads \(3 of 3 members answered, all agree\)/);
  assert.equal(probes.filter((p) => p.name === 'endpoint health over TLS').length, 3);
  assert.equal(probes.filter((p) => p.name === 'member started').length, 3);
});

test('etcd: a stopped member fails health and its unit, with the fix on that node; the leader still holds', () => {
  const plan = haPlan();
  const controllers = plan.nodes.filter((n) => n.role === 'controller');
  const probes = etcdProbes(
    plan,
    controllers.map((node) => ({ node, output: memberOutput(node.name === 'controller-1' ? 'inactive' : 'active') })),
    { askedFrom: 'controller-0', output: clusterOutput(MEMBER_LIST, HEALTH_ONE_DOWN, STATUS_ONE_DOWN) },
  );
  const bad = failing(probes);
  assert.deepEqual(
    bad.map((p) => [p.node, p.name]),
    [
      ['controller-1', 'etcd unit active'],
      ['controller-1', 'endpoint health over TLS'],
    ],
  );
  assert.match(bad[1]!.seen, /context deadline exceeded/);
  assert.match(bad[0]!.hint, /on controller-1: `systemctl start etcd`/);
  assert.ok(probes.find((p) => p.name === 'exactly one leader')!.ok, 'two of three still elect a leader');
});

test('etcd: leaderless and two-leader outputs fail "exactly one leader" with the right hint', () => {
  const plan = haPlan();
  const controllers = plan.nodes.filter((n) => n.role === 'controller');
  const members = controllers.map((node) => ({ node, output: memberOutput('active') }));

  const leaderless = STATUS_OK.replace(/"leader":9032237900398547446/g, '"leader":0');
  let probe = etcdProbes(plan, members, { output: clusterOutput(MEMBER_LIST, HEALTH_OK, leaderless) }).find((p) => p.name === 'exactly one leader')!;
  assert.equal(probe.ok, false);
  assert.match(probe.seen, /no leader/);
  assert.match(probe.hint, /at least 2 members must run/);

  // Member controller-0 believes it leads, while the others follow controller-2: split brain.
  const twoLeaders = STATUS_OK.replace(
    '"member_id":14534276454351077327,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":9032237900398547446',
    '"member_id":14534276454351077327,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":14534276454351077327',
  );
  assert.notEqual(twoLeaders, STATUS_OK);
  probe = etcdProbes(plan, members, { output: clusterOutput(MEMBER_LIST, HEALTH_OK, twoLeaders) }).find((p) => p.name === 'exactly one leader')!;
  assert.equal(probe.ok, false);
  assert.match(probe.seen, /controller-0 and controller-2 claim leadership|controller-2 and controller-0 claim leadership/);
  assert.match(probe.hint, /two separate clusters/);
});

test('etcd: plain HTTP answered, unknown member, nobody answering — each named', () => {
  const plan = haPlan();
  const controllers = plan.nodes.filter((n) => n.role === 'controller');
  const members = controllers.map((node) => ({ node, output: memberOutput('active', node.name === 'controller-0' ? 0 : 1) }));
  const plain = failing(etcdProbes(plan, members, { output: clusterOutput(MEMBER_LIST, HEALTH_OK, STATUS_OK) }));
  assert.deepEqual(plain.map((p) => [p.node, p.name]), [['controller-0', 'plain-HTTP client port refused']]);
  assert.match(plain[0]!.hint, /only https:\/\//);
  // A refusal reads as one: etcdctl's "failed to commit proposal: context deadline exceeded" is a client timeout.
  const refused = etcdProbes(plan, members, { output: clusterOutput(MEMBER_LIST, HEALTH_OK, STATUS_OK) }).find((p) => p.node === 'controller-1' && p.name === 'plain-HTTP client port refused')!;
  assert.equal(refused.ok, true);
  assert.equal(refused.seen, 'no answer over plain HTTP: the client timed out');

  const withStranger = `${MEMBER_LIST.slice(0, -2)},{"ID":1234567890123456789,"name":"old-node","peerURLs":["https://10.240.0.99:2380"],"clientURLs":["https://10.240.0.99:2379"]}]}`;
  const stranger = failing(etcdProbes(plan, controllers.map((node) => ({ node, output: memberOutput('active') })), { output: clusterOutput(withStranger, HEALTH_OK, STATUS_OK) }));
  assert.equal(stranger.length, 1);
  assert.match(stranger[0]!.seen, /old-node/);
  assert.match(stranger[0]!.hint, /etcdctl member remove/);

  const nobody = failing(etcdProbes(plan, controllers.map((node) => ({ node, output: memberOutput('failed') })), {}));
  assert.ok(nobody.some((p) => p.name === 'exactly one leader' && /no etcd member answers/.test(p.seen)));
});

// Captured from haproxy 2.6.12 (Debian): controller-0 UP, controller-1 failing /readyz (503), controller-2 refused.
const STAT_HEADER =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,';
const ROW_UP =
  'kube-apiservers,controller-0,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,1,1,2,2,,1,3,1,,0,,2,0,,0,L7OK,200,8,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,3,4,,,,10.240.0.11:6443,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,1,3,0,,,,,,,,,,,,,,,,,,,,,,';
const ROW_503 =
  'kube-apiservers,controller-1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,4,4,,1,3,2,,0,,2,0,,0,L7STS,503,3,,,,,,,,,,,0,0,,,,,-1,Service Unavailable,,0,0,0,0,,,,Layer7 wrong status,,2,3,0,,,,10.240.0.12:6443,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,2,2,0,,,,,,,,,,,,,,,,,,,,,,';
const ROW_REFUSED =
  'kube-apiservers,controller-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,3,3,,1,3,2,,0,,2,0,,0,L4CON,,0,,,,,,,,,,,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,3,0,,,,10.240.0.13:6443,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,';

function haproxyOutput(rows: string[], ports: string[]): string {
  return [
    '==> installed',
    'HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/',
    '==> config-check',
    'Configuration file is valid',
    'exit=0',
    '==> active',
    'active',
    '==> listen',
    'LISTEN 0      4096         0.0.0.0:6443      0.0.0.0:*',
    '==> stat',
    STAT_HEADER,
    ...rows,
    '==> backend-ports',
    ...ports,
  ].join('\n');
}

test('haproxy: show stat parses; backends judged UP, not ready, or absent', () => {
  const plan = haPlan();
  const lb = plan.nodes.find((n) => n.role === 'lb')!;
  const rows = parseShowStat(`${STAT_HEADER}\n${ROW_UP}\n${ROW_503}\n${ROW_REFUSED}\n`);
  assert.deepEqual(
    rows.map((r) => [r.svname, r.status, r.checkStatus, r.checkCode]),
    [
      ['controller-0', 'UP', 'L7OK', '200'],
      ['controller-1', 'DOWN', 'L7STS', '503'],
      ['controller-2', 'DOWN', 'L4CON', ''],
    ],
  );

  const withControlPlane = loadBalancerProbes(plan, {
    node: lb,
    output: haproxyOutput([ROW_UP, ROW_503, ROW_REFUSED], ['10.240.0.11 open', '10.240.0.12 open', '10.240.0.13 closed']),
    controlPlaneExpected: true,
    version: { ok: true, seen: 'HTTP 200' },
  });
  const bad = failing(withControlPlane);
  assert.deepEqual(
    bad.map((p) => [p.node, p.name]),
    [
      ['controller-1', 'backend UP'],
      ['controller-2', 'backend UP'],
    ],
  );
  assert.match(bad[0]!.seen, /DOWN \(L7STS 503 Layer7 wrong status\)/);
  assert.match(bad[0]!.hint, /answers but haproxy's check \(GET \/readyz over TLS\) fails/);
  assert.match(bad[1]!.hint, /start the API server on controller-2/);

  // Without Kubernetes binaries, a DOWN server with nothing listening is expected, not a failure;
  // one that listens but fails its check still is.
  const noKube = loadBalancerProbes(plan, {
    node: lb,
    output: haproxyOutput([ROW_UP, ROW_503, ROW_REFUSED], ['10.240.0.11 open', '10.240.0.12 open', '10.240.0.13 closed']),
    controlPlaneExpected: false,
    tcp: { ok: true, seen: 'connected' },
  });
  assert.deepEqual(failing(noKube).map((p) => p.node), ['controller-1']);
  assert.match(noKube.find((p) => p.node === 'controller-2')!.seen, /no API server on controller-2 yet/);
});

test('haproxy: a server still UP from startup, before its first health check, is not counted as UP', () => {
  const plan = haPlan();
  const lb = plan.nodes.find((n) => n.role === 'lb')!;
  // Right after haproxy starts every server shows UP with check status INI (no check has ended).
  const rowIni = ROW_UP.replace(',L7OK,200,8,', ',INI,,0,');
  const [row] = parseShowStat(`${STAT_HEADER}\n${rowIni}\n`);
  assert.equal(row!.status, 'UP');
  assert.equal(row!.checkStatus, 'INI');
  assert.equal(serverUp(row!), false);
  assert.equal(serverUp(parseShowStat(`${STAT_HEADER}\n${ROW_UP}\n`)[0]!), true);
  const probes = loadBalancerProbes(plan, {
    node: lb,
    output: haproxyOutput([rowIni, ROW_503, ROW_REFUSED], ['10.240.0.11 closed', '10.240.0.12 open', '10.240.0.13 closed']),
    controlPlaneExpected: true,
    version: { ok: true, seen: 'HTTP 200' },
  });
  const c0 = probes.find((p) => p.node === 'controller-0' && p.name === 'backend UP')!;
  assert.equal(c0.ok, false);
  assert.match(c0.seen, /UP \(INI/);
  assert.match(c0.hint, /start the API server on controller-0/);
});

test('haproxy: invalid config and a missing server are caught', () => {
  const plan = haPlan();
  const lb = plan.nodes.find((n) => n.role === 'lb')!;
  const output = haproxyOutput([ROW_UP, ROW_REFUSED], ['10.240.0.11 open', '10.240.0.12 closed', '10.240.0.13 closed']).replace(
    'Configuration file is valid\nexit=0',
    "[ALERT]    (1) : config : parsing [/etc/haproxy/haproxy.cfg:31] : unknown keyword 'balanse' in 'backend' section\nexit=1",
  );
  const bad = failing(loadBalancerProbes(plan, { node: lb, output, controlPlaneExpected: false, tcp: { ok: true, seen: 'ok' } }));
  assert.deepEqual(bad.map((p) => p.name), ['config valid (haproxy -c)', 'backend UP']);
  assert.match(bad[0]!.seen, /unknown keyword 'balanse'/);
  assert.match(bad[1]!.seen, /not in backend kube-apiservers/);
});

test('compute: hostname, hosts, swap, source address and clock from the facts script', () => {
  const plan = haPlan();
  const node = plan.nodes.find((n) => n.name === 'worker-0')!;
  const good = (over: Record<string, string> = {}) => {
    const sections: Record<string, string> = {
      hostname: 'worker-0',
      epoch: '1700000000',
      swaps: '',
      'fstab-swap': '',
      addresses: 'eth0 10.240.0.21/24',
    };
    for (const n of plan.nodes) {
      sections[`resolve ${n.name}`] = `${n.ip}      ${n.name}`;
      sections[`route ${n.ip}`] = n.name === node.name ? `local ${n.ip} dev lo table local src ${n.ip}` : `${n.ip} dev eth0 src 10.240.0.21 uid 0 \\    cache`;
    }
    Object.assign(sections, over);
    return Object.entries(sections)
      .map(([k, v]) => `==> ${k}\n${v}`)
      .join('\n');
  };
  assert.deepEqual(failing(computeProbes(plan, node, good(), 1700000010)), []);

  const broken = computeProbes(
    plan,
    node,
    good({
      hostname: 'hardway-lab',
      'resolve worker-0': '127.0.1.1       worker-0',
      swaps: '/swapfile file 1048572 0 -2',
      'route 10.240.0.11': '10.240.0.11 via 10.0.2.2 dev eth1 src 10.0.2.15 uid 0',
    }),
    1700000500,
  );
  const bad = new Map(failing(broken).map((p) => [p.name, p]));
  assert.deepEqual([...bad.keys()].sort(), ['clock in sync with the host', 'hostname', 'own name resolves to the lab address', 'swap off', 'talks to other nodes from its lab address']);
  assert.match(bad.get('own name resolves to the lab address')!.hint, /127\.0\.1\.1/);
  assert.match(bad.get('talks to other nodes from its lab address')!.seen, /src 10\.0\.2\.15/);
  assert.match(bad.get('talks to other nodes from its lab address')!.hint, /NAT\/management NIC/);
  assert.match(bad.get('clock in sync with the host')!.seen, /-500 s/);
});

test('routes: each remote pod CIDR via its owner; persistence; traffic hints', () => {
  const plan = haPlan();
  const node = plan.nodes.find((n) => n.name === 'controller-0')!;
  const ok = '==> routes\ndefault via 10.240.0.1 dev eth0\n10.200.0.0/24 via 10.240.0.21 dev eth0\n10.200.1.0/24 via 10.240.0.22 dev eth0\n10.240.0.0/24 dev eth0 proto kernel scope link src 10.240.0.11\n==> enabled\nenabled';
  assert.deepEqual(failing(routeProbes(plan, node, ok, true)), []);

  const deleted = ok.replace('10.200.1.0/24 via 10.240.0.22 dev eth0\n', '');
  const bad = failing(routeProbes(plan, node, deleted, true));
  assert.equal(bad.length, 1);
  assert.equal(bad[0]!.name, "route to worker-1's pods");
  assert.equal(bad[0]!.seen, 'no route');
  assert.match(bad[0]!.hint, /ip route add 10\.200\.1\.0\/24 via 10\.240\.0\.22/);

  const wrongHop = ok.replace('10.200.1.0/24 via 10.240.0.22', '10.200.1.0/24 via 10.240.0.21');
  assert.match(failing(routeProbes(plan, node, wrongHop, true))[0]!.hint, /ip route replace/);
  const notPersisted = failing(routeProbes(plan, node, ok.replace('enabled\nenabled', 'enabled\ndisabled'), true));
  assert.deepEqual(notPersisted.map((p) => p.name), ['routes survive a reboot']);

  const [w0, w1] = plan.nodes.filter((n) => n.role === 'worker');
  const lost = podTrafficProbe(plan, { from: w0!, to: w1!, toPodIp: '10.200.1.2', ok: false, output: '3 packets transmitted, 0 received, 100% packet loss' });
  assert.equal(lost.ok, false);
  assert.match(lost.hint, /hardway-lab up --step pod-routes/);
  const noCni = podTrafficProbe(plan, { from: w0!, to: w1!, ok: false, setupFailed: true, output: 'could not create the stand-in pods' });
  assert.match(noCni.hint, /--step workers/);
});

// The workers checker: steps-golden.test.ts, on worker-facts.sh as it ran on a lab's worker.

test('preflight: a host route into the node subnet is a clash, the lab bridge is not', () => {
  const plan = haPlan();
  const facts = {
    provider: { name: 'qemu', acceleration: 'tcg', warnings: [] },
    memAvailableMiB: 20000,
    neededMemoryMiB: 8704,
    diskFreeMiB: 50000,
    neededDiskMiB: 8192,
    routes: [{ dst: 'default', dev: 'eth0' }, { dst: '10.240.0.0/24', dev: 'hwl-br0' }, { dst: '192.168.1.0/24', dev: 'eth0' }],
    interfaces: [{ ifname: 'hwl-br0', addresses: ['10.240.0.1/24'] }, { ifname: 'eth0', addresses: ['192.168.1.5/24'] }],
  };
  assert.deepEqual(failing(preflightProbes(plan, facts)), []);
  assert.match(preflightProbes(plan, facts).find((p) => p.name === 'acceleration')!.seen, /software emulation/);
  const clash = failing(preflightProbes(plan, { ...facts, routes: [...facts.routes, { dst: '10.200.0.0/16', dev: 'tun0' }], memAvailableMiB: 4000 }));
  assert.deepEqual(clash.map((p) => p.name), ['free memory', 'no host route overlaps the pod CIDR']);
  assert.match(clash[1]!.hint, /network\.podCidr/);
});

test('control plane: leases and RBAC answers', () => {
  const now = 1700000000;
  const renewed = new Date((now - 5) * 1000).toISOString();
  const leases = leaseProbes(`==> epoch\n${now}\n==> leases\nkube-controller-manager controller-1_abc ${renewed}\nkube-scheduler  ${renewed}\n`, 'controller-0');
  assert.deepEqual(leases.map((p) => p.ok), [true, false]);
  assert.match(leases[1]!.seen, /holder none/);
  const rbac = rbacProbes('kube-apiserver-kubelet-client', 'nodes/proxy yes\nnodes/stats yes\nnodes/log no\nnodes/spec yes\nnodes/metrics yes\n', 'controller-0');
  assert.deepEqual(failing(rbac).map((p) => p.name), ['kube-apiserver-kubelet-client may get nodes/log']);
});

test('node scripts output parsing: file facts and file contents', () => {
  const facts = parseFileFacts('0f0e 600 /etc/etcd/etcd-server.key\nmissing - /etc/etcd/ca.crt\n');
  assert.deepEqual(facts.get('/etc/etcd/etcd-server.key'), { sha256: '0f0e', mode: 0o600 });
  assert.equal(facts.get('/etc/etcd/ca.crt'), undefined);
  assert.ok(facts.has('/etc/etcd/ca.crt'));
  const files = parseReadFiles(`==> 644 /a/b\n${Buffer.from('hello\n').toString('base64')}\n==> missing /c\n`);
  assert.equal(files.get('/a/b')!.content.toString(), 'hello\n');
  assert.equal(files.get('/a/b')!.mode, 0o644);
  assert.equal(files.get('/c'), undefined);
});

test('certificates and encryption config: real PKI passes; a missing SAN, a missing EKU, a foreign key and a loose mode fail with their fixes', async () => {
  const plan = haPlan();
  const paths = labPaths(mkdtempSync(join(tmpdir(), 'hwl-certs-')));
  await ensurePki(plan, paths, { algorithm: 'ecdsa-p256' });
  await renderLab(plan, paths);
  const node = plan.nodes.find((n) => n.name === 'controller-0')!;
  const asOnNode = () =>
    new Map<string, RemoteFile | undefined>(
      node.files.filter((f) => f.origin.kind === 'pki').map((f) => [f.path, { mode: f.mode, content: readFileSync(renderedFilePath(paths, node.name, f.path)) }]),
    );
  const good = await certificateProbes(plan, node, asOnNode(), labPki(paths));
  assert.deepEqual(failing(good), []);
  assert.ok(good.some((p) => p.name === '/etc/etcd/etcd-server.crt: usage clientAuth' && p.ok));
  assert.ok(good.some((p) => p.name === '/var/lib/kubernetes/kube-apiserver.crt: SAN IP:10.240.0.10' && p.ok));

  const issuer = await loadIssuer(paths);
  const reissue = async (id: string, change: (p: (typeof plan.certificates)[number]) => void) => {
    const certPlan = structuredClone(plan.certificates.find((c) => c.id === id)!);
    change(certPlan);
    const keys = await generateKeyPair('ecdsa-p256');
    const cert = await issueCertificate(certPlan, keys, { algorithm: 'ecdsa-p256', issuer });
    return { crt: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
  };

  const remote = asOnNode();
  const noLbSan = await reissue('kube-apiserver', (p) => (p.ipAddresses = p.ipAddresses.filter((ip) => ip !== '10.240.0.10')));
  remote.set('/var/lib/kubernetes/kube-apiserver.crt', { mode: 0o644, content: Buffer.from(noLbSan.crt) });
  remote.set('/var/lib/kubernetes/kube-apiserver.key', { mode: 0o644, content: Buffer.from(noLbSan.key) });
  const noClientAuth = await reissue('etcd-controller-0', (p) => (p.usages = ['serverAuth']));
  remote.set('/etc/etcd/etcd-server.crt', { mode: 0o644, content: Buffer.from(noClientAuth.crt) });
  // A key that does not belong to the certificate next to it (another member's key).
  remote.set('/etc/etcd/etcd-server.key', { mode: 0o600, content: Buffer.from(readPkiFile(paths, 'etcd-controller-1', 'key')) });

  const bad = failing(await certificateProbes(plan, node, remote, labPki(paths)));
  const byName = new Map(bad.map((p) => [p.name, p]));
  assert.match(byName.get('/var/lib/kubernetes/kube-apiserver.crt: SAN IP:10.240.0.10')!.hint, /not 10\.240\.0\.10/);
  assert.match(byName.get('/var/lib/kubernetes/kube-apiserver.key mode')!.hint, /chmod 600/);
  assert.match(byName.get('/etc/etcd/etcd-server.crt: usage clientAuth')!.hint, /etcd peers need clientAuth/);
  assert.match(byName.get('/etc/etcd/etcd-server.crt: key matches certificate')!.seen, /another certificate/);
  assert.ok(byName.has('/etc/etcd/etcd-server.key present'), 'the foreign key differs from the lab\'s');
  for (const p of bad) assert.ok(p.hint.length > 10 && p.node === 'controller-0', `${p.name} names its node and a fix`);

  // Encryption config: identical on all controllers, aescbc key1 first.
  const controllers = plan.nodes.filter((n) => n.role === 'controller');
  const rendered = readFileSync(renderedFilePath(paths, 'controller-0', '/var/lib/kubernetes/encryption-config.yaml'), 'utf8');
  const same = controllers.map((c) => ({ node: c, remote: { mode: 0o600, content: Buffer.from(rendered) } }));
  assert.deepEqual(failing(encryptionConfigProbes(same, rendered)), []);
  const drift = [...same.slice(0, 2), { node: controllers[2]!, remote: { mode: 0o644, content: Buffer.from(rendered.replace(/secret: [A-Za-z0-9+/=]{40,}/, 'secret: c2hvcnQ=')) } }];
  const driftBad = failing(encryptionConfigProbes(drift, rendered)).map((p) => `${p.node ?? '-'} ${p.name}`);
  assert.deepEqual(driftBad, [
    'controller-2 /var/lib/kubernetes/encryption-config.yaml present',
    'controller-2 /var/lib/kubernetes/encryption-config.yaml mode',
    'controller-2 secrets encrypted with aescbc key1',
    '- identical on all controllers',
  ]);
});
