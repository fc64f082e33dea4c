// One UI client (an Electron window or a browser tab) attached to the lab service. Both faces use
// this: it validates every call against the contract, turns results and errors into {error, result}
// replies, forwards events, keeps a terminal's flow control per client, and makes sure no private
// key ever leaves the process in a reply or an engine event.

import { randomBytes } from 'node:crypto';
import {
  API_METHODS,
  ApiError,
  isApiMethod,
  serializeError,
  type ApiEvent,
  type ApiMethod,
  type ApiParams,
  type ApiReply,
  type ApiResult,
} from '../shared/api-contract.ts';
import { HIGH_WATER, LOW_WATER } from './terminal-sessions.ts';

/** What a client talks to: the service behind the contract (every call except the per-client ack). */
export interface ApiBackend {
  call<M extends Exclude<ApiMethod, 'terminalAck'>>(method: M, params: ApiParams<M>): Promise<ApiResult<M>>;
  onEvent(listener: (event: ApiEvent) => void): () => void;
  holdTerminal(terminalId: string, consumer: string): void;
  releaseTerminal(terminalId: string, consumer: string): void;
  releaseConsumer(consumer: string): void;
}

/** `flags`: an object with exactly these keys, each a boolean (e.g. startDrill's options). */
type ParamKind = 'id' | 'text' | 'size' | 'count' | { flags: readonly string[] };

/** Runtime shape of each call's parameters: input from a page is untrusted. */
const PARAM_KINDS: { [M in ApiMethod]: ParamKind[] } = {
  getLab: [],
  getStatus: [],
  listSteps: [],
  getStepStates: [],
  listOperations: [],
  runStep: ['id'],
  checkStep: ['id'],
  up: [],
  destroy: [],
  stop: [],
  start: [],
  cancelOperation: ['id'],
  listSnapshots: [],
  mergeKubeconfig: ['id'],
  rewind: ['id'],
  openTerminal: ['id', 'size', 'size'],
  listTerminals: [],
  attachTerminal: ['id'],
  terminalInput: ['id', 'text'],
  terminalResize: ['id', 'size', 'size'],
  terminalAck: ['id', 'count'],
  closeTerminal: ['id'],
  listDrills: [],
  startDrill: ['id', { flags: ['snapshot'] }],
  checkDrill: [],
  drillHint: [],
  revealDrill: [],
  applyDrillReference: [],
  stopDrill: [],
};

const MAX_INPUT_CHARS = 1024 * 1024;

export function validateParams(method: ApiMethod, params: unknown): unknown[] {
  const kinds = PARAM_KINDS[method];
  if (!Array.isArray(params)) throw badRequest(`${method}: parameters must be an array`);
  if (params.length !== kinds.length) throw badRequest(`${method} takes ${kinds.length} parameter(s), got ${params.length}`);
  kinds.forEach((kind, index) => {
    const value: unknown = params[index];
    const where = `${method} parameter ${index + 1}`;
    if (typeof kind === 'object') {
      const wanted = kind.flags;
      const ok =
        typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        Object.keys(value).length === wanted.length &&
        wanted.every((key) => typeof (value as Record<string, unknown>)[key] === 'boolean');
      if (!ok) throw badRequest(`${where} must be an object with exactly ${wanted.map((k) => `${k}: true|false`).join(', ')}`);
      return;
    }
    switch (kind) {
      case 'id':
        if (typeof value !== 'string' || !/^[A-Za-z0-9._:-]{1,200}$/.test(value)) throw badRequest(`${where} must be a name or id (letters, digits, . _ : -)`);
        break;
      case 'text':
        if (typeof value !== 'string' || value.length > MAX_INPUT_CHARS) throw badRequest(`${where} must be a string of at most ${MAX_INPUT_CHARS} characters`);
        break;
      case 'size':
        if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 2000) throw badRequest(`${where} must be an integer from 1 to 2000`);
        break;
      case 'count':
        if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 1e12) throw badRequest(`${where} must be a non-negative integer`);
        break;
    }
  });
  return params;
}

function badRequest(message: string): ApiError {
  return new ApiError(message, { name: 'BadRequest', code: 'bad-request' });
}

const PRIVATE_KEY_PEM = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(-----END \1PRIVATE KEY-----|$)/g;
const PRIVATE_KEY_MARK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** True when the JSON form of a value holds a PEM private key (also escaped inside strings). */
export function containsPrivateKey(value: unknown): boolean {
  if (value === undefined) return false;
  return PRIVATE_KEY_MARK.test(JSON.stringify(value));
}

export function redactPrivateKeys(text: string): string {
  return text.replace(PRIVATE_KEY_PEM, '[private key removed: keys stay in the lab directory]');
}

/** Engine events carry command output; a key printed by a command must not reach a UI. */
function redactEvent(event: ApiEvent): ApiEvent {
  if (event.kind !== 'lab' || !containsPrivateKey(event)) return event;
  return JSON.parse(redactPrivateKeys(JSON.stringify(event))) as ApiEvent;
}

export class ApiConnection {
  readonly id = `client-${randomBytes(6).toString('hex')}`;
  private readonly backend: ApiBackend;
  private readonly send: (event: ApiEvent) => void;
  private readonly unsubscribe: () => void;
  /** Characters sent but not yet drawn, per terminal. */
  private readonly behind = new Map<string, number>();
  private readonly holding = new Set<string>();
  private disposed = false;

  constructor(backend: ApiBackend, send: (event: ApiEvent) => void) {
    this.backend = backend;
    this.send = send;
    this.unsubscribe = backend.onEvent((event) => this.forward(event));
  }

  /** Runs one call; never throws: failures come back as `{ error }`. */
  async handle(method: unknown, params: unknown): Promise<ApiReply> {
    try {
      if (!isApiMethod(method)) {
        throw new ApiError(`unknown API method ${JSON.stringify(method)}; known: ${API_METHODS.join(', ')}`, { name: 'BadRequest', code: 'bad-request' });
      }
      const args = validateParams(method, params);
      const result = method === 'terminalAck' ? this.ack(args[0] as string, args[1] as number) : await this.backend.call(method, args as never);
      if (containsPrivateKey(result)) {
        // A bug somewhere in the engine: refuse rather than leak.
        throw new ApiError(`refused to return the result of ${method}: it contained a private key`, { name: 'SecretLeakRefused', code: 'internal' });
      }
      return result === undefined ? {} : { result };
    } catch (error) {
      const serialized = serializeError(error);
      serialized.message = redactPrivateKeys(serialized.message);
      return { error: serialized };
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.unsubscribe();
    this.backend.releaseConsumer(this.id);
  }

  private ack(terminalId: string, chars: number): void {
    const left = Math.max(0, (this.behind.get(terminalId) ?? 0) - chars);
    this.behind.set(terminalId, left);
    if (left < LOW_WATER && this.holding.delete(terminalId)) this.backend.releaseTerminal(terminalId, this.id);
  }

  private forward(event: ApiEvent): void {
    if (this.disposed) return;
    if (event.kind === 'terminal-output') {
      const behind = (this.behind.get(event.id) ?? 0) + event.data.length;
      this.behind.set(event.id, behind);
      if (behind > HIGH_WATER && !this.holding.has(event.id)) {
        this.holding.add(event.id);
        this.backend.holdTerminal(event.id, this.id);
      }
    } else if (event.kind === 'terminal-state' && event.state === 'closed') {
      this.behind.delete(event.id);
      this.holding.delete(event.id);
    }
    this.send(redactEvent(event));
  }
}
