// secrets.test.mjs: AccessKey secrets at rest (README, "Secrets at rest";
// docs/deploy.md, "The master key"), seen from outside:
//  - `key create` without --secret prints a drawn pair once, and Alibaba's
//    SDK signs with it; the store (SQLite's bytes, or PostgreSQL's rows
//    through psql) holds the secret only sealed, under the key file's
//    fingerprint;
//  - `key rotate-master` with a two-key file re-seals every secret under the
//    new key while the daemon serves, after a SIGHUP made it read the file;
//    the old key can then go;
//  - a daemon given only another key answers ServiceUnavailable, and says
//    which key it lacks in its log, never in the answer;
//  - a sealed secret copied onto another AccessKey does not open there;
//  - a secret an older ecshot stored in the clear is refused until
//    `key rotate-master` seals it;
//  - the commands that neither seal nor open secrets need no key file.
// Every call asks for a Stopped instance with no VM behind it: the answer,
// IncorrectInstanceStatus, comes after the signature was checked with the
// opened secret, so nothing here needs a hypervisor.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, rejection, v1Request, v3Request } from './lib/clients.mjs';
import { assertEcsSdkError, assertErrorJson } from './lib/expect.mjs';
import {
    createMasterKey, newAccountId, newAccessKey, newInstanceId, psql, runEcshot,
} from './lib/server.mjs';

const REGION = 'cn-hangzhou';
const NO_VM = 'qmp:/nonexistent/ecshot-secrets/qmp.sock';
const ALLOW_SCREENSHOTS = {
    Version: '1', Statement: [{ Effect: 'Allow', Action: 'ecs:GetInstanceScreenshot', Resource: '*' }],
};

// A directory for key files, removed after the test.
async function keyDir(ctx) {
    const dir = await mkdtemp(path.join(tmpdir(), 'ecshot-secrets-'));
    ctx.defer(() => rm(dir, { recursive: true, force: true }));
    return dir;
}

// Writes a key file (mode 0600) holding the keys of the given files, in order.
async function writeKeyFile(file, ...sources) {
    let text = '';
    for (const s of sources) text += await readFile(s, 'utf8');
    await writeFile(file, text, { mode: 0o600 });
    await chmod(file, 0o600);
}

// SQL on the server's store as someone holding only the database would run
// it: sqlite3 on the file, psql on PostgreSQL. Resolves to rows of fields.
function storeSql(srv, sql) {
    const rows = (out) => out.split('\n').filter(Boolean).map((l) => l.split('|'));
    if (!srv.storeUrl.startsWith('sqlite:')) return psql(srv.storeUrl, sql).then(rows);
    const file = srv.storeUrl.slice('sqlite:'.length);
    return new Promise((resolve, reject) => {
        execFile('sqlite3', ['-batch', '-bail', '-cmd', '.timeout 5000', file, sql], { timeout: 30000 },
                 (err, stdout, stderr) => {
                     if (err) reject(new Error(`sqlite3 ${JSON.stringify(sql)}: ${stderr || err.message}`));
                     else resolve(rows(stdout));
                 });
    });
}

// {id: stored secret} of every AccessKey.
async function storedSecrets(srv) {
    return Object.fromEntries(await storeSql(srv, 'SELECT id, secret FROM access_keys ORDER BY id'));
}

// Whether text is anywhere in the store: SQLite's file and WAL as bytes;
// on PostgreSQL, every AccessKey row as text.
async function storeHolds(srv, text) {
    if (srv.storeUrl.startsWith('sqlite:')) {
        const file = srv.storeUrl.slice('sqlite:'.length);
        for (const f of [file, `${file}-wal`])
            if (existsSync(f) && (await readFile(f)).includes(Buffer.from(text))) return true;
        return false;
    }
    const rows = await storeSql(srv, 'SELECT a::text FROM access_keys a');
    return rows.some((r) => r.join('|').includes(text));
}

// The stored form: "ecs1:" FINGERPRINT ":" base64.
function assertSealedUnder(stored, fingerprint) {
    assert.match(stored, /^ecs1:[0-9a-f]{16}:[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(stored.slice(5, 21), fingerprint);
}

// The exact answer for a Stopped instance, through Alibaba's V3 SDK.
async function assertServed(srv, key, instanceId) {
    const err = await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId }));
    assertEcsSdkError(err, 'IncorrectInstanceStatus', { detail: 'Stopped' });
    assert.equal(err.data.HostId, srv.host);
}

// Sends SIGHUP and waits until the daemon logged the count-th reload of its
// master key file (or the count-th refusal, with refused).
async function reloadMasterKey(srv, count, { refused = false } = {}) {
    process.kill(srv.pid, 'SIGHUP');
    await srv.waitForLog(refused ? /; keeping the master keys loaded before$/
                                 : /master key: reloaded; new secrets are sealed under [0-9a-f]{16}$/,
                         count);
}

itest('key create prints a drawn secret once; the SDK signs with it; the store holds it only sealed', async (ctx) => {
    const dir = await keyDir(ctx);
    const masterKey = path.join(dir, 'master.key');
    const fingerprint = await createMasterKey(masterKey);
    const srv = await ctx.server({ masterKey });
    await srv.waitForLog(new RegExp(`^.* serving HTTP; store \\S+, master key ${fingerprint}, `));
    const accountId = newAccountId();
    await srv.admin('account', 'create', accountId);
    const r = await srv.admin('key', 'create', accountId);
    const m = /^(LTAI[A-Za-z0-9]{20}) ([A-Za-z0-9]{30})\n$/.exec(r.stdout);
    assert.ok(m, `printed ${JSON.stringify(r.stdout)}`);
    assert.equal(r.stderr, '');
    const key = { accessKeyId: m[1], accessKeySecret: m[2] };
    const given = newAccessKey(); // --id and --secret: sealed alike
    await srv.admin('key', 'create', accountId, '--id', given.accessKeyId, '--secret', given.accessKeySecret);
    const id = await srv.instance({ account: accountId, console: NO_VM, status: 'Stopped' });

    await assertServed(srv, key, id);
    await assertServed(srv, given, id);
    assertErrorJson(await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id } }),
                    'IncorrectInstanceStatus', { detail: 'Stopped', host: srv.host });
    // The opened secret is what the signature is checked with.
    const last = key.accessKeySecret.at(-1) === 'x' ? 'y' : 'x';
    const wrong = { ...key, accessKeySecret: key.accessKeySecret.slice(0, -1) + last };
    const err = await rejection(sdkScreenshot(ecsClient(srv, wrong), { instanceId: id }));
    assert.equal(err.code, 'SignatureDoesNotMatch');
    assert.equal(err.statusCode, 400);

    // At rest: sealed under this key file, bound to each id, never in the clear.
    const stored = await storedSecrets(srv);
    assert.deepEqual(Object.keys(stored).sort(), [key.accessKeyId, given.accessKeyId].sort());
    for (const s of Object.values(stored)) assertSealedUnder(s, fingerprint);
    assert.notEqual(stored[key.accessKeyId].slice(22), stored[given.accessKeyId].slice(22));
    assert.equal(await storeHolds(srv, key.accessKeyId), true); // the check sees what is there
    assert.equal(await storeHolds(srv, key.accessKeySecret), false);
    assert.equal(await storeHolds(srv, given.accessKeySecret), false);
    // Nor does the daemon log it.
    assert.ok(!srv.stderr().includes(key.accessKeySecret));
});

itest('key rotate-master with a two-key file re-seals every secret under the new key while the daemon serves', async (ctx) => {
    const dir = await keyDir(ctx);
    const a = path.join(dir, 'a.key'), b = path.join(dir, 'b.key'), masterKey = path.join(dir, 'master.key');
    const fpA = await createMasterKey(a);
    const fpB = await createMasterKey(b);
    assert.notEqual(fpA, fpB);
    await writeKeyFile(masterKey, a);
    const srv = await ctx.server({ masterKey });
    const { accountId, key } = await srv.account();
    const userKey = await srv.ramUser(accountId, 'bob', { screenshots: ALLOW_SCREENSHOTS });
    const id = await srv.instance({ account: accountId, console: NO_VM, status: 'Stopped' });
    await assertServed(srv, key, id);
    const before = await storedSecrets(srv);
    assert.equal(Object.keys(before).length, 2);
    for (const s of Object.values(before)) assertSealedUnder(s, fpA);

    // 1-2: B first, A kept; the daemon reads the file again.
    await writeKeyFile(masterKey, b, a);
    await reloadMasterKey(srv, 1);
    assert.match(srv.stderr(), new RegExp(`new secrets are sealed under ${fpB}$`, 'm'));
    await assertServed(srv, key, id); // A's sealing still opens

    // 3: re-seal, while calls go on.
    const [rot] = await Promise.all([
        runEcshot(['--store', srv.storeUrl, '--master-key', masterKey, 'key', 'rotate-master']),
        assertServed(srv, key, id),
        assertServed(srv, userKey, id),
    ]);
    assert.equal(rot.code, 0, rot.stderr);
    assert.equal(rot.stdout, `re-sealed 2 secrets under master key ${fpB}\n`);
    const after = await storedSecrets(srv);
    for (const [k, s] of Object.entries(after)) {
        assertSealedUnder(s, fpB);
        assert.notEqual(s, before[k]);
    }
    await assertServed(srv, key, id);
    await assertServed(srv, userKey, id);
    // Nothing left to do.
    assert.equal((await srv.admin('key', 'rotate-master')).stdout, `re-sealed 0 secrets under master key ${fpB}\n`);

    // 4: A goes; everything still opens, with B alone.
    await writeKeyFile(masterKey, b);
    await reloadMasterKey(srv, 2);
    await assertServed(srv, key, id);
    await assertServed(srv, userKey, id);
    // A key file that does not load changes nothing.
    await writeFile(masterKey, 'not a key\n', { mode: 0o600 });
    await reloadMasterKey(srv, 1, { refused: true });
    assert.match(srv.stderr(), /master key file .*master\.key: line 1 is not a key \(64 hex digits\); keeping/);
    await assertServed(srv, key, id);
});

itest('a daemon given only another master key answers ServiceUnavailable and tells only its log why', async (ctx) => {
    const dir = await keyDir(ctx);
    const right = path.join(dir, 'right.key'), wrong = path.join(dir, 'wrong.key');
    const fpRight = await createMasterKey(right);
    const fpWrong = await createMasterKey(wrong);
    const srv = await ctx.server({ masterKey: right });
    const { accountId, key } = await srv.account();
    const id = await srv.instance({ account: accountId, console: NO_VM, status: 'Stopped' });
    await assertServed(srv, key, id);
    const sealed = (await storedSecrets(srv))[key.accessKeyId];

    // The same store, another key file.
    const other = await ctx.server({ storeUrl: srv.storeUrl, masterKey: wrong });
    await other.waitForLog(new RegExp(`^.* serving HTTP; store \\S+, master key ${fpWrong}, `));
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(other, key), { instanceId: id })),
                      'ServiceUnavailable');
    for (const res of [await v3Request(other, key, { query: { RegionId: REGION, InstanceId: id } }),
                       await v1Request(other, key, { params: { RegionId: REGION, InstanceId: id } })]) {
        assertErrorJson(res, 'ServiceUnavailable', { host: other.host });
        for (const leak of [key.accessKeySecret, sealed, 'ecs1:', fpRight, fpWrong, 'master key'])
            assert.ok(!res.text.includes(leak), `the answer shows ${leak}`);
    }
    await other.waitForLog(new RegExp(`access key ${key.accessKeyId} is sealed under master key ${fpRight}, ` +
                                      'which the master key file lacks'));
    assert.ok(!other.stderr().includes(key.accessKeySecret));
    // The right one still serves from the same store.
    await assertServed(srv, key, id);
});

itest('a sealed secret copied onto another AccessKey does not open there', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const victim = (await srv.account(newAccountId())).key;
    const id = await srv.instance({ account: accountId, console: NO_VM, status: 'Stopped' });
    await assertServed(srv, key, id);
    // Someone with write access to the database, not to the key file, puts
    // key's sealed secret on victim's row, hoping to sign as victim with it.
    await storeSql(srv, `UPDATE access_keys SET secret = (SELECT secret FROM access_keys WHERE id = '${key.accessKeyId}')` +
                        ` WHERE id = '${victim.accessKeyId}'`);
    const forged = { accessKeyId: victim.accessKeyId, accessKeySecret: key.accessKeySecret };
    for (const k of [forged, victim])
        assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, k), { instanceId: id })), 'ServiceUnavailable');
    await srv.waitForLog(new RegExp(`access key ${victim.accessKeyId}: its sealed secret does not authenticate`), 2);
    await assertServed(srv, key, id);
    // Rotation does not launder it: it is sealed by the current key, and left as it is.
    const rot = await srv.cli('key', 'rotate-master');
    assert.equal(rot.code, 0, rot.stderr);
    assert.match(rot.stdout, /^re-sealed 0 secrets under master key [0-9a-f]{16}\n$/);
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, forged), { instanceId: id })), 'ServiceUnavailable');
});

itest('a secret an older ecshot stored in the clear is refused until key rotate-master seals it', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const id = await srv.instance({ account: accountId, console: NO_VM, status: 'Stopped' });
    const old = newAccessKey();
    await storeSql(srv, 'INSERT INTO access_keys (id, secret, account_id, user_name, active) VALUES' +
                        ` ('${old.accessKeyId}', '${old.accessKeySecret}', '${accountId}', NULL, true)`);
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, old), { instanceId: id })), 'ServiceUnavailable');
    await srv.waitForLog(new RegExp(`access key ${old.accessKeyId} has its secret stored in the clear by an older ` +
                                    "ecshot: run 'ecshot key rotate-master' to seal it"));
    assert.equal(await storeHolds(srv, old.accessKeySecret), true);

    const rot = await srv.admin('key', 'rotate-master');
    const fp = (await storedSecrets(srv))[key.accessKeyId].slice(5, 21);
    assert.equal(rot.stdout, `re-sealed 1 secret under master key ${fp}\n`);
    assertSealedUnder((await storedSecrets(srv))[old.accessKeyId], fp);
    await assertServed(srv, old, id);
    await assertServed(srv, key, id);
    // Not even in SQLite's free space or write-ahead log.
    assert.equal(await storeHolds(srv, old.accessKeySecret), false);
});

itest('commands that neither seal nor open secrets need no master key file', async (ctx) => {
    const srv = await ctx.server();
    const dir = await keyDir(ctx);
    const env = { ECSHOT_MASTER_KEY: '' };
    const bare = (...args) => runEcshot(['--store', srv.storeUrl, ...args], { env });
    const accountId = newAccountId();
    const ok = async (p) => { const r = await p; assert.equal(r.code, 0, r.stderr); return r; };
    const id = newInstanceId();
    await ok(bare('account', 'create', accountId));
    await ok(bare('user', 'create', accountId, 'alice'));
    await ok(bare('instance', 'add', id, '--region', REGION, '--account', accountId, '--type', 'ecs.g7.large',
                  '--console', NO_VM, '--status', 'Stopped'));
    await ok(bare('instance', 'list'));

    // key create and rotate-master without it: one line naming the fix.
    const want = "ecshot: no master key: give --master-key FILE or set ECSHOT_MASTER_KEY (make one with 'ecshot master-key create FILE')\n";
    for (const args of [['key', 'create', accountId], ['key', 'rotate-master']]) {
        const r = await bare(...args);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, want);
        assert.equal(r.stdout, '');
    }
    // From the environment, and as an option.
    const viaEnv = await runEcshot(['--store', srv.storeUrl, 'key', 'create', accountId],
                                   { env: { ECSHOT_MASTER_KEY: srv.masterKey } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const [akId, akSecret] = viaEnv.stdout.trim().split(' ');
    await ok(bare('key', 'disable', akId));
    await ok(bare('key', 'enable', akId));
    await assertServed(srv, { accessKeyId: akId, accessKeySecret: akSecret }, id);

    // A key file open to others, or holding something else, is refused.
    const open = path.join(dir, 'open.key');
    await writeKeyFile(open, srv.masterKey);
    await chmod(open, 0o640);
    let r = await runEcshot(['--store', srv.storeUrl, '--master-key', open, 'key', 'create', accountId], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `ecshot: master key file ${open} is open to group or others (mode 0640): chmod 600 ${open}\n`);
    // master-key create never replaces a file, and needs no store.
    r = await runEcshot(['master-key', 'create', srv.masterKey], { env: { ECSHOT_STORE: '' } });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `ecshot: ${srv.masterKey}: exists already (a key file is never replaced)\n`);
});
