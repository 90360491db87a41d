// success.test.mjs: a screenshot through every client a user may run:
// Alibaba's V3 SDK (ACS3-HMAC-SHA256 and, with signatureAlgorithm 'v2', V1),
// pop-core (V1, GET and POST form), and the ecshot CLI (V3 and V1). Each
// answer must carry an upper-case UUID RequestId, echo the InstanceId and
// hold a JPEG of the guest's exact screen: its size, and its known colours
// at the centre of each region. One fresh VM per capture (the throttle
// allows one screenshot per instance per 10 s).
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, popClient, popScreenshot } from './lib/clients.mjs';
import { UUID_RE, JSON_TYPE, assertSuccessJson, assertGuestPicture } from './lib/expect.mjs';

// The ecs SDK's response as the wire body, checked like a raw one.
function assertSdkSuccess(res, instanceId, mode) {
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], JSON_TYPE);
    assert.match(res.headers['x-acs-request-id'], UUID_RE);
    const b = res.body;
    assert.equal(b.requestId, res.headers['x-acs-request-id']);
    const img = assertSuccessJson({ RequestId: b.requestId, InstanceId: b.instanceId, Screenshot: b.screenshot },
                                  instanceId);
    assertGuestPicture(img, mode);
}

for (const signature of ['v3', 'v1']) {
    itest(`V3 SDK (@alicloud/ecs20140526) with signature ${signature}: text console 720x400`, async (ctx) => {
        const srv = await ctx.server();
        const { accountId, key } = await srv.account();
        const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
        const res = await sdkScreenshot(ecsClient(srv, key, { signature }), { instanceId: id });
        assertSdkSuccess(res, id, 'text');
    });
}

itest('V3 SDK with WakeUp=false explicitly set', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: id, wakeUp: false });
    assertSdkSuccess(res, id, 'text');
});

for (const mode of ['vbe=1024x768', 'vbe=1920x1080']) {
    itest(`V3 SDK: Bochs VBE ${mode.slice(4)} console, quadrants and stripes`, async (ctx) => {
        const srv = await ctx.server();
        const { accountId, key } = await srv.account();
        const { id } = await ctx.instanceVm(srv, accountId, { mode });
        const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: id });
        assertSdkSuccess(res, id, mode);
    });
}

for (const method of ['GET', 'POST']) {
    itest(`pop-core RPCClient ${method}: text console`, async (ctx) => {
        const srv = await ctx.server();
        const { accountId, key } = await srv.account();
        const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
        const body = await popScreenshot(popClient(srv, key), { RegionId: 'cn-hangzhou', InstanceId: id }, method);
        const img = assertSuccessJson(body, id);
        assertGuestPicture(img, 'text');
    });
}

itest('pop-core in another region, with WakeUp=false: vbe=800x600', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'vbe=800x600', region: 'ap-southeast-1' });
    const body = await popScreenshot(popClient(srv, key),
        { RegionId: 'ap-southeast-1', InstanceId: id, WakeUp: false }, 'GET');
    assertGuestPicture(assertSuccessJson(body, id), 'vbe=800x600');
});

for (const signature of ['v3', 'v1']) {
    itest(`ecshot screenshot CLI --signature ${signature}: writes the JPEG`, async (ctx) => {
        const srv = await ctx.server();
        const { accountId, key } = await srv.account();
        const { id } = await ctx.instanceVm(srv, accountId, { mode: 'vbe=1024x768' });
        const out = await mkdtemp(path.join(tmpdir(), 'ecshot-cli-'));
        ctx.defer(() => rm(out, { recursive: true, force: true }));
        const file = path.join(out, 'shot.jpg');
        const r = await srv.screenshot(key, ['--region', 'cn-hangzhou', '--instance', id, '-o', file,
                                             '--signature', signature]);
        assert.equal(r.stderr, '');
        assert.equal(r.code, 0);
        const bytes = await readFile(file);
        assert.equal(r.stdout, `${file}: 1024x768 JPEG, ${bytes.length} bytes\n`);
        const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
        assertGuestPicture(img, 'vbe=1024x768');
    });
}

itest('ecshot screenshot CLI reports a server error on stderr and exits 1', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const id = await srv.instance({ account: accountId, console: 'qmp:/nonexistent/qmp.sock', status: 'Stopped' });
    const out = await mkdtemp(path.join(tmpdir(), 'ecshot-cli-'));
    ctx.defer(() => rm(out, { recursive: true, force: true }));
    const file = path.join(out, 'shot.jpg');
    for (const signature of ['v3', 'v1']) {
        const r = await srv.screenshot(key, ['--region', 'cn-hangzhou', '--instance', id, '-o', file,
                                             '--signature', signature]);
        assert.equal(r.code, 1);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, new RegExp('^ecshot: IncorrectInstanceStatus: The instance status "Stopped" is not applicable\\. ' +
                                          '\\(HTTP 405, RequestId [0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\\)\\n$'));
    }
    // Nothing written on failure.
    await assert.rejects(readFile(file), { code: 'ENOENT' });
});
