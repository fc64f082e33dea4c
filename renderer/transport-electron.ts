// Desktop mode: the preload exposes one function per API call through contextBridge (never
// ipcRenderer itself). Each returns the plain {error, result} reply; errors are rebuilt here.

import { API_METHODS, ApiError, type ApiEvent, type ApiReply, type LabClient } from '../main/shared/api-contract.ts';

/** The shape the preload puts on window.hardwayLab. */
export type PreloadBridge = { [method: string]: (...params: unknown[]) => Promise<ApiReply> } & {
  onEvent(listener: (event: ApiEvent) => void): () => void;
};

export function preloadBridge(): PreloadBridge | undefined {
  return (window as unknown as { hardwayLab?: PreloadBridge }).hardwayLab;
}

export function createElectronClient(bridge: PreloadBridge): LabClient {
  const client = { onEvent: (listener: (event: ApiEvent) => void) => bridge.onEvent(listener) } as Record<string, unknown>;
  for (const method of API_METHODS) {
    const invoke = bridge[method];
    if (typeof invoke !== 'function') throw new Error(`the preload does not expose ${method}: the app is out of date, rebuild it`);
    client[method] = async (...params: unknown[]) => {
      const reply = await invoke(...params);
      if (reply.error) throw ApiError.from(reply.error);
      return reply.result;
    };
  }
  return client as unknown as LabClient;
}
