// sandbox.test.mjs: ecshotd's least privilege, seen from outside the process.
//
//  - by default it serves under its seccomp filter (/proc/PID/status:
//    Seccomp 2, NoNewPrivs 1), and every other suite runs it so, which is
//    the test that the filter allows all a serving ecshotd does;
//    --no-seccomp leaves it off;
//  - --user drops root once the port is bound: every uid and gid of the
//    process is the user's, root's groups are gone, what it opens after
//    (the master key file, the store, the audit log) it opens as the user,
//    and it serves;
//  - --user that cannot be honoured stops the daemon before it listens, and
//    so does a master key file or a store the user cannot reach.
// The --user test needs root (skipped otherwise).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, stat, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, v1Request } from './lib/clients.mjs';
import { ECSHOTD, newInstanceId, createMasterKey } from './lib/server.mjs';

const REGION = 'cn-hangzhou';
const isRoot = process.getuid() === 0;

// The "Name:\tvalue" lines of /proc/PID/status as an object.
async function procStatus(pid) {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    return Object.fromEntries(text.split('\n').filter(Boolean).map((l) => {
        const i = l.indexOf(':');
        return [l.slice(0, i), l.slice(i + 1).trim()];
    }));
}

itest('ecshotd serves under its seccomp filter by default; --no-seccomp leaves it off', async (ctx) => {
    const srv = await ctx.server();
    const st = await procStatus(srv.pid);
    assert.equal(st.Seccomp, '2', 'filter mode');
    assert.equal(st.NoNewPrivs, '1');
    assert.match(srv.stderr(), /seccomp: system call filter on/);
    // Serving under it: a real screenshot (QMP, memfd, JPEG, store, limits).
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    assert.equal((await sdkScreenshot(ecsClient(srv, key), { instanceId: id })).statusCode, 200);
    assert.equal((await procStatus(srv.pid)).Seccomp, '2');

    const off = await ctx.server({ args: ['--no-seccomp'] });
    assert.equal((await procStatus(off.pid)).Seccomp, '0');
    assert.match(off.stderr(), /seccomp: off \(--no-seccomp\)/);
    // --seccomp insists; here the kernel can, so it simply serves.
    const insist = await ctx.server({ args: ['--seccomp'] });
    assert.equal((await procStatus(insist.pid)).Seccomp, '2');
});

itest('--user drops root after binding: all ids the user\'s, no root group, files opened as the user', { skip: !isRoot && 'needs root' }, async (ctx) => {
    const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
    // A directory the user may write: its store and its audit log.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ecshot-user-'));
    ctx.defer(() => rm(dir, { recursive: true, force: true }));
    await chown(dir, uid, gid);
    await chmod(dir, 0o700);
    const audit = path.join(dir, 'audit.log');
    // The master key file is read as the user too: it is the user's, 0600.
    const masterKey = path.join(dir, 'master.key');
    await createMasterKey(masterKey);
    await chown(masterKey, uid, gid);
    // (SQLite and memory: whatever the suite's backends: the test
    // services' sockets are for root.)
    const srv = await ctx.server({ storeUrl: `sqlite:${path.join(dir, 'ecshot.db')}`, limitsUrl: 'memory:',
                                   masterKey, args: ['--user', 'nobody', '--audit-log', audit] });
    const st = await procStatus(srv.pid);
    assert.deepEqual(st.Uid.split(/\s+/).map(Number), [uid, uid, uid, uid]);
    assert.deepEqual(st.Gid.split(/\s+/).map(Number), [gid, gid, gid, gid]);
    assert.ok(!st.Groups.split(/\s+/).filter(Boolean).map(Number).includes(0), `groups: ${st.Groups}`);
    assert.equal(st.CapEff, '0000000000000000');
    assert.equal(st.CapPrm, '0000000000000000');
    assert.equal(st.Seccomp, '2');
    assert.match(srv.stderr(), /running as nobody \(uid \d+, gid \d+\)/);

    // It serves: the operator (root) adds a key to the store the daemon
    // made, and a signed call goes through authentication to the lookup.
    const { key } = await srv.account();
    const res = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: newInstanceId() } });
    assert.equal(res.json.Code, 'InvalidParameter');
    for (const f of [path.join(dir, 'ecshot.db'), audit]) {
        const s = await stat(f);
        assert.equal(s.uid, uid, `${f} belongs to the user`);
    }
    assert.equal((await stat(audit)).mode & 0o777, 0o600);
});

function refusedStart(args) {
    return new Promise((resolve) => {
        execFile(ECSHOTD, args, { timeout: 30000 }, (err, stdout, stderr) =>
            resolve({ code: err ? err.code : 0, stdout, stderr }));
    });
}

itest('--user that cannot be honoured stops ecshotd before it listens', async (ctx) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ecshot-user-'));
    ctx.defer(() => rm(dir, { recursive: true, force: true }));
    const masterKey = path.join(dir, 'master.key');
    await createMasterKey(masterKey);
    const base = ['--listen', '127.0.0.1:0', '--store', `sqlite:${path.join(dir, 'x.db')}`,
                  '--master-key', masterKey];
    const cases = [
        ['no-such-user-for-ecshot', /--user no-such-user-for-ecshot: no such user/],
        ['root', /--user root: is root/],
    ];
    if (!isRoot) cases.push(['nobody', /only root can switch users/]);
    for (const [user, message] of cases) {
        const r = await refusedStart([...base, '--user', user]);
        assert.equal(r.code, 1, `--user ${user}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, '');
    }
    if (isRoot) {
        // The user exists, but may not read root's master key file (read
        // after the drop, so that SIGHUP can read it again): no service.
        await chmod(dir, 0o711);
        let r = await refusedStart([...base, '--user', 'nobody']);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /master key file .*master\.key: Permission denied/);
        assert.equal(r.stdout, '');
        // Given a key file it may read, it still may not reach the store.
        const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
        const keyDir = await mkdtemp(path.join(os.tmpdir(), 'ecshot-user-key-'));
        ctx.defer(() => rm(keyDir, { recursive: true, force: true }));
        const usersKey = path.join(keyDir, 'master.key');
        await createMasterKey(usersKey);
        await chown(usersKey, uid, -1);
        await chmod(keyDir, 0o711);
        await chmod(dir, 0o700);
        r = await refusedStart([...base, '--master-key', usersKey, '--user', 'nobody']);
        assert.equal(r.code, 1, r.stderr);
        assert.doesNotMatch(r.stderr, /master key/);
        assert.equal(r.stdout, '');
    }
});
