// The hard way on real VMs: 3 controllers behind the LB and one worker, 1 vCPU each, qemu provider
// inside a network namespace of its own, with every binary built from its Go module and the lab's
// own images (the test runner's artifacts tier). One lab, one story (hardway-lab-scenarios.ts):
// by default the control plane (preflight to load-balancer): kill -9 mid-step and resume; every
// step green (etcd over mutual TLS, three API servers, controller managers and schedulers with
// their leases, RBAC, haproxy); re-runs that change nothing; the UI on the running control plane;
// real faults caught with the hints that name their fixes, and the dashboard agreeing with the
// checkers while they are in; `up` repairing them; then every drill and exercise of main/drills
// the control plane reaches (HWL_DRILLS=id,id,...: only those; off: none). HWL_STORY_FINISH=1 then
// does the rest of the hard way on the worker (containerd/runc/CNI, kubelet and kube-proxy, pod
// routes, CoreDNS and the smoke test), every checker of all 14 steps green. HWL_STORY_SCOPE=cluster
// runs all 14 steps first, then the node faults and every drill.
//
// The full tier (test/full/hardway-full.test.ts) runs the same story on two workers (pod traffic
// between them, the preset's own shape with HWL_HA_SIZES=1).
//
// Needs root, qemu-system-x86_64, the base image (`hardway-lab image build`), the Go-built
// artifacts and haproxy's packages (`hardway-lab artifacts fetch`, then the artifacts tier), and
// Chromium for the UI part. HWL_SCREENSHOTS=1 saves the README's screenshots of the running
// cluster. Figures measured under TCG on the 2-core host are in docs/steps.md; with KVM it takes a
// fraction of that.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { HARDWAY_STEPS } from '../../main/steps/hardway-steps.ts';
import { withNetworkNamespace } from '../helpers/netns.ts';
import { testArtifacts } from '../helpers/lab-artifacts.ts';
import { chromiumUnavailableReason, SCREENSHOTS } from '../e2e/support/chromium.ts';
import type { HardwayStoryResult, StoryScope } from './hardway-lab-scenarios.ts';
import {
  assertApiServerStopped,
  assertApiServersReady,
  assertDnsAndRbacFaultsCaught,
  assertDashboardAgrees,
  assertDrillsProven,
  assertRestoreExercise,
  assertEveryStepGreen,
  assertKilledAndResumed,
  assertLifecycleRound,
  assertLeaseMoved,
  assertNodeFaultsCaught,
  assertNothingLeft,
  assertRepaired,
  assertRerunsChangedNothing,
  assertSweepNamesFaults,
  assertUiOnCluster,
  byStep,
  find,
  storySkipReason,
} from './hardway-story-checks.ts';

const SCENARIOS = fileURLToPath(new URL('./hardway-lab-scenarios.ts', import.meta.url));
const built = testArtifacts();
// HWL_STORY_SCOPE=cluster: all 14 steps before the faults (the node faults too: kube-proxy, CoreDNS,
// RBAC, a kubelet, a route) and every drill. Measured under TCG on the 2-core host neither it nor
// HWL_STORY_FINISH fits the default run's budget (docs/steps.md): `up` of all 14 steps alone took
// 29.5 minutes, and the worker's steps after the control plane's story 16 more, with every check
// slower once the worker runs pods.
const SCOPE: StoryScope = process.env.HWL_STORY_SCOPE === 'cluster' ? 'cluster' : 'control-plane';
const WORKERS = SCOPE === 'cluster';
const notWorkers = !WORKERS && 'the default scope (HWL_STORY_SCOPE=cluster runs it)';
const ALL_STEPS = HARDWAY_STEPS.map((s) => s.id);
const STEPS = WORKERS ? ALL_STEPS : ALL_STEPS.slice(0, ALL_STEPS.indexOf('load-balancer') + 1);
// The drills of the control plane run in every scope; the nodes' ones need the workers.
const CONTROL_PLANE_DRILLS = ['apiserver-cert-no-lb-san', 'etcd-cert-expired', 'etcd-member-down', 'etcd-quorum-lost', 'encryption-config-missing', 'scheduler-stopped'];
const WORKER_DRILLS = ['kubelet-cert-no-client-auth', 'pod-route-lost', 'kube-proxy-stopped', 'coredns-corefile-broken', 'kubelet-wrong-cluster-dns', 'apiserver-kubelet-rbac-removed', 'workers-cordoned'];
// HWL_DRILLS=id,id,...: only those drills and exercises (a quicker look while developing); off:
// none; unset: every one the scope reaches.
const LESSONS = process.env.HWL_DRILLS && process.env.HWL_DRILLS !== 'off' ? process.env.HWL_DRILLS.split(',').filter(Boolean) : undefined;
const FINISH = !WORKERS && Boolean(process.env.HWL_STORY_FINISH);
// Opt-in until measured inside the default run's budget: HWL_LIFECYCLE=stop-start,crash-start adds
// the lifecycle rounds after the repair, HWL_UI_CANCEL=1 a step run and cancelled from the UI.
const LIFECYCLE = (process.env.HWL_LIFECYCLE ?? '').split(',').filter(Boolean) as ('stop-start' | 'crash-start')[];
const UI_CANCEL = Boolean(process.env.HWL_UI_CANCEL);

const skip = await storySkipReason(built);
if (skip) console.warn(`SKIPPED: the hard way on VMs: ${skip}`);
const noUi = chromiumUnavailableReason();
if (!skip && noUi) console.warn(`SKIPPED (inside this test): the UI on the running cluster: ${noUi}`);


test(`the hard way on 3 controllers behind the LB${WORKERS ? ' and a worker: all 14 steps' : ': the control plane'} green, the UI on it, faults caught with their hints, \`up\` repairs, drills${FINISH ? ', then the worker\'s steps: all 14 green' : ''}`, { skip, timeout: 85 * 60_000 }, async (t) => {
  const labDir = mkdtempSync(join(tmpdir(), 'hwl-steps-lab-'));
  const r = await withNetworkNamespace('steps', async (ns) => {
    const run = await ns.runScenario<HardwayStoryResult>(SCENARIOS, 'hardwayStory', { labDir, artifactsDir: built.artifacts!.root, ui: !noUi, scope: SCOPE, finish: FINISH, lifecycle: LIFECYCLE, uiCancel: UI_CANCEL, lessons: LESSONS, lessonsLeftOut: 'not in HWL_DRILLS', screenshots: process.env.HWL_SCREENSHOTS ? SCREENSHOTS : undefined }, { timeoutMs: 80 * 60_000 });
    console.log(`the story took ${run.seconds} s`);
    assert.deepEqual(ns.pids(), [], 'no process left in the namespace');
    return run.result;
  });
  console.log(
    `acceleration ${r.acceleration}, waits scaled by ${r.timingScale}; API servers ready after ${JSON.stringify(r.apiserverReadySeconds)} s; ` +
      `step seconds: ${JSON.stringify(r.stepSeconds)}; re-runs: ${JSON.stringify(r.rerun.map((x) => [x.step, x.seconds]))}; ` +
      `UI ${r.ui?.seconds ?? '-'} s; sweep with every fault ${r.faults.sweep.seconds} s; repair ${r.repaired.seconds} s`,
  );

  await t.test('kill -9 during etcd, then up resumes at etcd without regenerating any certificate', () => assertKilledAndResumed(r, SCOPE));

  await t.test('the control plane came up: the first API server alone, then the others, each ready', () => assertApiServersReady(r));

  await t.test(`${WORKERS ? 'every step' : 'preflight to load-balancer'}: every checker passes, none skipped${WORKERS ? ', the smoke test included' : ''}`, () => assertEveryStepGreen(r.fullUp, STEPS));

  await t.test('re-running finished steps changes nothing', () => assertRerunsChangedNothing(r, WORKERS ? 'etcd, the API servers, the schedulers, containerd, the kubelet, kube-proxy and haproxy' : 'etcd, the API servers, the schedulers and haproxy'));

  await t.test('the UI on the running cluster: API ready through the LB, a Kubernetes checker from the walkthrough', { skip: noUi }, () => {
    const ui = assertUiOnCluster(r);
    if (WORKERS) {
      assert.match(ui.dashboard!.kubeNodes, /1\/1 Ready/);
      assert.match(ui.dashboard!.kubeNodeList, /worker-0.*Ready/s);
    }
    for (const [node, state] of Object.entries(ui.dashboard!.nodeStates)) if (WORKERS || !node.startsWith('worker')) assert.match(state, /\bok\b/, `${node} is healthy on the dashboard`);
  });

  await t.test('the UI cancels a running step: it stops, shows why, and leaves it for `up` to run again (the repair below does)', { skip: noUi || notWorkers || (!UI_CANCEL && 'opt-in: HWL_UI_CANCEL=1') }, () => {
    const c = r.ui!.cancelled!;
    assert.ok(c, 'the cancel part ran');
    assert.equal(c.status, 'failed', JSON.stringify(c));
    assert.match(c.stepError, /cancelled from the app/);
    assert.ok(c.secondsToStop < 120, `stopped ${c.secondsToStop} s after Cancel`);
    assert.equal(r.afterCancel!.workers?.status, 'failed');
    assert.match(r.afterCancel!.workers?.error ?? '', /stopped: cancelled from the app.*runs it again/);
    assert.equal(r.afterCancel!.lockLeft, false, 'the lab lock was released');
  });

  await t.test('`hardway-lab kubeconfig --merge`: the other context survives, and kubectl with context hardway-<lab> reaches the cluster through the LB', () => {
    const k = r.kubeconfigMerged!;
    assert.equal(k.cliCode, 0, k.cliOutput);
    assert.deepEqual(k.contexts.split('\n').sort(), ['hardway-hw-steps', 'other']);
    assert.equal(k.getNodes.code, 0, k.getNodes.output);
    // With workers: `get nodes -o wide`; the control plane alone: `get --raw /readyz`.
    assert.match(k.getNodes.output, WORKERS ? /worker-0\s+Ready\s.*10\.240\.0\.21/ : /^ok\s*$/);
  });

  const f = r.faults;
  await t.test('an API server stopped: the checker names it, the LB marks it DOWN, the API still answers through the LB', () => assertApiServerStopped(f));

  await t.test('the scheduler lease holder stopped: the checker says so, and the lease moves to a running scheduler', () => assertLeaseMoved(f));


  await t.test('kube-proxy stopped with its rules gone: the NodePort fails, the hint names kube-proxy; then the kubelet stopped: the node NotReady', { skip: notWorkers }, () => assertNodeFaultsCaught(f));

  await t.test('CoreDNS at 0 replicas: the in-pod lookup fails; the API server → kubelet RBAC removed: logs and exec fail with the rbac hint', { skip: notWorkers }, () => assertDnsAndRbacFaultsCaught(f));

  await t.test('every fault at once: each step fails exactly where it was broken, with its hint', () => {
    const sweep = f.sweep.checks;
    if (!WORKERS) return assertSweepNamesFaults(sweep, STEPS, ['control-plane', 'load-balancer']);
    assertSweepNamesFaults(sweep, ALL_STEPS, ['control-plane', 'rbac', 'load-balancer', 'workers', 'admin-access', 'coredns', 'smoke-test']);
    assert.match(find(byStep(sweep, 'pod-routes'), "route to worker-0's pods", 'controller-1')?.hint ?? '', /ip route add 10\.200\.0\.0\/24 via 10\.240\.0\.21/, JSON.stringify(byStep(sweep, 'pod-routes').failing));
  });

  await t.test('the dashboard agrees with the checkers with the faults in place: the same etcd member unhealthy, the same API server stopped', () => assertDashboardAgrees(f));

  await t.test('up repairs every fault: it resumes at the first failing step and ends green', () => assertRepaired(r, STEPS));

  const drillsOff = process.env.HWL_DRILLS === 'off' && 'HWL_DRILLS=off';
  const drillsProven = (WORKERS ? [...CONTROL_PLANE_DRILLS, ...WORKER_DRILLS] : CONTROL_PLANE_DRILLS).filter((id) => !LESSONS || LESSONS.includes(id));
  if (!WORKERS && !drillsOff) console.warn(`SKIPPED (inside this test): the drills on the nodes (${WORKER_DRILLS.join(', ')}) and the drain and certificate-rotation exercises: ${notWorkers}`);
  await t.test(`drills: each fault makes its named checker fail with its symptom, and the reference fix makes it green (${drillsProven.join(', ')})`, { skip: drillsOff }, () =>
    assertDrillsProven(r, drillsProven),
  );

  await t.test(`exercise etcd snapshot and restore: a wrong attempt fails (the namespace deleted before any snapshot; the full tier restores from one taken before the namespace existed); the right one brings it back on every member`, { skip: drillsOff || (LESSONS && !LESSONS.includes('etcd-backup-restore') && 'not in HWL_DRILLS') }, () => assertRestoreExercise(r));

  await t.test('exercise drain and uncordon: the worker empties, then takes its pods back, every checker green', { skip: drillsOff || notWorkers || (LESSONS && !LESSONS.includes('drain-and-uncordon') && 'not in HWL_DRILLS') }, () => {
    const drain = r.drills!.drain!;
    assert.equal(drain.error, undefined, drain.error);
    assert.deepEqual(drain.stages.map((s) => s.passed), [true, true], JSON.stringify(drain.stages, null, 1));
    assert.equal(drain.solved, true);
  });

  await t.test('exercise certificate rotation: every API server and kubelet serves a renewed certificate, and the load balancer never lost an API server', { skip: drillsOff || notWorkers || (LESSONS && !LESSONS.includes('certificate-rotation') && 'not in HWL_DRILLS') }, () => {
    const rotation = r.drills!.rotation!;
    assert.equal(rotation.error, undefined, rotation.error);
    assert.deepEqual(rotation.stages.map((s) => s.passed), [true, true], JSON.stringify(rotation.stages, null, 1));
    for (const stage of rotation.stages) assert.equal(stage.probes.find((p) => p.name === 'no API server left the load balancer')?.ok, true, JSON.stringify(stage.probes));
  });

  await t.test('the rest of the hard way on the worker (containerd, runc and CNI, kubelet and kube-proxy, pod routes, CoreDNS, the smoke test): every checker of all 14 steps passes', { skip: WORKERS ? 'the cluster scope did all 14 steps first' : !FINISH && 'opt-in: HWL_STORY_FINISH=1 (16 more minutes under TCG, docs/steps.md)' }, () => {
    assert.ok(r.finished, 'the last `up` ran (after a green repair)');
    console.log(`the rest of the hard way: ${r.finished.seconds} s`);
    assertEveryStepGreen(r.finished, ALL_STEPS);
  });

  await t.test('stop, then start: the VMs go down in order and come back, every checker passes again, no certificate re-issued, etcd keeps its data', { skip: !LIFECYCLE.includes('stop-start') && 'not in this run' }, () => assertLifecycleRound(r, 'stop-start', STEPS));

  await t.test('a host crash (every qemu killed), then start: every checker passes again, etcd keeps its data', { skip: !LIFECYCLE.includes('crash-start') && 'not in this run' }, () => assertLifecycleRound(r, 'crash-start', STEPS));

  await t.test('destroy leaves nothing behind', () => assertNothingLeft(r));

  await t.test('`hardway-lab ssh NODE -- CMD` running while the lab is destroyed under it: it notices within a minute and says what happened', () => {
    const ssh = r.sshAcrossDestroy;
    assert.ok(ssh, 'the CLI ran a command on the worker before destroy');
    assert.ok(ssh.exitedAfterS !== undefined, `still running ${180} s after destroy; it said: ${ssh.stderr}`);
    assert.ok(ssh.exitedAfterS < 60, `noticed after ${ssh.exitedAfterS} s`);
    assert.notEqual(ssh.code, 0);
    assert.match(ssh.stderr, new RegExp(`${ssh.node}.*lost its SSH connection|lost its SSH connection.*${ssh.node}`, 's'));
  });

  const stateFile = join(labDir, 'state.json');
  if (existsSync(stateFile)) console.log(`state.json kept in ${labDir}: ${readFileSync(stateFile, 'utf8').length} bytes`);
  rmSync(labDir, { recursive: true, force: true });
});
