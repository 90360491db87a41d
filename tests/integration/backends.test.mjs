// backends.test.mjs: ecshotd fails closed when a shared part fails
// (docs/deploy.md, "When a shared part fails"). One ecshotd on PostgreSQL
// and Redis; then
//  - Redis stopped (SIGKILL) or hung (SIGSTOP), PostgreSQL stopped
//    (immediate shutdown) or slower than timeout_ms (a lock held on the
//    AccessKey table, and a commit that makes ecshotd's read cache go back
//    to it): a signed request that would have been served gets
//    ServiceUnavailable (503) within a bounded time and is not served, and a
//    replay of a request served before is not served either;
//  - the part back: requests are served again by the same ecshotd (no
//    restart), and the throttle and the nonce check work again;
//  - ecshotd never crashes (the harness fails the test on any death and
//    checks the exit status at stop).
//
// The file runs its OWN PostgreSQL and Redis (tests/services/, in a private
// directory), so that killing them disturbs no other test; they are started
// again after every test, passed or failed, and stopped when the file ends.
// Needs PostgreSQL and Redis installed: skipped without them, except under
// CI, where the tests fail.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, rejection, v1Request, v3Request, resend } from './lib/clients.mjs';
import { assertEcsSdkError, assertErrorJson, assertRawSuccess, assertGuestPicture } from './lib/expect.mjs';
import { createTestDatabase, redisLimitsUrl, newAccountId } from './lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVICES = path.resolve(here, '../services');
const REGION = 'cn-hangzhou';
// Hang guard: an answer during an outage comes within this (the backends'
// own deadlines below are far shorter). Not a timing claim.
const HANG_GUARD_MS = 10000;
const PG_TIMEOUT_MS = 1000;     // the store's timeout_ms
const REDIS_TIMEOUT_MS = 500;   // the limits' timeout_ms

const installed = (() => {
    const pg = existsSync('/usr/lib/postgresql') &&
        readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/pg_ctl`));
    const redis = spawnSync('sh', ['-c', 'command -v redis-server && command -v psql'], { stdio: 'ignore' }).status === 0;
    return pg && redis;
})();
// Under CI the tests run anyway and fail when a service cannot start.
const skip = installed || process.env.CI ? false : 'needs PostgreSQL and Redis installed (scripts/setup.sh)';

// ---------------------------------------------------------------- services

// Runs tests/services/SCRIPT CMD DIR; resolves to its stdout, rejects
// with its stderr.
function service(script, cmd, dir) {
    return new Promise((resolve, reject) => {
        execFile('bash', [path.join(SERVICES, script), cmd, dir], { timeout: 90000 }, (err, stdout, stderr) => {
            if (err) reject(new Error(`${script} ${cmd}: ${stderr.trim() || err.message}`));
            else resolve(stdout.trim());
        });
    });
}

// The private PostgreSQL and Redis of this file, made on first use.
let backends = null;

async function privateBackends() {
    if (backends) return backends;
    const dir = await mkdtemp(path.join(tmpdir(), 'ecshot-svc-'));
    // PostgreSQL runs as the user postgres when the tests run as root: it
    // must be able to reach its directory below this one.
    await chmod(dir, 0o755);
    const b = {
        dir,
        pgDir: path.join(dir, 'pg'),
        redisDir: path.join(dir, 'redis'),
        pgAdmin: null,
        redisUrl: null,
        redisPid() { return Number(readFileSync(path.join(this.redisDir, 'redis.pid'), 'utf8')); },
        // Both running (idempotent: the scripts start only what is down).
        async up() {
            try { process.kill(this.redisPid(), 'SIGCONT'); } catch { /* not running */ }
            this.pgAdmin = await service('postgres.sh', 'start', this.pgDir);
            this.redisUrl = await service('redis.sh', 'start', this.redisDir);
        },
    };
    backends = b;
    await b.up();
    return b;
}

// Stops them at the end of the file, and at any exit of this process.
function stopBackendsSync() {
    if (!backends) return;
    try { process.kill(backends.redisPid(), 'SIGCONT'); } catch { /* gone */ }
    spawnSync('bash', [path.join(SERVICES, 'redis.sh'), 'kill', backends.redisDir], { stdio: 'ignore' });
    spawnSync('bash', [path.join(SERVICES, 'postgres.sh'), 'stop', backends.pgDir], { stdio: 'ignore' });
    rmSync(backends.dir, { recursive: true, force: true });
    backends = null;
}
after(stopBackendsSync);
process.on('exit', stopBackendsSync);

// One ecshotd on the private backends with a database and a Redis prefix of
// its own, an account, and two running instances: `warm` (served once
// before the outage; that request is kept for replays) and `fresh` (never
// shot: during an outage it would be served but for the failure).
async function setUp(ctx) {
    const b = await privateBackends();
    const db = await createTestDatabase(b.pgAdmin);
    // Run last: whatever the test did to the services, they are up again for
    // the next one, and the database goes.
    ctx.defer(async () => {
        await b.up();
        await db.drop();
    });
    const storeUrl = `${db.url}&timeout_ms=${PG_TIMEOUT_MS}`;
    const limitsUrl = `${redisLimitsUrl(undefined, b.redisUrl)}&timeout_ms=${REDIS_TIMEOUT_MS}`;
    const srv = await ctx.server({ storeUrl, limitsUrl });
    const { accountId, key } = await srv.account();
    const warm = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const fresh = await ctx.instanceVm(srv, accountId, { mode: 'vbe=800x600' });
    const before = await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: warm.id } });
    assertGuestPicture(assertRawSuccess(before, warm.id), 'text');
    return { b, db, srv, key, warm, fresh, before };
}

// Every way of asking for `fresh` during an outage: ServiceUnavailable,
// within the hang guard, through the V3 SDK, V1 and V3 raw, eight at once,
// and a replay of the request served before the outage.
async function expectUnavailable({ srv, key, fresh, before }) {
    const params = { RegionId: REGION, InstanceId: fresh.id };
    const timed = async (what, p) => {
        const t0 = Date.now();
        const r = await p;
        const ms = Date.now() - t0;
        assert.ok(ms < HANG_GUARD_MS, `${what} took ${ms} ms`);
        return r;
    };
    const err = await timed('SDK V3', rejection(sdkScreenshot(ecsClient(srv, key, { readTimeout: 30000 }), { instanceId: fresh.id })));
    assertEcsSdkError(err, 'ServiceUnavailable');
    assertErrorJson(await timed('raw V3', v3Request(srv, key, { query: params })), 'ServiceUnavailable', { host: srv.host });
    assertErrorJson(await timed('raw V1', v1Request(srv, key, { params })), 'ServiceUnavailable', { host: srv.host });
    const parallel = await timed('8 parallel', Promise.all(Array.from({ length: 8 }, (_, i) =>
        i % 2 ? v1Request(srv, key, { params }) : v3Request(srv, key, { query: params }))));
    for (const r of parallel) assertErrorJson(r, 'ServiceUnavailable', { host: srv.host });
    // A replay is not let through for want of its check.
    assertErrorJson(await timed('replay', resend(srv, before.sent)), 'ServiceUnavailable', { host: srv.host });
}

// Asks for `fresh` until it is served, at most HANG_GUARD_MS and at most
// `retries` refusals (ServiceUnavailable, nothing else) before. The store
// promises the first call after the server is back (it opens a fresh
// connection at once): retries 0. The Redis backend waits 100 ms before it
// reconnects a connection that failed, so a call right after Redis came
// back may still be refused; a client retries. Resolves to the response.
async function untilServed({ srv, key, fresh }, { retries = Infinity } = {}) {
    const deadline = Date.now() + HANG_GUARD_MS;
    let refused = 0;
    for (;;) {
        const res = await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: fresh.id } });
        if (res.status === 200) {
            assertGuestPicture(assertRawSuccess(res, fresh.id), 'vbe=800x600');
            return res;
        }
        assertErrorJson(res, 'ServiceUnavailable', { host: srv.host });
        refused++;
        assert.ok(refused <= retries, `ServiceUnavailable ${refused} times after the backend was back`);
        assert.ok(Date.now() < deadline, `still ServiceUnavailable ${refused} times over ${HANG_GUARD_MS} ms`);
        await delay(50);
    }
}

// After the outage: the throttle and the nonce check work again.
async function expectChecksWork({ srv, key, fresh }, served) {
    assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: fresh.id })), 'Throttling');
    assertErrorJson(await resend(srv, served.sent), 'SignatureNonceUsed', { host: srv.host });
}

// ---------------------------------------------------------------- Redis

itest('Redis killed: ServiceUnavailable, nothing served; served again when it is back, no restart', { skip }, async (ctx) => {
    const s = await setUp(ctx);
    await service('redis.sh', 'kill', s.b.redisDir);
    await expectUnavailable(s);
    // The store is fine: an operator can still work.
    assert.equal((await s.srv.cli('account', 'create', newAccountId())).code, 0);

    await s.b.up();
    const served = await untilServed(s);
    await expectChecksWork(s, served);
    // Not asserted: the request served before the outage, replayed now. The
    // test Redis keeps nothing on disk (--save '' --appendonly no), so its
    // restart lost every claim, that nonce's among them, and ecshotd cannot
    // know it: such a replay is accepted (its timestamp is still fresh).
    // The nonce cache is as durable as the Redis behind it; a deployment
    // that needs replays refused across a Redis crash runs Redis with AOF
    // or a replica.
});

itest('Redis hung (SIGSTOP): ServiceUnavailable within the bounds; served again after SIGCONT', { skip }, async (ctx) => {
    const s = await setUp(ctx);
    const pid = s.b.redisPid();
    process.kill(pid, 'SIGSTOP');
    try {
        await expectUnavailable(s);
    } finally {
        process.kill(pid, 'SIGCONT');
    }
    const served = await untilServed(s);
    await expectChecksWork(s, served);
    // Redis kept its keys: the request served before is still a replay.
    assertErrorJson(await resend(s.srv, s.before.sent), 'SignatureNonceUsed', { host: s.srv.host });
});

// ---------------------------------------------------------------- PostgreSQL

itest('PostgreSQL killed: ServiceUnavailable, nothing served; served again when it is back, no restart', { skip }, async (ctx) => {
    const s = await setUp(ctx);
    await service('postgres.sh', 'kill', s.b.pgDir);
    await expectUnavailable(s);
    // The operator CLI fails too, with one line, and does not hang.
    const t0 = Date.now();
    const r = await s.srv.cli('account', 'create', newAccountId());
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^[^\n]+\n$/, `stderr: ${JSON.stringify(r.stderr)}`);
    assert.ok(Date.now() - t0 < HANG_GUARD_MS);

    await s.b.up();
    const served = await untilServed(s, { retries: 0 });
    await expectChecksWork(s, served);
    // Redis kept its claims through PostgreSQL's outage: the request served
    // before is still a replay.
    assertErrorJson(await resend(s.srv, s.before.sent), 'SignatureNonceUsed', { host: s.srv.host });
});

itest('PostgreSQL slower than timeout_ms (a lock on the AccessKeys): ServiceUnavailable; served once it is released', { skip }, async (ctx) => {
    const s = await setUp(ctx);
    // A session that holds an exclusive lock on access_keys until told to
    // roll back: every key lookup waits on it, past the store's timeout_ms.
    const locker = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', s.db.url], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', errText = '';
    locker.stderr.on('data', (d) => { errText += d; });
    const lockerExit = new Promise((resolve) => locker.on('exit', resolve));
    const release = async () => {
        if (locker.exitCode === null && locker.signalCode === null) {
            locker.stdin.end('ROLLBACK;\n\\q\n');
            await lockerExit;
        }
    };
    ctx.defer(release);
    await new Promise((resolve, reject) => {
        locker.stdout.on('data', (d) => { out += d; if (out.includes('locked')) resolve(); });
        lockerExit.then((code) => reject(new Error(`psql exited (${code}): ${errText}`)));
        locker.stdin.write('BEGIN;\nLOCK TABLE access_keys IN ACCESS EXCLUSIVE MODE;\n\\echo locked\n');
    });
    // ecshotd's read cache holds the key since setUp's call, and a lock
    // changes no data: until something commits, ecshotd rightly answers
    // from the cache. Any commit in the cluster (here one that only takes a
    // transaction id) makes the next request drop the cache and read the
    // key from the locked table.
    const commit = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', s.db.url, '-c', 'SELECT txid_current()'],
        { encoding: 'utf8' });
    assert.equal(commit.status, 0, commit.stderr);
    await expectUnavailable(s);
    await release();
    const served = await untilServed(s, { retries: 0 });
    await expectChecksWork(s, served);
});
