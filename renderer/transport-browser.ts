// Browser mode: the API contract over one WebSocket to the serving process (same origin; the
// session cookie set when the page was opened with its token authenticates it). Calls and their
// replies, and the event stream, share the socket, so keystrokes keep their order.

import { API_METHODS, ApiError, type ApiEvent, type ApiMethod, type ApiReply, type LabClient } from '../main/shared/api-contract.ts';

export type ConnectionState = 'connecting' | 'open' | 'lost';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export function createBrowserClient(onConnection: (state: ConnectionState, detail?: string) => void): LabClient {
  const listeners = new Set<(event: ApiEvent) => void>();
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let socket: WebSocket | undefined;
  let opened: Promise<WebSocket> | undefined;
  let retryDelay = 500;

  const connect = (): Promise<WebSocket> => {
    opened ??= new Promise<WebSocket>((resolve) => {
      onConnection('connecting');
      const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/ws`);
      ws.onopen = () => {
        socket = ws;
        retryDelay = 500;
        onConnection('open');
        resolve(ws);
      };
      ws.onmessage = (message) => {
        const data = JSON.parse(String(message.data)) as { t: string; id?: number; event?: ApiEvent } & ApiReply;
        if (data.t === 'event' && data.event) {
          for (const listener of listeners) listener(data.event);
        } else if (data.t === 'reply' && data.id !== undefined) {
          const call = pending.get(data.id);
          pending.delete(data.id);
          if (!call) return;
          if (data.error) call.reject(ApiError.from(data.error));
          else call.resolve(data.result);
        }
      };
      ws.onclose = (event) => {
        socket = undefined;
        opened = undefined;
        for (const call of pending.values()) call.reject(new ApiError('the connection to the lab server was lost', { code: 'disconnected' }));
        pending.clear();
        const why = event.code === 1006 ? 'the lab server is not answering (stopped, or the token expired with a restart?)' : event.reason || `closed (${event.code})`;
        onConnection('lost', why);
        setTimeout(() => void connect(), retryDelay);
        retryDelay = Math.min(retryDelay * 2, 10_000);
      };
    });
    return opened;
  };
  void connect();

  const call = async (method: ApiMethod, params: unknown[]): Promise<unknown> => {
    const ws = socket ?? (await connect());
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ t: 'call', id, method, params }));
    });
  };

  const client = {
    onEvent(listener: (event: ApiEvent) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  } as Record<string, unknown>;
  for (const method of API_METHODS) client[method] = (...params: unknown[]) => call(method, params);
  return client as unknown as LabClient;
}
