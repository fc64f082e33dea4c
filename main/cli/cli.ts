// `hardway-lab`: the command-line face of the lab engine.
// Exit codes: 0 ok, 1 a failure while doing the work, 2 bad input (message and fix on stderr).

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SpecError, defaultSpecText, formatIssue } from '../spec/parse-spec.ts';
import { PRESETS } from '../spec/cluster-spec.ts';
import { loadLabContext, UsageError, type LabContext } from './lab-context.ts';
import { formatPlan } from './format-plan.ts';
import { ensurePki } from '../pki/ensure-pki.ts';
import { renderLab } from '../render/render-lab.ts';
import { LabError } from '../shared/lab-error.ts';
import { defaultLabDir, labPaths } from '../lab/lab-dir.ts';
import { startServer } from '../server/serve.ts';
import { HostKeyPins } from '../ssh/host-key-pins.ts';
import { hostKeyPinsFile } from '../lab/lab-runtime.ts';
import { artifactsCommand } from './artifact-commands.ts';
import { kubeconfigCommand } from './kubeconfig-command.ts';
import { rewindCommand, snapshotCommand } from './snapshot-commands.ts';
import { drillCommand } from './drill-commands.ts';
import {
  checkCommand,
  destroyCommand,
  imageBuildCommand,
  interruptSignal,
  sshCommand,
  startCommand,
  statusCommand,
  stopCommand,
  upCommand,
  upVmsOnly,
} from './lab-commands.ts';

export const USAGE = `hardway-lab — Kubernetes the hard way, on local VMs, with a checker for every step

Usage: hardway-lab <command> [options]

Commands:
  init                 write the default cluster spec (hardway-lab.yaml) into the lab
  plan [--json]        print the plan: nodes, addresses, certificates, files per node
  pki [--rotate]       create the lab's CA and certificates (kept on re-run unless --rotate)
     --renew ID,...    re-issue these certificates with new keys (same CA): then copy them to their nodes
  render               write every hard-way file (kubeconfigs, units, configs) into the lab
  image build          build the Debian base image for the VMs from Debian's mirror (cached)
  artifacts build      build every binary the lab installs from its upstream Go module, and the lab's images
                       (at the spec's versions; --into DIR, --only COMPONENT,...; a second run does nothing)
     --upgrade         with build or fetch: for the next Kubernetes minor (the upgrade exercise's release)
  artifacts describe   which source the lab's binaries come from (release, go-build, directory) and why
  artifacts fetch      download the Go modules the build needs (the build then works offline)
  up                   one click: VMs, every hard-way step, every checker (resumes where it stopped)
     --vms-only        only create the VMs and wait until each answers over SSH
     --until STEP      run the steps up to STEP (a number or an id); --step STEP runs one step
     --artifacts DIR   take every binary and image from DIR (air-gapped labs; else the spec's artifacts.source)
  check [STEP]         run the checkers (all, or one step) and show every failing probe [--json]
  status               table of nodes: role, IP, VM state, SSH [--json]
  kubeconfig           print the admin kubeconfig (cluster, user and context hardway-<lab>)
     --merge           add or update hardway-<lab> in $KUBECONFIG or ~/.kube/config (other entries kept)
     --use             with --merge: make hardway-<lab> the current context
     --remove          remove hardway-<lab> from that file
  ssh NODE [-- CMD]    a shell on NODE, or run CMD there
  ssh-forget [NODE]    forget the pinned SSH host key of NODE (or all nodes) after re-creating a VM
  stop                 shut the lab down safely (workers, then the control plane before etcd, the LB last)
  start                boot a stopped (or crashed) lab and wait until every checker that passed passes again
  snapshot save NAME   a snapshot of every node (and the lab's PKI and state) at one moment
  snapshot restore NAME  every VM, the PKI and the step states back to NAME; waits for its checkers
  snapshot list        the lab's snapshots [--json]; snapshot delete NAME removes one
  rewind STEP          back to the moment after STEP (its automatic snapshot): later steps are not done
  drill list           break/fix drills on a green lab, judged by the steps' checkers
  drill start ID       break the lab as the drill's story says (a snapshot first where the provider has them;
                       --no-snapshot: stop undoes the fault instead)
  drill check          judge: the checkers that the fault makes fail, and the time taken once solved
  drill hint           the next hint (symptom first, the exact fix last)
  drill reveal         show the reference fix; --apply runs it
  drill stop           end the drill: back to the snapshot, or the fault undone
  exercise list|start ID|check|hint|reveal|stop   cluster operations (etcd backup and restore, drain, certificate rotation, upgrade), stage by stage
  destroy              remove the lab's VMs and snapshots (the spec, PKI and files stay)
  serve                the app in a browser: http://127.0.0.1:PORT/?token=... [--port N]
  help                 show this help

Options:
  --lab DIR            the lab directory (default: $HARDWAY_LAB_DIR or ~/.local/share/hardway-lab/labs/<name>)
  --spec FILE          the cluster spec to use (default: the lab's hardway-lab.yaml, else the built-in ha preset)
  --preset NAME        with init: ${PRESETS.join(', ')}
  --force              with init: overwrite an existing spec
`;

const OPTIONS = {
  lab: { type: 'string' },
  spec: { type: 'string' },
  json: { type: 'boolean' },
  rotate: { type: 'boolean' },
  preset: { type: 'string' },
  force: { type: 'boolean' },
  mirror: { type: 'string' },
  'vms-only': { type: 'boolean' },
  until: { type: 'string' },
  step: { type: 'string' },
  artifacts: { type: 'string' },
  port: { type: 'string' },
  into: { type: 'string' },
  only: { type: 'string' },
  merge: { type: 'boolean' },
  use: { type: 'boolean' },
  remove: { type: 'boolean' },
  'no-snapshot': { type: 'boolean' },
  apply: { type: 'boolean' },
  renew: { type: 'string' },
  upgrade: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  try {
    const { values, positionals } = parseCommandLine(argv);
    const command = positionals[0] ?? 'help';
    if (values.help || command === 'help') {
      io.out(USAGE);
      return 0;
    }
    const context = () => {
      const ctx = loadLabContext({ lab: values.lab, spec: values.spec });
      for (const warning of ctx.warnings) io.err(formatIssue(warning));
      return ctx;
    };
    switch (command) {
      case 'init':
        return await initCommand(values, io);
      case 'plan': {
        const ctx = context();
        io.out(values.json ? JSON.stringify(ctx.plan, null, 2) : formatPlan(ctx.plan));
        return 0;
      }
      case 'pki': {
        const ctx = context();
        await saveSpec(ctx);
        const renew = values.renew?.split(',').map((id) => id.trim()).filter(Boolean);
        const result = await ensurePki(ctx.plan, ctx.paths, { algorithm: ctx.spec.pki.keyAlgorithm, rotate: values.rotate, renew }).catch((error: Error) => {
          throw renew ? new UsageError(error.message.split('\n')[0]!, error.message.split('what to do: ')[1]) : error;
        });
        io.out(
          `PKI in ${ctx.paths.pki}: ${result.created.length} created${result.created.length ? ` (${result.created.join(', ')})` : ''}, ${result.kept.length} kept`,
        );
        for (const { id, reason } of result.reissued ?? []) io.out(`  re-issued ${id}: ${reason}`);
        return 0;
      }
      case 'render': {
        const ctx = context();
        await saveSpec(ctx);
        const pki = await ensurePki(ctx.plan, ctx.paths, { algorithm: ctx.spec.pki.keyAlgorithm });
        if (pki.created.length) io.out(`PKI: created ${pki.created.join(', ')}`);
        const result = await renderLab(ctx.plan, ctx.paths);
        io.out(`Rendered ${result.files.length} files for ${ctx.plan.nodes.length} nodes into ${ctx.paths.nodes} (admin kubeconfig: ${ctx.paths.kubeconfigs})`);
        return 0;
      }
      case 'image': {
        if (positionals[1] !== 'build') throw new UsageError('usage: hardway-lab image build [--force] [--mirror URL]');
        return await imageBuildCommand({ force: values.force, mirror: values.mirror }, io);
      }
      case 'artifacts': {
        const interrupt = interruptSignal(io);
        try {
          return await artifactsCommand(context(), positionals[1], { into: values.into, only: values.only, artifacts: values.artifacts, upgrade: values.upgrade }, io, interrupt.signal);
        } finally {
          interrupt.dispose();
        }
      }
      case 'up': {
        const ctx = context();
        await saveSpec(ctx);
        const interrupt = interruptSignal(io);
        try {
          if (values['vms-only']) return await upVmsOnly(ctx, io, interrupt.signal);
          return await upCommand(ctx, { until: values.until, step: values.step, artifacts: values.artifacts }, io, interrupt.signal);
        } finally {
          interrupt.dispose();
        }
      }
      case 'check':
        return await checkCommand(context(), positionals[1], { json: values.json, artifacts: values.artifacts }, io);
      case 'status':
        return await statusCommand(context(), io, values.json ?? false);
      case 'ssh': {
        const node = positionals[1];
        if (!node) throw new UsageError('usage: hardway-lab ssh NODE [-- COMMAND]');
        return await sshCommand(context(), node, positionals.slice(2), io);
      }
      case 'ssh-forget': {
        const ctx = context();
        const pins = new HostKeyPins(hostKeyPinsFile(ctx.paths));
        if (positionals[1]) {
          if (!ctx.plan.nodes.some((n) => n.name === positionals[1])) throw new UsageError(`no node named "${positionals[1]}"`, `use one of: ${ctx.plan.nodes.map((n) => n.name).join(', ')}.`);
          io.out(pins.forget(positionals[1]) ? `Forgot the host key of ${positionals[1]}; the next connection pins the new one.` : `No host key was pinned for ${positionals[1]}.`);
        } else {
          pins.forgetAll();
          io.out('Forgot every pinned host key of this lab.');
        }
        return 0;
      }
      case 'destroy':
        return await destroyCommand(context(), io);
      case 'stop':
      case 'start': {
        const interrupt = interruptSignal(io);
        try {
          if (command === 'stop') return await stopCommand(context(), io, interrupt.signal);
          return await startCommand(context(), io, interrupt.signal, { artifacts: values.artifacts });
        } finally {
          interrupt.dispose();
        }
      }
      case 'snapshot':
      case 'rewind': {
        const interrupt = interruptSignal(io);
        try {
          if (command === 'rewind') return await rewindCommand(context(), positionals[1], { artifacts: values.artifacts }, io, interrupt.signal);
          return await snapshotCommand(context(), positionals[1], positionals[2], { json: values.json, artifacts: values.artifacts }, io, interrupt.signal);
        } finally {
          interrupt.dispose();
        }
      }
      case 'drill':
      case 'exercise': {
        const interrupt = interruptSignal(io);
        try {
          return await drillCommand(command, context(), positionals[1], positionals[2], { json: values.json, artifacts: values.artifacts, noSnapshot: values['no-snapshot'], apply: values.apply }, io, interrupt.signal);
        } finally {
          interrupt.dispose();
        }
      }
      case 'kubeconfig':
        return await kubeconfigCommand(context(), { merge: values.merge, use: values.use, remove: values.remove }, io);
      case 'serve':
        return await serveCommand(values, io);
      default:
        throw new UsageError(`unknown command "${command}"`, 'run `hardway-lab help` for the list of commands.');
    }
  } catch (error) {
    return reportError(error, io);
  }
}

async function serveCommand(values: { lab?: string; spec?: string; port?: string }, io: CliIo): Promise<number> {
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${values.port} is not a port number`, 'use a number from 1 to 65535, or leave it out for a free port.');
  const server = await startServer({ lab: values.lab, spec: values.spec, port, log: (line) => io.err(line) });
  io.out(`Hardway Lab is serving on ${server.url}\nOpen that URL (it carries the access token). Ctrl-C stops it.`);
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  await server.close();
  return 0;
}

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message, 'run `hardway-lab help` for the options.');
  }
}

async function initCommand(values: { lab?: string; spec?: string; preset?: string; force?: boolean }, io: CliIo): Promise<number> {
  let text = defaultSpecText();
  if (values.preset) {
    if (!(PRESETS as readonly string[]).includes(values.preset)) {
      throw new UsageError(`unknown preset "${values.preset}"`, `use one of: ${PRESETS.join(', ')}.`);
    }
    text = text.replace(/^preset: \w+/m, `preset: ${values.preset}`);
  }
  const target = values.spec ?? labPaths(values.lab ?? defaultLabDir()).spec;
  if (existsSync(target) && !values.force) {
    throw new UsageError(`${target} already exists`, 'edit it, or pass --force to overwrite it with the default.');
  }
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, text, { mode: 0o644 });
  // Validate what was written with the same rules as every other command.
  loadLabContext({ lab: values.lab, spec: target });
  io.out(`Wrote ${target}. Next: \`hardway-lab plan${values.lab ? ` --lab ${values.lab}` : ''}\`.`);
  return 0;
}

/** Keeps the spec a lab was made from inside the lab, so later commands use the same one. */
async function saveSpec(ctx: LabContext): Promise<void> {
  if (ctx.specSource === ctx.paths.spec) return;
  if (existsSync(ctx.paths.spec)) {
    throw new UsageError(
      `the lab ${ctx.paths.root} already has its own spec, but ${ctx.specSource} was given`,
      `drop --spec to use the lab's spec, edit ${ctx.paths.spec}, or use another --lab.`,
    );
  }
  await mkdir(ctx.paths.root, { recursive: true });
  await writeFile(ctx.paths.spec, ctx.specText, { mode: 0o644 });
}

function reportError(error: unknown, io: CliIo): number {
  if (error instanceof SpecError) {
    io.err(error.message);
    return 2;
  }
  if (error instanceof UsageError) {
    io.err(`hardway-lab: ${error.message}${error.hint ? `\n  fix: ${error.hint}` : ''}`);
    return 2;
  }
  if (error instanceof LabError) {
    io.err(`hardway-lab: ${error.describe()}`);
    return 1;
  }
  // Engine, SSH and image errors are written for people; the stack only helps us.
  const message = error instanceof Error ? (process.env.HARDWAY_DEBUG ? (error.stack ?? error.message) : error.message) : String(error);
  io.err(`hardway-lab: ${message}`);
  return 1;
}
