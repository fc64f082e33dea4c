// UI bench (no VMs): browser mode in Debian's Chromium, terminals over SSH to a real OpenSSH
// server on 127.0.0.1. Prints:
//   - terminal throughput: MiB/s from `cat` of a big file over SSH to rendered xterm.js, and the
//     longest stall of the page's main thread meanwhile (the window must not freeze). Twice: in a
//     PTY shell (bounded by the PTY itself: sshd reads a pty in small pieces), and as a flood from
//     an SSH exec channel without a PTY, which offers far more than 10 MiB/s to the same path;
//   - keystroke echo latency: key press to the echoed character drawn on screen (median, p95);
//   - the server's idle memory (RSS), before and after a page with two terminals attached, and
//     the page's JS heap.
//
//   npx tsx bench/ui-bench.ts [--mib 64] [--keys 60]
//
// The server runs as its own process (this script, `--serve`), so its memory is its own.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const ROOT = new URL('..', import.meta.url).pathname;
const CHROMIUM = process.env.HWL_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'];

const { values } = parseArgs({
  options: { serve: { type: 'string' }, mib: { type: 'string', default: '64' }, keys: { type: 'string', default: '60' } },
  strict: true,
});

if (values.serve) {
  await serve(values.serve);
} else {
  await bench(Number(values.mib), Number(values.keys));
}

/** Child mode: a browser-mode server whose nodes all point at the local sshd on the given port. */
async function serve(config: string): Promise<void> {
  const { lab, port, floodFile, key } = JSON.parse(config) as { lab: string; port: number; floodFile: string; key: string };
  const { startServer } = await import('../main/server/serve.ts');
  const { SshPool, HostKeyPins } = await import('../main/ssh/ssh-pool.ts');
  const { readFileSync } = await import('node:fs');
  const endpoint = { host: '127.0.0.1', port, user: 'root' };
  const pool = new SshPool({ privateKey: readFileSync(key), hostKeys: new HostKeyPins(join(lab, 'ssh', 'known-hosts.json')), resolve: () => endpoint });
  // worker-1's "shell" is a PTY-less exec channel that floods: `cat` at full SSH speed.
  const flood = async (): Promise<import('../main/api/terminal-sessions.ts').ShellChannel> => {
    const { default: ssh2 } = await import('ssh2');
    const client = new ssh2.Client();
    return new Promise((resolve, reject) => {
      client.once('error', reject);
      client.once('ready', () =>
        client.exec(`cat ${floodFile}; echo FLOOD-DONE-$((40+2))`, (error, channel) => {
          if (error) return reject(error);
          channel.once('close', () => client.end());
          resolve(channel);
        }),
      );
      client.connect({ ...endpoint, username: endpoint.user, privateKey: readFileSync(key) });
    });
  };
  const server = await startServer({
    lab,
    serviceOptions: { openShell: (node, size) => (node === 'worker-1' ? flood() : pool.shell(node, size)) },
  });
  process.stdout.write(`${JSON.stringify({ url: server.url, port: server.port })}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round((Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024) * 10) / 10;
}

async function bench(mib: number, keys: number): Promise<void> {
  const { ensureLabSshKey } = await import('../main/ssh/lab-ssh-key.ts');
  const { startLocalSshd } = await import('../test/helpers/local-sshd.ts');
  const labDir = await mkdtemp(join(tmpdir(), 'hwl-ui-bench-'));
  const bigFile = join(labDir, 'big.txt');
  execFileSync(process.execPath, [join(ROOT, 'bin/hardway-lab.mjs'), 'render', '--lab', labDir], { stdio: 'pipe' });
  // Printable text with line breaks, like logs: base64 of random bytes.
  execFileSync('sh', ['-c', `head -c ${Math.round((mib * 1048576 * 3) / 4)} /dev/urandom | base64 -w 120 > ${bigFile}`]);
  const bytes = Number(execFileSync('stat', ['-c', '%s', bigFile], { encoding: 'utf8' }).trim());
  const key = await ensureLabSshKey(join(labDir, 'ssh'));
  const sshd = await startLocalSshd({ authorizedKeys: key.publicKey });
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--serve', JSON.stringify({ lab: labDir, port: sshd.port, floodFile: bigFile, key: key.privateKeyPath })], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const { url } = await new Promise<{ url: string }>((resolve, reject) => {
      let text = '';
      child.stdout!.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('\n')) resolve(JSON.parse(text.split('\n')[0]!) as { url: string });
      });
      child.once('exit', (code) => reject(new Error(`the server exited with code ${code}`)));
    });
    await new Promise((r) => setTimeout(r, 2000));
    const idleBefore = await rssMiB(child.pid!);

    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(url);
    await page.click('[data-view="terminals"]');
    await page.click('[data-open-node="controller-0"]');
    const frame = '.term-panes .term-frame[data-node="controller-0"]';
    await page.waitForSelector(`${frame} .xterm-rows`);
    await page.locator(`${frame} .xterm`).click();
    const screen = () => page.$eval(`${frame} .xterm-rows`, (rows) => rows.textContent ?? '');
    const waitFor = async (text: string, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await screen()).includes(text)) {
        if (Date.now() > deadline) throw new Error(`never saw ${text}`);
        await page.waitForTimeout(20);
      }
    };
    await page.keyboard.type('stty -echoctl; PS1="$ "\n');
    await waitFor('$ ', 10_000);

    // Throughput, with a watchdog on the page's main thread: the largest gap between 16 ms ticks.
    await page.evaluate(() => {
      const w = window as unknown as { __maxGap: number; __last: number };
      w.__maxGap = 0;
      w.__last = performance.now();
      setInterval(() => {
        const now = performance.now();
        w.__maxGap = Math.max(w.__maxGap, now - w.__last);
        w.__last = now;
      }, 16);
    });
    const started = Date.now();
    await page.keyboard.type(`cat ${bigFile}; echo CAT-DONE-$((20+22))\n`);
    await waitFor('CAT-DONE-42', 600_000);
    const seconds = (Date.now() - started) / 1000;
    const maxGapMs = await page.evaluate(() => (window as unknown as { __maxGap: number }).__maxGap);

    // The flood: the server is offered output far faster than 10 MiB/s; flow control keeps the page drawing.
    await page.evaluate(() => {
      (window as unknown as { __maxGap: number }).__maxGap = 0;
    });
    const floodStarted = Date.now();
    await page.click('[data-open-node="worker-1"]');
    const floodFrame = '.term-panes .term-frame[data-node="worker-1"]';
    await page.waitForSelector(`${floodFrame} .xterm-rows`);
    const deadline = Date.now() + 600_000;
    while (!((await page.$eval(`${floodFrame} .xterm-rows`, (rows) => rows.textContent ?? '')).includes('FLOOD-DONE-42'))) {
      if (Date.now() > deadline) throw new Error('the flood never finished');
      // The page must keep answering while it draws: this evaluate is itself a responsiveness probe.
      await page.waitForTimeout(50);
    }
    const floodSeconds = (Date.now() - floodStarted) / 1000;
    const floodGapMs = await page.evaluate(() => (window as unknown as { __maxGap: number }).__maxGap);
    await page.click('.term-tab[data-node="controller-0"] .term-tab-main');

    // Keystroke echo latency: `cat` in cooked mode; the PTY echoes each key; time until it is drawn.
    await page.keyboard.type('clear; cat > /dev/null\n');
    await page.waitForTimeout(500);
    const latencies: number[] = [];
    for (let i = 0; i < keys; i++) {
      const char = 'abcdefghijklmnopqrstuvwxyz'[i % 26]!;
      const before = await screen();
      const t0 = Date.now();
      await page.keyboard.press(char);
      const deadline = Date.now() + 5000;
      while ((await screen()) === before) {
        if (Date.now() > deadline) throw new Error(`key ${char} was never echoed`);
      }
      latencies.push(Date.now() - t0);
      if (i % 40 === 39) await page.keyboard.press('Enter');
    }
    await page.keyboard.press('Control+D');
    latencies.sort((a, b) => a - b);
    const median = latencies[Math.floor(latencies.length / 2)]!;
    const p95 = latencies[Math.floor(latencies.length * 0.95)]!;

    // Idle memory with a page attached and two terminals open.
    await page.click('[data-open-node="worker-0"]');
    await page.waitForTimeout(10_000);
    const idleAttached = await rssMiB(child.pid!);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const metrics = (await cdp.send('Performance.getMetrics')).metrics as Array<{ name: string; value: number }>;
    const heap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;

    console.log('UI bench (browser mode, Chromium, SSH to a local OpenSSH server)');
    console.log(`  terminal throughput   ${(bytes / 1048576 / seconds).toFixed(1)} MiB/s   (${(bytes / 1048576).toFixed(0)} MiB cat over SSH to rendered xterm.js in ${seconds.toFixed(1)} s)`);
    console.log(`  page main-thread stall during it: longest ${Math.round(maxGapMs)} ms between 16 ms ticks`);
    console.log(`  flood (SSH exec, no PTY) ${(bytes / 1048576 / floodSeconds).toFixed(1)} MiB/s drawn   (${(bytes / 1048576).toFixed(0)} MiB in ${floodSeconds.toFixed(1)} s); longest page stall ${Math.round(floodGapMs)} ms`);
    console.log(`  keystroke echo        median ${median} ms, p95 ${p95} ms   (${keys} keys: key press to echoed character on screen)`);
    console.log(`  server idle memory    ${idleBefore} MiB RSS before any page; ${idleAttached} MiB with a page and 2 terminals attached`);
    console.log(`  page JS heap          ${(heap / 1048576).toFixed(1)} MiB (after the ${(bytes / 1048576).toFixed(0)} MiB run; 5000 lines of scrollback per terminal)`);
  } finally {
    await browser.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await sshd.dispose();
    await rm(labDir, { recursive: true, force: true });
  }
}
