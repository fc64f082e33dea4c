// Runs one command on an open SSH exec channel: feeds stdin, streams and collects its output, and
// stops it on a time limit or an abort signal.
//
// Stopping needs care: closing the channel does not end a command that has no PTY, and OpenSSH
// refuses "signal" requests for root sessions ("session signalling requires privilege
// separation"). So a command that may have to be stopped carries a tag (see killTaggedScript),
// and stopping it kills, over a second channel, the process groups of everything with that tag.

import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { ClientChannel } from 'ssh2';
import type { ExecResult } from './ssh-errors.ts';
import { SshCommandInterruptedError } from './ssh-errors.ts';

export interface ExecOptions {
  onStdout?(chunk: string): void;
  onStderr?(chunk: string): void;
  /** Sent to the command's stdin, which is then closed (commands never wait for more input). */
  stdin?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const EXEC_TAG = 'HARDWAY_EXEC_ID';
/** How long to wait for the channel to close after stopping a command before giving up on it. */
const STOP_GRACE_MS = 5000;

export function newExecTag(): string {
  return randomBytes(8).toString('hex');
}

/** The command as sent to the node: unchanged, or prefixed with its tag when it may be stopped. */
export function taggedCommand(command: string, tag: string | undefined): string {
  return tag ? `export ${EXEC_TAG}=${tag}; ${command}` : command;
}

/**
 * A shell script that SIGKILLs a tagged command. The tag is found in the command line of the shell
 * sshd started (`bash -c 'export TAG; ...'`, there from the first moment, even while it still reads
 * its .bashrc) and in the environment of everything it started; their process groups are killed.
 * The script builds the tag at run time so that its own command line does not carry it.
 */
export function killTaggedScript(tag: string): string {
  return [
    `t=${EXEC_TAG}; t="$t=${tag}"`,
    'own=$(sed \'s/.*) //\' /proc/$$/stat | cut -d\' \' -f3)',
    'for p in /proc/[0-9]*; do',
    '  if cat "$p/cmdline" "$p/environ" 2>/dev/null | grep -qszF "$t"; then',
    '    group=$(sed \'s/.*) //\' "$p/stat" | cut -d\' \' -f3)',
    // Never group 0/1 (kill -- -1 means every process) nor this script's own group.
    '    case "$group" in ""|0|1|"$own") ;; *) kill -KILL -- "-$group" 2>/dev/null ;; esac',
    '    [ "$group" = "$own" ] || kill -KILL "${p#/proc/}" 2>/dev/null',
    '  fi',
    'done; true',
  ].join('\n');
}

/**
 * Collects the command's result from its channel. `kill` is called when the time limit passes or
 * the signal aborts; the promise then rejects once the channel closes (or after a grace period).
 */
export function collectExec(
  node: string,
  command: string,
  channel: ClientChannel,
  options: ExecOptions = {},
  kill?: () => void,
): Promise<ExecResult> {
  const { onStdout, onStderr, stdin, timeoutMs, signal } = options;
  return new Promise<ExecResult>((resolve, reject) => {
    const stdoutDecoder = new StringDecoder('utf8');
    const stderrDecoder = new StringDecoder('utf8');
    let stdout = '';
    let stderr = '';
    let exit: { code: number | null; signal?: string } | undefined;
    let stopped: 'timeout' | 'aborted' | undefined;

    const takeStdout = (text: string): void => {
      if (!text) return;
      stdout += text;
      onStdout?.(text);
    };
    const takeStderr = (text: string): void => {
      if (!text) return;
      stderr += text;
      onStderr?.(text);
    };

    let settled = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      signal?.removeEventListener('abort', onAbort);
      takeStdout(stdoutDecoder.end());
      takeStderr(stderrDecoder.end());
      if (stopped === 'aborted') return reject(signal?.reason);
      if (stopped === 'timeout') return reject(new SshCommandInterruptedError(node, command, 'timeout', { stdout, stderr, timeoutMs }));
      if (!exit) return reject(new SshCommandInterruptedError(node, command, 'connection-lost', { stdout, stderr }));
      const result: ExecResult = { code: exit.code ?? -1, stdout, stderr };
      if (exit.signal) result.signal = exit.signal;
      resolve(result);
    };
    // Settle only after both stdout and stderr ended, so no trailing output is lost.
    let streamsOpen = 2;
    const streamClosed = (): void => {
      if (--streamsOpen === 0) settle();
    };

    const stop = (why: 'timeout' | 'aborted'): void => {
      if (stopped) return;
      stopped = why;
      kill?.();
      channel.close();
      // sshd closes the channel only once the process is gone; do not wait for that forever.
      graceTimer = setTimeout(settle, STOP_GRACE_MS);
    };
    const timer = timeoutMs ? setTimeout(() => stop('timeout'), timeoutMs) : undefined;
    const onAbort = (): void => stop('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });

    channel.on('data', (chunk: Buffer) => takeStdout(stdoutDecoder.write(chunk)));
    channel.stderr.on('data', (chunk: Buffer) => takeStderr(stderrDecoder.write(chunk)));
    channel.on('exit', (code: number | null, signalName?: string) => {
      exit = { code, signal: signalName ? `SIG${signalName}` : undefined };
    });
    channel.once('close', streamClosed);
    channel.stderr.once('close', streamClosed);
    channel.end(stdin);
    if (signal?.aborted) stop('aborted');
  });
}

