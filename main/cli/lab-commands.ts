// The CLI commands that touch machines: image build, up, status, ssh, check, destroy, serve.

import { buildBaseImage, findBaseImage } from '../image/build-image.ts';
import { openLabRuntime, type LabRuntime } from '../lab/lab-runtime.ts';
import type { LabContext } from './lab-context.ts';
import { destroyLab } from '../lab/destroy-lab.ts';
import { startLab, stopLab } from '../lab/lab-lifecycle.ts';
import { staleKubeconfigHint } from './kubeconfig-command.ts';
import type { CliIo } from './cli.ts';
import { formatTable } from './format-plan.ts';
import type { CheckResult, LabEvent } from '../shared/engine-types.ts';

/** Aborted by the first Ctrl-C; what was made stays on disk so `up` or `destroy` can continue. */
export function interruptSignal(io: CliIo): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = () => {
    io.err('\ninterrupted: stopping after the current action; run `hardway-lab up` to continue or `hardway-lab destroy` to remove the VMs');
    controller.abort(new Error('interrupted by Ctrl-C'));
  };
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

export async function imageBuildCommand(options: { force?: boolean; mirror?: string }, io: CliIo): Promise<number> {
  if (!options.force) {
    const existing = await findBaseImage(undefined, { mirror: options.mirror });
    if (existing) {
      io.out(`Base image is up to date: ${existing.qcow2} (built ${existing.builtAt}); --force rebuilds it`);
      return 0;
    }
  }
  const image = await buildBaseImage({ force: options.force, mirror: options.mirror, onProgress: (line) => io.err(line) });
  io.out(`Base image: ${image.qcow2}\n  kernel: ${image.kernel}\n  initrd: ${image.initrd}`);
  return 0;
}

async function withRuntime<T>(ctx: LabContext, work: (runtime: LabRuntime) => Promise<T>): Promise<T> {
  const runtime = await openLabRuntime(ctx);
  try {
    return await work(runtime);
  } finally {
    runtime.close();
  }
}

/** `up --vms-only`: every node running and answering over SSH, nothing installed yet. */
export async function upVmsOnly(ctx: LabContext, io: CliIo, signal: AbortSignal): Promise<number> {
  return withRuntime(ctx, async ({ provider, pool }) => {
    provider.onProgress((event) => io.err(`${event.node ? `[${event.node}] ` : ''}${event.message}`));
    const report = await provider.preflight();
    for (const warning of report.warnings) io.err(`warning: ${warning}`);
    signal.throwIfAborted();
    await provider.create();
    const started = Date.now();
    await Promise.all(
      ctx.plan.nodes.map(async (node) => {
        await pool.waitForSsh(node.name, { timeoutMs: 10 * 60_000, signal, consoleTail: () => provider.consoleTail(node.name, 30) });
        io.err(`[${node.name}] SSH is up (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      }),
    );
    io.out(await statusTable(ctx, provider, pool));
    return 0;
  });
}

export async function statusCommand(ctx: LabContext, io: CliIo, json: boolean): Promise<number> {
  return withRuntime(ctx, async ({ provider, pool }) => {
    if (json) {
      io.out(JSON.stringify(await statusRows(ctx, provider, pool), null, 2));
    } else {
      io.out(await statusTable(ctx, provider, pool));
    }
    return 0;
  });
}

interface StatusRow {
  node: string;
  role: string;
  ip: string;
  state: string;
  ssh: string;
}

async function statusRows(ctx: LabContext, provider: LabRuntime['provider'], pool: LabRuntime['pool']): Promise<StatusRow[]> {
  const states = new Map((await provider.status()).map((s) => [s.node, s]));
  return Promise.all(
    ctx.plan.nodes.map(async (node) => {
      const state = states.get(node.name)?.state ?? 'absent';
      let ssh = '-';
      if (state === 'running') {
        const result = await pool.exec(node.name, 'hostname', { timeoutMs: 15_000 }).catch((error: Error) => ({ code: -1, stdout: '', stderr: error.message }));
        ssh = result.code === 0 ? (result.stdout.trim() === node.name ? 'ok' : `ok (hostname ${result.stdout.trim()})`) : `no: ${result.stderr.split('\n')[0]}`;
      }
      return { node: node.name, role: node.role, ip: node.ip, state, ssh };
    }),
  );
}

async function statusTable(ctx: LabContext, provider: LabRuntime['provider'], pool: LabRuntime['pool']): Promise<string> {
  const rows = await statusRows(ctx, provider, pool);
  return formatTable(
    ['NODE', 'ROLE', 'IP', 'STATE', 'SSH'],
    rows.map((r) => [r.node, r.role, r.ip, r.state, r.ssh]),
  );
}

export async function sshCommand(ctx: LabContext, node: string, command: string[], io: CliIo): Promise<number> {
  const planned = ctx.plan.nodes.find((n) => n.name === node);
  if (!planned) {
    io.err(`hardway-lab: no node named "${node}"\n  fix: use one of: ${ctx.plan.nodes.map((n) => n.name).join(', ')}`);
    return 2;
  }
  return withRuntime(ctx, async ({ pool }) => {
    if (command.length > 0) {
      const result = await pool.exec(node, command.join(' '), {
        onStdout: (chunk) => process.stdout.write(chunk),
        onStderr: (chunk) => process.stderr.write(chunk),
      });
      return result.code;
    }
    return interactiveShell(pool, node, io);
  });
}

async function interactiveShell(pool: LabRuntime['pool'], node: string, io: CliIo): Promise<number> {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const channel = await pool.shell(node, { cols: stdout.columns || 80, rows: stdout.rows || 24, term: process.env.TERM });
  const onResize = () => channel.setWindow(stdout.rows || 24, stdout.columns || 80, 0, 0);
  stdout.on('resize', onResize);
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.pipe(channel);
  channel.pipe(stdout);
  channel.stderr.pipe(process.stderr);
  return new Promise<number>((resolve) => {
    let exitCode: number | undefined;
    channel.on('exit', (code: number | null) => (exitCode = code ?? 0));
    // 'close' comes after 'exit' when the shell ends, and alone when the connection is lost (the
    // pool's keepalives notice a VM that vanished within about 40 s).
    channel.once('close', () => {
      stdin.unpipe(channel);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      stdout.off('resize', onResize);
      if (exitCode === undefined) {
        io.err(`\nhardway-lab: the SSH connection to ${node} was lost (did its VM stop, or was it destroyed?)\n  what to do: \`hardway-lab status\` shows whether ${node} runs; \`hardway-lab up\` starts what is missing`);
        resolve(255);
      } else resolve(exitCode);
    });
  });
}

export async function destroyCommand(ctx: LabContext, io: CliIo): Promise<number> {
  return withRuntime(ctx, async ({ provider, pool, hostKeys }) => {
    provider.onProgress((event) => io.err(`${event.node ? `[${event.node}] ` : ''}${event.message}`));
    // Under the lab lock; forgets the host keys and empties state.json (no step is done any more).
    await destroyLab({ provider, pool, hostKeys, paths: ctx.paths });
    io.out(`Destroyed the VMs of lab "${ctx.plan.labName}". The spec, PKI and rendered files stay in ${ctx.paths.root}; \`hardway-lab up\` makes the cluster again.`);
    const stale = staleKubeconfigHint(ctx);
    if (stale) io.err(stale);
    return 0;
  });
}

/** `hardway-lab stop`: the cluster shut down in a safe order; the disks keep everything. */
export async function stopCommand(ctx: LabContext, io: CliIo, signal: AbortSignal): Promise<number> {
  return withRuntime(ctx, async (runtime) => {
    const report = await stopLab({ plan: ctx.plan, paths: ctx.paths, provider: runtime.provider, pool: runtime.pool }, { signal, onProgress: (message) => io.err(message) });
    for (const [node, what] of Object.entries(report.services)) io.err(`[${node}] ${what}`);
    io.out(`Stopped lab "${ctx.plan.labName}" in ${report.seconds} s. \`hardway-lab start\` boots it again; nothing is lost.`);
    return 0;
  });
}

/** `hardway-lab start`: the VMs booted again, and every checker that passed before passing again. */
export async function startCommand(ctx: LabContext, io: CliIo, signal: AbortSignal, options: { artifacts?: string } = {}): Promise<number> {
  return withRuntime(ctx, async (runtime) => {
    const report = await startLab({ plan: ctx.plan, paths: ctx.paths, provider: runtime.provider, pool: runtime.pool, engine: runtime.engine({ artifactsDir: options.artifacts }) }, { signal, onProgress: (message) => io.err(message) });
    for (const check of report.checks.filter((c) => c.ok)) io.err(`  pass  ${check.step} (after ${report.passedAfterSeconds[check.step]} s)`);
    if (!report.ok) {
      io.err(formatChecks(report.checks.filter((c) => !c.ok)));
      io.err(`Started lab "${ctx.plan.labName}", but some steps no longer pass (above). \`hardway-lab up\` repairs them.`);
      return 1;
    }
    io.out(`Started lab "${ctx.plan.labName}" in ${report.seconds} s: every checker that passed before passes again.`);
    return 0;
  });
}

export interface UpOptions {
  until?: string;
  step?: string;
  artifacts?: string;
}

export async function upCommand(ctx: LabContext, options: UpOptions, io: CliIo, signal: AbortSignal): Promise<number> {
  return withRuntime(ctx, async (runtime) => {
    const engine = runtime.engine({ artifactsDir: options.artifacts });
    engine.onEvent((event) => printEvent(event, io));
    const result = await engine.up({ until: options.until, step: options.step, signal });
    io.out(formatChecks(result.checks));
    if (result.resumedAt) io.err(`(resumed at step ${result.resumedAt})`);
    if (!result.ok) io.err(`step ${result.failedStep ?? '?'} failed: see the probes above and ${ctx.paths.logs}`);
    return result.ok ? 0 : 1;
  });
}

export async function checkCommand(ctx: LabContext, step: string | undefined, options: { json?: boolean; artifacts?: string }, io: CliIo): Promise<number> {
  return withRuntime(ctx, async (runtime) => {
    const engine = runtime.engine({ artifactsDir: options.artifacts });
    const results = await engine.check(step);
    io.out(options.json ? JSON.stringify(results, null, 2) : formatChecks(results));
    return results.every((r) => r.ok || r.skipped) ? 0 : 1;
  });
}

function printEvent(event: LabEvent, io: CliIo): void {
  switch (event.type) {
    case 'step':
      if (event.state.status === 'running') io.err(`==> ${event.state.id}`);
      else if (event.state.status !== 'pending') {
        const took = event.state.durationMs === undefined ? '' : ` in ${(event.state.durationMs / 1000).toFixed(1)} s`;
        io.err(`<== ${event.state.id}: ${event.state.status}${took}${event.state.error ? ` — ${event.state.error}` : ''}`);
      }
      break;
    case 'progress':
      io.err(`    ${event.node ? `[${event.node}] ` : ''}${event.message}`);
      break;
    case 'log':
      if (event.stream === 'info') io.err(`    ${event.node ? `[${event.node}] ` : ''}${event.line}`);
      break;
    case 'check':
      break;
  }
}

export function formatChecks(results: CheckResult[]): string {
  const rows = results.map((r) => {
    const failed = r.probes.filter((p) => !p.ok);
    const verdict = r.skipped ? 'SKIPPED' : r.ok ? 'PASS' : 'FAIL';
    return [r.step, verdict, `${r.probes.length - failed.length}/${r.probes.length}`, r.skipped ?? (failed[0] ? `${failed[0].node ? `${failed[0].node}: ` : ''}${failed[0].name}` : '')];
  });
  const lines = [formatTable(['STEP', 'RESULT', 'PROBES', 'FIRST PROBLEM'], rows)];
  for (const result of results) {
    for (const probe of result.probes.filter((p) => !p.ok)) {
      lines.push(
        `\n${result.step}: ${probe.name}${probe.node ? ` on ${probe.node}` : ''}\n  expected: ${probe.expected}\n  seen:     ${probe.seen}\n  fix:      ${probe.hint}`,
      );
    }
  }
  return lines.join('\n');
}
