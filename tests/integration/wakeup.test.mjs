// wakeup.test.mjs: WakeUp=true wakes a sleeping guest before the capture
// (PROTOCOL.md §4): a guest in ACPI S3 is brought back (system_wakeup), a
// blanked screen gets an input event; WakeUp=false leaves both alone. The
// harness watches the guest through its own QMP socket and debug console.
// These servers run with --throttle-ms 0 so that one VM can be shot before
// and after it woke.
import assert from 'node:assert/strict';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, popClient, popScreenshot, v1Request } from './lib/clients.mjs';
import { assertSuccessJson, assertGuestPicture, assertRawSuccess } from './lib/expect.mjs';

const REGION = 'cn-hangzhou';
const bodyOf = (res) => ({ RequestId: res.body.requestId, InstanceId: res.body.instanceId, Screenshot: res.body.screenshot });

// Every pixel of img is black (within the JPEG tolerance).
function assertAllBlack(img, tol = 24) {
    for (let i = 0; i < img.data.length; i++)
        if (img.data[i] > tol) {
            const p = Math.floor(i / 3);
            assert.fail(`pixel (${p % img.width},${Math.floor(p / img.width)}) is not black: ${img.data[i]}`);
        }
}

itest('WakeUp=true brings a guest back from ACPI S3; WakeUp=false leaves it asleep', async (ctx) => {
    const srv = await ctx.server({ throttleMs: 0 });
    const { accountId, key } = await srv.account();
    const { id, vm } = await ctx.instanceVm(srv, accountId, { mode: 'text suspend' });
    await vm.qmp.waitEvent('SUSPEND');
    assert.equal(await vm.status(), 'suspended');

    // WakeUp=false: a sleeping guest is still a Running instance; the display
    // keeps its last frame, and the guest stays asleep.
    const asleep = await sdkScreenshot(ecsClient(srv, key), { instanceId: id, wakeUp: false });
    assertGuestPicture(assertSuccessJson(bodyOf(asleep), id), 'text');
    assert.equal(await vm.status(), 'suspended');
    assert.equal(vm.qmp.events.filter((e) => e.event === 'WAKEUP').length, 0);

    // WakeUp=true: the server wakes it, then captures.
    const woken = await sdkScreenshot(ecsClient(srv, key), { instanceId: id, wakeUp: true });
    const img = assertSuccessJson(bodyOf(woken), id);
    assert.equal(img.width, 720);
    assert.equal(img.height, 400);
    await vm.qmp.waitEvent('WAKEUP');
    assert.equal(await vm.status(), 'running');
    // The guest rebooted after the wake-up and drew its picture again.
    await vm.waitLine('WOKEN');
    await vm.waitReady();
    const after = await popScreenshot(popClient(srv, key), { RegionId: REGION, InstanceId: id, WakeUp: 'true' });
    assertGuestPicture(assertSuccessJson(after, id), 'text');
    assert.equal(await vm.status(), 'running');
});

itest('WakeUp=true on a blanked screen sends an input event; WakeUp=false does not', async (ctx) => {
    const srv = await ctx.server({ throttleMs: 0 });
    const { accountId, key } = await srv.account();
    for (const mode of ['blank', 'blank vbe=1024x768']) {
        const { id, vm } = await ctx.instanceVm(srv, accountId, { mode });
        // startVm waited for the first READY: the black screen.
        const black = await sdkScreenshot(ecsClient(srv, key), { instanceId: id });
        const img = assertSuccessJson(bodyOf(black), id);
        const size = mode.includes('vbe') ? [1024, 768] : [720, 400];
        assert.deepEqual([img.width, img.height], size);
        assertAllBlack(img);
        const still = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id, WakeUp: 'false' } });
        assertAllBlack(assertRawSuccess(still, id));
        assert.equal(vm.console.filter((l) => l === 'READY').length, 1, 'no input reached the guest');

        const woken = await sdkScreenshot(ecsClient(srv, key, { signature: 'v1' }), { instanceId: id, wakeUp: true });
        await vm.waitReady(); // the guest got the event and drew its picture
        assertGuestPicture(assertSuccessJson(bodyOf(woken), id), mode);
        assert.equal(await vm.status(), 'running');
    }
});

itest('WakeUp=true on an awake guest changes nothing', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    for (const mode of ['text', 'vbe=1024x768']) {
        const { id, vm } = await ctx.instanceVm(srv, accountId, { mode });
        const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: id, wakeUp: true });
        assertGuestPicture(assertSuccessJson(bodyOf(res), id), mode);
        assert.equal(await vm.status(), 'running');
        assert.equal(vm.qmp.events.filter((e) => e.event === 'RESET' || e.event === 'WAKEUP').length, 0);
        assert.equal(vm.console.filter((l) => l.startsWith('BOOT')).length, 1);
    }
});
