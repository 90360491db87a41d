// ram.test.mjs: RAM authorization (PROTOCOL.md §3). A RAM user's key may do
// only what its policies allow on acs:ecs:{RegionId}:{account}:instance/{id};
// default deny, an explicit Deny beats every Allow; the decision comes
// before the instance is looked up, so a denied caller learns nothing about
// which instances exist. A denial is 403 Forbidden.RAM with an
// AccessDeniedDetail, which the V3 SDK exposes as err.accessDeniedDetail.
import assert from 'node:assert/strict';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, popClient, popScreenshot, rejection, v1Request, v3Request } from './lib/clients.mjs';
import { assertEcsSdkError, assertPopError, assertErrorJson, assertGuestPicture, assertSuccessJson } from './lib/expect.mjs';
import { newInstanceId } from './lib/server.mjs';

const REGION = 'cn-hangzhou';
const ACTION = 'ecs:GetInstanceScreenshot';
const policy = (...Statement) => ({ Version: '1', Statement });
const allowAll = (acc) => policy({ Effect: 'Allow', Action: ACTION, Resource: `acs:ecs:*:${acc}:instance/*` });

// Denied through every client (the decision only: see the detail test for the body).
async function expectDenied(srv, key, instanceId, region = REGION) {
    for (const signature of ['v3', 'v1'])
        assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key, { signature }), { regionId: region, instanceId })),
                          'Forbidden.RAM', { anyRamDetail: true });
    for (const method of ['GET', 'POST'])
        assertPopError(await rejection(popScreenshot(popClient(srv, key), { RegionId: region, InstanceId: instanceId }, method)),
                       'Forbidden.RAM');
    assertErrorJson(await v1Request(srv, key, { params: { RegionId: region, InstanceId: instanceId } }), 'Forbidden.RAM',
                    { host: srv.host, anyRamDetail: true });
}

itest('Forbidden.RAM (403): a RAM user without any policy (implicit deny), also on instances that do not exist', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const alice = await srv.ramUser(accountId, 'alice');
    await expectDenied(srv, alice, id);
    await expectDenied(srv, alice, newInstanceId());        // not InvalidParameter: nothing leaks
    await expectDenied(srv, alice, id, 'cn-beijing');
    // The denials took no throttle: the account's root key shoots the instance now.
    const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: id });
    assert.equal(res.statusCode, 200);
});

itest('a RAM user with Allow on acs:ecs:*:ACC:instance/* succeeds; other accounts\' resources do not count', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    const other = await srv.account();
    const a = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const b = await ctx.instanceVm(srv, accountId, { mode: 'vbe=1024x768' });
    const bob = await srv.ramUser(accountId, 'bob', { screenshots: allowAll(accountId) });
    const res = await sdkScreenshot(ecsClient(srv, bob), { instanceId: a.id });
    assert.equal(res.statusCode, 200);
    assertGuestPicture(assertSuccessJson({ RequestId: res.body.requestId, InstanceId: res.body.instanceId,
                                           Screenshot: res.body.screenshot }, a.id), 'text');
    assertGuestPicture(assertSuccessJson(await popScreenshot(popClient(srv, bob), { RegionId: REGION, InstanceId: b.id }), b.id),
                       'vbe=1024x768');
    // Allowed by policy, but the instance does not exist: now InvalidParameter.
    assertErrorJson(await v1Request(srv, bob, { params: { RegionId: REGION, InstanceId: newInstanceId() } }),
                    'InvalidParameter', { detail: 'InstanceId', host: srv.host });
    // A user whose policy names another account's instances is denied.
    const carol = await srv.ramUser(accountId, 'carol', { wrong: allowAll(other.accountId) });
    await expectDenied(srv, carol, a.id);
    // A policy for another action only is no permission either.
    const dave = await srv.ramUser(accountId, 'dave', { other: policy({ Effect: 'Allow', Action: 'ecs:DescribeInstances',
                                                                       Resource: '*' }) });
    await expectDenied(srv, dave, a.id);
});

itest('an explicit Deny on one instance beats the Allow', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    const denied = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const allowed = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const erin = await srv.ramUser(accountId, 'erin', {
        a_allow: allowAll(accountId),
        b_deny: policy({ Effect: 'Deny', Action: 'ecs:*', Resource: `acs:ecs:${REGION}:${accountId}:instance/${denied.id}` }),
    });
    await expectDenied(srv, erin, denied.id);
    const res = await sdkScreenshot(ecsClient(srv, erin), { instanceId: allowed.id });
    assert.equal(res.statusCode, 200);
    // Deny and Allow in one document, in either order.
    const frank = await srv.ramUser(accountId, 'frank', { both: policy(
        { Effect: 'Deny', Action: ['ecs:Describe*', 'ecs:GetInstanceScreen*'], Resource: [`acs:ecs:*:*:instance/${denied.id}`] },
        { Effect: 'Allow', Action: '*', Resource: '*' }) });
    await expectDenied(srv, frank, denied.id);
});

itest('Forbidden.RAM carries AccessDeniedDetail (ImplicitDeny / ExplicitDeny), as the V3 SDK reads it', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    const vm = await ctx.vm({ mode: 'text' });
    const id = await srv.instance({ account: accountId, console: vm.consoleUrl });
    const grace = await srv.ramUser(accountId, 'grace');
    const heidi = await srv.ramUser(accountId, 'heidi', {
        deny: policy({ Effect: 'Deny', Action: ACTION, Resource: `acs:ecs:*:${accountId}:instance/${id}` }),
    });
    for (const [key, user, kind] of [[grace, 'grace', 'ImplicitDeny'], [heidi, 'heidi', 'ExplicitDeny']]) {
        const res = await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: id } });
        const body = assertErrorJson(res, 'Forbidden.RAM', { host: srv.host });
        const d = body.AccessDeniedDetail;
        assert.deepEqual(Object.keys(d).sort(), ['AuthAction', 'AuthPrincipalDisplayName', 'AuthPrincipalOwnerId',
                                                  'AuthPrincipalType', 'NoPermissionType', 'PolicyType']);
        assert.equal(d.AuthAction, ACTION);
        assert.equal(d.AuthPrincipalOwnerId, accountId);
        assert.equal(d.AuthPrincipalDisplayName, user);
        assert.equal(d.NoPermissionType, kind);
        assert.equal(typeof d.AuthPrincipalType, 'string');
        assert.equal(typeof d.PolicyType, 'string');
        const err = await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: id }));
        assertEcsSdkError(err, 'Forbidden.RAM');
        assert.equal(err.accessDeniedDetail?.NoPermissionType, kind);
        assert.equal(err.accessDeniedDetail?.AuthAction, ACTION);
    }
});

itest('policy condition acs:SourceIp is the TCP peer, not X-Forwarded-For', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    const local = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    // Two documents, so two policies: a policy's name is the account's.
    const ipUser = await srv.ramUser(accountId, 'ip-local', { 'ip-local': policy({ Effect: 'Allow', Action: ACTION, Resource: '*',
        Condition: { IpAddress: { 'acs:SourceIp': ['10.0.0.0/8', '127.0.0.1/32'] } } }) });
    const farUser = await srv.ramUser(accountId, 'ip-far', { 'ip-far': policy({ Effect: 'Allow', Action: ACTION, Resource: '*',
        Condition: { IpAddress: { 'acs:SourceIp': '192.168.0.0/16' } } }) });
    // X-Forwarded-For is not trusted.
    const xff = await v1Request(srv, farUser, { params: { RegionId: REGION, InstanceId: local.id },
                                                headers: { 'x-forwarded-for': '192.168.1.1' } });
    assertErrorJson(xff, 'Forbidden.RAM', { anyRamDetail: true });
    await expectDenied(srv, farUser, local.id);
    assert.equal((await sdkScreenshot(ecsClient(srv, ipUser), { instanceId: local.id })).statusCode, 200);
});

itest('policy condition acs:ResourceTag/<key> matches the instance\'s tags', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    const dev = await ctx.instanceVm(srv, accountId, { mode: 'text', tags: { env: 'dev', team: 'a' } });
    const prod = await ctx.instanceVm(srv, accountId, { mode: 'text', tags: { env: 'prod' } });
    const untagged = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const tagUser = await srv.ramUser(accountId, 'dev-only', { tag: policy({ Effect: 'Allow', Action: ACTION,
        Resource: `acs:ecs:*:${accountId}:instance/*`, Condition: { StringEquals: { 'acs:ResourceTag/env': 'dev' } } }) });
    await expectDenied(srv, tagUser, prod.id);
    await expectDenied(srv, tagUser, untagged.id);
    await expectDenied(srv, tagUser, newInstanceId());
    const res = await sdkScreenshot(ecsClient(srv, tagUser), { instanceId: dev.id });
    assert.equal(res.statusCode, 200);
});

itest('policy attach refuses a document that is not a policy', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    await srv.ramUser(accountId, 'ivan');
    const { writeFile } = await import('node:fs/promises');
    const file = `${srv.dir}/bad.json`;
    for (const doc of ['{"Version":"1","Statement":[{"Effect":"Perhaps","Action":"*","Resource":"*"}]}', 'not json', '[]']) {
        await writeFile(file, doc);
        const r = await srv.cli('policy', 'attach', `${accountId}/ivan`, file, '--name', 'bad');
        assert.notEqual(r.code, 0, `accepted ${doc}`);
        assert.match(r.stderr, /^ecshot: .+\n$/);
    }
});
