// Host keys of the lab's VMs, pinned on first contact (trust on first use) in <sshDir>/known-hosts.json.
// A VM that later shows a different key is refused: either it was re-created (forget the pin) or
// something else answers on its address. Kept per node, not per host:port, because every VM of a
// QEMU lab is reached on 127.0.0.1 with its own forwarded port, and ports can be reassigned.

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface HostKeyPin {
  /** `host:port` the key was first seen on (informational). */
  endpoint: string;
  keyType: string;
  /** `SHA256:<base64>` exactly as `ssh-keygen -l` and `ssh` print it. */
  fingerprint: string;
  /** ISO timestamp of the first contact. */
  firstSeen: string;
}

interface PinFile {
  version: 1;
  nodes: Record<string, HostKeyPin>;
}

export class HostKeyChangedError extends Error {
  readonly node: string;
  readonly endpoint: string;
  readonly pinned: HostKeyPin;
  readonly offeredFingerprint: string;
  readonly offeredKeyType: string;

  constructor(node: string, endpoint: string, pinned: HostKeyPin, offered: { keyType: string; fingerprint: string }) {
    super(
      `The SSH host key of node ${node} (${endpoint}) has changed, so the connection was refused.\n` +
        `  pinned:  ${pinned.fingerprint} (${pinned.keyType}, first seen ${pinned.firstSeen} on ${pinned.endpoint})\n` +
        `  offered: ${offered.fingerprint} (${offered.keyType})\n` +
        `What to do: if the VM was re-created, run \`hardway-lab ssh-forget ${node}\` and retry ` +
        '(`hardway-lab destroy` clears all pins). If it was not, something else answers on that address: do not continue.',
    );
    this.name = 'HostKeyChangedError';
    this.node = node;
    this.endpoint = endpoint;
    this.pinned = pinned;
    this.offeredFingerprint = offered.fingerprint;
    this.offeredKeyType = offered.keyType;
  }
}

/** `SHA256:<unpadded base64>` of an SSH public key blob, as OpenSSH prints it. */
export function hostKeyFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The algorithm name at the start of an SSH public key blob, e.g. `ssh-ed25519`. */
export function hostKeyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  return length > 0 && 4 + length <= keyBlob.length ? keyBlob.toString('ascii', 4, 4 + length) : 'unknown';
}

export class HostKeyPins {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  get(node: string): HostKeyPin | undefined {
    return this.read().nodes[node];
  }

  all(): Record<string, HostKeyPin> {
    return this.read().nodes;
  }

  /**
   * Accepts the key a node offers: pins it on first contact, passes when it matches the pin, and
   * throws HostKeyChangedError when it does not. The file is re-read every time so that
   * `ssh-forget` from another process takes effect at once.
   */
  verify(node: string, endpoint: string, keyBlob: Buffer): 'pinned' | 'matched' {
    const offered = { keyType: hostKeyType(keyBlob), fingerprint: hostKeyFingerprint(keyBlob) };
    const pins = this.read();
    const pinned = pins.nodes[node];
    if (!pinned) {
      pins.nodes[node] = { endpoint, ...offered, firstSeen: new Date().toISOString() };
      this.write(pins);
      return 'pinned';
    }
    if (pinned.fingerprint !== offered.fingerprint) throw new HostKeyChangedError(node, endpoint, pinned, offered);
    return 'matched';
  }

  /** Drops one node's pin (its VM was re-created). Returns whether there was one. */
  forget(node: string): boolean {
    const pins = this.read();
    if (!pins.nodes[node]) return false;
    delete pins.nodes[node];
    this.write(pins);
    return true;
  }

  /** Drops every pin; `destroy` calls this because re-created VMs get new host keys. */
  forgetAll(): void {
    this.write({ version: 1, nodes: {} });
  }

  private read(): PinFile {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, nodes: {} };
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as Partial<PinFile>;
      if (typeof parsed !== 'object' || parsed === null || typeof parsed.nodes !== 'object' || parsed.nodes === null) {
        throw new Error('no "nodes" object');
      }
      return { version: 1, nodes: { ...parsed.nodes } };
    } catch (error) {
      throw new Error(
        `The host key pin file ${this.file} is damaged (${(error as Error).message}). ` +
          'Delete it to pin every VM again on the next connection.',
      );
    }
  }

  // Small synchronous write + rename: atomic, and no interleaving between concurrent verifications.
  private write(pins: PinFile): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.tmp-${randomBytes(6).toString('hex')}`;
    writeFileSync(temporary, `${JSON.stringify(pins, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, this.file);
  }
}
