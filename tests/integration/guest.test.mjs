// guest.test.mjs - self-test of the test guest and of lib/vm.mjs: the guest
// must draw exactly the documented pictures, suspend and wake, blank and
// unblank, so ecshot's integration tests can rely on them.
// Run: node --test tests/integration/guest.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startVm, guestPicture, COLOURS, QmpClient } from './lib/vm.mjs';

// Start a VM for one test and stop it however the test ends.
async function withVm(t, options) {
  const vm = await startVm(options);
  t.after(() => vm.stop());
  return vm;
}

function assertPicture(img, mode) {
  const want = guestPicture(mode);
  assert.equal(img.width, want.width, 'width');
  assert.equal(img.height, want.height, 'height');
  for (const r of want.regions) {
    const bad = img.findOther(r.x, r.y, r.w, r.h, r.rgb);
    assert.equal(bad, null, `${r.name} (${r.colour}) at ${JSON.stringify(bad)}`);
  }
}

function assertAll(img, rgb, what) {
  assert.equal(img.findOther(0, 0, img.width, img.height, rgb), null, what);
}

test('text mode: 720x400 banner and four quadrants', async (t) => {
  const vm = await withVm(t, { mode: 'text' });
  assert.equal(await vm.status(), 'running');
  const img = await vm.screendump();
  assertPicture(img, 'text');
  assert.deepEqual(img.pixel(180, 112), COLOURS.red);
  assert.deepEqual(img.pixel(540, 112), COLOURS.green);
  assert.deepEqual(img.pixel(180, 304), COLOURS.blue);
  assert.deepEqual(img.pixel(540, 304), COLOURS.white);
  // The banner text is white on blue and nothing else.
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 17 * 9; x++) {
      const p = img.pixel(x, y);
      assert.ok(p.join() === COLOURS.blue.join() || p.join() === COLOURS.white.join(), `banner ${x},${y}`);
    }
  }
});

for (const [w, h] of [[1024, 768], [800, 600], [1920, 1080]]) {
  test(`vbe=${w}x${h}: stripes and four quadrants`, async (t) => {
    const mode = `vbe=${w}x${h}`;
    const vm = await withVm(t, { mode });
    assertPicture(await vm.screendump(), mode);
  });
}

test('vm: paused start, private dir, ecshot QMP socket', async (t) => {
  const vm = await withVm(t, { mode: 'vbe=1024x768', paused: true });
  assert.equal(await vm.status(), 'prelaunch');
  assert.equal(fs.statSync(vm.dir).mode & 0o777, 0o700);
  assert.equal(vm.consoleUrl, `qmp:${vm.qmpSocket}`);
  // ecshot's socket is a second, independent QMP monitor.
  const other = await QmpClient.connect(vm.qmpSocket, 5000);
  assert.equal((await other.execute('query-status')).status, 'prelaunch');
  other.close();
  await vm.cont();
  assert.equal(await vm.status(), 'running');
  assertPicture(await vm.screendump(), 'vbe=1024x768');
});

test('text suspend: S3, system_wakeup, picture again', async (t) => {
  const vm = await withVm(t, { mode: 'text suspend' });
  await vm.qmp.waitEvent('SUSPEND');
  assert.equal(await vm.status(), 'suspended');
  assertPicture(await vm.screendump(), 'text'); // the last frame stays
  await vm.qmp.execute('system_wakeup');
  await vm.qmp.waitEvent('WAKEUP');
  await vm.waitReady();
  assert.equal(await vm.status(), 'running');
  assertPicture(await vm.screendump(), 'text');
  assert.ok(vm.console.includes('WOKEN'), 'the guest saw its CMOS marker');
  // It must not suspend a second time: the picture is the last READY and
  // the guest halts, so no new SUSPEND event may be pending.
  assert.equal(vm.qmp.events.filter((e) => e.event === 'SUSPEND').length, 1);
});

test('vbe suspend: wakes into the same VBE picture', async (t) => {
  const mode = 'vbe=1024x768 suspend';
  const vm = await withVm(t, { mode });
  await vm.qmp.waitEvent('SUSPEND');
  assert.equal(await vm.status(), 'suspended');
  await vm.qmp.execute('system_wakeup');
  await vm.waitReady();
  assert.equal(await vm.status(), 'running');
  assertPicture(await vm.screendump(), mode);
});

test('blank: black until a key, then the picture', async (t) => {
  const vm = await withVm(t, { mode: 'blank' });
  const black = await vm.screendump();
  assert.equal(black.width, 720);
  assert.equal(black.height, 400);
  assertAll(black, COLOURS.black, 'blank screen');
  await vm.sendKey('shift');
  await vm.waitReady();
  assertPicture(await vm.screendump(), 'text');
});

test('blank: a mouse move also wakes a VBE screen', async (t) => {
  const mode = 'vbe=800x600 blank';
  const vm = await withVm(t, { mode });
  assertAll(await vm.screendump(), COLOURS.black, 'blank screen');
  await vm.qmp.execute('input-send-event', {
    events: [{ type: 'rel', data: { axis: 'x', value: 10 } }],
  });
  await vm.waitReady();
  assertPicture(await vm.screendump(), mode);
});

test('vm: a guest ERROR rejects startVm and cleans up', async (t) => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'ecshot-guest-test-'));
  t.after(() => fs.rmSync(parent, { recursive: true, force: true }));
  await assert.rejects(startVm({ mode: 'vbe=1366x768', dir: parent }), /guest ERROR VBE mode refused/);
  await assert.rejects(startVm({ mode: 'vbe=640x', dir: parent }), /guest ERROR bad vbe=/);
  assert.deepEqual(fs.readdirSync(parent), []);
});

test('vm: kill and stop leave nothing behind', async () => {
  const vm = await startVm({ mode: 'text' });
  assert.ok(vm.kill('SIGKILL'));
  await vm.exited;
  await vm.stop();
  assert.equal(fs.existsSync(vm.dir), false);
  // The sockets are gone with the directory.
  await assert.rejects(new Promise((resolve, reject) => {
    net.createConnection(vm.qmpSocket).once('connect', resolve).once('error', reject);
  }));
});
