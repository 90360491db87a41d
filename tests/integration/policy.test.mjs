// policy.test.mjs: RAM policies as objects of an account (issue 4, item 4).
// `ecshot policy create` checks a document and names every error with where
// it is; policies are listed, shown, attached to users and roles, detached
// and deleted (only once detached); what is attached counts on the next
// request; `policy simulate` answers allow or deny with the statement that
// decided. No VM is needed: an allowed call on a Stopped instance answers
// IncorrectInstanceStatus, a refused one Forbidden.RAM.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { itest } from './lib/harness.mjs';
import { v1Request, v3Request } from './lib/clients.mjs';
import { assertErrorJson } from './lib/expect.mjs';

const REGION = 'cn-hangzhou';
const ACTION = 'ecs:GetInstanceScreenshot';
const policy = (...Statement) => ({ Version: '1', Statement });

let files = 0;
async function policyFile(srv, doc) {
    const file = path.join(srv.dir, `doc-${++files}.json`);
    await writeFile(file, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
    return file;
}

// A Stopped instance of the account: RAM's verdict is the whole answer.
async function stoppedInstance(srv, accountId) {
    return srv.instance({ account: accountId, console: 'qmp:/nonexistent/qmp.sock', status: 'Stopped' });
}

async function expectAllowed(srv, key, id) {
    assertErrorJson(await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id } }),
                    'IncorrectInstanceStatus', { detail: 'Stopped' });
}

async function expectDenied(srv, key, id, kind = 'ImplicitDeny') {
    const body = assertErrorJson(await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: id } }),
                                 'Forbidden.RAM');
    assert.equal(body.AccessDeniedDetail.NoPermissionType, kind);
    return body;
}

itest('policy create names every error of a document, with where it is, and stores nothing', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    const bad = await policyFile(srv, {
        Version: '2',
        Statement: [
            { Effect: 'Maybe', Action: ['ecs:*', 7], Resource: '*' },
            { Effect: 'Allow', Action: '*', Resource: '*', Condition: { NoSuchOperator: {}, IpAddress: { 'acs:SourceIp': 'x' } } },
            { Effect: 'Deny', Action: '*' },
        ],
    });
    const r = await srv.cli('policy', 'create', `${accountId}/bad`, bad);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, [
        `ecshot: ${bad}: "Version" must be "1"`,
        `ecshot: ${bad}: Statement[0].Effect: must be "Allow" or "Deny"`,
        `ecshot: ${bad}: Statement[0].Action[1]: not a string`,
        `ecshot: ${bad}: Statement[1].Condition: unknown operator "NoSuchOperator"`,
        `ecshot: ${bad}: Statement[1].Condition.IpAddress["acs:SourceIp"]: not an IP address or CIDR block`,
        `ecshot: ${bad}: Statement[2]: missing "Resource" or "NotResource"`,
        '',
    ].join('\n'));
    // A syntax error names its line and column.
    const broken = await policyFile(srv, '{"Version": "1",\n  "Statement": [\n    {"Effect": "Allow",,}]}');
    const r2 = await srv.cli('policy', 'create', `${accountId}/broken`, broken);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, new RegExp(`^ecshot: ${broken}: document is not valid JSON: .+ \\(line 3, column \\d+\\)\\n$`));
    // Neither was stored.
    assert.equal((await srv.admin('policy', 'list', accountId)).stdout, '');
});

itest('policy create, list, show, attach, detach and delete; attachments count on the next request', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    const id = await stoppedInstance(srv, accountId);
    const alice = await srv.ramUser(accountId, 'alice');
    const bob = await srv.ramUser(accountId, 'bob');
    await srv.admin('role', 'create', `${accountId}/auditor`);
    const doc = policy({ Effect: 'Allow', Action: ACTION, Resource: `acs:ecs:*:${accountId}:instance/*` });
    const file = await policyFile(srv, doc);

    assert.equal((await srv.admin('policy', 'create', `${accountId}/screens`, file)).stdout, '');
    const again = await srv.cli('policy', 'create', `${accountId}/screens`, file);
    assert.deepEqual([again.code, again.stderr], [1, `ecshot: policy ${accountId}/screens already exists\n`]);
    const nobody = await srv.cli('policy', 'create', '999/screens', file);
    assert.deepEqual([nobody.code, nobody.stderr], [1, 'ecshot: account 999 does not exist\n']);

    // Created, not attached: nobody may yet.
    await expectDenied(srv, alice, id);
    await srv.admin('policy', 'attach', `${accountId}/screens`, '--user', 'alice');
    await expectAllowed(srv, alice, id);
    await expectDenied(srv, bob, id);
    await srv.admin('policy', 'attach', `${accountId}/screens`, '--user', 'bob');
    await srv.admin('policy', 'attach', `${accountId}/screens`, '--role', 'auditor');
    await expectAllowed(srv, bob, id);

    const twice = await srv.cli('policy', 'attach', `${accountId}/screens`, '--user', 'bob');
    assert.deepEqual([twice.code, twice.stderr],
                     [1, `ecshot: policy ${accountId}/screens is already attached to user bob\n`]);
    const ghost = await srv.cli('policy', 'attach', `${accountId}/screens`, '--user', 'ghost');
    assert.deepEqual([ghost.code, ghost.stderr], [1, `ecshot: user ${accountId}/ghost does not exist\n`]);
    const noRole = await srv.cli('policy', 'attach', `${accountId}/screens`, '--role', 'ghost');
    assert.deepEqual([noRole.code, noRole.stderr], [1, `ecshot: role ${accountId}/ghost does not exist\n`]);
    const noPolicy = await srv.cli('policy', 'attach', `${accountId}/nothing`, '--user', 'bob');
    assert.deepEqual([noPolicy.code, noPolicy.stderr], [1, `ecshot: policy ${accountId}/nothing not found\n`]);
    const both = await srv.cli('policy', 'attach', `${accountId}/screens`, '--user', 'bob', '--role', 'auditor');
    assert.deepEqual([both.code, both.stderr], [2, 'ecshot: give either --user USER or --role ROLE\n']);

    // list: name and number of attachments; show: the document as stored and who has it.
    const other = await policyFile(srv, policy({ Effect: 'Deny', Action: 'ecs:*', Resource: '*' }));
    await srv.admin('policy', 'create', `${accountId}/deny-all`, other);
    assert.equal((await srv.admin('policy', 'list', accountId)).stdout, 'deny-all 0\nscreens 3\n');
    const shown = JSON.parse((await srv.admin('policy', 'show', `${accountId}/screens`)).stdout);
    assert.deepEqual(shown, {
        AccountId: accountId,
        PolicyName: 'screens',
        PolicyDocument: doc,
        AttachedTo: [{ Type: 'User', Name: 'alice' }, { Type: 'User', Name: 'bob' }, { Type: 'Role', Name: 'auditor' }],
    });

    // An attached Deny wins at once; detaching it gives the Allow back.
    await srv.admin('policy', 'attach', `${accountId}/deny-all`, '--user', 'alice');
    await expectDenied(srv, alice, id, 'ExplicitDeny');
    await srv.admin('policy', 'detach', `${accountId}/deny-all`, '--user', 'alice');
    await expectAllowed(srv, alice, id);
    const notAttached = await srv.cli('policy', 'detach', `${accountId}/deny-all`, '--user', 'alice');
    assert.deepEqual([notAttached.code, notAttached.stderr],
                     [1, `ecshot: policy ${accountId}/deny-all is not attached to user alice\n`]);

    // delete: refused while attached, naming to what; then gone.
    const busy = await srv.cli('policy', 'delete', `${accountId}/screens`);
    assert.deepEqual([busy.code, busy.stderr], [1, `ecshot: policy ${accountId}/screens is attached to ` +
                                                   'user alice, user bob, role auditor: detach it first\n']);
    await expectAllowed(srv, bob, id);
    for (const [flag, name] of [['--user', 'alice'], ['--user', 'bob'], ['--role', 'auditor']])
        await srv.admin('policy', 'detach', `${accountId}/screens`, flag, name);
    await expectDenied(srv, bob, id);
    await srv.admin('policy', 'delete', `${accountId}/screens`);
    assert.equal((await srv.admin('policy', 'list', accountId)).stdout, 'deny-all 0\n');
    const gone = await srv.cli('policy', 'show', `${accountId}/screens`);
    assert.deepEqual([gone.code, gone.stderr], [1, `ecshot: policy ${accountId}/screens not found\n`]);
    // Policies are the account's own: another account sees none of them.
    const stranger = await srv.account();
    assert.equal((await srv.admin('policy', 'list', stranger.accountId)).stdout, '');
});

itest('the one-step policy attach ACCOUNT/USER FILE of 0.2 still works, and never changes another user\'s rights', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    const id = await stoppedInstance(srv, accountId);
    const carol = await srv.ramUser(accountId, 'carol');
    const dave = await srv.ramUser(accountId, 'dave');
    const allow = await policyFile(srv, policy({ Effect: 'Allow', Action: ACTION, Resource: '*' }));
    const deny = await policyFile(srv, policy({ Effect: 'Deny', Action: ACTION, Resource: '*' }));
    await srv.admin('policy', 'attach', `${accountId}/carol`, allow, '--name', 'mine');
    await expectAllowed(srv, carol, id);
    // Again with another document: carol's own policy is replaced.
    await srv.admin('policy', 'attach', `${accountId}/carol`, deny, '--name', 'mine');
    await expectDenied(srv, carol, id, 'ExplicitDeny');
    await srv.admin('policy', 'attach', `${accountId}/carol`, allow, '--name', 'mine');
    // The same document for dave under the same name: shared.
    await srv.admin('policy', 'attach', `${accountId}/dave`, allow, '--name', 'mine');
    await expectAllowed(srv, dave, id);
    // Now that dave has it too, another document under that name would change
    // dave's rights behind his back: refused.
    const r = await srv.cli('policy', 'attach', `${accountId}/carol`, deny, '--name', 'mine');
    assert.deepEqual([r.code, r.stderr], [1, `ecshot: policy ${accountId}/mine is attached to others ` +
                                             'with another document: choose another --name\n']);
    await expectAllowed(srv, carol, id);
    await expectAllowed(srv, dave, id);
});

itest('policy simulate answers allow or deny with the statement that decided', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    await srv.ramUser(accountId, 'erin');
    await srv.admin('role', 'create', `${accountId}/ops`);
    const arn = `acs:ecs:${REGION}:${accountId}:instance/i-bp1gbz20g229bvu5aaaa`;
    const secretArn = `acs:ecs:${REGION}:${accountId}:instance/i-secret0000000000000`;
    const office = { Effect: 'Allow', Action: 'ecs:GetInstance*', Resource: '*',
                     Condition: { IpAddress: { 'acs:SourceIp': '203.0.113.0/24' } } };
    const denySecret = { Effect: 'Deny', Action: '*', Resource: 'acs:ecs:*:*:instance/i-secret*' };
    await srv.admin('policy', 'create', `${accountId}/office`, await policyFile(srv, policy(
        { Effect: 'Allow', Action: 'ecs:DescribeInstances', Resource: '*' }, office)));
    await srv.admin('policy', 'create', `${accountId}/guard`, await policyFile(srv, policy(denySecret)));
    for (const p of ['office', 'guard']) await srv.admin('policy', 'attach', `${accountId}/${p}`, '--user', 'erin');
    await srv.admin('policy', 'attach', `${accountId}/office`, '--role', 'ops');

    const sim = (...args) => srv.cli('policy', 'simulate', ...args);
    let r = await sim(`${accountId}/erin`, '--resource', arn, '--context', 'acs:SourceIp=203.0.113.9');
    assert.deepEqual([r.code, r.stderr], [0, '']);
    assert.equal(r.stdout, `allow: policy office (user ${accountId}/erin), Statement[1]\n` +
                           `  ${JSON.stringify(office)}\n`);
    r = await sim(`${accountId}/erin`, '--resource', arn, '--context', 'acs:SourceIp=198.51.100.1');
    assert.deepEqual([r.code, r.stdout], [3, `deny (implicit): no statement of user ${accountId}/erin ` +
                                             `allows ${ACTION} on ${arn}\n`]);
    r = await sim(`${accountId}/erin`, '--resource', secretArn, '--context', 'acs:SourceIp=203.0.113.9');
    assert.deepEqual([r.code, r.stdout], [3, `deny (explicit): policy guard (user ${accountId}/erin), Statement[0]\n` +
                                             `  ${JSON.stringify(denySecret)}\n`]);
    r = await sim(`${accountId}/erin`, '--resource', arn, '--action', 'ecs:DescribeInstances');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^allow: policy office \(user \d+\/erin\), Statement\[0\]\n/);
    // A role, narrowed by a session policy.
    r = await sim(accountId, '--role', 'ops', '--resource', arn, '--context', 'acs:SourceIp=203.0.113.9');
    assert.equal(r.code, 0);
    const onlyOther = await policyFile(srv, policy({ Effect: 'Allow', Action: ACTION, Resource: secretArn }));
    r = await sim(accountId, '--role', 'ops', '--session-policy', onlyOther, '--resource', arn,
                  '--context', 'acs:SourceIp=203.0.113.9');
    assert.deepEqual([r.code, r.stdout], [3, `deny (implicit): no statement of the session policy of role ` +
                                             `${accountId}/ops allows ${ACTION} on ${arn}\n`]);
    // The account's root may do anything.
    r = await sim(accountId, '--resource', arn);
    assert.deepEqual([r.code, r.stdout], [0, `allow: the account's own AccessKeys may do anything in account ${accountId}\n`]);
    // Wrong use: one line, exit 2.
    r = await sim(`${accountId}/erin`, '--resource', arn, '--context', 'acs:Nope=1');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^ecshot: --context: unknown key 'acs:Nope' \(known: .+\)\n$/);
    r = await sim(`${accountId}/erin`);
    assert.equal(r.code, 2);
    r = await sim(accountId, '--role', 'nobody', '--resource', arn);
    assert.deepEqual([r.code, r.stderr], [1, `ecshot: role ${accountId}/nobody not found\n`]);
});

itest('role create, list and delete; a role with policies attached is not deleted', async (ctx) => {
    const srv = await ctx.server();
    const { accountId } = await srv.account();
    await srv.admin('role', 'create', `${accountId}/ops`);
    await srv.admin('role', 'create', `${accountId}/long`, '--max-session-duration', '43200');
    assert.equal((await srv.admin('role', 'list', accountId)).stdout, 'long 43200\nops 3600\n');
    for (const [args, code, err] of [
        [[`${accountId}/ops`], 1, `ecshot: role ${accountId}/ops already exists\n`],
        [['999/ops'], 1, 'ecshot: account 999 does not exist\n'],
        [[`${accountId}/x`, '--max-session-duration', '3599'], 1,
         "ecshot: '3599' is not a number of seconds from 3600 to 43200\n"],
        [[`${accountId}/x`, '--max-session-duration', '43201'], 1,
         "ecshot: '43201' is not a number of seconds from 3600 to 43200\n"],
        [[accountId], 2, `ecshot: '${accountId}' names no role: give ACCOUNT_ID/NAME\n`],
    ]) {
        const r = await srv.cli('role', 'create', ...args);
        assert.deepEqual([r.code, r.stderr], [code, err], args.join(' '));
    }
    await srv.admin('policy', 'create', `${accountId}/p`, await policyFile(srv, policy({ Effect: 'Allow', Action: '*', Resource: '*' })));
    await srv.admin('policy', 'attach', `${accountId}/p`, '--role', 'ops');
    const busy = await srv.cli('role', 'delete', `${accountId}/ops`);
    assert.deepEqual([busy.code, busy.stderr], [1, `ecshot: role ${accountId}/ops has policies attached: detach them first\n`]);
    await srv.admin('policy', 'detach', `${accountId}/p`, '--role', 'ops');
    await srv.admin('role', 'delete', `${accountId}/ops`);
    assert.equal((await srv.admin('role', 'list', accountId)).stdout, 'long 43200\n');
    const gone = await srv.cli('role', 'delete', `${accountId}/ops`);
    assert.deepEqual([gone.code, gone.stderr], [1, `ecshot: role ${accountId}/ops not found\n`]);
});
