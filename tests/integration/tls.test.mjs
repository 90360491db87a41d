// tls.test.mjs: ecshotd serving HTTPS (--tls-cert, --tls-key).
//
// Each test makes a throwaway CA and server certificates (for IP
// 127.0.0.1) with the openssl CLI in a temporary directory. Clients trust
// that CA alone (node's `ca` option, which Alibaba's V3 SDK passes through
// from its Config), so every handshake is a verified one.
//
// Checked: Alibaba's V3 SDK over https (V3 and V1 signatures) shoots a
// guest, and RAM sees acs:SecureTransport true; plain HTTP, TLS 1.0/1.1 and
// non-AEAD ciphers are refused; TLS 1.3 and 1.2 are offered; SIGHUP
// reloads the certificate: new connections get the new one, a keep-alive
// connection made before keeps working, and a bad new pair is refused with
// the old one kept; a daemon whose TLS files are wrong does not start.
//
// When is a SIGHUP's work done? ecshotd reloads the certificate first and
// reopens its audit log after: the audit log reappearing under its old name
// (after the test renamed it away) is the event that says both are done.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { mkdtemp, rename, rm, writeFile, readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import Ecs from '@alicloud/ecs20140526';
import OpenApi from '@alicloud/openapi-client';
import { itest } from './lib/harness.mjs';
import { rejection } from './lib/clients.mjs';
import { assertEcsSdkError, assertGuestPicture, assertSuccessJson } from './lib/expect.mjs';
import { ECSHOTD, createMasterKey } from './lib/server.mjs';

const REGION = 'cn-hangzhou';
const ACTION = 'ecs:GetInstanceScreenshot';

// ---------------------------------------------------------------- PKI

function openssl(args, cwd) {
    return new Promise((resolve, reject) => {
        execFile('openssl', args, { cwd }, (err, stdout, stderr) => {
            if (err) reject(new Error(`openssl ${args.join(' ')}: ${stderr || err.message}`));
            else resolve(stdout);
        });
    });
}

const SERVER_EXT = [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    'extendedKeyUsage=serverAuth',
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
].join('\n') + '\n';

// A CA in a fresh directory; cert(name, kind) issues a server certificate
// for 127.0.0.1 with an 'ec' (P-256) or 'rsa' (2048) key. Paths returned.
async function makePki(ctx) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ecshot-tls-'));
    ctx.defer(() => rm(dir, { recursive: true, force: true }));
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                   '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ecshot test CA'], dir);
    await writeFile(path.join(dir, 'server.ext'), SERVER_EXT);
    const ca = await readFile(path.join(dir, 'ca.pem'), 'utf8');
    return {
        dir,
        ca,
        async cert(name, kind = 'ec') {
            const key = kind === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
                                      : ['-newkey', 'rsa:2048'];
            await openssl(['req', ...key, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`,
                           '-subj', '/CN=127.0.0.1'], dir);
            await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key',
                           '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', 'server.ext'], dir);
            const fp = (await openssl(['x509', '-in', `${name}.pem`, '-noout', '-fingerprint', '-sha256'], dir))
                .trim().replace(/^.*=/, '');
            return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`), fingerprint: fp };
        },
    };
}

// Starts ecshotd over HTTPS with pair; the served files are copies (served.pem,
// served.key) that the test may replace. Also an audit log, for SIGHUP's end.
async function tlsServer(ctx, pki, pair, extra = []) {
    const cert = path.join(pki.dir, 'served.pem');
    const key = path.join(pki.dir, 'served.key');
    fs.copyFileSync(pair.cert, cert);
    fs.copyFileSync(pair.key, key);
    const audit = path.join(pki.dir, 'audit.log');
    const srv = await ctx.server({ args: ['--tls-cert', cert, '--tls-key', key, '--audit-log', audit, ...extra] });
    return { srv, cert, key, audit };
}

// Puts pair in place as an operator would (write aside, rename over).
function install(pair, served) {
    fs.copyFileSync(pair.cert, served.cert + '.new');
    fs.copyFileSync(pair.key, served.key + '.new');
    fs.renameSync(served.cert + '.new', served.cert);
    fs.renameSync(served.key + '.new', served.key);
}

// SIGHUP, resolved once the daemon has reloaded the certificate and then
// reopened the audit log (see the top of this file).
async function sighup(served) {
    const rotated = served.audit + '.' + Date.now();
    await rename(served.audit, rotated);
    const watcher = fs.watch(path.dirname(served.audit));
    const reopened = new Promise((resolve) => {
        watcher.on('change', () => { if (fs.existsSync(served.audit)) resolve(); });
    });
    try {
        process.kill(served.srv.pid, 'SIGHUP');
        await reopened;
    } finally {
        watcher.close();
    }
}

// ---------------------------------------------------------------- clients

function ecsHttpsClient(srv, key, ca, { signature = 'v3' } = {}) {
    const config = new OpenApi.Config({
        accessKeyId: key.accessKeyId,
        accessKeySecret: key.accessKeySecret,
        endpoint: srv.host,
        protocol: 'https',
        regionId: REGION,
        ca,
    });
    if (signature === 'v1') config.signatureAlgorithm = 'v2';
    return new Ecs.default(config);
}

const shoot = (client, instanceId) =>
    client.getInstanceScreenshot(new Ecs.GetInstanceScreenshotRequest({ regionId: REGION, instanceId }));

// A TLS handshake alone; resolves to {protocol, cipher, fingerprint} or rejects.
function handshake(srv, ca, options = {}) {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: srv.port, ca, ...options }, () => {
            const info = {
                protocol: socket.getProtocol(),
                cipher: socket.getCipher().name,
                fingerprint: socket.getPeerCertificate().fingerprint256,
            };
            socket.end();
            resolve(info);
        });
        socket.on('error', reject);
    });
}

// GET / over HTTPS (unsigned: IncompleteSignature, 400) on agent; resolves
// to {status, json, reusedSocket, fingerprint}.
function httpsGet(srv, ca, agent) {
    return new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: srv.port, path: '/', ca, agent }, (res) => {
            // Read now: at the end the socket goes back to the agent.
            const fingerprint = res.socket.getPeerCertificate().fingerprint256;
            const parts = [];
            res.on('data', (c) => parts.push(c));
            res.on('error', reject);
            res.on('end', () => {
                try {
                    resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(parts).toString('utf8')),
                              reusedSocket: req.reusedSocket, fingerprint });
                } catch (e) {
                    reject(e);
                }
            });
        });
        req.on('error', reject);
        req.end();
    });
}

// ---------------------------------------------------------------- tests

itest('HTTPS: Alibaba\'s V3 SDK (protocol https) shoots a guest; RAM sees acs:SecureTransport true', async (ctx) => {
    const pki = await makePki(ctx);
    const { srv } = await tlsServer(ctx, pki, await pki.cert('a'));
    const { accountId, key } = await srv.account();
    // V3 signature on one guest, V1 on another (the throttle holds each
    // instance for 10 s once shot).
    for (const signature of ['v3', 'v1']) {
        const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
        const res = await shoot(ecsHttpsClient(srv, key, pki.ca, { signature }), id);
        assert.equal(res.statusCode, 200);
        assertGuestPicture(assertSuccessJson({ RequestId: res.body.requestId, InstanceId: res.body.instanceId,
                                               Screenshot: res.body.screenshot }, id), 'text');
    }

    // Two RAM users whose Allow holds only over HTTPS, or only without it.
    const allowWhen = (secure) => ({
        Version: '1',
        Statement: [{ Effect: 'Allow', Action: ACTION, Resource: `acs:ecs:*:${accountId}:instance/*`,
                      Condition: { Bool: { 'acs:SecureTransport': secure } } }],
    });
    const secure = await srv.ramUser(accountId, 'secure', { secure: allowWhen('true') });
    const plain = await srv.ramUser(accountId, 'plain', { plain: allowWhen('false') });
    const third = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    assertEcsSdkError(await rejection(shoot(ecsHttpsClient(srv, plain, pki.ca), third.id)), 'Forbidden.RAM',
                      { anyRamDetail: true });
    const ok = await shoot(ecsHttpsClient(srv, secure, pki.ca), third.id);
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.body.instanceId, third.id);
});

itest('HTTPS refuses plain HTTP, TLS 1.0 and 1.1, and ciphers without AEAD; offers TLS 1.3 and 1.2', async (ctx) => {
    const pki = await makePki(ctx);
    const a = await pki.cert('a');
    const { srv } = await tlsServer(ctx, pki, a);

    // Plain HTTP on the TLS port: no HTTP answer at all.
    const plainErr = await rejection(new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: srv.port, path: '/', agent: false }, resolve);
        req.on('error', reject);
        req.end();
    }));
    assert.ok(['ECONNRESET', 'HPE_INVALID_CONSTANT'].includes(plainErr.code) || /socket hang up/.test(plainErr.message),
              `plain HTTP: ${plainErr.code} ${plainErr.message}`);

    // Old protocol versions: the client offers them alone (its own floor
    // lowered so that it really sends them), the server says no.
    for (const version of ['TLSv1', 'TLSv1.1']) {
        const err = await rejection(handshake(srv, pki.ca, { minVersion: version, maxVersion: version,
                                                              ciphers: 'DEFAULT@SECLEVEL=0' }));
        assert.match(err.code ?? err.message, /ALERT_PROTOCOL_VERSION|ECONNRESET|WRONG_VERSION/,
                     `${version}: ${err.code} ${err.message}`);
    }
    // TLS 1.2 with CBC ciphers only: no cipher in common.
    const cbc = await rejection(handshake(srv, pki.ca, { maxVersion: 'TLSv1.2',
                                                         ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA' }));
    assert.match(cbc.code ?? cbc.message, /HANDSHAKE_FAILURE|ECONNRESET/, `${cbc.code} ${cbc.message}`);

    const v13 = await handshake(srv, pki.ca);
    assert.equal(v13.protocol, 'TLSv1.3');
    assert.equal(v13.fingerprint, a.fingerprint);
    const v12 = await handshake(srv, pki.ca, { maxVersion: 'TLSv1.2' });
    assert.equal(v12.protocol, 'TLSv1.2');
    assert.match(v12.cipher, /^ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    // A client that does not trust the test CA does not get through.
    const untrusted = await rejection(handshake(srv, undefined));
    assert.match(untrusted.code, /SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY/);
});

itest('SIGHUP reloads the certificate: new connections get it, a keep-alive connection keeps working', async (ctx) => {
    const pki = await makePki(ctx);
    const a = await pki.cert('a', 'ec');
    const b = await pki.cert('b', 'rsa');
    const c = await pki.cert('c', 'ec');
    const served = await tlsServer(ctx, pki, a);
    const { srv } = served;
    assert.equal((await handshake(srv, pki.ca)).fingerprint, a.fingerprint);

    // One connection, kept alive across the reload.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    ctx.defer(() => agent.destroy());
    const first = await httpsGet(srv, pki.ca, agent);
    assert.equal(first.status, 400);
    assert.equal(first.json.Code, 'IncompleteSignature');
    assert.equal(first.fingerprint, a.fingerprint);

    install(b, served);
    await sighup(served);
    // New connections: the new (RSA) certificate, TLS 1.3 and 1.2 alike.
    assert.equal((await handshake(srv, pki.ca)).fingerprint, b.fingerprint);
    const v12 = await handshake(srv, pki.ca, { maxVersion: 'TLSv1.2' });
    assert.equal(v12.fingerprint, b.fingerprint);
    assert.match(v12.cipher, /^ECDHE-RSA-/);
    // The old connection: still open, still the old certificate, still served.
    const again = await httpsGet(srv, pki.ca, agent);
    assert.equal(again.reusedSocket, true);
    assert.equal(again.status, 400);
    assert.equal(again.fingerprint, a.fingerprint);
    assert.notEqual(again.json.RequestId, first.json.RequestId);

    // A broken pair (c's certificate with b's key): refused, b still served.
    fs.copyFileSync(c.cert, served.cert);
    await sighup(served);
    assert.match(srv.stderr(), /does not belong to certificate/);
    assert.equal((await handshake(srv, pki.ca)).fingerprint, b.fingerprint);
    // A missing file: the same.
    fs.rmSync(served.key);
    await sighup(served);
    assert.equal((await handshake(srv, pki.ca)).fingerprint, b.fingerprint);
    // And a good pair again takes effect.
    install(c, served);
    await sighup(served);
    assert.equal((await handshake(srv, pki.ca)).fingerprint, c.fingerprint);
    assert.equal((await httpsGet(srv, pki.ca, agent)).fingerprint, a.fingerprint);
});

// Runs ecshotd with args that must make it refuse to start.
function refusedStart(args) {
    return new Promise((resolve) => {
        execFile(ECSHOTD, args, { timeout: 30000 }, (err, stdout, stderr) => {
            resolve({ code: err ? err.code : 0, stdout, stderr });
        });
    });
}

itest('ecshotd does not start with a certificate but no key, a missing file, or a key of another certificate', async (ctx) => {
    const pki = await makePki(ctx);
    const a = await pki.cert('a');
    const b = await pki.cert('b');
    const masterKey = path.join(pki.dir, 'master.key');
    await createMasterKey(masterKey);
    const base = ['--listen', '127.0.0.1:0', '--store', `sqlite:${path.join(pki.dir, 'x.db')}`,
                  '--master-key', masterKey];
    const cases = [
        [['--tls-cert', a.cert], /--tls-cert and --tls-key go together/, 2],
        [['--tls-key', a.key], /--tls-cert and --tls-key go together/, 2],
        [['--tls-cert', a.cert, '--tls-key', path.join(pki.dir, 'nope.key')], /cannot read private key/, 1],
        [['--tls-cert', a.cert, '--tls-key', b.key], /does not belong to certificate/, 1],
        [['--tls-cert', a.key, '--tls-key', a.key], /not a PEM certificate chain/, 1],
        [['--tls-cert', a.cert, '--tls-key', a.key, '--tls-priorities', 'NORMAL:+NONSENSE'], /bad priority string/, 1],
    ];
    for (const [args, message, code] of cases) {
        const r = await refusedStart([...base, ...args]);
        assert.equal(r.code, code, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, '', 'no "listening" line');
    }
});
