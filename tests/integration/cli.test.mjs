// cli.test.mjs: the operator interface that outside scripts rely on
// (DESIGN.md, "Operator interface"): each command exits 0 on success and
// non-zero with one line on stderr otherwise, and changes made with it
// while ecshotd runs are seen by the daemon at once.
import assert from 'node:assert/strict';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, rejection, v1Request } from './lib/clients.mjs';
import { assertEcsSdkError, assertErrorJson } from './lib/expect.mjs';
import { newInstanceId, newAccountId } from './lib/server.mjs';

const oneLineError = (r) => {
    assert.notEqual(r.code, 0, `exited 0: ${r.stdout}`);
    assert.match(r.stderr, /^ecshot: [^\n]+\n$/, `stderr: ${JSON.stringify(r.stderr)}`);
};

itest('key create without --id prints a generated "AK SK" pair that works', async (ctx) => {
    const srv = await ctx.server();
    const acc = newAccountId();
    await srv.admin('account', 'create', acc);
    const r = await srv.admin('key', 'create', acc);
    const m = /^(\S+) (\S+)\n$/.exec(r.stdout);
    assert.ok(m, `printed ${JSON.stringify(r.stdout)}`);
    const key = { accessKeyId: m[1], accessKeySecret: m[2] };
    assertErrorJson(await v1Request(srv, key, { params: { RegionId: 'cn-hangzhou', InstanceId: newInstanceId() } }),
                    'InvalidParameter', { detail: 'InstanceId', host: srv.host });
    // Another one differs.
    const r2 = await srv.admin('key', 'create', acc);
    assert.notEqual(r2.stdout, r.stdout);
});

itest('operator commands refuse bad input with one line on stderr', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    const id = newInstanceId();
    const add = (over = {}) => {
        const o = { id, region: 'cn-hangzhou', account: accountId, type: 'ecs.g7.large', console: 'qmp:/run/x.sock', ...over };
        return srv.cli('instance', 'add', o.id, '--region', o.region, '--account', o.account, '--type', o.type,
                       '--console', o.console);
    };
    oneLineError(await srv.cli('account', 'create', accountId));              // exists already
    oneLineError(await srv.cli('user', 'create', newAccountId(), 'bob'));     // unknown account
    oneLineError(await srv.cli('key', 'create', newAccountId()));             // unknown account
    oneLineError(await add({ account: newAccountId() }));                     // unknown account
    oneLineError(await add({ console: 'vnc://host:5900' }));                  // unknown console scheme
    oneLineError(await add({ status: undefined, region: '' }));               // empty region
    oneLineError(await srv.cli('instance', 'set-status', newInstanceId(), 'Running')); // unknown instance
    oneLineError(await srv.cli('instance', 'remove', newInstanceId()));
    oneLineError(await srv.cli('frobnicate'));
    assert.equal((await add()).code, 0);
    oneLineError(await add());                                                // exists already
    oneLineError(await srv.cli('instance', 'set-status', id, 'Sleeping'));   // not an ECS status
});

itest('changes made with the CLI while the daemon runs take effect at once', async (ctx) => {
    const srv = await ctx.server({ throttleMs: 0 });
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    assert.equal((await sdkScreenshot(ecsClient(srv, key), { instanceId: id })).statusCode, 200);
    await srv.admin('instance', 'set-status', id, 'Stopping');
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: id })),
                      'IncorrectInstanceStatus', { detail: 'Stopping' });
    await srv.admin('instance', 'remove', id);
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: id })),
                      'InvalidParameter', { detail: 'InstanceId' });
    await srv.admin('key', 'disable', key.accessKeyId);
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: id })),
                      'InvalidAccessKeyId.Inactive');
    await srv.admin('key', 'enable', key.accessKeyId);
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: id })),
                      'InvalidParameter', { detail: 'InstanceId' });
});
