// sts.test.mjs: STS temporary credentials (issue 4, item 5). `ecshot sts
// assume-role` lends a role's rights for a while: an "STS." AccessKeyId, a
// secret and a SecurityToken, which requests carry as the SecurityToken
// parameter (V1) or the signed x-acs-security-token header (V3), and which
// Alibaba's SDKs send through their own securityToken option. Missing,
// expired, malformed and mismatched tokens get the gateway's codes; what a
// session may do is its role's policies, read per request, narrowed by the
// session policy.
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, popClient, popScreenshot, rejection, v1Request, v3Request } from './lib/clients.mjs';
import { assertEcsSdkError, assertPopError, assertErrorJson, assertGuestPicture, assertSuccessJson } from './lib/expect.mjs';

const REGION = 'cn-hangzhou';
const ACTION = 'ecs:GetInstanceScreenshot';
const policy = (...Statement) => ({ Version: '1', Statement });
const TOKEN_AAD = 'ecshot sts token v1';

let files = 0;
async function policyFile(srv, doc) {
    const file = path.join(srv.dir, `sts-doc-${++files}.json`);
    await writeFile(file, JSON.stringify(doc));
    return file;
}

// A role with one policy attached.
async function role(srv, accountId, name, doc, extra = []) {
    await srv.admin('role', 'create', `${accountId}/${name}`, ...extra);
    await srv.admin('policy', 'create', `${accountId}/${name}-policy`, await policyFile(srv, doc));
    await srv.admin('policy', 'attach', `${accountId}/${name}-policy`, '--role', name);
}

// Credentials as the SDKs take them, from assume-role's JSON.
async function assume(srv, target, session, ...extra) {
    const r = await srv.admin('sts', 'assume-role', target, '--session', session, ...extra);
    const out = JSON.parse(r.stdout);
    return {
        out,
        key: { accessKeyId: out.Credentials.AccessKeyId, accessKeySecret: out.Credentials.AccessKeySecret,
               securityToken: out.Credentials.SecurityToken },
    };
}

const stopped = (srv, accountId) =>
    srv.instance({ account: accountId, console: 'qmp:/nonexistent/qmp.sock', status: 'Stopped' });

// Allowed by RAM: a Stopped instance then answers IncorrectInstanceStatus.
async function expectAllowed(srv, key, id) {
    assertErrorJson(await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: id },
                                                headerOver: { 'x-acs-security-token': key.securityToken } }),
                    'IncorrectInstanceStatus', { detail: 'Stopped' });
}

async function expectDenied(srv, key, id) {
    const body = assertErrorJson(await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: id },
                                                             headerOver: { 'x-acs-security-token': key.securityToken } }),
                                 'Forbidden.RAM');
    return body.AccessDeniedDetail;
}

// A token made here with the master key, as ecshot makes them (secret.h's
// sealed text: "ecs1:" FINGERPRINT ":" base64(nonce || ciphertext || tag)
// under AES-256-GCM), for what the CLI will not issue: an expired session.
async function forgeToken(srv, realToken, payload) {
    const keyHex = (await readFile(srv.masterKey, 'utf8')).split('\n')
        .find((l) => /^[0-9a-fA-F]{64}$/.test(l.trim())).trim();
    const fingerprint = realToken.split(':')[1];
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(keyHex, 'hex'), nonce);
    cipher.setAAD(Buffer.from(TOKEN_AAD));
    const ct = Buffer.concat([cipher.update(JSON.stringify(payload)), cipher.final()]);
    return `ecs1:${fingerprint}:${Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString('base64')}`;
}

itest('assume-role credentials take real screenshots through the V3 SDK, its V1 mode and pop-core', async (ctx) => {
    const srv = await ctx.server({ throttleMs: 0 });
    const { accountId } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    await role(srv, accountId, 'screens', policy({ Effect: 'Allow', Action: ACTION,
                                                   Resource: `acs:ecs:*:${accountId}:instance/*` }));
    const before = Math.floor(Date.now() / 1000);
    const { out, key } = await assume(srv, `${accountId}/screens`, 'alice@example.com');
    const after = Math.floor(Date.now() / 1000);
    assert.deepEqual(Object.keys(out), ['Credentials', 'AssumedRoleUser']);
    assert.deepEqual(Object.keys(out.Credentials), ['AccessKeyId', 'AccessKeySecret', 'SecurityToken', 'Expiration']);
    assert.match(key.accessKeyId, /^STS\.[A-Za-z0-9]{24}$/);
    assert.match(key.accessKeySecret, /^[A-Za-z0-9]{40}$/);
    assert.match(out.Credentials.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const expires = Date.parse(out.Credentials.Expiration) / 1000;
    assert.ok(expires >= before + 3600 && expires <= after + 3600, `Expiration ${out.Credentials.Expiration}`);
    assert.deepEqual(out.AssumedRoleUser, { Arn: `acs:ram::${accountId}:assumed-role/screens/alice@example.com`,
                                            AssumedRoleId: 'screens:alice@example.com' });

    const v3 = await sdkScreenshot(ecsClient(srv, key), { instanceId: id });
    assert.equal(v3.statusCode, 200);
    assertGuestPicture(assertSuccessJson({ RequestId: v3.body.requestId, InstanceId: v3.body.instanceId,
                                           Screenshot: v3.body.screenshot }, id), 'text');
    const v1 = await sdkScreenshot(ecsClient(srv, key, { signature: 'v1' }), { instanceId: id });
    assert.equal(v1.statusCode, 200);
    for (const method of ['GET', 'POST'])
        assertGuestPicture(assertSuccessJson(await popScreenshot(popClient(srv, key),
                                                                 { RegionId: REGION, InstanceId: id }, method), id), 'text');
    // ecshot's own client takes the token from ALIBABA_CLOUD_SECURITY_TOKEN, as Alibaba's tools do.
    for (const signature of ['v3', 'v1']) {
        const file = path.join(srv.dir, `sts-${signature}.jpg`);
        const r = await srv.screenshot(key, ['--region', REGION, '--instance', id, '-o', file, '--signature', signature],
                                       { ALIBABA_CLOUD_SECURITY_TOKEN: key.securityToken });
        assert.deepEqual([r.code, r.stderr], [0, '']);
        assert.match(r.stdout, /^.+: 720x400 JPEG, \d+ bytes\n$/);
        const without = await srv.screenshot(key, ['--region', REGION, '--instance', id, '-o', file, '--signature', signature]);
        assert.equal(without.code, 1);
        assert.match(without.stderr, /MissingSecurityToken/);
    }
    // The store holds nothing of the session: its key is not an AccessKey there.
    const disable = await srv.cli('key', 'disable', key.accessKeyId);
    assert.equal(disable.code, 1);
});

itest('missing, malformed, mismatched, unsigned and expired security tokens', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key: root } = await srv.account();
    const id = await stopped(srv, accountId);
    await role(srv, accountId, 'ops', policy({ Effect: 'Allow', Action: ACTION, Resource: '*' }));
    const { key: a } = await assume(srv, `${accountId}/ops`, 'session-a');
    const { key: b } = await assume(srv, `${accountId}/ops`, 'session-b');
    await expectAllowed(srv, a, id);
    const q = { RegionId: REGION, InstanceId: id };
    const v3 = (key, token, opts = {}) =>
        v3Request(srv, key, { query: q, headerOver: token === undefined ? {} : { 'x-acs-security-token': token }, ...opts });
    const v1 = (key, token) => v1Request(srv, key, { params: q, common: token === undefined ? {} : { SecurityToken: token } });

    // Missing: the SDK without its securityToken option, and raw requests.
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, { ...a, securityToken: undefined }), { instanceId: id })),
                      'MissingSecurityToken');
    assertPopError(await rejection(popScreenshot(popClient(srv, { ...a, securityToken: undefined }), q)),
                   'MissingSecurityToken');
    assertErrorJson(await v1(a), 'MissingSecurityToken');
    assertErrorJson(await v3(a), 'MissingSecurityToken');
    assertErrorJson(await v3(a, ''), 'MissingSecurityToken');

    // Malformed: not a token, cut short, altered, sealed under another master key.
    const t = a.securityToken;
    const flipped = t.slice(0, -6) + (t.at(-6) === 'A' ? 'B' : 'A') + t.slice(-5);
    const other = await ctx.server();
    const { accountId: otherAcc } = await other.account(accountId);
    await role(other, otherAcc, 'ops', policy({ Effect: 'Allow', Action: ACTION, Resource: '*' }));
    const { key: foreign } = await assume(other, `${otherAcc}/ops`, 'session-a');
    for (const bad of ['abc', 'CAIS+token/abc==', t.slice(0, 40), t.slice(0, -1), flipped, t + 'A',
                       `ecs1:0000000000000000:${t.split(':')[2]}`, 'x'.repeat(9000)]) {
        assertErrorJson(await v3({ ...a, securityToken: bad }, bad), 'InvalidSecurityToken.Malformed');
        assertErrorJson(await v1({ ...a, securityToken: bad }, bad), 'InvalidSecurityToken.Malformed');
    }
    assertErrorJson(await v3({ ...a, securityToken: foreign.securityToken }, foreign.securityToken),
                    'InvalidSecurityToken.Malformed');
    // Mismatched: b's token with a's key, through the SDKs too; any token with a long-term key.
    const mixed = { ...a, securityToken: b.securityToken };
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, mixed), { instanceId: id })),
                      'InvalidSecurityToken.MismatchWithAccessKey');
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, mixed, { signature: 'v1' }), { instanceId: id })),
                      'InvalidSecurityToken.MismatchWithAccessKey');
    assertErrorJson(await v3(root, a.securityToken), 'InvalidSecurityToken.MismatchWithAccessKey');
    assertErrorJson(await v1(root, a.securityToken), 'InvalidSecurityToken.MismatchWithAccessKey');
    assertErrorJson(await v1(root, 'abc'), 'InvalidSecurityToken.Malformed');
    // The token is part of what is signed: left out of V3's SignedHeaders, refused.
    const names = ['host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-version'];
    assertErrorJson(await v3(a, t, { signedHeaders: names }), 'IncompleteSignature');
    // A good token with the wrong secret is a bad signature like any other.
    assertErrorJson(await v3({ ...a, accessKeySecret: 'x'.repeat(40) }, t), 'SignatureDoesNotMatch',
                    { message: /^Specified signature is not matched/ });
    // Expired: a token of the same master key whose session ended a second ago.
    const now = Math.floor(Date.now() / 1000);
    const expired = await forgeToken(srv, t, { v: 1, ak: a.accessKeyId, sk: a.accessKeySecret, account: accountId,
                                               role: 'ops', session: 'session-a', iat: now - 3601, exp: now - 1, policy: '' });
    assertErrorJson(await v3({ ...a, securityToken: expired }, expired), 'InvalidSecurityToken.Expired');
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, { ...a, securityToken: expired }), { instanceId: id })),
                      'InvalidSecurityToken.Expired');
    // ... and the same forgery, still valid, is accepted: the test's token format is ecshot's.
    const live = await forgeToken(srv, t, { v: 1, ak: a.accessKeyId, sk: a.accessKeySecret, account: accountId,
                                            role: 'ops', session: 'session-a', iat: now, exp: now + 600, policy: '' });
    await expectAllowed(srv, { ...a, securityToken: live }, id);
    // Bad payloads that the key seals are still malformed (they are client input too).
    const odd = await forgeToken(srv, t, { v: 1, ak: a.accessKeyId, sk: a.accessKeySecret, account: accountId,
                                           role: 'ops', session: 'x', iat: now, exp: now + 600, policy: '' });
    assertErrorJson(await v3({ ...a, securityToken: odd }, odd), 'InvalidSecurityToken.Malformed');
});

itest('a session may do what its role\'s policies allow, narrowed by the session policy, read per request', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    const first = await stopped(srv, accountId);
    const second = await stopped(srv, accountId);
    await role(srv, accountId, 'ops', policy({ Effect: 'Allow', Action: ACTION, Resource: `acs:ecs:*:${accountId}:instance/*` }),
               ['--max-session-duration', '7200']);
    const onlyFirst = await policyFile(srv, policy({ Effect: 'Allow', Action: 'ecs:*',
                                                     Resource: `acs:ecs:${REGION}:${accountId}:instance/${first}` }));
    const { key: narrow } = await assume(srv, `${accountId}/ops`, 'narrow', '--policy', onlyFirst, '--duration', '7200');
    await expectAllowed(srv, narrow, first);
    const d = await expectDenied(srv, narrow, second);
    assert.deepEqual(d, { AuthAction: ACTION, AuthPrincipalType: 'AssumedRoleUser', AuthPrincipalOwnerId: accountId,
                          AuthPrincipalDisplayName: 'ops:narrow', PolicyType: 'SessionPolicy',
                          NoPermissionType: 'ImplicitDeny' });
    // A session policy cannot widen: a role limited to the first instance stays so.
    await role(srv, accountId, 'first-only', policy({ Effect: 'Allow', Action: ACTION,
                                                      Resource: `acs:ecs:*:${accountId}:instance/${first}` }));
    const all = await policyFile(srv, policy({ Effect: 'Allow', Action: '*', Resource: '*' }));
    const { key: wide } = await assume(srv, `${accountId}/first-only`, 'wide', '--policy', all);
    await expectAllowed(srv, wide, first);
    const w = await expectDenied(srv, wide, second);
    assert.equal(w.PolicyType, 'AccountLevelIdentityBasedPolicy');
    assert.equal(w.AuthPrincipalDisplayName, 'first-only:wide');
    // A session Deny is explicit.
    const denyFirst = await policyFile(srv, policy({ Effect: 'Allow', Action: '*', Resource: '*' },
                                                    { Effect: 'Deny', Action: '*', Resource: `*:instance/${first}` }));
    const { key: denied } = await assume(srv, `${accountId}/ops`, 'denied', '--policy', denyFirst);
    const e = await expectDenied(srv, denied, first);
    assert.deepEqual([e.PolicyType, e.NoPermissionType], ['SessionPolicy', 'ExplicitDeny']);
    await expectAllowed(srv, denied, second);
    // The role's policies are read per request: detached, the sessions lose them at once.
    const { key: plain } = await assume(srv, `${accountId}/ops`, 'plain');
    await expectAllowed(srv, plain, second);
    await srv.admin('policy', 'detach', `${accountId}/ops-policy`, '--role', 'ops');
    const gone = await expectDenied(srv, plain, second);
    assert.deepEqual([gone.PolicyType, gone.NoPermissionType], ['AccountLevelIdentityBasedPolicy', 'ImplicitDeny']);
    await srv.admin('role', 'delete', `${accountId}/ops`);
    await expectDenied(srv, plain, second);
});

itest('sts assume-role refuses what it must not issue, with one line', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    await role(srv, accountId, 'ops', policy({ Effect: 'Allow', Action: ACTION, Resource: '*' }));
    const bad = await policyFile(srv, { Version: '1', Statement: [{ Effect: 'Allow', Action: '*' }] });
    const big = await policyFile(srv, policy(...Array.from({ length: 40 }, (_, i) =>
        ({ Effect: 'Allow', Action: ACTION, Resource: `acs:ecs:*:*:instance/i-${String(i).padStart(20, '0')}` }))));
    for (const [args, code, err] of [
        [[`${accountId}/nobody`, '--session', 's1'], 1, `ecshot: role ${accountId}/nobody not found\n`],
        [[`${accountId}/ops`], 2, 'ecshot: give --session NAME: it names who uses the credentials\n'],
        [[`${accountId}/ops`, '--session', 'x'], 1,
         "ecshot: invalid session name 'x': 2 to 64 characters of letters, digits and . @ _ -\n"],
        [[`${accountId}/ops`, '--session', 'a b'], 1,
         "ecshot: invalid session name 'a b': 2 to 64 characters of letters, digits and . @ _ -\n"],
        [[`${accountId}/ops`, '--session', 's1', '--duration', '899'], 1,
         "ecshot: --duration '899': give seconds from 900 to 3600 (the role's maximum)\n"],
        [[`${accountId}/ops`, '--session', 's1', '--duration', '3601'], 1,
         "ecshot: --duration '3601': give seconds from 900 to 3600 (the role's maximum)\n"],
        [[`${accountId}/ops`, '--session', 's1', '--policy', bad], 1,
         `ecshot: ${bad}: Statement[0]: missing "Resource" or "NotResource"\n`],
        [[`${accountId}/ops`, '--session', 's1', '--policy', big], 1,
         `ecshot: ${big}: a session policy has at most 2048 characters\n`],
        [[accountId, '--session', 's1'], 2, `ecshot: '${accountId}' names no role: give ACCOUNT_ID/NAME\n`],
    ]) {
        const r = await srv.cli('sts', 'assume-role', ...args);
        assert.deepEqual([r.code, r.stderr, r.stdout], [code, err, ''], args.join(' '));
    }
    // The shortest session there is.
    const { out } = await assume(srv, `${accountId}/ops`, 's1', '--duration', '900');
    const left = Date.parse(out.Credentials.Expiration) / 1000 - Date.now() / 1000;
    assert.ok(left > 800 && left <= 900, `${left} s left`);
});
