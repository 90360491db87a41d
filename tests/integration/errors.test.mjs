// errors.test.mjs: the operation's own error codes, as Alibaba's SDKs see
// them. The V3 SDK raises ClientError (4xx), ServerError (5xx) or
// ThrottlingError (Code contains "Throttling", with retryAfter from the
// x-acs-retry-after header) carrying statusCode, code, data (the body) and
// requestId; pop-core ignores the status and raises CodeError with .code and
// .data when the body has a Code. Every body: exactly RequestId, HostId,
// Code, Message, Recommend, and no internal path.
import assert from 'node:assert/strict';
import net from 'node:net';
import { itest } from './lib/harness.mjs';
import {
    ecsClient, sdkScreenshot, popClient, popScreenshot, rejection, v1Request, v3Request,
} from './lib/clients.mjs';
import {
    assertEcsSdkError, assertPopError, assertErrorJson, assertSuccessJson, assertRawSuccess, assertGuestPicture,
    UUID_RE,
} from './lib/expect.mjs';
import { newInstanceId } from './lib/server.mjs';

const REGION = 'cn-hangzhou';

// Runs one failing call through the V3 SDK (V3 and V1 signatures) and
// pop-core (GET and POST) and checks what each reports.
async function expectEverywhere(srv, key, params, code, detail) {
    const sdkReq = { regionId: params.RegionId };
    if ('InstanceId' in params) sdkReq.instanceId = params.InstanceId;
    if ('WakeUp' in params) sdkReq.wakeUp = params.WakeUp;
    for (const signature of ['v3', 'v1']) {
        const err = await rejection(sdkScreenshot(ecsClient(srv, key, { signature }), sdkReq));
        assertEcsSdkError(err, code, { detail });
        assert.equal(err.data.HostId, srv.host);
    }
    for (const method of ['GET', 'POST']) {
        const err = await rejection(popScreenshot(popClient(srv, key), params, method));
        assertPopError(err, code, { detail });
    }
}

itest('MissingParameter (400) names RegionId or InstanceId', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    await expectEverywhere(srv, key, { InstanceId: newInstanceId() }, 'MissingParameter', 'RegionId');
    await expectEverywhere(srv, key, { RegionId: REGION }, 'MissingParameter', 'InstanceId');
    // Raw: the status and headers too.
    const res = await v1Request(srv, key, { params: { RegionId: REGION } });
    assertErrorJson(res, 'MissingParameter', { detail: 'InstanceId', host: srv.host });
});

itest('InvalidParameter (404) for a malformed InstanceId, RegionId or WakeUp', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    // A real, running instance: the malformed calls must not be about it.
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    for (const bad of ['i-SHORT', 'i-bp1gbz20g229bvu5****', 'I-abcdefghij0123456789', id.toUpperCase(),
                       id + 'x', 'i-abcdefghij012345678', id.slice(2), '', 'i-abc/../../etc', 'i-abcdefghij0123456789 '])
        await expectEverywhere(srv, key, { RegionId: REGION, InstanceId: bad }, 'InvalidParameter', 'InstanceId');
    for (const bad of ['CN-HANGZHOU', 'cn_hangzhou', 'cn-hangzhou-', '-cn', 'cn--hangzhou', '', 'cn hangzhou'])
        await expectEverywhere(srv, key, { RegionId: bad, InstanceId: id }, 'InvalidParameter', 'RegionId');
    for (const bad of ['maybe', 'yes', '1', ''])
        await expectEverywhere(srv, key, { RegionId: REGION, InstanceId: id, WakeUp: bad }, 'InvalidParameter', 'WakeUp');
    // None of these took the instance's throttle: it can still be shot.
    const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: id });
    assert.equal(res.statusCode, 200);
});

itest('InvalidParameter (404): unknown instance, another account\'s, another region\'s look the same', async (ctx) => {
    const srv = await ctx.server();
    const a = await srv.account();
    const b = await srv.account();
    const mine = await ctx.instanceVm(srv, a.accountId, { mode: 'text', region: REGION });
    const theirs = await ctx.instanceVm(srv, b.accountId, { mode: 'text', region: REGION });
    const cases = [
        { RegionId: REGION, InstanceId: newInstanceId() },          // does not exist
        { RegionId: REGION, InstanceId: theirs.id },                // account b's
        { RegionId: 'cn-beijing', InstanceId: mine.id },            // mine, other region
        { RegionId: 'cn-beijing', InstanceId: theirs.id },
    ];
    const seen = [];
    for (const params of cases) {
        await expectEverywhere(srv, a.key, params, 'InvalidParameter', 'InstanceId');
        const res = await v1Request(srv, a.key, { params });
        const body = assertErrorJson(res, 'InvalidParameter', { detail: 'InstanceId', host: srv.host });
        seen.push({ status: res.status, Code: body.Code, Message: body.Message, HostId: body.HostId,
                    keys: Object.keys(body).join(','), Recommend: body.Recommend.replace(body.RequestId, '') });
    }
    for (const s of seen.slice(1)) assert.deepEqual(s, seen[0]);
    // Both instances are real and were not throttled by the failures.
    assertGuestPicture(assertSuccessJson(await popScreenshot(popClient(srv, a.key),
        { RegionId: REGION, InstanceId: mine.id }), mine.id), 'text');
    assertGuestPicture(assertSuccessJson(await popScreenshot(popClient(srv, b.key),
        { RegionId: REGION, InstanceId: theirs.id }), theirs.id), 'text');
});

itest('IncorrectInstanceStatus (405): inventory status Stopped, then Running again', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text', status: 'Stopped' });
    await expectEverywhere(srv, key, { RegionId: REGION, InstanceId: id }, 'IncorrectInstanceStatus', 'Stopped');
    for (const status of ['Pending', 'Starting', 'Stopping']) {
        await srv.admin('instance', 'set-status', id, status);
        const err = await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: id }));
        assertEcsSdkError(err, 'IncorrectInstanceStatus', { detail: status });
    }
    await srv.admin('instance', 'set-status', id, 'Running');
    const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: id });
    assert.equal(res.statusCode, 200);
});

itest('IncorrectInstanceStatus "Stopped" when the VM was powered off (QMP quit)', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const { id, vm } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    await vm.qmp.execute('quit');
    await vm.exited;
    await expectEverywhere(srv, key, { RegionId: REGION, InstanceId: id }, 'IncorrectInstanceStatus', 'Stopped');
});

itest('IncorrectInstanceStatus "Stopped" for a console socket nobody listens on', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    // A socket file that exists but has no listener (ECONNREFUSED), and one
    // that does not exist at all (ENOENT).
    const dead = await ctx.vm({ mode: 'text' });
    const deadUrl = dead.consoleUrl;
    await dead.qmp.execute('quit');
    await dead.exited;
    const refused = await srv.instance({ account: accountId, console: deadUrl });
    const missing = await srv.instance({ account: accountId, console: 'qmp:/nonexistent/dir/qmp.sock' });
    for (const id of [refused, missing]) {
        const err = await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: id }));
        assertEcsSdkError(err, 'IncorrectInstanceStatus', { detail: 'Stopped' });
    }
    // A listening socket that is not QMP at all (answers junk and closes).
    const junk = net.createServer((c) => c.end('HTTP/1.0 400 Bad\r\n\r\n'));
    const sockPath = `${srv.dir}/junk.sock`;
    await new Promise((resolve) => junk.listen(sockPath, resolve));
    ctx.defer(() => new Promise((resolve) => junk.close(resolve)));
    const junkId = await srv.instance({ account: accountId, console: `qmp:${sockPath}` });
    const res = await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: junkId } });
    // Not a hypervisor we can read: an internal error (logged), not a
    // status, never a hang, never the socket path in the body.
    assertErrorJson(res, 'InternalError', { host: srv.host });
});

itest('IncorrectInstanceStatus "Starting" for a VM still in prelaunch (-S)', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const { id, vm } = await ctx.instanceVm(srv, accountId, { mode: 'text', paused: true });
    assert.equal(await vm.status(), 'prelaunch');
    await expectEverywhere(srv, key, { RegionId: REGION, InstanceId: id }, 'IncorrectInstanceStatus', 'Starting');
    // Once started it can be shot (the failures took no throttle).
    await vm.cont();
    const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: id });
    assert.equal(res.statusCode, 200);
});

itest('NotSupported (405) for a retired instance type, shipped list and operator list', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const vm = await ctx.vm({ mode: 'text' });
    for (const type of ['ecs.t1.small', 'ecs.sn2.13xlarge', 'ecs.gn4-c4g1.xlarge', 'ecs.c2.xlarge']) {
        const id = await srv.instance({ account: accountId, console: vm.consoleUrl, type });
        await expectEverywhere(srv, key, { RegionId: REGION, InstanceId: id }, 'NotSupported', id);
    }
    // Retired and stopped: retired wins (the type never changes).
    const stopped = await srv.instance({ account: accountId, console: vm.consoleUrl, type: 'ecs.n1.tiny', status: 'Stopped' });
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: stopped })), 'NotSupported',
                      { detail: stopped });

    // An operator's own list replaces the shipped one.
    const srv2 = await ctx.server({ retiredTypes: ['ecs.x9.tiny'] });
    const acc2 = await srv2.account();
    const retired = await srv2.instance({ account: acc2.accountId, console: vm.consoleUrl, type: 'ecs.x9.tiny' });
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv2, acc2.key), { instanceId: retired })),
                      'NotSupported', { detail: retired });
    const old = await srv2.instance({ account: acc2.accountId, console: vm.consoleUrl, type: 'ecs.t1.small' });
    const res = await sdkScreenshot(ecsClient(srv2, acc2.key), { instanceId: old });
    assert.equal(res.statusCode, 200);
});

itest('Throttling (429): a second call within 10 s, through every client', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const other = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const first = await sdkScreenshot(ecsClient(srv, key), { instanceId: id });
    assert.equal(first.statusCode, 200);

    for (const signature of ['v3', 'v1']) {
        const err = await rejection(sdkScreenshot(ecsClient(srv, key, { signature }), { instanceId: id }));
        assertEcsSdkError(err, 'Throttling');
        assert.equal(typeof err.retryAfter, 'number', 'ThrottlingError.retryAfter from x-acs-retry-after');
        assert.ok(err.retryAfter > 0 && err.retryAfter <= 10000, `retryAfter ${err.retryAfter}`);
    }
    for (const method of ['GET', 'POST'])
        assertPopError(await rejection(popScreenshot(popClient(srv, key), { RegionId: REGION, InstanceId: id }, method)),
                       'Throttling');
    for (const send of [
        () => v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id } }),
        () => v3Request(srv, key, { query: { RegionId: REGION, InstanceId: id } }),
    ]) {
        const res = await send();
        assertErrorJson(res, 'Throttling', { host: srv.host });
        assert.match(res.headers['x-acs-retry-after'], /^[1-9][0-9]*$/);
        const ms = Number(res.headers['x-acs-retry-after']);
        assert.ok(ms > 0 && ms <= 10000, `x-acs-retry-after ${ms}`);
    }
    // The throttle is per instance.
    const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: other.id });
    assert.equal(res.statusCode, 200);
});

itest('Throttling: 20 parallel calls on a fresh instance give exactly 1 success and 19 Throttling', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    // Half raw V3 requests, half raw V1, each on its own connection.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => i % 2
        ? v3Request(srv, key, { query: { RegionId: REGION, InstanceId: id } })
        : v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id } })));
    const ok = results.filter((r) => r.status === 200);
    const throttled = results.filter((r) => r.status === 429);
    assert.equal(ok.length, 1, `statuses: ${results.map((r) => r.status).join(',')}`);
    assert.equal(throttled.length, 19);
    assertGuestPicture(assertRawSuccess(ok[0], id), 'text');
    const ids = new Set(results.map((r) => r.json?.RequestId));
    assert.equal(ids.size, 20, 'every answer has its own RequestId');
    for (const r of throttled) {
        assertErrorJson(r, 'Throttling', { host: srv.host });
        const ms = Number(r.headers['x-acs-retry-after']);
        assert.ok(Number.isInteger(ms) && ms > 0 && ms <= 10000, `x-acs-retry-after ${r.headers['x-acs-retry-after']}`);
    }
    // The same through the SDK: 20 more in parallel on another fresh instance.
    const second = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const settled = await Promise.allSettled(Array.from({ length: 20 },
        () => sdkScreenshot(ecsClient(srv, key), { instanceId: second.id })));
    assert.equal(settled.filter((s) => s.status === 'fulfilled').length, 1);
    for (const s of settled.filter((x) => x.status === 'rejected')) {
        assertEcsSdkError(s.reason, 'Throttling');
        assert.ok(s.reason.retryAfter > 0 && s.reason.retryAfter <= 10000);
        assert.match(s.reason.requestId, UUID_RE);
    }
});
