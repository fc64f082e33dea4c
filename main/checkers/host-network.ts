// Probes made from the host itself (the learner's machine): a TLS request verified with the lab
// CA, and a plain TCP connect. Both report what happened in words, never throw.

import { request } from 'node:https';
import { connect } from 'node:net';

export interface HostProbeResult {
  ok: boolean;
  seen: string;
  status?: number;
  body?: string;
  /** The socket error's code when there was no answer (ECONNREFUSED, EHOSTUNREACH...). */
  code?: string;
}

export function httpsGet(url: string, options: { ca: string; cert?: string; key?: string; timeoutMs?: number }): Promise<HostProbeResult> {
  return new Promise((resolve) => {
    const req = request(url, { ca: options.ca, cert: options.cert, key: options.key, timeout: options.timeoutMs ?? 10_000, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 65536) body += chunk;
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const oneLine = body.trim().replace(/\s+/g, ' ');
        resolve({ ok: status === 200, status, body, seen: `HTTP ${status}${oneLine ? `: ${oneLine.slice(0, 160)}` : ''}` });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 10_000} ms`)));
    req.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      resolve({ ok: false, code, seen: code ? `${code}: ${error.message}` : error.message });
    });
    req.end();
  });
}

export function tcpConnect(host: string, port: number, timeoutMs = 5000): Promise<HostProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, seen: `no connection within ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: true, seen: `connected to ${host}:${port}` });
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, seen: `${(error as NodeJS.ErrnoException).code ?? 'error'}: ${error.message}` });
    });
  });
}
