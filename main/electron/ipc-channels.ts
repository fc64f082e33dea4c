// IPC channel names shared by the main process and the preload: one channel per API method.

import type { ApiMethod } from '../shared/api-contract.ts';

export const EVENT_CHANNEL = 'hardway-lab:event';

export function callChannel(method: ApiMethod): string {
  return `hardway-lab:call:${method}`;
}

/** The custom scheme the window's pages are served from (never file://, never http). */
export const APP_SCHEME = 'hardway';
export const APP_ORIGIN = `${APP_SCHEME}://app`;
