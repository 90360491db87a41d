// audit.test.mjs: the audit log of a live ecshotd (--audit-log FILE).
//
// One JSON line per call, written before the answer is sent: once a client
// has its answer, its line is in the file (no waiting). Each line has
// exactly the fields time, requestId, accessKeyId, principal, account,
// sourceIp, action, instanceId, code, status, latencyMs, in that order; the
// test matches lines to calls by requestId and checks every field. No line
// holds a secret, a signature, a nonce or a SecurityToken. SIGHUP reopens
// the file (logrotate renames it first): the reopened file appearing is the
// event the test waits for.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, popClient, popScreenshot, rejection, v1Request, rawRequest } from './lib/clients.mjs';
import { ECSHOTD, newInstanceId, createMasterKey } from './lib/server.mjs';

const REGION = 'cn-hangzhou';
const FIELDS = ['time', 'requestId', 'accessKeyId', 'principal', 'account', 'sourceIp', 'action',
                'instanceId', 'code', 'status', 'latencyMs'];

async function auditDir(ctx) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ecshot-audit-'));
    ctx.defer(() => rm(dir, { recursive: true, force: true }));
    return dir;
}

// The file's lines, parsed; each must be whole JSON with exactly FIELDS.
async function readLines(file) {
    const text = await readFile(file, 'utf8');
    assert.ok(text === '' || text.endsWith('\n'), 'the last line is not whole');
    const lines = text.split('\n').slice(0, -1).map((l) => JSON.parse(l));
    for (const o of lines) assert.deepEqual(Object.keys(o), FIELDS);
    return { text, lines };
}

// SIGHUP, resolved once the daemon has reopened file (which the caller
// renamed away before).
async function sighupReopen(srv, file) {
    const watcher = fs.watch(path.dirname(file));
    const reopened = new Promise((resolve) => {
        watcher.on('change', () => { if (fs.existsSync(file)) resolve(); });
    });
    try {
        process.kill(srv.pid, 'SIGHUP');
        await reopened;
    } finally {
        watcher.close();
    }
}

function assertLine(line, want, { from, to }) {
    for (const [k, v] of Object.entries(want)) assert.deepEqual(line[k], v, `${k} of ${JSON.stringify(line)}`);
    assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const t = Date.parse(line.time);
    assert.ok(t >= from - 1000 && t <= to + 1000, `time ${line.time} outside the call`);
    assert.ok(Number.isInteger(line.latencyMs) && line.latencyMs >= 0 && line.latencyMs <= to - from + 1000,
              `latencyMs ${line.latencyMs}`);
}

itest('audit log: one line per call, exact fields, for successes and errors alike', async (ctx) => {
    const dir = await auditDir(ctx);
    const file = path.join(dir, 'audit.log');
    const from = Date.now();
    const srv = await ctx.server({ args: ['--audit-log', file] });
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const viewer = await srv.ramUser(accountId, 'viewer'); // no policy: denied
    const calls = [];

    // 1. V3 SDK, root key: success.
    const ok = await sdkScreenshot(ecsClient(srv, key), { instanceId: id });
    assert.equal(ok.statusCode, 200);
    calls.push([ok.body.requestId, { accessKeyId: key.accessKeyId, principal: accountId, account: accountId,
                                     sourceIp: '127.0.0.1', action: 'GetInstanceScreenshot', instanceId: id,
                                     code: 'OK', status: 200 }]);
    // 2. The same instance again at once: Throttling, through pop-core (V1 GET).
    const throttled = await rejection(popScreenshot(popClient(srv, key), { RegionId: REGION, InstanceId: id }));
    calls.push([throttled.data.RequestId, { accessKeyId: key.accessKeyId, principal: accountId, account: accountId,
                                            action: 'GetInstanceScreenshot', instanceId: id, code: 'Throttling',
                                            status: 429 }]);
    // 3. A RAM user without a policy: Forbidden.RAM, the user named.
    const denied = await rejection(sdkScreenshot(ecsClient(srv, viewer, { signature: 'v1' }), { instanceId: id }));
    calls.push([denied.data.RequestId, { accessKeyId: viewer.accessKeyId, principal: `${accountId}/viewer`,
                                         account: accountId, instanceId: id, code: 'Forbidden.RAM', status: 403 }]);
    // 4. An unknown instance, asked by an STS session (its SecurityToken in
    //    the signature and in the request, and in neither the line nor the file).
    const unknown = newInstanceId();
    const allow = path.join(srv.dir, 'audit-allow.json');
    await writeFile(allow, JSON.stringify({ Version: '1', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }));
    await srv.admin('role', 'create', `${accountId}/auditor`);
    await srv.admin('policy', 'create', `${accountId}/all`, allow);
    await srv.admin('policy', 'attach', `${accountId}/all`, '--role', 'auditor');
    const creds = JSON.parse((await srv.admin('sts', 'assume-role', `${accountId}/auditor`, '--session', 'night-shift'))
        .stdout).Credentials;
    const TOKEN = creds.SecurityToken;
    const session = { accessKeyId: creds.AccessKeyId, accessKeySecret: creds.AccessKeySecret };
    const tokenCall = await v1Request(srv, session, { params: { RegionId: REGION, InstanceId: unknown, SecurityToken: TOKEN },
                                                      method: 'POST' });
    assert.equal(tokenCall.json.Code, 'InvalidParameter');
    calls.push([tokenCall.json.RequestId, { accessKeyId: creds.AccessKeyId,
                                            principal: `${accountId}/assumed-role/auditor/night-shift`,
                                            instanceId: unknown, code: 'InvalidParameter', status: 404 }]);
    // 5. A wrong secret: the key it names, nobody verified.
    const forged = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id },
                                               secret: 'notTheSecret00000000000000000' });
    assert.equal(forged.json.Code, 'SignatureDoesNotMatch');
    calls.push([forged.json.RequestId, { accessKeyId: key.accessKeyId, principal: null, account: null,
                                         action: 'GetInstanceScreenshot', instanceId: id,
                                         code: 'SignatureDoesNotMatch', status: 400 }]);
    // 6. Nothing signed at all, on another path.
    const bare = await rawRequest(srv, { path: '/nowhere?InstanceId=i-%22quoted%22%0Anewline' });
    calls.push([bare.json.RequestId, { accessKeyId: null, principal: null, account: null, action: null,
                                       instanceId: null, code: bare.json.Code, status: 404 }]);
    const bareQuery = await rawRequest(srv, { path: '/?InstanceId=i-%22quoted%22%0Anewline&Action=Get%3CInstance%3E' });
    calls.push([bareQuery.json.RequestId, { accessKeyId: null, principal: null, action: 'Get<Instance>',
                                            instanceId: 'i-"quoted"\nnewline', code: 'IncompleteSignature',
                                            status: 400 }]);
    const to = Date.now();

    const { text, lines } = await readLines(file);
    assert.equal(lines.length, calls.length, text);
    for (const [requestId, want] of calls) {
        const matching = lines.filter((l) => l.requestId === requestId);
        assert.equal(matching.length, 1, `one line for ${requestId}`);
        assertLine(matching[0], { sourceIp: '127.0.0.1', ...want }, { from, to });
    }
    // Nothing that signs, could sign, or replays a request.
    for (const secret of [key.accessKeySecret, viewer.accessKeySecret, creds.AccessKeySecret, TOKEN,
                          encodeURIComponent(TOKEN), TOKEN.split(':')[2].slice(0, 40),
                          tokenCall.sent.params.Signature, forged.sent.params.Signature,
                          tokenCall.sent.params.SignatureNonce, 'Signature=', 'SecurityToken'])
        assert.ok(!text.includes(secret), `the audit log holds ${secret}`);
    // The escaped line stays one line of ASCII.
    assert.match(text, /"instanceId":"i-\\"quoted\\"\\nnewline"/);
    assert.match(text, /^[\x20-\x7e\n]*$/);
    // Private to its owner.
    assert.equal((await stat(file)).mode & 0o777, 0o600);
});

itest('audit log: SIGHUP reopens the file after logrotate renamed it', async (ctx) => {
    const dir = await auditDir(ctx);
    const file = path.join(dir, 'audit.log');
    const srv = await ctx.server({ args: ['--audit-log', file] });
    const { key } = await srv.account();
    const call = async () => (await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: newInstanceId() } })).json.RequestId;

    const before = [await call(), await call()];
    await rename(file, `${file}.1`);
    const renamed = await call(); // still into the renamed file: nothing reopened yet
    await sighupReopen(srv, file);
    const after = [await call(), await call(), await call()];

    const old = await readLines(`${file}.1`);
    assert.deepEqual(old.lines.map((l) => l.requestId), [...before, renamed]);
    const fresh = await readLines(file);
    assert.deepEqual(fresh.lines.map((l) => l.requestId), after);
    for (const l of fresh.lines) assert.equal(l.code, 'InvalidParameter');
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    // Twice more, the second with nothing renamed: it appends to the same file.
    await rename(file, `${file}.2`);
    await sighupReopen(srv, file);
    const third = await call();
    process.kill(srv.pid, 'SIGHUP');
    const fourth = await call();
    // Whether the fourth call came before or after that reopen, it is in
    // the same file: reopening a file that is still there changes nothing.
    assert.deepEqual((await readLines(file)).lines.map((l) => l.requestId), [third, fourth]);
    assert.equal((await readLines(`${file}.2`)).lines.length, 3);
});

itest('ecshotd does not start when its audit log cannot be opened', async (ctx) => {
    const dir = await auditDir(ctx);
    const masterKey = path.join(dir, 'master.key');
    await createMasterKey(masterKey);
    const r = await new Promise((resolve) => {
        execFile(ECSHOTD, ['--listen', '127.0.0.1:0', '--store', `sqlite:${path.join(dir, 'x.db')}`,
                           '--master-key', masterKey,
                           '--audit-log', path.join(dir, 'no', 'such', 'dir', 'audit.log')],
                 { timeout: 30000 }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /audit: cannot open .*audit\.log: No such file or directory/);
    assert.equal(r.stdout, '');
});
