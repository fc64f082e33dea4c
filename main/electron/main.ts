// The desktop app's main process: one window onto the lab, over the same typed API as browser mode.
// The only code in the project that imports electron (with preload.ts next to it).
//
// Hardening, following Electron's security checklist: contextIsolation, sandbox, no Node in the
// page, a strict Content-Security-Policy sent with every page, pages only from our own scheme (no
// remote content, no file://), navigation and new windows refused, permissions denied except
// clipboard, IPC accepted only from our own frame, and a single instance.

import { app, BrowserWindow, ipcMain, Menu, protocol, session, type IpcMainInvokeEvent, type WebContents } from 'electron';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ApiConnection } from '../api/api-connection.ts';
import { API_METHODS } from '../shared/api-contract.ts';
import { LabService } from '../api/lab-service.ts';
import { CONTENT_SECURITY_POLICY } from '../server/security-headers.ts';
import { APP_ORIGIN, APP_SCHEME, EVENT_CHANNEL, callChannel } from './ipc-channels.ts';

const RENDERER_DIR = fileURLToPath(new URL('../../dist/renderer/', import.meta.url));
const PRELOAD = fileURLToPath(new URL('../../dist/electron/preload.cjs', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

// Must happen before `ready`: our scheme behaves like https (secure context for the clipboard API).
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: false } }]);

const args = parseArgs({
  args: process.argv.slice(app.isPackaged ? 1 : 2),
  // --ssh-override HOST:PORT points every node at one SSH server: UI development and the Electron
  // smoke test without VMs (root@HOST:PORT must accept the lab's key).
  options: { lab: { type: 'string' }, spec: { type: 'string' }, 'ssh-override': { type: 'string' } },
  strict: false,
  allowPositionals: true,
}).values as { lab?: string; spec?: string; 'ssh-override'?: string };

let mainWindow: BrowserWindow | undefined;
let service: LabService | undefined;
const connections = new Map<number, ApiConnection>();

if (!app.requestSingleInstanceLock()) {
  // Another window already shows the lab; it gets focused by its `second-instance` handler.
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });
  app.on('web-contents-created', (_event, contents) => lockDown(contents));
  app.on('window-all-closed', () => app.quit());
  app.on('before-quit', () => {
    for (const connection of connections.values()) connection.dispose();
    void service?.dispose();
  });
  app
    .whenReady()
    .then(start)
    .catch((error: unknown) => {
      console.error(`hardway-lab: the desktop app could not start: ${(error as Error).stack ?? String(error)}`);
      app.exit(1);
    });
}

async function start(): Promise<void> {
  const override = args['ssh-override'] ? /^([\w.:-]+):(\d+)$/.exec(args['ssh-override']) : undefined;
  if (args['ssh-override'] && !override) throw new Error(`--ssh-override wants HOST:PORT, got ${args['ssh-override']}`);
  service = await LabService.create({
    lab: args.lab,
    spec: args.spec,
    sshEndpoint: override ? () => ({ host: override[1]!, port: Number(override[2]), user: 'root' }) : undefined,
  });
  serveRenderer();
  denyPermissionsAndRemoteContent();
  registerIpc(service);
  Menu.setApplicationMenu(applicationMenu());
  createWindow();
}

function createWindow(): void {
  mainWindow = new BrowserWindow({
    width: 1440,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    backgroundColor: '#0b0f14',
    title: 'Hardway Lab',
    show: false,
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  });
  mainWindow.once('ready-to-show', () => mainWindow?.show());
  mainWindow.on('closed', () => {
    mainWindow = undefined;
  });
  void mainWindow.loadURL(`${APP_ORIGIN}/index.html`);
}

/** Pages come from dist/renderer through our scheme, each with the CSP header. */
function serveRenderer(): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    const file = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    const path = normalize(join(RENDERER_DIR, file));
    const type = CONTENT_TYPES[extname(path)];
    if (url.host !== 'app' || !path.startsWith(RENDERER_DIR.endsWith(sep) ? RENDERER_DIR : RENDERER_DIR + sep) || !type) {
      return new Response('not found', { status: 404 });
    }
    try {
      const body = await readFile(path);
      return new Response(body, {
        headers: { 'Content-Type': type, 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' },
      });
    } catch {
      return new Response(`${file} is missing: build the renderer (node scripts/build-renderer.mjs)`, { status: 404 });
    }
  });
}

function denyPermissionsAndRemoteContent(): void {
  const ses = session.defaultSession;
  const allowed = new Set(['clipboard-read', 'clipboard-sanitized-write']);
  ses.setPermissionRequestHandler((contents, permission, callback) => callback(isOurs(contents.getURL()) && allowed.has(permission)));
  ses.setPermissionCheckHandler((_contents, permission, origin) => origin === APP_ORIGIN && allowed.has(permission));
  // No remote content at all: the window only ever loads our scheme (and devtools).
  ses.webRequest.onBeforeRequest({ urls: ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*', 'file://*/*'] }, (details, callback) => {
    callback({ cancel: !details.url.startsWith('devtools://') });
  });
}

function lockDown(contents: WebContents): void {
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  contents.on('will-navigate', (event, url) => {
    if (!isOurs(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!isOurs(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

function isOurs(url: string): boolean {
  try {
    return new URL(url).origin === APP_ORIGIN;
  } catch {
    return false;
  }
}

function registerIpc(backend: LabService): void {
  const connectionFor = (contents: WebContents): ApiConnection => {
    let connection = connections.get(contents.id);
    if (!connection) {
      connection = new ApiConnection(backend, (event) => {
        if (!contents.isDestroyed()) contents.send(EVENT_CHANNEL, event);
      });
      connections.set(contents.id, connection);
      const created = connection;
      const drop = (): void => {
        created.dispose();
        if (connections.get(contents.id) === created) connections.delete(contents.id);
      };
      contents.once('destroyed', drop);
      // A reload makes a new page: it re-attaches to terminals itself, flow control starts afresh.
      contents.on('did-start-navigation', (_e, _url, isInPlace, isMainFrame) => {
        if (isMainFrame && !isInPlace) drop();
      });
    }
    return connection;
  };

  for (const method of API_METHODS) {
    ipcMain.handle(callChannel(method), (event: IpcMainInvokeEvent, params: unknown) => {
      if (!event.senderFrame || !isOurs(event.senderFrame.url)) {
        return { error: { name: 'Forbidden', code: 'forbidden', message: 'API calls are only accepted from the app window' } };
      }
      return connectionFor(event.sender).handle(method, params);
    });
  }
}

function applicationMenu(): Menu {
  return Menu.buildFromTemplate([
    ...(process.platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
    { role: 'fileMenu' },
    { role: 'editMenu' },
    { role: 'viewMenu' },
    { role: 'windowMenu' },
  ]);
}
