// libvirt.test.mjs: instances behind a real libvirt daemon, reached through
// console URLs "libvirt:URI#DOMAIN" both locally (qemu:///system) and over
// libvirt's remote protocol (qemu+tcp://127.0.0.1/system, SASL DIGEST-MD5).
//
// The daemon is tests/services/libvirtd.sh's; scripts/test.sh starts it and
// exports ECSHOT_TEST_LIBVIRT_LOCAL, ECSHOT_TEST_LIBVIRT_REMOTE,
// LIBVIRT_AUTH_FILE (the SASL credentials, read by ecshotd, the CLI and
// virsh alike) and ECSHOT_TEST_LIBVIRTD_DIR. Without them the suite is
// skipped, except in CI (CI set), where that is a failure.
//
// Each test defines its own TCG domain (ecshot-test-*) running the test
// guest, with the ecshot element in its <metadata>, and registers it with
// `ecshot instance import-libvirt`. The guest's debug console (port 0xE9)
// goes to a unix socket through <qemu:commandline>: the domain starts
// paused, the test connects, resumes it and waits for "READY", so pictures
// are complete before any screenshot (no sleeps).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { itest } from './lib/harness.mjs';
import { newInstanceId } from './lib/server.mjs';
import { ensureGuestElf, withTimeout } from './lib/vm.mjs';
import { ecsClient, sdkScreenshot, rejection } from './lib/clients.mjs';
import { assertEcsSdkError, assertSuccessJson, assertGuestPicture } from './lib/expect.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const LIBVIRTD_SH = path.resolve(here, '../services/libvirtd.sh');
const LOCAL = process.env.ECSHOT_TEST_LIBVIRT_LOCAL;
const REMOTE = process.env.ECSHOT_TEST_LIBVIRT_REMOTE;
const DAEMON_DIR = process.env.ECSHOT_TEST_LIBVIRTD_DIR;
const XMLNS = 'https://ecshot.dev/xmlns/1';
const REGION = 'cn-hangzhou';
const WAIT_MS = 30000;

// SASL's DIGEST-MD5 plugin and libvirt's auth.conf reader leak a little at
// every login; under LeakSanitizer the daemon and the CLI started here would
// exit non-zero for it. Those leaks (and only those) are suppressed; the
// suppressions name the libraries deep in the allocating stack, which the
// fast unwinder (frame pointers only) does not reach.
process.env.LSAN_OPTIONS = [process.env.LSAN_OPTIONS, 'fast_unwind_on_malloc=0',
    `suppressions=${path.join(here, 'libvirt.lsan.supp')}`].filter(Boolean).join(':');

const unset = !LOCAL || !REMOTE;
const why = 'ECSHOT_TEST_LIBVIRT_LOCAL and ECSHOT_TEST_LIBVIRT_REMOTE are not set ' +
    '(eval "$(tests/services/libvirtd.sh start DIR)")';
// In CI a missing daemon fails the suite instead of hiding it.
const skip = unset && !process.env.CI ? why : false;
function requireDaemon() {
    if (unset) throw new Error(why);
}

const bodyOf = (res) => ({ RequestId: res.body.requestId, InstanceId: res.body.instanceId, Screenshot: res.body.screenshot });

// ---------------------------------------------------------------- virsh

function virsh(uri, ...args) {
    return new Promise((resolve, reject) => {
        execFile('virsh', ['-q', '-c', uri, ...args], { timeout: WAIT_MS }, (err, stdout, stderr) => {
            if (err) reject(new Error(`virsh -c ${uri} ${args.join(' ')}: ${stderr || err.message}`));
            else resolve(stdout.trim());
        });
    });
}

const domState = async (name) => (await virsh(LOCAL, 'domstate', name)).split('\n')[0].trim();

// libvirt updates a domain's state when QEMU's event reaches it, a moment
// after the guest acted, and virsh has no race-free way to wait for that:
// the state is read again (each read is one virsh process) until it is
// `want`, within WAIT_MS.
async function waitState(name, want) {
    const end = Date.now() + WAIT_MS;
    let state;
    while ((state = await domState(name)) !== want) {
        if (Date.now() > end) throw new Error(`${name} stayed ${state}, never ${want}`);
    }
}

// ---------------------------------------------------------------- domains

const xmlEscape = (s) => String(s).replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

function metadataXml({ id, region, account, type, tags = {} }) {
    const tagXml = Object.entries(tags)
        .map(([k, v]) => `<ecshot:tag key="${xmlEscape(k)}">${xmlEscape(v)}</ecshot:tag>`).join('');
    return `<ecshot:instance xmlns:ecshot="${XMLNS}" id="${xmlEscape(id)}" region="${xmlEscape(region)}" ` +
        `account="${xmlEscape(account)}" type="${xmlEscape(type)}">${tagXml}</ecshot:instance>`;
}

function domainXml({ name, kernel, mode, dbgSocket, metadata }) {
    // ACPI and suspend-to-mem let the guest enter S3 ("suspend" mode).
    return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${name}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${kernel}</kernel>
    <cmdline>${mode}</cmdline>
  </os>
  <features><acpi/></features>
  <pm><suspend-to-mem enabled='yes'/><suspend-to-disk enabled='no'/></pm>
  ${metadata ? `<metadata>${metadataXml(metadata)}</metadata>` : ''}
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <video><model type='vga'/></video>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-chardev'/>
    <qemu:arg value='socket,id=ecshotdbg,path=${dbgSocket},server=on,wait=off'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='isa-debugcon,iobase=0xe9,chardev=ecshotdbg'/>
  </qemu:commandline>
</domain>`;
}

// QEMU runs as libvirt's unprivileged user: the domain's directory (kernel,
// debug socket) must be its own.
function qemuOwner() {
    try {
        return [Number(execFileSync('id', ['-u', 'libvirt-qemu']).toString()),
                Number(execFileSync('id', ['-g', 'libvirt-qemu']).toString())];
    } catch {
        return null;
    }
}

// The guest's debug console: lines as they come, each taken once.
function debugConsole(socket) {
    const lines = [];
    const waiters = [];
    let closed = null;
    let rest = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
        rest += chunk;
        let nl;
        while ((nl = rest.indexOf('\n')) >= 0) {
            lines.push(rest.slice(0, nl).replace(/\r$/, ''));
            rest = rest.slice(nl + 1);
        }
        for (const w of waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    socket.on('close', () => { closed = new Error('debug console closed'); for (const w of waiters.splice(0)) w(); });
    return {
        async take(want) {
            const pred = typeof want === 'function' ? want : (l) => l === want;
            return withTimeout((async () => {
                for (;;) {
                    const i = lines.findIndex(pred);
                    if (i >= 0) return lines.splice(0, i + 1).pop();
                    if (closed) throw closed;
                    await new Promise((r) => waiters.push(r));
                }
            })(), WAIT_MS, `guest line ${want}`);
        },
        close: () => socket.destroy(),
    };
}

// Defines and starts a domain (paused, then resumed once its debug console
// is connected) and waits for the guest's picture. Removed after the test.
async function startDomain(ctx, { mode, metadata }) {
    requireDaemon();
    const name = `ecshot-test-${randomBytes(5).toString('hex')}`;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ecshot-lv-'));
    const owner = qemuOwner();
    if (owner) await fs.chown(dir, ...owner);
    await fs.chmod(dir, 0o750);
    const kernel = path.join(dir, 'guest.elf');
    await fs.copyFile(ensureGuestElf(), kernel);
    const dbgSocket = path.join(dir, 'dbg.sock');
    const file = path.join(dir, 'domain.xml');
    await fs.writeFile(file, domainXml({ name, kernel, mode, dbgSocket, metadata }));

    let dbg = null;
    ctx.defer(async () => {
        dbg?.close();
        await virsh(LOCAL, 'destroy', name).catch(() => {});
        await virsh(LOCAL, 'undefine', name).catch(() => {});
        await fs.rm(dir, { recursive: true, force: true });
    });
    await virsh(LOCAL, 'define', file);
    await virsh(LOCAL, 'start', '--paused', name);
    const socket = await withTimeout(new Promise((resolve, reject) => {
        const s = net.createConnection(dbgSocket, () => resolve(s)).once('error', reject);
    }), WAIT_MS, 'debug console');
    dbg = debugConsole(socket);
    await virsh(LOCAL, 'resume', name);
    const ready = await dbg.take((l) => l === 'READY' || l.startsWith('ERROR'));
    assert.equal(ready, 'READY', `guest said ${ready}`);
    const pid = Number((await fs.readFile(`/run/libvirt/qemu/${name}.pid`, 'utf8')).trim());
    return { name, dbg, pid };
}

// `ecshot instance import-libvirt URI` on srv's store; returns its stdout.
async function importFrom(srv, uri) {
    const r = await srv.cli('instance', 'import-libvirt', uri);
    assert.equal(r.code, 0, `import-libvirt ${uri} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
}

// The store's line for one instance (`instance list`), split in fields.
async function listed(srv, id) {
    const r = await srv.admin('instance', 'list');
    return r.stdout.split('\n').filter((l) => l.split(' ')[0] === id).map((l) => l.split(' '));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---------------------------------------------------------------- tests

// libvirt's test driver reads a whole host from a file (test:///PATH) inside
// the process that connects: the CLI and ecshotd each get that host without
// any daemon, which makes exact tests of the import possible everywhere.
function testHost(domains) {
    const xml = domains.map(({ name, metadata, rawMetadata }) => `  <domain type='test'>
    <name>${name}</name><memory>1024</memory><os><type>hvm</type></os>
    ${rawMetadata ?? (metadata ? `<metadata>${metadataXml(metadata)}</metadata>` : '')}
  </domain>`).join('\n');
    return `<node>\n${xml}\n</node>\n`;
}

itest('import-libvirt: metadata to instances, re-run updates, bad metadata refused (test driver)', async (ctx) => {
    const srv = await ctx.server({ throttleMs: 0 });
    const { accountId, key } = await srv.account();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ecshot-lvtest-'));
    ctx.defer(() => fs.rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'host.xml');
    const uri = `test://${file}`;
    const web = newInstanceId();
    const db = newInstanceId();
    const webMeta = { id: web, region: REGION, account: accountId, type: 'ecs.g7.large',
                      tags: { env: 'prod', team: 'a & <b>' } };
    const dbMeta = { id: db, region: 'cn-beijing', account: accountId, type: 'ecs.r7.large' };
    await fs.writeFile(file, testHost([{ name: 'web-1', metadata: webMeta }, { name: 'plain' },
        { name: 'db-1', rawMetadata: `<metadata>${metadataXml(dbMeta).replace('type=', 'status="Stopped" type=')}</metadata>` }]));

    assert.equal(await importFrom(srv, uri),
        `imported db-1 as ${db}\nskipped plain: no ecshot metadata\nimported web-1 as ${web}\n` +
        'imported 2 instances, skipped 1 domains\n');
    assert.deepEqual(await listed(srv, web),
        [[web, REGION, accountId, 'ecs.g7.large', 'Running', `libvirt:${uri}#web-1`]]);
    assert.deepEqual(await listed(srv, db),
        [[db, 'cn-beijing', accountId, 'ecs.r7.large', 'Stopped', `libvirt:${uri}#db-1`]]);

    // ecshotd reaches the domain through the same URL: the test driver's
    // picture (a grey libvirt logo, the size virsh reports for it).
    const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: web });
    const img = assertSuccessJson(bodyOf(res), web);
    const ref = path.join(dir, 'ref.png');
    await virsh(uri, 'screenshot', 'web-1', ref);
    const png = await fs.readFile(ref);
    assert.deepEqual([img.width, img.height], [png.readUInt32BE(16), png.readUInt32BE(20)]);
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key), { regionId: 'cn-beijing', instanceId: db })),
        'IncorrectInstanceStatus', { detail: 'Stopped' });

    // The tags arrived: RAM conditions on them decide.
    const ram = (k, v) => ({ Version: '1', Statement: [{ Effect: 'Allow', Action: 'ecs:GetInstanceScreenshot',
        Resource: `acs:ecs:*:${accountId}:instance/*`, Condition: { StringEquals: { [`acs:ResourceTag/${k}`]: v } } }] });
    const teamUser = await srv.ramUser(accountId, 'team', { team: ram('team', 'a & <b>') });
    assert.equal((await sdkScreenshot(ecsClient(srv, teamUser), { instanceId: web })).statusCode, 200);
    const prodUser = await srv.ramUser(accountId, 'prod', { prod: ram('env', 'prod') });
    assert.equal((await sdkScreenshot(ecsClient(srv, prodUser), { instanceId: web })).statusCode, 200);

    // Re-run on a changed host: fields and the whole tag set replaced, no duplicate.
    webMeta.type = 'ecs.g8.xlarge';
    webMeta.tags = { env: 'staging' };
    await fs.writeFile(file, testHost([{ name: 'web-1', metadata: webMeta }]));
    assert.equal(await importFrom(srv, uri), `imported web-1 as ${web}\nimported 1 instances, skipped 0 domains\n`);
    assert.deepEqual(await listed(srv, web),
        [[web, REGION, accountId, 'ecs.g8.xlarge', 'Running', `libvirt:${uri}#web-1`]]);
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, prodUser), { instanceId: web })),
        'Forbidden.RAM', { anyRamDetail: true });

    // Refused before the store is touched, naming the domain; exit status 1.
    const before = (await srv.admin('instance', 'list')).stdout;
    const bad = [
        [[{ name: 'a', metadata: webMeta }, { name: 'b', metadata: webMeta }],
         `ecshot: domains a and b both claim instance ${web}`],
        [[{ name: 'a', rawMetadata: `<metadata>${metadataXml(webMeta).replace('type=', 'colour="red" type=')}</metadata>` }],
         'ecshot: domain a: ecshot metadata: unknown attribute colour'],
        [[{ name: 'a', rawMetadata: `<metadata>${metadataXml(webMeta).replace(/ region="[^"]*"/, '')}</metadata>` }],
         'ecshot: domain a: ecshot metadata: attribute region is missing'],
        [[{ name: 'a', rawMetadata: `<metadata>${metadataXml({ ...webMeta, id: 'i-has space' })}</metadata>` }],
         'ecshot: domain a: ecshot metadata: id: not 1 to 127 printable ASCII characters without space'],
        [[{ name: 'a', rawMetadata: `<metadata>${metadataXml(webMeta).replace('</ecshot:instance>', '<ecshot:tag key="env">x</ecshot:tag></ecshot:instance>')}</metadata>` }],
         'ecshot: domain a: ecshot metadata: tag env given twice'],
        [[{ name: 'a', rawMetadata: `<metadata>${metadataXml(webMeta).replace('</ecshot:instance>', '<ecshot:owner/></ecshot:instance>')}</metadata>` }],
         'ecshot: domain a: ecshot metadata: <instance> holds only <tag> elements'],
        [[{ name: 'a', metadata: { ...webMeta, tags: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])) } }],
         'ecshot: domain a: ecshot metadata: more than 20 tags'],
        [[{ name: 'a', metadata: { ...webMeta, account: '999' } }],
         'ecshot: the store refused the instances: an account does not exist (create it first) or a field is not acceptable'],
    ];
    for (const [domains, message] of bad) {
        await fs.writeFile(file, testHost(domains));
        const r = await srv.cli('instance', 'import-libvirt', uri);
        assert.equal(r.code, 1, `${message}: exit ${r.code}, ${r.stderr}`);
        assert.equal(r.stderr, `${message}\n`);
        assert.equal(r.stdout, '');
    }
    const usage = await srv.cli('instance', 'import-libvirt', `${uri}#x`);
    assert.equal(usage.code, 2);
    assert.equal(usage.stderr, "ecshot: the libvirt URI must be non-empty and without '#'\n");
    const nowhere = await srv.cli('instance', 'import-libvirt', 'qemu+tcp://127.0.0.1:1/system');
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.stderr, /^ecshot: libvirt qemu\+tcp:\/\/127\.0\.0\.1:1\/system: .*Connection refused\n$/);
    assert.equal((await srv.admin('instance', 'list')).stdout, before);
});

itest('libvirt: import from metadata, screenshots through qemu:///system and qemu+tcp (SASL)', { skip }, async (ctx) => {
    requireDaemon();
    const srv = await ctx.server({ throttleMs: 0 });
    const { accountId, key } = await srv.account();
    const id = newInstanceId();
    const mode = 'vbe=1024x768';
    const meta = { id, region: REGION, account: accountId, type: 'ecs.g7.large', tags: { env: 'test & <libvirt>' } };
    const { name } = await startDomain(ctx, { mode, metadata: meta });
    const plain = await startDomain(ctx, { mode: 'text' }); // no metadata

    // Local URI: registered with the console URL libvirt:URI#NAME.
    let out = await importFrom(srv, LOCAL);
    assert.ok(out.includes(`imported ${name} as ${id}\n`), out);
    assert.ok(out.includes(`skipped ${plain.name}: no ecshot metadata\n`), out);
    assert.deepEqual(await listed(srv, id),
        [[id, REGION, accountId, 'ecs.g7.large', 'Running', `libvirt:${LOCAL}#${name}`]]);

    const client = ecsClient(srv, key);
    let res = await sdkScreenshot(client, { instanceId: id });
    let img = assertSuccessJson(bodyOf(res), id);
    assert.equal(img.width, 1024);
    assert.equal(img.height, 768);
    assertGuestPicture(img, mode);

    // The same domain imported through the remote URI: updated, never
    // duplicated; the status set by the operator stays.
    await srv.admin('instance', 'set-status', id, 'Stopped');
    out = await importFrom(srv, REMOTE);
    assert.ok(out.includes(`imported ${name} as ${id}\n`), out);
    assert.deepEqual(await listed(srv, id),
        [[id, REGION, accountId, 'ecs.g7.large', 'Stopped', `libvirt:${REMOTE}#${name}`]]);
    await srv.admin('instance', 'set-status', id, 'Running');
    res = await sdkScreenshot(client, { instanceId: id });
    assertGuestPicture(assertSuccessJson(bodyOf(res), id), mode);

    // API latency at 1024x768 through each URI (capture is libvirt's PNG screendump).
    for (const uri of [LOCAL, REMOTE]) {
        await importFrom(srv, uri);
        const times = [];
        for (let i = 0; i < 15; i++) {
            const t0 = process.hrtime.bigint();
            res = await sdkScreenshot(client, { instanceId: id });
            times.push(Number(process.hrtime.bigint() - t0) / 1e6);
            assertSuccessJson(bodyOf(res), id);
        }
        ctx.t.diagnostic(`GetInstanceScreenshot via libvirt:${uri}: median ${median(times).toFixed(1)} ms`);
    }

    // Destroyed: the domain is shut off, the instance Stopped.
    await virsh(LOCAL, 'destroy', name);
    assertEcsSdkError(await rejection(sdkScreenshot(client, { instanceId: id })),
        'IncorrectInstanceStatus', { detail: 'Stopped' });
    // Undefined: gone altogether, still Stopped.
    await virsh(LOCAL, 'undefine', name);
    assertEcsSdkError(await rejection(sdkScreenshot(client, { instanceId: id })),
        'IncorrectInstanceStatus', { detail: 'Stopped' });
});

itest('libvirt: WakeUp=true wakes a pmsuspended domain (remote URI)', { skip }, async (ctx) => {
    requireDaemon();
    const srv = await ctx.server({ throttleMs: 0 });
    const { accountId, key } = await srv.account();
    const id = newInstanceId();
    const mode = 'text suspend';
    const { name, dbg } = await startDomain(ctx, {
        mode, metadata: { id, region: REGION, account: accountId, type: 'ecs.g7.large' } });
    await dbg.take('SUSPEND');
    await waitState(name, 'pmsuspended');
    await importFrom(srv, REMOTE);
    const client = ecsClient(srv, key);

    // Asleep and WakeUp=false: still a Running instance, the last frame, still asleep.
    let res = await sdkScreenshot(client, { instanceId: id, wakeUp: false });
    assertGuestPicture(assertSuccessJson(bodyOf(res), id), 'text');
    assert.equal(await domState(name), 'pmsuspended');

    // WakeUp=true: virDomainPMWakeup, then the capture.
    res = await sdkScreenshot(client, { instanceId: id, wakeUp: true });
    const img = assertSuccessJson(bodyOf(res), id);
    assert.equal(img.width, 720);
    assert.equal(img.height, 400);
    assert.equal(await domState(name), 'running');
    // The guest rebooted after the wake-up and drew its picture again.
    await dbg.take('WOKEN');
    await dbg.take('READY');
    res = await sdkScreenshot(client, { instanceId: id, wakeUp: true });
    assertGuestPicture(assertSuccessJson(bodyOf(res), id), 'text');
});

itest('libvirt: a hung QEMU costs ServiceUnavailable within the deadline, then recovers', { skip }, async (ctx) => {
    requireDaemon();
    const srv = await ctx.server({ throttleMs: 0, consoleTimeoutMs: 1500 });
    const { accountId, key } = await srv.account();
    const id = newInstanceId();
    const { pid } = await startDomain(ctx, {
        mode: 'text', metadata: { id, region: REGION, account: accountId, type: 'ecs.g7.large' } });
    await importFrom(srv, LOCAL);
    const client = ecsClient(srv, key);
    assertGuestPicture(assertSuccessJson(bodyOf(await sdkScreenshot(client, { instanceId: id })), id), 'text');

    // QEMU stopped: libvirt's state is still "running", the screendump never answers.
    process.kill(pid, 'SIGSTOP');
    let resumed = false;
    ctx.defer(() => { if (!resumed) process.kill(pid, 'SIGCONT'); });
    const t0 = Date.now();
    assertEcsSdkError(await rejection(sdkScreenshot(client, { instanceId: id })), 'ServiceUnavailable');
    const took = Date.now() - t0;
    assert.ok(took >= 1400 && took < 4000, `answered after ${took} ms`);

    // Running again: the abandoned call finishes on its own, the next one succeeds.
    process.kill(pid, 'SIGCONT');
    resumed = true;
    assertGuestPicture(assertSuccessJson(bodyOf(await sdkScreenshot(client, { instanceId: id })), id), 'text');
});

itest('libvirt: a restarted libvirtd is reconnected to, locally and remotely', { skip: skip || (!DAEMON_DIR && !process.env.CI ? 'ECSHOT_TEST_LIBVIRTD_DIR is not set' : false), timeout: 240000 }, async (ctx) => {
    requireDaemon();
    if (!DAEMON_DIR) throw new Error('ECSHOT_TEST_LIBVIRTD_DIR is not set');
    const srv = await ctx.server({ throttleMs: 0 });
    const { accountId, key } = await srv.account();
    const mode = 'vbe=800x600';
    const a = newInstanceId();
    const b = newInstanceId();
    const dom = await startDomain(ctx, { mode });
    // Two instances on one domain: one per URI.
    for (const [id, uri] of [[a, LOCAL], [b, REMOTE]])
        await srv.instance({ id, account: accountId, console: `libvirt:${uri}#${dom.name}` });
    const client = ecsClient(srv, key);
    for (const id of [a, b])
        assertGuestPicture(assertSuccessJson(bodyOf(await sdkScreenshot(client, { instanceId: id })), id), mode);

    // The daemon restarts under the open connections; QEMU keeps running.
    execFileSync(LIBVIRTD_SH, ['restart', DAEMON_DIR], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120000 });
    assert.equal(await domState(dom.name), 'running');
    for (const id of [a, b])
        assertGuestPicture(assertSuccessJson(bodyOf(await sdkScreenshot(client, { instanceId: id })), id), mode);
});
