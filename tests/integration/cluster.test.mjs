// cluster.test.mjs: three ecshotd on different ports over ONE PostgreSQL
// database and ONE Redis key space (docs/deploy.md, "Three API servers"),
// seen through Alibaba's V3 SDK and the raw signer:
//  - an instance added with the CLI on the shared store is served by every
//    server at once (no restart, no cache): Stopped answers
//    IncorrectInstanceStatus everywhere, Running ones are captured by any;
//  - the 10 s throttle is one for the cluster: a screenshot through A makes
//    B and C answer Throttling, and calls racing on three servers give
//    exactly one capture;
//  - a nonce is one for the cluster: a request replayed to another server
//    answers SignatureNonceUsed, and of one request sent to all three at
//    once exactly one is served;
//  - a server killed (SIGKILL) under load costs nothing to the others: every
//    request sent to B and C gets its exact answer.
// The three servers start at the same moment on an empty database, so they
// also race for the schema migration. They share one master key file, as
// servers sharing a store must.
//
// Consoles. QEMU serves one client per QMP socket and ecshotd keeps its QMP
// connection, so a qmp: console is reached by one server only: the
// "served by all three" test gives each server a VM of its own. An instance
// that several servers must reach (the shared throttle) has a libvirt
// console, as docs/deploy.md prescribes for a cluster; here libvirt's test
// driver (test:///default, domain "test", running, inside each ecshotd)
// stands for the compute host's libvirtd, and its screenshot is libvirt's
// fixed test picture.
//
// Needs PostgreSQL and Redis ($ECSHOT_TEST_PG, $ECSHOT_TEST_REDIS_URL, set by
// scripts/test.sh from tests/services/): without them the tests are skipped,
// except under CI, where they fail.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { itest } from './lib/harness.mjs';
import {
    ecsClient, sdkScreenshot, rejection, v1Request, v3Request, resend, rawRequest,
    v1Common, v1Signature, percentEncode,
} from './lib/clients.mjs';
import {
    assertEcsSdkError, assertErrorJson, assertSuccessJson, assertRawSuccess, assertGuestPicture,
} from './lib/expect.mjs';
import {
    startServer, createTestDatabase, redisLimitsUrl, newInstanceId, createMasterKey,
} from './lib/server.mjs';

const REGION = 'cn-hangzhou';
const haveBackends = Boolean(process.env.ECSHOT_TEST_PG && process.env.ECSHOT_TEST_REDIS_URL);
// Under CI the tests run anyway and fail, naming the missing variable.
const skip = haveBackends || process.env.CI ? false
    : 'needs PostgreSQL and Redis: set ECSHOT_TEST_PG and ECSHOT_TEST_REDIS_URL (scripts/test.sh does)';
// A console every server reaches, and the size of the picture it gives.
const SHARED_CONSOLE = 'libvirt:test:///default#test';
const LIBVIRT_TEST_PNG = '/usr/share/libvirt/test-screenshot.png';

// A capture of the libvirt test domain: a JPEG of the test picture's size.
function assertTestDomainPicture(img) {
    const png = readFileSync(LIBVIRT_TEST_PNG);
    assert.deepEqual([img.width, img.height], [png.readUInt32BE(16), png.readUInt32BE(20)]);
}

const bodyOf = (res) => ({ RequestId: res.body.requestId, InstanceId: res.body.instanceId, Screenshot: res.body.screenshot });

// A master key file for servers that share a store, removed at the end.
async function sharedMasterKey(ctx) {
    const dir = await mkdtemp(path.join(tmpdir(), 'ecshot-cluster-key-'));
    ctx.defer(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'master.key');
    await createMasterKey(file);
    return file;
}

// n servers (harness-managed) sharing a fresh database, one Redis prefix
// and one master key file. The database is dropped after every server
// stopped (cleanups run in reverse order).
async function cluster(ctx, n = 3, opts = {}) {
    const db = await createTestDatabase();
    ctx.defer(() => db.drop());
    const limitsUrl = redisLimitsUrl();
    const masterKey = await sharedMasterKey(ctx);
    const servers = await Promise.all(Array.from({ length: n },
        () => ctx.server({ storeUrl: db.url, limitsUrl, masterKey, ...opts })));
    return { db, limitsUrl, servers };
}

itest('an instance added with the CLI on the shared store is served by all three servers', { skip }, async (ctx) => {
    const { servers } = await cluster(ctx);
    const [a, b, c] = servers;
    // Account and key made through A's handle, instances through B's and C's:
    // one store, whoever runs the CLI.
    const { accountId, key } = await a.account();
    const vm = await ctx.vm({ mode: 'text' });
    const stopped = await b.instance({ account: accountId, console: vm.consoleUrl, status: 'Stopped' });
    for (const srv of servers) {
        const err = await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: stopped }));
        assertEcsSdkError(err, 'IncorrectInstanceStatus', { detail: 'Stopped' });
        assert.equal(err.data.HostId, srv.host);
    }
    // One Running instance per server (each may be shot once per 10 s), each
    // VM with a picture of its own so that a mix-up would show.
    const modes = ['text', 'vbe=1024x768', 'vbe=800x600'];
    const running = [];
    for (const mode of modes) running.push(await ctx.instanceVm(c, accountId, { mode }));
    for (const [i, srv] of servers.entries()) {
        const res = await sdkScreenshot(ecsClient(srv, key), { instanceId: running[i].id });
        assert.equal(res.statusCode, 200);
        assertGuestPicture(assertSuccessJson(bodyOf(res), running[i].id), modes[i]);
    }
    // A change made with the CLI is seen by every server at once.
    await a.admin('instance', 'set-status', stopped, 'Stopping');
    for (const srv of servers)
        assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: stopped })),
                          'IncorrectInstanceStatus', { detail: 'Stopping' });
    await b.admin('key', 'disable', key.accessKeyId);
    for (const srv of servers)
        assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: stopped })),
                          'InvalidAccessKeyId.Inactive');
});

itest('one throttle for the cluster: a screenshot through A makes B and C answer Throttling', { skip }, async (ctx) => {
    const { servers } = await cluster(ctx);
    const [a, b, c] = servers;
    const { accountId, key } = await a.account();
    const id = await a.instance({ account: accountId, console: SHARED_CONSOLE });
    const first = await sdkScreenshot(ecsClient(a, key), { instanceId: id });
    assertTestDomainPicture(assertSuccessJson(bodyOf(first), id));
    for (const srv of [b, c]) {
        const err = await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: id }));
        assertEcsSdkError(err, 'Throttling');
        assert.equal(err.data.HostId, srv.host);
        assert.ok(err.retryAfter > 0 && err.retryAfter <= 10000, `retryAfter ${err.retryAfter}`);
        const raw = await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: id } });
        assertErrorJson(raw, 'Throttling', { host: srv.host });
        const ms = Number(raw.headers['x-acs-retry-after']);
        assert.ok(Number.isInteger(ms) && ms > 0 && ms <= 10000, `x-acs-retry-after ${raw.headers['x-acs-retry-after']}`);
    }
    // A race: 21 calls on a fresh instance, 7 on each server, all at once;
    // exactly one is captured, whichever server it reached.
    const fresh = { id: await b.instance({ account: accountId, console: SHARED_CONSOLE }) };
    const results = await Promise.all(Array.from({ length: 21 }, (_, i) => {
        const srv = servers[i % 3];
        return (i % 2 ? v1Request(srv, key, { params: { RegionId: REGION, InstanceId: fresh.id } })
                      : v3Request(srv, key, { query: { RegionId: REGION, InstanceId: fresh.id } }))
            .then((res) => ({ srv, res }));
    }));
    const ok = results.filter((r) => r.res.status === 200);
    assert.equal(ok.length, 1, `statuses: ${results.map((r) => r.res.status).join(',')}`);
    assertTestDomainPicture(assertRawSuccess(ok[0].res, fresh.id));
    for (const { srv, res } of results.filter((r) => r.res.status !== 200))
        assertErrorJson(res, 'Throttling', { host: srv.host });
});

itest('one nonce cache for the cluster: a request replayed to another server is SignatureNonceUsed', { skip }, async (ctx) => {
    const { servers } = await cluster(ctx);
    const [a, b, c] = servers;
    const { accountId, key } = await a.account();
    const stopped = await a.instance({ account: accountId, console: 'qmp:/nonexistent/qmp.sock', status: 'Stopped' });
    const params = { RegionId: REGION, InstanceId: stopped };
    // V3 (its Host header is signed: the replay carries A's, as a load
    // balancer would send one name to every server) and V1, GET and POST.
    const originals = [
        await v3Request(a, key, { query: params }),
        await v1Request(a, key, { params }),
        await v1Request(a, key, { params, method: 'POST' }),
    ];
    for (const orig of originals) {
        assertErrorJson(orig, 'IncorrectInstanceStatus', { detail: 'Stopped', host: a.host });
        for (const srv of [b, c, a])
            assertErrorJson(await resend(srv, orig.sent), 'SignatureNonceUsed');
    }
    // One signed request sent to all three at once, twenty times over:
    // exactly one of each three copies passes the nonce check.
    for (let round = 0; round < 20; round++) {
        const p = { ...v1Common(key), ...params };
        p.Signature = v1Signature('GET', p, key.accessKeySecret);
        const path = '/?' + Object.keys(p).sort().map((k) => `${percentEncode(k)}=${percentEncode(p[k])}`).join('&');
        const answers = await Promise.all(servers.map((srv) => rawRequest(srv, { path })));
        const served = answers.filter((r) => r.json?.Code !== 'SignatureNonceUsed');
        assert.equal(served.length, 1, `round ${round}: ${answers.map((r) => r.json?.Code).join(',')}`);
        assertErrorJson(served[0], 'IncorrectInstanceStatus', { detail: 'Stopped' });
        for (const r of answers.filter((x) => x !== served[0])) assertErrorJson(r, 'SignatureNonceUsed');
    }
    // Fresh nonces are still accepted everywhere (the cache holds nonces,
    // not keys).
    for (const srv of servers)
        assertErrorJson(await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: newInstanceId() } }),
                        'InvalidParameter', { detail: 'InstanceId', host: srv.host });
});

itest('a server killed (SIGKILL) under load: every request sent to the other two gets its exact answer', { skip }, async (ctx) => {
    const db = await createTestDatabase();
    ctx.defer(() => db.drop());
    const limitsUrl = redisLimitsUrl();
    // A is started outside the harness, which treats any death of its own
    // servers as a failure; A dies on purpose here.
    const masterKey = await sharedMasterKey(ctx);
    const a = await startServer({ storeUrl: db.url, limitsUrl, masterKey });
    ctx.defer(() => a.stop());
    const [b, c] = await Promise.all([ctx.server({ storeUrl: db.url, limitsUrl, masterKey }),
                                      ctx.server({ storeUrl: db.url, limitsUrl, masterKey })]);
    try {
        const { accountId, key } = await a.account();
        // An inventory status of Stopped: a cheap exact answer that still
        // goes through the store (key, policies, instance) and Redis (nonce).
        const stopped = await a.instance({ account: accountId, console: 'qmp:/nonexistent/qmp.sock', status: 'Stopped' });
        const params = { RegionId: REGION, InstanceId: stopped };
        const runningId = await b.instance({ account: accountId, console: SHARED_CONSOLE });

        // Three ways to ask; each checks its exact answer from srv.
        const askers = [
            async (srv) => {
                const err = await rejection(sdkScreenshot(ecsClient(srv, key), { instanceId: stopped }));
                assertEcsSdkError(err, 'IncorrectInstanceStatus', { detail: 'Stopped' });
                assert.equal(err.data.HostId, srv.host);
            },
            async (srv) => assertErrorJson(await v3Request(srv, key, { query: params }),
                                           'IncorrectInstanceStatus', { detail: 'Stopped', host: srv.host }),
            async (srv) => assertErrorJson(await v1Request(srv, key, { params }),
                                           'IncorrectInstanceStatus', { detail: 'Stopped', host: srv.host }),
        ];

        // A is kept busy too, so that it dies in the middle of requests,
        // holding PostgreSQL sessions and Redis connections. Its answers
        // before the kill must be right; after it, connection errors are
        // what a dead server gives.
        let aKilled = false, aDead = false;
        let aAnswered = 0;
        const aFailures = [];
        const sideLoad = Array.from({ length: 3 }, async (_, w) => {
            for (let i = w; !aDead; i += 3) {
                try {
                    await askers[i % 3](a);
                    aAnswered++;
                } catch (e) {
                    if (!aKilled) aFailures.push(e);
                }
            }
        });

        const TOTAL = 300, CONCURRENCY = 8, KILL_AT = 100;
        let next = 0, done = 0, doneAtKill = -1, doneAfterDeath = 0;
        const failures = [];
        let killed = null;
        const worker = async () => {
            while (next < TOTAL) {
                const i = next++;
                const srv = i % 2 ? c : b;
                try {
                    await askers[i % 3](srv);
                } catch (e) {
                    failures.push(`request ${i} to :${srv.port}: ${e.message.split('\n')[0]}`);
                }
                if (aDead) doneAfterDeath++;
                if (++done === KILL_AT) {
                    doneAtKill = done;
                    aKilled = true;
                    killed = a.kill('SIGKILL').then((how) => { aDead = true; return how; });
                }
            }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
        const how = await killed;
        await Promise.all(sideLoad);
        assert.equal(how.signal, 'SIGKILL', `A exited with ${JSON.stringify(how)}`);
        assert.equal(doneAtKill, KILL_AT);
        assert.deepEqual(failures, [], `${failures.length} of ${TOTAL} requests to B and C went wrong`);
        assert.equal(done, TOTAL);
        assert.ok(doneAfterDeath > 0, 'no request to B or C completed after A was dead');
        assert.ok(aAnswered > 0, 'A answered nothing before it was killed: the kill was not under load');
        assert.deepEqual(aFailures.map((e) => e.message.split('\n')[0]), [], 'A answered wrongly before the kill');

        // B and C still capture (their sessions and the shared state are sound).
        const res = await sdkScreenshot(ecsClient(c, key), { instanceId: runningId });
        assertTestDomainPicture(assertSuccessJson(bodyOf(res), runningId));
        assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(b, key), { instanceId: runningId })), 'Throttling');
    } catch (e) {
        try { e.message += `\n--- ecshotd A :${a.port} stderr (tail) ---\n${a.stderr().slice(-6000)}`; } catch { /* frozen */ }
        throw e;
    }
});
