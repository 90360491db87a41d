// faults.test.mjs: hypervisors that die or hang under the daemon.
//  - QEMU killed with SIGKILL after a first screenshot: the next call on
//    that instance answers IncorrectInstanceStatus "Stopped" at once (the
//    dropped QMP connection is noticed, no timeout is waited out), and the
//    daemon keeps serving other instances.
//  - A QMP socket that accepts and never speaks: the call gives up after
//    --console-timeout-ms with ServiceUnavailable (503), and calls on other
//    instances are served meanwhile (no global lock held across the wait).
//  - Eight such sockets on one worker thread: each hung call holds a fiber,
//    not the thread, so a live VM is served while all eight wait.
//  - --queue-max calls in progress: the next is refused ServiceUnavailable
//    at once rather than queued behind them.
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtemp, rm, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, rejection, v3Request, v1Request } from './lib/clients.mjs';
import { assertEcsSdkError, assertErrorJson, assertSuccessJson, assertGuestPicture, assertRawSuccess } from './lib/expect.mjs';

const REGION = 'cn-hangzhou';
const bodyOf = (res) => ({ RequestId: res.body.requestId, InstanceId: res.body.instanceId, Screenshot: res.body.screenshot });

// A unix socket that accepts connections and never writes a byte;
// connected resolves at the daemon's first connection.
async function silentSocket(ctx) {
    const dir = await mkdtemp(path.join(tmpdir(), 'ecshot-hang-'));
    const sockets = new Set();
    let onFirst;
    const connected = new Promise((resolve) => { onFirst = resolve; });
    const server = net.createServer((c) => {
        sockets.add(c);
        c.on('error', () => {});
        c.on('close', () => sockets.delete(c));
        c.resume(); // read and ignore whatever the daemon sends
        onFirst();
    });
    const file = path.join(dir, 'qmp.sock');
    await new Promise((resolve, reject) => server.listen(file, resolve).once('error', reject));
    ctx.defer(async () => {
        for (const c of sockets) c.destroy();
        await new Promise((resolve) => server.close(resolve));
        await rm(dir, { recursive: true, force: true });
    });
    return { consoleUrl: `qmp:${file}`, connected };
}

itest('a VM killed (SIGKILL) after a screenshot: IncorrectInstanceStatus "Stopped" at once, others still served', async (ctx) => {
    const srv = await ctx.server({ consoleTimeoutMs: 20000, throttleMs: 0 });
    const { accountId, key } = await srv.account();
    const a = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const b = await ctx.instanceVm(srv, accountId, { mode: 'vbe=1024x768' });
    const first = await sdkScreenshot(ecsClient(srv, key), { instanceId: a.id });
    assertGuestPicture(assertSuccessJson(bodyOf(first), a.id), 'text');

    assert.ok(a.vm.kill('SIGKILL'));
    await a.vm.exited;
    const t0 = Date.now();
    const err = await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: a.id }));
    const elapsed = Date.now() - t0;
    assertEcsSdkError(err, 'IncorrectInstanceStatus', { detail: 'Stopped' });
    // Far below the 20 s console timeout: the daemon saw the connection drop.
    assert.ok(elapsed < 10000, `took ${elapsed} ms`);
    // Again (the daemon must not have cached a broken connection as alive).
    assertErrorJson(await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: a.id } }),
                    'IncorrectInstanceStatus', { detail: 'Stopped', host: srv.host });

    const other = await sdkScreenshot(ecsClient(srv, key), { instanceId: b.id });
    assertGuestPicture(assertSuccessJson(bodyOf(other), b.id), 'vbe=1024x768');
});

itest('a VM restarted behind the same console URL is reconnected to', async (ctx) => {
    const srv = await ctx.server({ throttleMs: 0 });
    const { accountId, key } = await srv.account();
    // The console URL names a symlink that the "operator" repoints from VM 1's
    // QMP socket to VM 2's after VM 1 died: same URL, new QEMU.
    const dir = await mkdtemp(path.join(tmpdir(), 'ecshot-link-'));
    ctx.defer(() => rm(dir, { recursive: true, force: true }));
    const link = path.join(dir, 'console.sock');
    const vm1 = await ctx.vm({ mode: 'text' });
    await symlink(vm1.qmpSocket, link);
    const id = await srv.instance({ account: accountId, console: `qmp:${link}` });
    assertGuestPicture(assertSuccessJson(bodyOf(await sdkScreenshot(ecsClient(srv, key), { instanceId: id })), id), 'text');
    vm1.kill('SIGKILL');
    await vm1.exited;
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: id })),
                      'IncorrectInstanceStatus', { detail: 'Stopped' });
    const vm2 = await ctx.vm({ mode: 'vbe=800x600' });
    await unlink(link);
    await symlink(vm2.qmpSocket, link);
    const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: id });
    assertGuestPicture(assertSuccessJson(bodyOf(res), id), 'vbe=800x600');
});

itest('QMP sockets that never answer: ServiceUnavailable (503) after the console timeout; other instances served meanwhile', async (ctx) => {
    // Two HTTP threads and three hung consoles: a daemon that blocked its
    // HTTP threads on a console would serve nobody until the timeouts.
    const srv = await ctx.server({ consoleTimeoutMs: 2000, args: ['--threads', '2'] });
    const { accountId, key } = await srv.account();
    const silents = [await silentSocket(ctx), await silentSocket(ctx), await silentSocket(ctx)];
    const hung = [];
    for (const s of silents) hung.push(await srv.instance({ account: accountId, console: s.consoleUrl }));
    const okA = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const okB = await ctx.instanceVm(srv, accountId, { mode: 'vbe=1024x768' });

    let hungDone = 0;
    const t0 = Date.now();
    const hungCalls = [
        rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: hung[0] })),
        rejection(sdkScreenshot(ecsClient(srv, key, { signature: 'v1' }), { instanceId: hung[1] })),
        v3Request(srv, key, { query: { RegionId: REGION, InstanceId: hung[2] } }),
    ].map((p) => p.finally(() => { hungDone++; }));
    // Once the daemon is waiting on all three, two other instances are served.
    await Promise.all(silents.map((s) => s.connected));
    const [a, b] = await Promise.all([
        sdkScreenshot(ecsClient(srv, key), { instanceId: okA.id }),
        v1Request(srv, key, { params: { RegionId: REGION, InstanceId: okB.id } }),
    ]);
    assert.equal(hungDone, 0, 'the other instances were served only after a hung call ended');
    assertGuestPicture(assertSuccessJson(bodyOf(a), okA.id), 'text');
    assertGuestPicture(assertRawSuccess(b, okB.id), 'vbe=1024x768');

    const [e0, e1, raw] = await Promise.all(hungCalls);
    const elapsed = Date.now() - t0;
    assertEcsSdkError(e0, 'ServiceUnavailable');
    assertEcsSdkError(e1, 'ServiceUnavailable');
    assertErrorJson(raw, 'ServiceUnavailable', { host: srv.host });
    assert.ok(elapsed >= 1900, `gave up after ${elapsed} ms, before the 2000 ms timeout`);
    // The failures took no throttle: the same answer again. The daemon
    // still stops cleanly (checked by the harness) with those sockets open.
    assertErrorJson(await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: hung[0] } }),
                    'ServiceUnavailable', { host: srv.host });
});

itest('eight hung consoles on one worker thread: each costs a fiber, not the thread; a live VM is served meanwhile', async (ctx) => {
    // One HTTP thread and one worker: a daemon that waited on a VM with its
    // thread would take the hung calls one at a time (the later ones would
    // not even reach their sockets) and serve the live VM last.
    const srv = await ctx.server({ consoleTimeoutMs: 3000, args: ['--threads', '1', '--workers', '1'] });
    const { accountId, key } = await srv.account();
    const silents = [];
    for (let i = 0; i < 8; i++) silents.push(await silentSocket(ctx));
    const hung = [];
    for (const s of silents) hung.push(await srv.instance({ account: accountId, console: s.consoleUrl }));
    const live = await ctx.instanceVm(srv, accountId, { mode: 'text' });

    let hungDone = 0;
    const hungCalls = hung.map((id) => v3Request(srv, key, { query: { RegionId: REGION, InstanceId: id } })
        .finally(() => { hungDone++; }));
    await Promise.all(silents.map((s) => s.connected)); // all eight wait on their VMs at once
    const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: live.id });
    assert.equal(hungDone, 0, 'the live VM was served only after a hung call ended');
    assertGuestPicture(assertSuccessJson(bodyOf(res), live.id), 'text');
    for (const raw of await Promise.all(hungCalls)) assertErrorJson(raw, 'ServiceUnavailable', { host: srv.host });
});

itest('--queue-max requests in progress: the next is ServiceUnavailable at once, served again once they end', async (ctx) => {
    const srv = await ctx.server({ consoleTimeoutMs: 3000, throttleMs: 0, args: ['--workers', '1', '--queue-max', '3'] });
    const { accountId, key } = await srv.account();
    const silents = [await silentSocket(ctx), await silentSocket(ctx), await silentSocket(ctx)];
    const hung = [];
    for (const s of silents) hung.push(await srv.instance({ account: accountId, console: s.consoleUrl }));
    const live = await ctx.instanceVm(srv, accountId, { mode: 'text' });

    let hungDone = 0;
    const hungCalls = hung.map((id) => v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id } })
        .finally(() => { hungDone++; }));
    await Promise.all(silents.map((s) => s.connected));
    const refused = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: live.id } });
    assert.equal(hungDone, 0, 'the fourth request waited for a place instead of being refused');
    assertErrorJson(refused, 'ServiceUnavailable', { host: srv.host });
    for (const raw of await Promise.all(hungCalls)) assertErrorJson(raw, 'ServiceUnavailable', { host: srv.host });
    assertGuestPicture(assertRawSuccess(await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: live.id } }), live.id), 'text');
});
