// Errors of the SSH layer, written for the person at the screen: which node, which command, the end
// of its output and what to do next.

import type { SshEndpoint } from '../providers/provider.ts';

export interface ExecResult {
  /** The exit status; -1 when the command was killed by a signal (see `signal`). */
  code: number;
  signal?: string;
  stdout: string;
  stderr: string;
}

const OUTPUT_LINES = 20;

export function lastLines(text: string, count: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-count).join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/** Long scripts make unreadable messages: show the start of the command, keep all of it in `.command`. */
function shortCommand(command: string): string {
  const oneLine = command.trim().replace(/\s*\n\s*/g, ' ; ');
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}

function outputSection(stdout: string, stderr: string): string {
  const parts: string[] = [];
  if (stderr.trim()) parts.push(`  stderr (last lines):\n${indent(lastLines(stderr, OUTPUT_LINES))}`);
  if (stdout.trim()) parts.push(`  stdout (last lines):\n${indent(lastLines(stdout, OUTPUT_LINES))}`);
  return parts.length ? `\n${parts.join('\n')}` : '\n  (no output)';
}

/** A command ran and exited non-zero (thrown by `SshPool.run`). */
export class SshCommandError extends Error {
  readonly node: string;
  readonly command: string;
  readonly code: number;
  readonly signal?: string;
  readonly stdout: string;
  readonly stderr: string;

  constructor(node: string, command: string, result: ExecResult) {
    const how = result.signal ? `was killed by signal ${result.signal}` : `exited with code ${result.code}`;
    super(`Command on node ${node} ${how}: ${shortCommand(command)}${outputSection(result.stdout, result.stderr)}`);
    this.name = 'SshCommandError';
    this.node = node;
    this.command = command;
    this.code = result.code;
    this.signal = result.signal;
    this.stdout = result.stdout;
    this.stderr = result.stderr;
  }
}

/** A command did not finish: it ran past its time limit, or the connection dropped under it. */
export class SshCommandInterruptedError extends Error {
  readonly node: string;
  readonly command: string;
  readonly reason: 'timeout' | 'connection-lost';
  readonly stdout: string;
  readonly stderr: string;

  constructor(node: string, command: string, reason: 'timeout' | 'connection-lost', output: { stdout: string; stderr: string; timeoutMs?: number }) {
    const what =
      reason === 'timeout'
        ? `did not finish within ${Math.round((output.timeoutMs ?? 0) / 1000)} s and was stopped`
        : 'lost its SSH connection before finishing (did the VM stop or reboot?)';
    super(`Command on node ${node} ${what}: ${shortCommand(command)}${outputSection(output.stdout, output.stderr)}`);
    this.name = 'SshCommandInterruptedError';
    this.node = node;
    this.command = command;
    this.reason = reason;
    this.stdout = output.stdout;
    this.stderr = output.stderr;
  }
}

/** No SSH session could be established with a node (refused, timed out, login refused...). */
export class SshUnreachableError extends Error {
  readonly node: string;
  readonly endpoint: SshEndpoint;
  readonly consoleTail?: string;
  readonly reason: string;

  constructor(node: string, endpoint: SshEndpoint, details: { reason: string; consoleTail?: string; hint?: string; cause?: unknown }) {
    const where = `${endpoint.user}@${endpoint.host}:${endpoint.port}`;
    const console = details.consoleTail?.trim()
      ? `\n  last lines of its console:\n${indent(lastLines(details.consoleTail, 30))}`
      : '';
    const hint =
      details.hint ??
      'check that the VM is running (`hardway-lab status`); if it is, its console log shows why SSH is not answering.';
    super(`Cannot reach node ${node} over SSH at ${where}: ${details.reason}${console}\n  what to do: ${hint}`, {
      cause: details.cause,
    });
    this.name = 'SshUnreachableError';
    this.node = node;
    this.endpoint = endpoint;
    this.consoleTail = details.consoleTail;
    this.reason = details.reason;
  }
}

/** A file could not be placed on a node over SFTP. */
export class SshUploadError extends Error {
  readonly node: string;
  readonly remotePath: string;

  constructor(node: string, remotePath: string, step: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `Uploading ${remotePath} to node ${node} failed while ${step}: ${reason}\n` +
        '  what to do: check the node has free disk space (`df -h`) and that the parent path is a directory.',
      { cause },
    );
    this.name = 'SshUploadError';
    this.node = node;
    this.remotePath = remotePath;
  }
}
