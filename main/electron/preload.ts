// The desktop window's preload: the only bridge between the page and the main process. It
// exposes one function per call of the typed API contract, plus the event subscription, through
// contextBridge. ipcRenderer itself never reaches the page. Replies are plain {error, result}
// objects; the renderer rebuilds errors (renderer/transport-electron.ts).
// Bundled to CommonJS (sandboxed preloads cannot load ES modules); it may only require 'electron'.

import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { API_METHODS, type ApiEvent, type ApiReply } from '../shared/api-contract.ts';
import { EVENT_CHANNEL, callChannel } from './ipc-channels.ts';

const bridge: Record<string, unknown> = {};
for (const method of API_METHODS) {
  bridge[method] = (...params: unknown[]): Promise<ApiReply> => ipcRenderer.invoke(callChannel(method), params) as Promise<ApiReply>;
}
bridge.onEvent = (listener: (event: ApiEvent) => void): (() => void) => {
  const handler = (_event: IpcRendererEvent, apiEvent: ApiEvent): void => listener(apiEvent);
  ipcRenderer.on(EVENT_CHANNEL, handler);
  return () => {
    ipcRenderer.removeListener(EVENT_CHANNEL, handler);
  };
};

contextBridge.exposeInMainWorld('hardwayLab', bridge);
