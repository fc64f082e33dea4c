// The real-lab UI scenario. Runs INSIDE the test's own network namespace (test/helpers/netns.ts):
// the browser-mode server, the lab's VMs (qemu provider: bridge and taps), every SSH client and
// Chromium all live there, so the page only ever talks to 127.0.0.1 and the server only to the
// namespace's own lab network.
//
// Through the UI only: run the steps up to etcd with the walkthrough's "Run step" buttons; see the
// nodes running on the dashboard; open a terminal on a controller and read `hostname` back from
// the rendered terminal; run the etcd checker and see it pass; stop etcd on one controller by
// typing into its terminal, then see the checker fail with its hint and the dashboard show etcd
// degraded; destroy the cluster from the header. Returns what it saw as JSON; screenshots go to
// docs/screenshots/lab-*.png.

import type { Browser, Page } from 'playwright-core';
import type { StepInfo } from '../../../main/shared/api-contract.ts';
import { startServer, type RunningServer } from '../../../main/server/serve.ts';
import { launchChromium, openApp, screenshot, terminalScreen, waitForTerminalText } from './chromium.ts';

export interface RealLabUiArgs {
  labDir: string;
  artifactsDir: string;
  /** Run the walkthrough's steps from this one (default the first)... */
  from?: string;
  /** ...up to and including this one (default etcd). */
  until?: string;
  screenshots?: string;
}

export interface StepRun {
  id: string;
  status: string;
  seconds: number;
  error?: string;
}

export interface RealLabUiResult {
  steps: StepRun[];
  /** Set when a step did not finish: the rest of the scenario was not possible. */
  stoppedAt?: string;
  dashboard?: { nodeStates: Record<string, string>; etcd: string; api: string };
  hostnameSeen?: string;
  etcdCheck?: { verdict: string; probes: number; failing: string[] };
  brokenCheck?: { verdict: string; failing: Array<{ name: string; node: string; seen: string; hint: string }> };
  dashboardAfterBreak?: { etcd: string; etcdDetail: string; controller2Etcd: string };
  destroy?: { status: string; seconds: number; error?: string };
  pageErrors: string[];
}

function log(message: string): void {
  console.log(`${new Date().toISOString().slice(11, 19)} [ui] ${message}`);
}

export async function realLabUi(args: RealLabUiArgs): Promise<RealLabUiResult> {
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  const result: RealLabUiResult = { steps: [], pageErrors: [] };
  try {
    server = await startServer({ lab: args.labDir, serviceOptions: { artifactsDir: args.artifactsDir, statusTtlMs: 1000 } });
    log(`browser mode at ${server.url.replace(/token=.*/, 'token=…')}`);
    browser = await launchChromium();
    const { page, errors } = await openApp(browser, server.url);
    result.pageErrors = errors;
    const shots = args.screenshots;

    // ---- the guided walkthrough: "Run step" for every step up to etcd --------------------------
    const steps = await apiCall<StepInfo[]>(server, 'listSteps');
    const first = args.from ? steps.findIndex((s) => s.id === args.from) : 0;
    const last = steps.findIndex((s) => s.id === (args.until ?? 'etcd'));
    await page.click('[data-view="walkthrough"]');
    for (const step of steps.slice(first, last + 1)) {
      const started = Date.now();
      log(`Run step ${step.index} ${step.id}`);
      await page.click(`.step-item[data-step="${step.id}"] button`);
      await page.waitForSelector(`.step-detail[data-step="${step.id}"]`);
      await clickAndWaitIdle(page, `.step-detail[data-step="${step.id}"] [data-action="run-step"]`, 60 * 60_000);
      const status = (await page.getAttribute(`.step-item[data-step="${step.id}"]`, 'class'))?.match(/\b(done|failed|skipped|pending)\b/)?.[1] ?? 'unknown';
      const run: StepRun = { id: step.id, status, seconds: Math.round((Date.now() - started) / 1000) };
      if (status !== 'done') run.error = (await page.textContent('.step-detail .step-error, .step-detail .notice.error').catch(() => null)) ?? undefined;
      result.steps.push(run);
      log(`step ${step.id}: ${status} in ${run.seconds} s${run.error ? `\n${run.error}` : ''}`);
      if (status !== 'done') {
        result.stoppedAt = step.id;
        return result;
      }
    }

    // ---- the dashboard: every node running, etcd healthy -------------------------------------
    await page.click('[data-view="dashboard"]');
    await waitFor(page, 'the dashboard to show etcd healthy', async () => /healthy/.test((await page.textContent('[data-testid="etcd-card"] .pill')) ?? ''), 300_000, async () => {
      await page.click('.section-head button');
    }, shots);
    result.dashboard = {
      nodeStates: Object.fromEntries(await page.$$eval('.node-card', (cards) => cards.map((c) => [c.getAttribute('data-node') ?? '', c.className.replace('card node-card ', '')]))),
      etcd: (await page.textContent('[data-testid="etcd-card"]')) ?? '',
      api: (await page.textContent('[data-testid="api-card"]')) ?? '',
    };

    // ---- a terminal on a controller: hostname ------------------------------------------------
    const screen = await typeInTerminal(page, 'controller-0', 'hostname\n', /\ncontroller-0\s*\n/, 60_000);
    result.hostnameSeen = /\n(controller-0)\s*\n/.exec(screen)?.[1];

    // ---- the etcd checker from the UI: passes ------------------------------------------------
    await page.click('[data-view="walkthrough"]');
    await page.click('.step-item[data-step="etcd"] button');
    result.etcdCheck = await runCheck(page);
    log(`etcd check: ${JSON.stringify(result.etcdCheck)}`);

    // ---- break it: stop etcd on controller-2, typed into its terminal from the UI --------------
    await page.click('[data-view="terminals"]');
    await page.click('[data-open-node="controller-2"]');
    const c2 = '.term-panes .term-frame[data-node="controller-2"]';
    await page.waitForSelector(`${c2}[data-state="connected"] .xterm-rows`, { timeout: 60_000 });
    await page.locator(`${c2} .xterm`).click();
    await page.keyboard.type('systemctl stop etcd; systemctl is-active etcd; echo stopped-$((40+2))\n');
    await waitForTerminalText(page, c2, 'stopped-42', 120_000);
    log(`controller-2 terminal after stopping etcd:\n${(await terminalScreen(page, c2)).split('\n').filter((l) => l.trim()).slice(-3).join('\n')}`);

    await page.click('[data-view="walkthrough"]');
    await page.click('.step-item[data-step="etcd"] button');
    const broken = await runCheck(page);
    const hints = await page.$$eval('[data-testid="check-result"] tr.probe.down', (rows) =>
      rows.map((row) => {
        const cells = [...row.querySelectorAll('td')].map((td) => td.textContent ?? '');
        const hint = row.nextElementSibling?.classList.contains('probe-hint') ? (row.nextElementSibling.textContent ?? '') : '';
        return { name: cells[1] ?? '', node: cells[2] ?? '', seen: cells[4] ?? '', hint };
      }),
    );
    result.brokenCheck = { verdict: broken.verdict, failing: hints };
    log(`etcd check with controller-2 stopped: ${JSON.stringify(result.brokenCheck)}`);
    if (shots) {
      await page.$eval('.walk-detail', (el) => el.scrollTo(0, 0));
      await screenshot(page, 'lab-walkthrough-failing-check', shots);
    }

    await page.click('[data-view="dashboard"]');
    // A sweep that ran while systemd was still stopping the unit says `deactivating`: wait for the settled state.
    const settled = async () =>
      /degraded/.test((await page.textContent('[data-testid="etcd-card"] .pill')) ?? '') &&
      /inactive|failed/.test((await page.textContent('.node-card[data-node="controller-2"] li[data-unit="etcd"] .unit-state')) ?? '');
    await waitForDashboard(page, 'the dashboard to show etcd degraded and the stopped member', settled, 300_000, shots);
    result.dashboardAfterBreak = {
      etcd: (await page.textContent('[data-testid="etcd-card"] .pill')) ?? '',
      etcdDetail: (await page.textContent('[data-testid="etcd-card"] .detail')) ?? '',
      controller2Etcd: (await page.textContent('.node-card[data-node="controller-2"] li[data-unit="etcd"] .unit-state')) ?? '',
    };
    if (shots) await screenshot(page, 'lab-etcd-degraded', shots);

    // ---- destroy from the header --------------------------------------------------------------
    const started = Date.now();
    await page.click('[data-action="destroy-cluster"]');
    await page.click('[data-action="confirm-destroy"]');
    await page.waitForSelector('.operation[data-operation="destroy"].done, .operation[data-operation="destroy"].failed', { timeout: 10 * 60_000 });
    const destroyClass = (await page.getAttribute('.operation[data-operation="destroy"]', 'class')) ?? '';
    result.destroy = {
      status: destroyClass.includes('done') ? 'done' : 'failed',
      seconds: Math.round((Date.now() - started) / 1000),
      error: (await page.textContent('.operation[data-operation="destroy"] .operation-error').catch(() => null)) ?? undefined,
    };
    return result;
  } finally {
    await browser?.close().catch(() => {});
    await server?.close().catch(() => {});
  }
}

export interface RunningClusterUiArgs {
  labDir: string;
  artifactsDir: string;
  screenshots?: string;
  /** A Kubernetes step whose checker runs from the walkthrough (default control-plane). */
  checkStep?: string;
  /** A finished step run again with the walkthrough's "Run step" (default rbac). */
  runStep?: string;
  /** The workers that joined the cluster (none when the lab stopped before the workers step). */
  workers: string[];
  /** A step run from its button and cancelled with Cancel a few seconds in (none when absent). */
  cancelStep?: string;
}

export interface RunningClusterUiResult {
  dashboard?: { api: string; apiDetail: string; kubeNodes: string; kubeNodeList: string; etcd: string; nodeStates: Record<string, string> };
  hostnameSeen?: string;
  kubeCheck?: { step: string; verdict: string; probes: number; failing: string[] };
  rerun?: { step: string; status: string; seconds: number };
  /** The step run and cancelled: its status and error in the walkthrough afterwards, and the cancel's latency. */
  cancelled?: { step: string; status: string; stepError: string; secondsToStop: number };
  pageErrors: string[];
}

/**
 * The UI on a cluster that is already up (the hard-way story's lab): the dashboard shows the API
 * ready through the load balancer and every worker Ready; a terminal on a controller answers; a
 * Kubernetes step's checker runs from the walkthrough and passes; a finished step runs again from
 * its "Run step" button and stays done. Screenshots go to docs/screenshots/lab-*.png.
 */
export async function realClusterUi(args: RunningClusterUiArgs): Promise<RunningClusterUiResult> {
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  const result: RunningClusterUiResult = { pageErrors: [] };
  const shots = args.screenshots;
  try {
    server = await startServer({ lab: args.labDir, serviceOptions: { artifactsDir: args.artifactsDir, statusTtlMs: 1000 } });
    log(`browser mode at ${server.url.replace(/token=.*/, 'token=…')}`);
    browser = await launchChromium();
    const { page, errors } = await openApp(browser, server.url);
    result.pageErrors = errors;

    // ---- the dashboard: the API ready through the LB, every worker Ready, etcd healthy --------
    await page.click('[data-view="dashboard"]');
    const nodesReady = new RegExp(`${args.workers.length}/${args.workers.length} Ready`);
    const settled = async () =>
      /ready/.test((await page.textContent('[data-testid="api-card"] .pill')) ?? '') &&
      (args.workers.length === 0 || nodesReady.test((await page.textContent('[data-testid="kube-nodes-card"] .pill')) ?? '')) &&
      /healthy/.test((await page.textContent('[data-testid="etcd-card"] .pill')) ?? '');
    await waitForDashboard(page, `the dashboard to show the API ready, ${args.workers.length ? 'the workers Ready, ' : ''}etcd healthy`, settled, 600_000, shots);
    result.dashboard = {
      api: (await page.textContent('[data-testid="api-card"] .pill')) ?? '',
      apiDetail: (await page.textContent('[data-testid="api-card"]')) ?? '',
      kubeNodes: (await page.textContent('[data-testid="kube-nodes-card"] .pill')) ?? '',
      kubeNodeList: (await page.textContent('[data-testid="kube-nodes-card"]')) ?? '',
      etcd: (await page.textContent('[data-testid="etcd-card"]')) ?? '',
      nodeStates: Object.fromEntries(await page.$$eval('.node-card', (cards) => cards.map((c) => [c.getAttribute('data-node') ?? '', c.className.replace('card node-card ', '')]))),
    };
    if (shots) await screenshot(page, 'lab-dashboard', shots);

    // ---- a terminal on a controller: kubectl there sees the nodes ---------------------------
    const lastWorker = args.workers.at(-1);
    const screen = lastWorker
      ? await typeInTerminal(page, 'controller-0', 'hostname; kubectl --kubeconfig admin.kubeconfig get nodes\n', new RegExp(`${lastWorker}\\s+Ready`), 180_000)
      : await typeInTerminal(page, 'controller-0', 'hostname; kubectl --kubeconfig admin.kubeconfig get --raw /readyz; echo\n', /\nok\s*\n/, 180_000);
    result.hostnameSeen = /\n(controller-0)\s*\n/.exec(screen)?.[1];
    if (shots) await screenshot(page, 'lab-terminal', shots);

    // ---- a Kubernetes step's checker from the walkthrough ------------------------------------
    const checkStep = args.checkStep ?? 'control-plane';
    await page.click('[data-view="walkthrough"]');
    await page.click(`.step-item[data-step="${checkStep}"] button`);
    await page.waitForSelector(`.step-detail[data-step="${checkStep}"]`);
    const check = await runCheck(page);
    result.kubeCheck = { step: checkStep, ...check };
    log(`${checkStep} check from the UI: ${JSON.stringify(result.kubeCheck)}`);
    if (shots) {
      await page.$eval('.walk-detail', (el) => el.scrollTo(0, 0));
      await screenshot(page, 'lab-walkthrough-check', shots);
    }

    // ---- a finished step, run again from its "Run step" button -------------------------------
    const runStep = args.runStep ?? 'rbac';
    await page.click(`.step-item[data-step="${runStep}"] button`);
    await page.waitForSelector(`.step-detail[data-step="${runStep}"]`);
    const started = Date.now();
    await clickAndWaitIdle(page, `.step-detail[data-step="${runStep}"] [data-action="run-step"]`, 30 * 60_000);
    const status = (await page.getAttribute(`.step-item[data-step="${runStep}"]`, 'class'))?.match(/\b(done|failed|skipped|pending)\b/)?.[1] ?? 'unknown';
    result.rerun = { step: runStep, status, seconds: Math.round((Date.now() - started) / 1000) };

    // ---- a step run from its button, then cancelled ------------------------------------------
    if (args.cancelStep) {
      const step = args.cancelStep;
      await page.click(`.step-item[data-step="${step}"] button`);
      await page.waitForSelector(`.step-detail[data-step="${step}"]`);
      await page.click(`.step-detail[data-step="${step}"] [data-action="run-step"]`);
      const cancel = `.step-detail[data-step="${step}"] [data-action="cancel-operation"]`;
      await page.waitForSelector(cancel, { timeout: 60_000 });
      // Let it get going on the nodes first.
      await page.waitForTimeout(8000);
      const clicked = Date.now();
      await page.click(cancel);
      await page.waitForSelector(`.step-detail[data-step="${step}"] [data-action="run-step"]:not([disabled])`, { timeout: 5 * 60_000 });
      await page.waitForSelector(`.step-item[data-step="${step}"].failed`, { timeout: 60_000 }).catch(() => {});
      result.cancelled = {
        step,
        status: (await page.getAttribute(`.step-item[data-step="${step}"]`, 'class'))?.match(/\b(done|failed|skipped|pending|running)\b/)?.[1] ?? 'unknown',
        stepError: (await page.textContent(`.step-detail[data-step="${step}"] .step-error`).catch(() => null)) ?? '',
        secondsToStop: Math.round((Date.now() - clicked) / 1000),
      };
      log(`${step} run and cancelled from the UI: ${JSON.stringify(result.cancelled)}`);
    }
    return result;
  } finally {
    await browser?.close().catch(() => {});
    await server?.close().catch(() => {});
  }
}

async function runCheck(page: Page): Promise<{ verdict: string; probes: number; failing: string[] }> {
  const previous = (await page.textContent('[data-testid="check-result"] header').catch(() => null)) ?? '';
  await clickAndWaitIdle(page, '[data-action="check-step"]', 15 * 60_000);
  await waitFor(page, 'a new check result', async () => ((await page.textContent('[data-testid="check-result"] header').catch(() => null)) ?? '') !== previous, 30_000);
  const verdict = (await page.getAttribute('[data-testid="check-result"]', 'data-verdict')) ?? 'none';
  const probes = await page.$$eval('[data-testid="check-result"] tr.probe', (rows) => rows.map((r) => ({ name: r.getAttribute('data-probe') ?? '', ok: r.classList.contains('ok') })));
  return { verdict, probes: probes.length, failing: probes.filter((p) => !p.ok).map((p) => p.name) };
}

/** Clicks a step button and waits until the call it started has finished (the button is enabled again). */
async function clickAndWaitIdle(page: Page, selector: string, timeoutMs: number): Promise<void> {
  await page.click(selector);
  // The button is disabled on the next frame; a call that already finished may skip that state.
  await page.waitForSelector(`${selector}[disabled]`, { timeout: 5000 }).catch(() => {});
  await page.waitForSelector(`${selector}:not([disabled])`, { timeout: timeoutMs });
}

/** Opens NODE's terminal, types `keys` at its prompt and waits until the screen matches `until`. */
async function typeInTerminal(page: Page, node: string, keys: string, until: RegExp, timeoutMs: number): Promise<string> {
  await page.click('[data-view="terminals"]');
  await page.click(`[data-open-node="${node}"]`);
  const frame = `.term-panes .term-frame[data-node="${node}"]`;
  await page.waitForSelector(`${frame}[data-state="connected"] .xterm-rows`, { timeout: timeoutMs });
  // Type at the prompt (typed earlier, the tty would echo the command once more before it).
  await waitForTerminalText(page, frame, new RegExp(`root@${node}:~#`), timeoutMs);
  await page.locator(`${frame} .xterm`).click();
  await page.keyboard.type(keys);
  return waitForTerminalText(page, frame, until, timeoutMs);
}

/** Until the dashboard shows what `condition` wants, refreshing it between looks. */
function waitForDashboard(page: Page, what: string, condition: () => Promise<boolean>, timeoutMs: number, shots?: string): Promise<void> {
  return waitFor(page, what, condition, timeoutMs, () => page.click('.section-head button'), shots);
}

async function waitFor(page: Page, what: string, condition: () => Promise<boolean>, timeoutMs: number, nudge?: () => Promise<void>, shots?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      // What the page showed, for the person reading the failure.
      if (shots) await screenshot(page, 'lab-failure', shots).catch(() => {});
      const view = (await page.textContent('.view-host:not([hidden])').catch(() => '')) ?? '';
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; the page showed:\n${view.replace(/\s+/g, ' ').slice(0, 3000)}`);
    }
    await page.waitForTimeout(2000);
    await nudge?.().catch(() => {});
  }
}

async function apiCall<T>(server: RunningServer, method: string, ...params: unknown[]): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${server.port}/api/call/${method}`, {
    method: 'POST',
    headers: { 'x-hardway-token': server.token, 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  const reply = (await response.json()) as { result?: T; error?: { message: string } };
  if (reply.error) throw new Error(`${method}: ${reply.error.message}`);
  return reply.result as T;
}
