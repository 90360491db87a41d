// proxy.test.mjs: acs:SourceIp behind a proxy (--trusted-proxy).
//
// RAM's acs:SourceIp, and the audit log's sourceIp, are the TCP peer, unless
// the peer is a proxy the operator trusts: then they are the rightmost
// X-Forwarded-For hop that is not itself a trusted proxy (PROTOCOL.md §3).
// The test process plays the proxy, from 127.0.0.1. A RAM user may act only
// from 203.0.113.0/24; its instance is Stopped in the inventory, so a call
// that passes RAM answers IncorrectInstanceStatus without any VM, and one
// that does not answers Forbidden.RAM: the code tells which address RAM saw.
// The audit log then says the same address.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { itest } from './lib/harness.mjs';
import { ecsClient, sdkScreenshot, rejection, v1Request } from './lib/clients.mjs';
import { assertEcsSdkError, assertErrorJson } from './lib/expect.mjs';
import { ECSHOTD, createMasterKey } from './lib/server.mjs';

const REGION = 'cn-hangzhou';
const CLIENT = '203.0.113.7';
const policy = {
    Version: '1',
    Statement: [{ Effect: 'Allow', Action: 'ecs:GetInstanceScreenshot', Resource: '*',
                  Condition: { IpAddress: { 'acs:SourceIp': '203.0.113.0/24' } } }],
};

async function tempDir(ctx) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ecshot-proxy-'));
    ctx.defer(() => rm(dir, { recursive: true, force: true }));
    return dir;
}

// A server with an audit log and args, a RAM user allowed only from
// 203.0.113.0/24, and a Stopped instance of its account (no VM behind it).
async function setup(ctx, args) {
    const audit = path.join(await tempDir(ctx), 'audit.log');
    const srv = await ctx.server({ args: ['--audit-log', audit, ...args] });
    const { accountId } = await srv.account();
    const key = await srv.ramUser(accountId, 'from-office', { office: policy });
    const id = await srv.instance({ account: accountId, console: 'qmp:/nonexistent/dir/qmp.sock',
                                    status: 'Stopped' });
    // The audit line of a request id.
    const auditLine = async (requestId) => {
        const lines = (await readFile(audit, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
        const found = lines.filter((l) => l.requestId === requestId);
        assert.equal(found.length, 1, `one audit line for ${requestId}`);
        return found[0];
    };
    return { srv, key, id, auditLine };
}

// One call through the V3 SDK (and the V1 mode of the same SDK) carrying
// X-Forwarded-For xff (none when undefined); asserts the code RAM's view of
// the source leads to, and that the audit log names sourceIp.
async function expectCall(s, xff, code, sourceIp) {
    const headers = xff === undefined ? undefined : { 'X-Forwarded-For': xff };
    for (const signature of ['v3', 'v1']) {
        const err = await rejection(sdkScreenshot(ecsClient(s.srv, s.key, { signature, headers }),
                                                  { instanceId: s.id }));
        if (code === 'Forbidden.RAM') assertEcsSdkError(err, code, { anyRamDetail: true });
        else assertEcsSdkError(err, code, { detail: 'Stopped' });
        const line = await s.auditLine(err.requestId);
        assert.equal(line.sourceIp, sourceIp, `${signature} with X-Forwarded-For ${xff}`);
        assert.equal(line.code, code);
        assert.equal(line.principal, `${line.account}/from-office`);
    }
}

// The same through a hand-signed V1 request with headers as given (so that
// a header may be sent several times: an array is several lines).
async function expectRaw(s, headers, code, sourceIp) {
    const res = await v1Request(s.srv, s.key, { params: { RegionId: REGION, InstanceId: s.id }, headers });
    if (code === 'Forbidden.RAM') assertErrorJson(res, code, { host: s.srv.host, anyRamDetail: true });
    else assertErrorJson(res, code, { detail: 'Stopped', host: s.srv.host });
    assert.equal((await s.auditLine(res.json.RequestId)).sourceIp, sourceIp, JSON.stringify(headers));
}

itest('trusted proxy: X-Forwarded-For names the client, read from the right', async (ctx) => {
    const s = await setup(ctx, ['--trusted-proxy', '127.0.0.1', '--trusted-proxy', '10.0.0.0/8']);
    // The proxy says who its client is: RAM sees 203.0.113.7 and allows.
    await expectCall(s, CLIENT, 'IncorrectInstanceStatus', CLIENT);
    // No header: the proxy itself is the client.
    await expectCall(s, undefined, 'Forbidden.RAM', '127.0.0.1');
    await expectCall(s, '', 'Forbidden.RAM', '127.0.0.1');
    // A client that writes its own X-Forwarded-For gets it prefixed to the
    // address its proxy saw: the rightmost untrusted hop counts.
    await expectCall(s, `${CLIENT}, 198.51.100.9`, 'Forbidden.RAM', '198.51.100.9');
    await expectCall(s, `198.51.100.9, ${CLIENT}`, 'IncorrectInstanceStatus', CLIENT);
    // A chain of trusted proxies (10.0.0.0/8, 127.0.0.1) is walked through.
    await expectCall(s, `${CLIENT}, 10.1.1.1, 127.0.0.1`, 'IncorrectInstanceStatus', CLIENT);
    // Every hop trusted: the leftmost.
    await expectCall(s, '10.2.2.2, 10.1.1.1', 'Forbidden.RAM', '10.2.2.2');
    // Something that is not an address stops the walk at the last trusted hop.
    await expectCall(s, `${CLIENT}, unknown`, 'Forbidden.RAM', '127.0.0.1');
    await expectCall(s, `${CLIENT}, ${CLIENT}:443, 10.1.1.1`, 'Forbidden.RAM', '10.1.1.1');
    // Blanks and the header's spelling of an address do not matter.
    await expectCall(s, `  ${CLIENT}\t,  10.1.1.1 `, 'IncorrectInstanceStatus', CLIENT);
});

itest('trusted proxy: a spoofed chain from a trusted peer names the untrusted hop', async (ctx) => {
    const s = await setup(ctx, ['--trusted-proxy', '127.0.0.1']);
    // 10.9.9.9 is not trusted here: what stands left of it is its word.
    await expectCall(s, `${CLIENT}, 10.9.9.9`, 'Forbidden.RAM', '10.9.9.9');
});

itest('trusted proxy: several X-Forwarded-For headers are one list, in order', async (ctx) => {
    const s = await setup(ctx, ['--trusted-proxy', '127.0.0.1']);
    await expectRaw(s, { 'x-forwarded-for': ['198.51.100.9', CLIENT] }, 'IncorrectInstanceStatus', CLIENT);
    await expectRaw(s, { 'x-forwarded-for': [CLIENT, '198.51.100.9'] }, 'Forbidden.RAM', '198.51.100.9');
    await expectRaw(s, { 'x-forwarded-for': [CLIENT, 'bogus'] }, 'Forbidden.RAM', '127.0.0.1');
    // Past the header fields the server keeps (128) a proxy's own header
    // could be the one dropped: such a request is refused whole (431), and
    // its audit line names the peer, never a hop of the partial list.
    const many = { host: s.srv.host, 'x-forwarded-for': CLIENT };
    for (let i = 0; i < 130; i++) many[`x-pad-${i}`] = 'x';
    const res = await v1Request(s.srv, s.key, { params: { RegionId: REGION, InstanceId: s.id }, headers: many });
    assertErrorJson(res, 'RequestHeaderFieldsTooLarge', { status: 431, host: s.srv.host,
        message: 'The request has more header fields than this endpoint accepts.' });
    assert.equal((await s.auditLine(res.json.RequestId)).sourceIp, '127.0.0.1');
});

itest('trusted proxy given as an IPv4-mapped IPv6 network trusts the IPv4 peer', async (ctx) => {
    const s = await setup(ctx, ['--trusted-proxy', '::ffff:127.0.0.0/104']);
    await expectCall(s, CLIENT, 'IncorrectInstanceStatus', CLIENT);
});

itest('without --trusted-proxy, X-Forwarded-For is ignored', async (ctx) => {
    const s = await setup(ctx, []);
    await expectCall(s, CLIENT, 'Forbidden.RAM', '127.0.0.1');
    await expectRaw(s, { 'x-forwarded-for': [CLIENT, CLIENT] }, 'Forbidden.RAM', '127.0.0.1');
    // A proxy elsewhere is trusted, not this peer: the same.
    const other = await setup(ctx, ['--trusted-proxy', '10.0.0.0/8', '--trusted-proxy', '::1']);
    await expectCall(other, CLIENT, 'Forbidden.RAM', '127.0.0.1');
});

// ecshotd --check with args; resolves to {code, stdout, stderr}.
function check(args) {
    return new Promise((resolve) => {
        execFile(ECSHOTD, [...args, '--check'], { timeout: 30000 },
                 (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
    });
}

itest('--trusted-proxy and trusted-proxy lines are read strictly', async (ctx) => {
    const dir = await tempDir(ctx);
    const masterKey = path.join(dir, 'master.key');
    await createMasterKey(masterKey);
    const base = ['--listen', '127.0.0.1:0', '--store', `sqlite:${path.join(dir, 'x.db')}`,
                  '--master-key', masterKey];
    const ok = await check([...base, '--trusted-proxy', '10.0.0.0/8', '--trusted-proxy', '2001:db8::/32',
                            '--trusted-proxy', '192.0.2.1', '--trusted-proxy', '::1']);
    assert.equal(ok.code, 0, ok.stderr);
    for (const bad of ['10.0.0.0/33', '2001:db8::/129', 'proxy.internal', '10.0.0.0/8,10.1.0.0/16', '10.1',
                       '[::1]', '10.0.0.1:80', '']) {
        const r = await check([...base, '--trusted-proxy', bad]);
        assert.equal(r.code, 2, `accepted '${bad}'`);
        const errors = r.stderr.split('\n').filter((l) => / error: /.test(l));
        assert.equal(errors.length, 1, r.stderr);
        assert.ok(errors[0].endsWith(`--trusted-proxy: '${bad}' is not an IPv4 or IPv6 address or ADDRESS/BITS network`),
                  errors[0]);
    }
    // In the config file, any number of lines; the command line adds more.
    const conf = path.join(dir, 'ecshotd.conf');
    await writeFile(conf, `listen 127.0.0.1:0\nstore sqlite:${path.join(dir, 'x.db')}\nmaster-key ${masterKey}\n` +
                          'trusted-proxy 10.0.0.0/8\ntrusted-proxy = 2001:db8::/32  # the load balancers\n');
    const fromFile = await check(['--config', conf, '--trusted-proxy', '192.0.2.1']);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    await writeFile(conf, `listen 127.0.0.1:0\nstore sqlite:x.db\nmaster-key ${masterKey}\n` +
                          'trusted-proxy 10.0.0.0/8\ntrusted-proxy 10.0.0.0/88\n');
    const badFile = await check(['--config', conf]);
    assert.equal(badFile.code, 2);
    assert.match(badFile.stderr, /--trusted-proxy: '10\.0\.0\.0\/88' is not an IPv4 or IPv6 address/);
});
