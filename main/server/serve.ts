// Browser mode: the renderer and the lab API over HTTP + WebSocket on 127.0.0.1 only, so a lab on a
// headless host can be used from a browser (through an SSH tunnel, for instance).
//
// Security, because anything on the machine (and any web page open in a browser) can reach a
// loopback port:
// - binds 127.0.0.1 and nothing else;
// - a random 256-bit token is required on every request and on the WebSocket: given once in the
//   URL, then kept in a SameSite=Strict, HttpOnly cookie (or sent as a header by scripts);
// - the Host header must name the loopback address and port (DNS rebinding), and a browser's
//   Origin must be this very server (cross-site requests and WebSockets are refused);
// - a strict Content-Security-Policy and no caching.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ApiConnection, type ApiBackend } from '../api/api-connection.ts';
import type { ApiEvent } from '../shared/api-contract.ts';
import { LabService, type LabServiceOptions } from '../api/lab-service.ts';
import { ensureRendererBuilt, RENDERER_OUT } from './build-renderer.ts';
import { SECURITY_HEADERS } from './security-headers.ts';

export { CONTENT_SECURITY_POLICY } from './security-headers.ts';

export interface StartServerOptions {
  /** The lab directory (default: the same as the CLI's). */
  lab?: string;
  /** A spec file to use instead of the lab's own. */
  spec?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Only 127.0.0.1 is accepted; anything else is refused with an error. */
  host?: string;
  /** Where the built renderer lives (default dist/renderer, built on demand). */
  rendererDir?: string;
  /** A service made by the caller (tests, the bench); otherwise one is made from `lab`/`spec`. */
  service?: ApiBackend & { dispose?: () => Promise<void> | void };
  serviceOptions?: Omit<LabServiceOptions, 'lab' | 'spec'>;
  /** Called for lines worth showing on the server's console. */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** The URL to open, token included. */
  url: string;
  token: string;
  port: number;
  host: string;
  close(): Promise<void>;
}

export const LOOPBACK_HOST = '127.0.0.1';
const MAX_BODY_BYTES = 2 * 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.ico': 'image/x-icon',
};

export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const host = options.host ?? LOOPBACK_HOST;
  if (host !== LOOPBACK_HOST) {
    throw new Error(
      `browser mode listens on ${LOOPBACK_HOST} only, not "${host}": the lab's terminals are root shells. ` +
        `To use it from another machine, tunnel the port: ssh -L PORT:${LOOPBACK_HOST}:PORT this-host`,
    );
  }
  const log = options.log ?? (() => {});
  const rendererDir = resolve(options.rendererDir ?? RENDERER_OUT);
  if (!options.rendererDir) {
    const build = await ensureRendererBuilt();
    if (build.built) log(`built the renderer into ${build.outDir} in ${build.ms} ms`);
  }

  const ownService = options.service === undefined;
  const service = options.service ?? (await LabService.create({ ...options.serviceOptions, lab: options.lab, spec: options.spec }));
  const token = randomBytes(32).toString('base64url');
  let port = 0;
  const cookieName = () => `hwl_token_${port}`;

  const allowedHosts = () => new Set([`${LOOPBACK_HOST}:${port}`, `localhost:${port}`]);
  const allowedOrigins = () => new Set([`http://${LOOPBACK_HOST}:${port}`, `http://localhost:${port}`]);

  /** null when the request may go on; otherwise the status and message to refuse it with. */
  const refuse = (req: IncomingMessage, url: URL): { status: number; message: string } | null => {
    if (!allowedHosts().has(req.headers.host ?? '')) {
      return { status: 421, message: `refused: Host "${req.headers.host ?? ''}" is not this server (${LOOPBACK_HOST}:${port})` };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins().has(origin)) {
      return { status: 403, message: `refused: cross-origin request from ${origin}` };
    }
    const given = presentedToken(req, url, cookieName());
    if (given === undefined) return { status: 401, message: 'refused: no token. Open the URL that `hardway-lab serve` printed (it carries the token).' };
    if (!sameSecret(given, token)) return { status: 403, message: 'refused: wrong token. Open the URL that `hardway-lab serve` printed last.' };
    return null;
  };

  const connections = new Set<ApiConnection>();
  const sockets = new Set<WebSocket>();

  const server = createServer((req, res) => {
    handleHttp(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendText(res, 500, `internal error: ${(error as Error).message}`);
      else res.destroy();
    });
  });

  const handleHttp = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', `http://${LOOPBACK_HOST}:${port}`);
    const refusal = refuse(req, url);
    if (refusal) return sendText(res, refusal.status, refusal.message);

    if (url.searchParams.has('token')) {
      // Trade the token in the URL for a cookie, and drop it from the address bar and history.
      res.setHeader('Set-Cookie', `${cookieName()}=${token}; Path=/; HttpOnly; SameSite=Strict`);
      res.writeHead(303, { ...SECURITY_HEADERS, Location: url.pathname });
      res.end();
      return;
    }

    if (url.pathname.startsWith('/api/call/')) {
      if (req.method !== 'POST') return sendText(res, 405, 'API calls are POST requests');
      const method = decodeURIComponent(url.pathname.slice('/api/call/'.length));
      let params: unknown;
      try {
        params = JSON.parse((await readBody(req)) || '[]');
      } catch (error) {
        return sendJson(res, 400, { error: { name: 'BadRequest', code: 'bad-request', message: `the body must be a JSON array of parameters: ${(error as Error).message}` } });
      }
      const connection = new ApiConnection(service, () => {});
      try {
        const reply = await connection.handle(method, params);
        return sendJson(res, reply.error?.code === 'bad-request' ? 400 : 200, reply);
      } finally {
        connection.dispose();
      }
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'only GET here');
    const file = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    const path = normalize(join(rendererDir, decodeURIComponent(file)));
    const type = CONTENT_TYPES[extname(path)];
    if (!path.startsWith(rendererDir + sep) || !type) return sendText(res, 404, 'not found');
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch {
      return sendText(res, 404, 'not found');
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', `http://${LOOPBACK_HOST}:${port}`);
    const refusal = url.pathname === '/api/ws' ? refuse(req, url) : { status: 404, message: 'not found' };
    if (refusal) {
      socket.end(`HTTP/1.1 ${refusal.status} Refused\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${refusal.message}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => attachSocket(ws));
  });

  const attachSocket = (ws: WebSocket): void => {
    sockets.add(ws);
    const sendMessage = (message: unknown): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };
    const connection = new ApiConnection(service, (event: ApiEvent) => sendMessage({ t: 'event', event }));
    connections.add(connection);
    ws.on('message', (raw) => {
      let message: { t?: unknown; id?: unknown; method?: unknown; params?: unknown };
      try {
        message = JSON.parse(raw.toString()) as typeof message;
      } catch {
        ws.close(1003, 'messages must be JSON');
        return;
      }
      if (message.t !== 'call' || typeof message.id !== 'number') {
        ws.close(1003, 'expected {t:"call", id, method, params}');
        return;
      }
      const id = message.id;
      void connection.handle(message.method, message.params).then((reply) => sendMessage({ t: 'reply', id, ...reply }));
    });
    ws.on('close', () => {
      connection.dispose();
      connections.delete(connection);
      sockets.delete(ws);
    });
    ws.on('error', () => ws.terminate());
    sendMessage({ t: 'hello' });
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: LOOPBACK_HOST, port: options.port ?? 0, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${LOOPBACK_HOST}:${port}/?token=${token}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    token,
    port,
    host: LOOPBACK_HOST,
    close: () =>
      (closing ??= (async () => {
        for (const ws of sockets) ws.terminate();
        for (const connection of connections) connection.dispose();
        wss.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        if (ownService) await (service as LabService).dispose();
      })()),
  };
}

function presentedToken(req: IncomingMessage, url: URL, cookieName: string): string | undefined {
  const header = req.headers['x-hardway-token'];
  if (typeof header === 'string') return header;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice('Bearer '.length);
  const query = url.searchParams.get('token');
  if (query !== null) return query;
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === cookieName) return value.join('=');
  }
  return undefined;
}

function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
