// vm.mjs - start and drive tiny QEMU test VMs (tests/guest/ecshot-guest.elf)
// for ecshot's integration tests.
//
// Each VM lives in its own private directory (fs.mkdtemp, mode 0700) holding:
//   qmp.sock       QMP socket reserved for ecshotd (consoleUrl 'qmp:' + path)
//   test-qmp.sock  QMP socket used by this harness
//   dbg.sock       the guest's debug console (port 0xE9): "BOOT ...", "READY", ...
//   qemu.pid       written by QEMU's -daemonize
// Synchronisation is event driven only: QEMU's -daemonize returns once every
// socket is listening, the guest says "READY" on the debug console when its
// picture is complete, and QEMU's exit closes the harness QMP connection.
// Timers only bound waits (every wait rejects after timeoutMs) so a broken
// test fails instead of hanging.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const guestDir = path.resolve(here, '../../guest');

export const GUEST_ELF = process.env.ECSHOT_GUEST_ELF || path.join(guestDir, 'ecshot-guest.elf');
export const QEMU = process.env.ECSHOT_QEMU || 'qemu-system-x86_64';
export const DEFAULT_TIMEOUT_MS = 20000;
const UNIX_PATH_MAX = 107; // sun_path is 108 bytes including the NUL

// Reject `promise` after ms milliseconds with an error naming `what`.
export function withTimeout(promise, ms, what) {
  let timer;
  const expiry = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

// Build the guest when it is missing and nobody pointed ECSHOT_GUEST_ELF
// elsewhere, so `node --test` works from a fresh checkout.
export function ensureGuestElf() {
  if (fs.existsSync(GUEST_ELF)) return GUEST_ELF;
  if (process.env.ECSHOT_GUEST_ELF) throw new Error(`ECSHOT_GUEST_ELF not found: ${GUEST_ELF}`);
  execFileSync(path.join(guestDir, 'build.sh'), [GUEST_ELF], { stdio: 'inherit' });
  return GUEST_ELF;
}

// Mailbox: items that arrive over time, each taken at most once, in order.
// take() returns the oldest unclaimed match, or waits for one; this makes
// "send a command, then wait for its event" free of races even when the
// event arrived before the wait started.
class Mailbox {
  constructor(what) {
    this.what = what;
    this.items = [];
    this.waiters = [];
    this.closedError = null;
  }

  put(item) {
    const i = this.waiters.findIndex((w) => w.match(item));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w.resolve(item);
    } else {
      this.items.push(item);
    }
  }

  close(err) {
    this.closedError = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  take(match, timeoutMs, what) {
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]);
    if (this.closedError) return Promise.reject(new Error(`${what}: ${this.closedError.message}`));
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = { match, resolve, reject };
      this.waiters.push(waiter);
    });
    return withTimeout(p, timeoutMs, `${this.what}: ${what}`).catch((err) => {
      const j = this.waiters.indexOf(waiter);
      if (j >= 0) this.waiters.splice(j, 1);
      throw err;
    });
  }
}

// Split a byte stream into text lines (without "\r\n") and feed them to fn.
function onLines(socket, fn) {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).replace(/\r$/, '');
      pending = pending.slice(nl + 1);
      fn(line);
    }
  });
}

// Connect to a unix socket.  The socket is unref'ed: an idle VM connection
// must not keep Node alive (a test that forgets vm.stop() would hang the
// run); pending waits keep it alive through their timers instead.
function connectUnix(socketPath, timeoutMs) {
  return withTimeout(new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    s.unref();
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  }), timeoutMs, `connect ${socketPath}`);
}

export class QmpError extends Error {
  constructor(command, error) {
    super(`QMP ${command}: ${error.class}: ${error.desc}`);
    this.qmpClass = error.class;
    this.desc = error.desc;
  }
}

// A minimal QMP client: one JSON object per line, commands matched to
// replies by id, asynchronous events kept in a Mailbox.
export class QmpClient {
  constructor(socket, timeoutMs) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.nextId = 1;
    this.pending = new Map();
    this.events = [];                 // every event received, for diagnostics
    this.mailbox = new Mailbox('QMP event');
    this.greeting = new Mailbox('QMP greeting');
    this.closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => {});      // 'close' follows and does the work
    socket.once('close', () => {
      const err = new Error('QMP connection closed');
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.mailbox.close(err);
      this.greeting.close(err);
    });
    onLines(socket, (line) => this.#onLine(line));
  }

  static async connect(socketPath, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const qmp = new QmpClient(await connectUnix(socketPath, timeoutMs), timeoutMs);
    try {
      await qmp.greeting.take(() => true, timeoutMs, 'greeting');
      await qmp.execute('qmp_capabilities');
    } catch (err) {
      qmp.close();
      throw err;
    }
    return qmp;
  }

  #onLine(line) {
    if (line.trim() === '') return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return; // QEMU only sends JSON; ignore anything else rather than crash
    }
    if (msg.QMP) {
      this.greeting.put(msg);
    } else if (msg.event) {
      this.events.push(msg);
      this.mailbox.put(msg);
    } else if (msg.id !== undefined && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new QmpError(p.command, msg.error));
      else p.resolve(msg.return);
    }
  }

  // Run a command; resolves with its "return" value, rejects with QmpError.
  execute(command, args, { timeoutMs = this.timeoutMs } = {}) {
    if (this.socket.destroyed) return Promise.reject(new Error(`QMP ${command}: connection closed`));
    const id = this.nextId++;
    const msg = { execute: command, id };
    if (args !== undefined) msg.arguments = args;
    const p = new Promise((resolve, reject) => {
      this.pending.set(id, { command, resolve, reject });
    });
    this.socket.write(JSON.stringify(msg) + '\n');
    return withTimeout(p, timeoutMs, `QMP ${command}`).finally(() => this.pending.delete(id));
  }

  // Take the oldest not yet taken event called `name` (and passing `match`),
  // waiting for it if it has not arrived yet.
  waitEvent(name, { timeoutMs = this.timeoutMs, match = () => true } = {}) {
    return this.mailbox.take((e) => e.event === name && match(e), timeoutMs, name);
  }

  close() {
    this.socket.destroy();
  }
}

// Parse a binary PPM (P6, maxval 255) as written by QEMU's screendump.
export function parsePpm(buf) {
  let pos = 0;
  const token = () => {
    for (;;) {
      while (pos < buf.length && /\s/.test(String.fromCharCode(buf[pos]))) pos++;
      if (buf[pos] !== 0x23) break; // '#': comment up to the end of the line
      while (pos < buf.length && buf[pos] !== 0x0a) pos++;
    }
    const start = pos;
    while (pos < buf.length && !/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    if (start === pos) throw new Error('PPM: truncated header');
    return buf.toString('latin1', start, pos);
  };
  if (token() !== 'P6') throw new Error('PPM: not a binary P6 file');
  const width = Number(token());
  const height = Number(token());
  const maxval = Number(token());
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error('PPM: bad size');
  }
  if (maxval !== 255) throw new Error(`PPM: unsupported maxval ${maxval}`);
  pos++; // the single whitespace byte after maxval
  const data = buf.subarray(pos);
  if (data.length !== width * height * 3) {
    throw new Error(`PPM: ${data.length} pixel bytes, expected ${width * height * 3}`);
  }
  return {
    width,
    height,
    data,
    // [r, g, b] at (x, y)
    pixel(x, y) {
      if (x < 0 || y < 0 || x >= width || y >= height) throw new RangeError(`pixel ${x},${y} outside ${width}x${height}`);
      const i = (y * width + x) * 3;
      return [data[i], data[i + 1], data[i + 2]];
    },
    // The first pixel in the rectangle that is not rgb, or null when all are.
    findOther(x0, y0, w, h, rgb) {
      for (let y = y0; y < y0 + h; y++) {
        for (let x = x0; x < x0 + w; x++) {
          const i = (y * width + x) * 3;
          if (data[i] !== rgb[0] || data[i + 1] !== rgb[1] || data[i + 2] !== rgb[2]) {
            return { x, y, rgb: [data[i], data[i + 1], data[i + 2]] };
          }
        }
      }
      return null;
    },
  };
}

// The guest's colours, exactly as they appear in a PPM screendump.
export const COLOURS = Object.freeze({
  black: [0, 0, 0],
  blue: [0, 0, 255],
  green: [0, 255, 0],
  cyan: [0, 255, 255],
  red: [255, 0, 0],
  magenta: [255, 0, 255],
  yellow: [255, 255, 0],
  white: [255, 255, 255],
});

const STRIPES = ['black', 'blue', 'green', 'cyan', 'red', 'magenta', 'yellow', 'white'];
const STRIPE_ROWS = 64;

// Display mode chosen by the guest for an -append string: the last of
// "text" / "vbe=WxH" wins, text is the default (as in ecshot-guest.s).
export function guestDisplay(mode) {
  let display = { kind: 'text', width: 720, height: 400 };
  for (const word of String(mode).split(/[ \t]+/)) {
    const m = /^vbe=(\d+)x(\d+)$/.exec(word);
    if (word === 'text') display = { kind: 'text', width: 720, height: 400 };
    else if (m) display = { kind: 'vbe', width: Number(m[1]), height: Number(m[2]) };
  }
  return display;
}

// The solid rectangles of the guest's picture for `mode`:
// { width, height, regions: [{ name, x, y, w, h, colour, rgb, centre: [x, y] }] }.
// Every pixel of every region has exactly `rgb` in a PPM screendump; pixels
// outside the regions (the banner text in text mode) are not specified.
// With `blank`, this is the picture after the first input byte.
export function guestPicture(mode) {
  const { kind, width: W, height: H } = guestDisplay(mode);
  const regions = [];
  const add = (name, x, y, w, h, colour) => regions.push({
    name, x, y, w, h, colour, rgb: COLOURS[colour],
    centre: [x + Math.floor(w / 2), y + Math.floor(h / 2)],
  });
  if (kind === 'text') {
    // 80x25 cells of 9x16 pixels. Row 0: "ECSHOT TEST GUEST" (17 cells,
    // white on blue) then blue; rows 1-12 red | green; rows 13-24 blue | white.
    add('banner', 17 * 9, 0, W - 17 * 9, 16, 'blue');
    add('top-left', 0, 16, 360, 192, 'red');
    add('top-right', 360, 16, 360, 192, 'green');
    add('bottom-left', 0, 208, 360, 192, 'blue');
    add('bottom-right', 360, 208, 360, 192, 'white');
  } else {
    const w2 = Math.floor(W / 2);
    const h2 = Math.floor(H / 2);
    add('top-left', 0, STRIPE_ROWS, w2, h2 - STRIPE_ROWS, 'red');
    add('top-right', w2, STRIPE_ROWS, W - w2, h2 - STRIPE_ROWS, 'green');
    add('bottom-left', 0, h2, w2, H - h2, 'blue');
    add('bottom-right', w2, h2, W - w2, H - h2, 'white');
    const sw = Math.floor(W / 8);
    STRIPES.forEach((colour, i) => {
      add(`stripe-${i}`, i * sw, 0, i === 7 ? W - 7 * sw : sw, STRIPE_ROWS, colour);
    });
  }
  return { width: W, height: H, regions };
}

// VMs not yet stopped: killed if this process exits without stopping them.
const live = new Set();

function emergencyCleanup() {
  for (const vm of live) {
    try { process.kill(vm.pid, 'SIGKILL'); } catch { /* already gone */ }
    try { fs.rmSync(vm.dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
  live.clear();
}
process.on('exit', emergencyCleanup);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    emergencyCleanup();
    process.kill(process.pid, sig); // default action now that we are clean
  });
}

// Escape a value for QEMU's comma-separated option syntax.
const qemuOpt = (s) => String(s).replaceAll(',', ',,');

// Run QEMU with -daemonize; resolves once the foreground process has exited
// (QEMU's daemon then has every socket listening) and its stdio is closed.
function runDaemonize(qemu, args, timeoutMs) {
  return withTimeout(new Promise((resolve, reject) => {
    const child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${qemu} failed (${signal || 'exit ' + code}): ${output.trim()}`));
    });
  }), timeoutMs, `${qemu} -daemonize`);
}

/**
 * Start a test VM running ecshot-guest.elf.
 *   mode       the guest's -append words: 'text', 'vbe=1024x768', 'text suspend', 'blank', ...
 *   paused     leave the VM in 'prelaunch' (QEMU -S); call vm.cont() later
 *   dir        parent directory for the private VM directory (default os.tmpdir())
 *   timeoutMs  bound for every wait (default 20 s)
 *   memoryMb   guest RAM (default 32)
 *   extraArgs  more QEMU arguments
 */
export async function startVm({
  mode = 'text',
  paused = false,
  dir = os.tmpdir(),
  timeoutMs = DEFAULT_TIMEOUT_MS,
  memoryMb = 32,
  extraArgs = [],
} = {}) {
  const elf = ensureGuestElf();
  const vmDir = await fsp.mkdtemp(path.join(dir, 'ecshot-vm-'));
  const sock = (name) => path.join(vmDir, name);
  const qmpSocket = sock('qmp.sock');
  const testQmpSocket = sock('test-qmp.sock');
  const dbgSocket = sock('dbg.sock');
  const pidFile = sock('qemu.pid');
  if (testQmpSocket.length > UNIX_PATH_MAX) {
    await fsp.rm(vmDir, { recursive: true, force: true });
    throw new Error(`socket path too long for AF_UNIX: ${testQmpSocket}`);
  }

  const args = [
    '-accel', 'tcg', '-m', String(memoryMb), '-nodefaults', '-vga', 'std', '-display', 'none',
    '-kernel', elf, '-append', mode,
    '-chardev', `socket,id=ecshot-qmp,path=${qemuOpt(qmpSocket)},server=on,wait=off`,
    '-mon', 'chardev=ecshot-qmp,mode=control',
    '-chardev', `socket,id=test-qmp,path=${qemuOpt(testQmpSocket)},server=on,wait=off`,
    '-mon', 'chardev=test-qmp,mode=control',
    '-chardev', `socket,id=dbg,path=${qemuOpt(dbgSocket)},server=on,wait=off`,
    '-device', 'isa-debugcon,iobase=0xe9,chardev=dbg',
    '-S', '-daemonize', '-pidfile', pidFile,
    ...extraArgs,
  ];

  const vm = {
    dir: vmDir,
    mode,
    pid: 0,
    qmpSocket,
    consoleUrl: `qmp:${qmpSocket}`,
    testQmpSocket,
    dbgSocket,
    qmp: null,
    console: [],            // every debug console line, for diagnostics
  };

  let dbg = null;
  let stopped = null;
  try {
    await runDaemonize(QEMU, args, timeoutMs);
    vm.pid = Number.parseInt(await fsp.readFile(pidFile, 'utf8'), 10);
    if (!(vm.pid > 0)) throw new Error(`bad pid file ${pidFile}`);
    live.add(vm);

    vm.qmp = await QmpClient.connect(testQmpSocket, timeoutMs);
    // `await vm.exited` waits (at most timeoutMs) for QEMU to exit.  A getter,
    // so the bounding timer starts at the await; it also keeps Node alive
    // while waiting, which the unref'ed socket alone would not.
    Object.defineProperty(vm, 'exited', { enumerable: true, get: () => vm.waitExit() });

    dbg = await connectUnix(dbgSocket, timeoutMs);
    dbg.on('error', () => {});
    const lines = new Mailbox('debug console');
    dbg.once('close', () => lines.close(new Error('debug console closed (QEMU exited?)')));
    onLines(dbg, (line) => { vm.console.push(line); lines.put(line); });

    // Take the next line passing match (string or predicate).
    vm.waitLine = (match, { timeoutMs: ms = timeoutMs } = {}) => {
      const pred = typeof match === 'function' ? match : (l) => l === match;
      return lines.take(pred, ms, String(match));
    };

    // Wait for the guest's next "READY" (picture complete); an "ERROR" line
    // from the guest rejects at once.
    vm.waitReady = async ({ timeoutMs: ms = timeoutMs } = {}) => {
      const line = await lines.take((l) => l === 'READY' || l.startsWith('ERROR'), ms, 'READY');
      if (line !== 'READY') throw new Error(`guest ${line} (mode "${mode}")`);
    };

    // Start a paused VM and wait for its picture.
    vm.cont = async () => {
      await vm.qmp.execute('cont');
      await vm.waitReady();
    };

    vm.status = async () => (await vm.qmp.execute('query-status')).status;

    // Screendump through the harness QMP into the private directory;
    // resolves with the file's bytes (format 'ppm' or 'png').
    let shots = 0;
    vm.screendumpFile = async (format = 'ppm') => {
      const file = path.join(vmDir, `shot-${++shots}.${format}`);
      await vm.qmp.execute('screendump', { filename: file, format });
      return file;
    };
    vm.screendump = async () => parsePpm(await fsp.readFile(await vm.screendumpFile('ppm')));

    // Press and release a key (QEMU qcode), e.g. to wake a blank screen.
    vm.sendKey = (qcode = 'shift') => vm.qmp.execute('input-send-event', {
      events: [
        { type: 'key', data: { down: true, key: { type: 'qcode', data: qcode } } },
        { type: 'key', data: { down: false, key: { type: 'qcode', data: qcode } } },
      ],
    });

    // Signal QEMU (e.g. 'SIGKILL' to simulate a crash, 'SIGSTOP' to hang it).
    // Await vm.exited (or vm.waitExit()) to know a fatal signal took effect.
    vm.kill = (signal = 'SIGKILL') => {
      try {
        process.kill(vm.pid, signal);
        return true;
      } catch {
        return false;
      }
    };

    // Wait until QEMU has exited (its QMP connection closed).
    vm.waitExit = ({ timeoutMs: ms = timeoutMs } = {}) => withTimeout(vm.qmp.closed, ms, 'QEMU exit');

    // Quit QEMU (SIGKILL if quit does not work), wait for it to exit and
    // remove the private directory.  Safe to call more than once.
    vm.stop = () => {
      stopped ??= (async () => {
        try {
          if (!vm.qmp.socket.destroyed) {
            await vm.qmp.execute('quit', undefined, { timeoutMs: 5000 }).catch(() => {});
            await withTimeout(vm.qmp.closed, 5000, 'QEMU exit after quit').catch(() => {});
          }
          if (!vm.qmp.socket.destroyed) {
            vm.kill('SIGKILL');
            await withTimeout(vm.qmp.closed, 5000, 'QEMU exit after SIGKILL').catch(() => {});
          }
        } finally {
          vm.qmp.close();
          dbg.destroy();
          live.delete(vm);
          await fsp.rm(vmDir, { recursive: true, force: true });
        }
      })();
      return stopped;
    };

    if (!paused) await vm.cont();
    return vm;
  } catch (err) {
    // Leave nothing behind when the start fails half-way.
    if (vm.pid > 0) {
      try { process.kill(vm.pid, 'SIGKILL'); } catch { /* gone */ }
      if (vm.qmp) await withTimeout(vm.qmp.closed, 5000, 'QEMU exit').catch(() => {});
    }
    vm.qmp?.close();
    dbg?.destroy();
    live.delete(vm);
    await fsp.rm(vmDir, { recursive: true, force: true });
    if (vm.console.length) err.message += `\nguest console:\n${vm.console.join('\n')}`;
    throw err;
  }
}
