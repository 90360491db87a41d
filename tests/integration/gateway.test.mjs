// gateway.test.mjs: the codes every Alibaba endpoint answers before the
// operation runs, provoked with the tests' own signer (lib/clients.mjs,
// checked against PROTOCOL.md's vectors in signer.test.mjs): requests the
// SDKs never send. Each answer is checked exactly: status, Code, Message,
// the five keys of the body, the request id header, no internal paths.
import assert from 'node:assert/strict';
import { itest } from './lib/harness.mjs';
import {
    v1Request, v3Request, resend, rawRequest, v1StringToSign, isoSeconds, ecsClient, sdkScreenshot, popClient,
    popScreenshot, rejection,
} from './lib/clients.mjs';
import { assertErrorJson, assertEcsSdkError, assertPopError, messageOf, JSON_TYPE, UUID_RE } from './lib/expect.mjs';
import { newInstanceId, newAccessKey } from './lib/server.mjs';

const REGION = 'cn-hangzhou';
// An instance nobody has: a request that gets past the gateway answers
// InvalidParameter "InstanceId", which proves the gateway let it through.
const passedGateway = (res, srv) => assertErrorJson(res, 'InvalidParameter', { detail: 'InstanceId', host: srv.host });
const params = () => ({ RegionId: REGION, InstanceId: newInstanceId() });
const minutesAgo = (m) => isoSeconds(new Date(Date.now() - m * 60000));

itest('the raw signer gets past the gateway (V1 GET, V1 POST, V3)', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    passedGateway(await v1Request(srv, key, { params: params() }), srv);
    passedGateway(await v1Request(srv, key, { params: params(), method: 'POST' }), srv);
    passedGateway(await v3Request(srv, key, { query: params() }), srv);
    // Format in any case, and the Go SDK's empty SignatureType= (signed).
    passedGateway(await v1Request(srv, key, { params: params(), common: { Format: 'json' } }), srv);
    passedGateway(await v1Request(srv, key, { params: { ...params(), SignatureType: '' } }), srv);
});

itest('IncompleteSignature (400)', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    const host = srv.host;
    // No signature of either kind.
    assertErrorJson(await v1Request(srv, key, { params: params(), sign: false }), 'IncompleteSignature', { host });
    assertErrorJson(await rawRequest(srv, { path: '/' }), 'IncompleteSignature', { host });
    assertErrorJson(await rawRequest(srv, { method: 'POST', path: '/', body: '' }), 'IncompleteSignature', { host });
    // V1 with another signature method or version (signed over what is sent).
    assertErrorJson(await v1Request(srv, key, { params: params(), common: { SignatureMethod: 'HMAC-SHA256' } }),
                    'IncompleteSignature', { host });
    assertErrorJson(await v1Request(srv, key, { params: params(), common: { SignatureVersion: '2.0' } }),
                    'IncompleteSignature', { host });
    // V3 with a malformed Authorization.
    for (const authorization of ['ACS3-HMAC-SHA256', 'ACS3-HMAC-SHA256 garbage',
        `ACS3-HMAC-SHA256 Credential=${key.accessKeyId}`,
        `ACS3-HMAC-SHA256 Credential=${key.accessKeyId},SignedHeaders=host;x-acs-action,Signature=zz`,
        `ACS3-HMAC-SHA256 Credential=${key.accessKeyId},SignedHeaders=,Signature=${'0'.repeat(64)}`])
        assertErrorJson(await v3Request(srv, key, { query: params(), authorization }), 'IncompleteSignature', { host });
    // V3 that leaves a required header out of SignedHeaders (signed consistently otherwise).
    for (const left of ['host', 'x-acs-date', 'x-acs-action', 'x-acs-version', 'x-acs-content-sha256']) {
        const signedHeaders = ['host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-signature-nonce',
                               'x-acs-version'].filter((h) => h !== left);
        assertErrorJson(await v3Request(srv, key, { query: params(), signedHeaders }), 'IncompleteSignature', { host });
    }
    // V3 whose SignedHeaders names a header that was not sent.
    assertErrorJson(await v3Request(srv, key, { query: params(), signedHeaders: ['host', 'x-acs-action',
        'x-acs-content-sha256', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-version', 'x-acs-absent'] }),
                    'IncompleteSignature', { host });
});

itest('MissingParameter for an absent common parameter (V1) or header (V3)', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    for (const name of ['AccessKeyId', 'SignatureNonce', 'Timestamp', 'SignatureMethod', 'SignatureVersion',
                        'Version', 'Action']) {
        assertErrorJson(await v1Request(srv, key, { params: params(), common: { [name]: null } }),
                        'MissingParameter', { detail: name, host: srv.host });
        // An empty value counts as absent.
        assertErrorJson(await v1Request(srv, key, { params: params(), common: { [name]: '' } }),
                        'MissingParameter', { detail: name, host: srv.host });
    }
    for (const name of ['x-acs-date', 'x-acs-signature-nonce', 'x-acs-action', 'x-acs-version'])
        assertErrorJson(await v3Request(srv, key, { query: params(), headerOver: { [name]: null },
            signedHeaders: ['host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-version'] }),
                        'MissingParameter', { detail: name, host: srv.host });
});

itest('SignatureDoesNotMatch (400) shows the server\'s string to sign (V1, SDKs)', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    const wrong = newAccessKey().accessKeySecret;
    // V1: the message ends with exactly the StringToSign of §1.2.
    for (const method of ['GET', 'POST']) {
        const res = await v1Request(srv, key, { params: params(), method, secret: wrong });
        const { Signature, ...signed } = res.sent.params;
        assert.ok(Signature);
        assertErrorJson(res, 'SignatureDoesNotMatch', { detail: v1StringToSign(method, signed), host: srv.host });
    }
    // V1 signed for GET but sent as POST; and a parameter changed after signing.
    {
        const res = await v1Request(srv, key, { params: params(), method: 'POST', signMethod: 'GET' });
        const { Signature, ...signed } = res.sent.params;
        assertErrorJson(res, 'SignatureDoesNotMatch', { detail: v1StringToSign('POST', signed) });
        const res2 = await v1Request(srv, key, { params: params(), tamper: (p) => { p.InstanceId = newInstanceId(); } });
        const { Signature: s2, ...signed2 } = res2.sent.params;
        assertErrorJson(res2, 'SignatureDoesNotMatch', { detail: v1StringToSign('GET', signed2) });
    }
    // Through the SDKs: a wrong secret.
    const bad = { accessKeyId: key.accessKeyId, accessKeySecret: wrong };
    for (const signature of ['v3', 'v1']) {
        const err = await rejection(sdkScreenshot(ecsClient(srv, bad, { signature }), params()));
        assertEcsSdkError(err, 'SignatureDoesNotMatch', { message: err.data.Message });
        assert.ok(err.data.Message.startsWith('Specified signature is not matched with our calculation. server string to sign is:'));
    }
    const perr = await rejection(popScreenshot(popClient(srv, bad), params()));
    assertPopError(perr, 'SignatureDoesNotMatch', { message: perr.data.Message });
    assert.ok(perr.data.Message.startsWith('Specified signature is not matched with our calculation. server string to sign is:GET&%2F&'));
});

itest('SignatureDoesNotMatch (400) for V3 shows its exact string to sign, newline included', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    const wrong = newAccessKey().accessKeySecret;
    // V3: the message ends with "ACS3-HMAC-SHA256\n" + hex(sha256(CanonicalRequest)).
    {
        const res = await v3Request(srv, key, { query: params(), secret: wrong });
        assertErrorJson(res, 'SignatureDoesNotMatch', { detail: res.signed.stringToSign, host: srv.host });
        assert.match(res.json.Message, /server string to sign is:ACS3-HMAC-SHA256\n[0-9a-f]{64}$/);
    }
    // V3 whose body does not match x-acs-content-sha256 (the hash claimed is of an empty body).
    {
        const res = await v3Request(srv, key, { query: params(), body: 'Extra=1', contentType: 'application/octet-stream',
            headerOver: { 'x-acs-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' } });
        assert.equal(res.json?.Code, 'SignatureDoesNotMatch', res.text);
        assertErrorJson(res, 'SignatureDoesNotMatch', { message: /^Specified signature is not matched with our calculation\. server string to sign is:ACS3-HMAC-SHA256\n[0-9a-f]{64}$/ });
    }
});

itest('InvalidAccessKeyId.NotFound (404) and InvalidAccessKeyId.Inactive (400, after key disable)', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const stranger = newAccessKey();
    assertErrorJson(await v1Request(srv, stranger, { params: params() }), 'InvalidAccessKeyId.NotFound', { host: srv.host });
    assertErrorJson(await v3Request(srv, stranger, { query: params() }), 'InvalidAccessKeyId.NotFound', { host: srv.host });
    for (const signature of ['v3', 'v1'])
        assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, stranger, { signature }), params())),
                          'InvalidAccessKeyId.NotFound');
    assertPopError(await rejection(popScreenshot(popClient(srv, stranger), params())), 'InvalidAccessKeyId.NotFound');

    // A second key of the same account is disabled; the first keeps working.
    const second = await srv.ramUser(accountId, 'ops');
    await srv.admin('key', 'disable', second.accessKeyId);
    assertErrorJson(await v1Request(srv, second, { params: params() }), 'InvalidAccessKeyId.Inactive', { host: srv.host });
    assertErrorJson(await v3Request(srv, second, { query: params() }), 'InvalidAccessKeyId.Inactive', { host: srv.host });
    for (const signature of ['v3', 'v1'])
        assertEcsSdkError(await rejection(sdkScreenshot(ecsClient(srv, second, { signature }), params())),
                          'InvalidAccessKeyId.Inactive');
    assertPopError(await rejection(popScreenshot(popClient(srv, second), params())), 'InvalidAccessKeyId.Inactive');
    passedGateway(await v1Request(srv, key, { params: params() }), srv);
    // A disabled key with a wrong signature still only says "disabled".
    assertErrorJson(await v1Request(srv, second, { params: params(), secret: 'x' }), 'InvalidAccessKeyId.Inactive');
    // The root key too.
    await srv.admin('key', 'disable', key.accessKeyId);
    assertErrorJson(await v3Request(srv, key, { query: params() }), 'InvalidAccessKeyId.Inactive', { host: srv.host });
    // Disabling an unknown key fails with a message and a non-zero exit.
    const r = await srv.cli('key', 'disable', stranger.accessKeyId);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^ecshot: .+\n$/);
});

itest('SignatureNonceUsed (400): a replayed request, and a nonce reused by a new request', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    const other = (await srv.account()).key;
    for (const method of ['GET', 'POST']) {
        const first = await v1Request(srv, key, { params: params(), method });
        passedGateway(first, srv);
        assertErrorJson(await resend(srv, first.sent), 'SignatureNonceUsed', { host: srv.host });
        // Same nonce, other parameters, correctly signed: still used.
        const again = await v1Request(srv, key, { params: params(), method,
                                                  common: { SignatureNonce: first.sent.params.SignatureNonce } });
        assertErrorJson(again, 'SignatureNonceUsed');
        // The same nonce under another AccessKeyId is that key's first use.
        passedGateway(await v1Request(srv, other, { params: params(), method,
                                                    common: { SignatureNonce: first.sent.params.SignatureNonce } }), srv);
    }
    const v3 = await v3Request(srv, key, { query: params() });
    passedGateway(v3, srv);
    assertErrorJson(await resend(srv, v3.sent), 'SignatureNonceUsed', { host: srv.host });
    const v3b = await v3Request(srv, key, { query: params(),
                                            headerOver: { 'x-acs-signature-nonce': v3.sent.headers['x-acs-signature-nonce'] } });
    assertErrorJson(v3b, 'SignatureNonceUsed');
});

itest('InvalidTimeStamp.Expired (400) beyond 15 minutes, InvalidTimeStamp.Format (400)', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    for (const m of [20, -20, 60 * 24 * 365]) {
        assertErrorJson(await v1Request(srv, key, { params: params(), common: { Timestamp: minutesAgo(m) } }),
                        'InvalidTimeStamp.Expired', { host: srv.host });
        assertErrorJson(await v3Request(srv, key, { query: params(), headerOver: { 'x-acs-date': minutesAgo(m) } }),
                        'InvalidTimeStamp.Expired', { host: srv.host });
    }
    // Within the window on either side: accepted.
    for (const m of [13, -13]) {
        passedGateway(await v1Request(srv, key, { params: params(), common: { Timestamp: minutesAgo(m) } }), srv);
        passedGateway(await v3Request(srv, key, { query: params(), headerOver: { 'x-acs-date': minutesAgo(m) } }), srv);
    }
    const now = isoSeconds();
    for (const ts of ['yesterday', now.replace('T', ' '), now.slice(0, -1), '2024-13-01T00:00:00Z',
                      '2024-02-30T00:00:00Z', '2024-01-01T25:00:00Z', '2024-01-01T00:00Z', '0',
                      now.replace('Z', 'Zjunk')]) {
        assertErrorJson(await v1Request(srv, key, { params: params(), common: { Timestamp: ts } }),
                        'InvalidTimeStamp.Format', { host: srv.host });
    }
    for (const ts of ['yesterday', now.slice(0, -1), '2024-13-01T00:00:00Z'])
        assertErrorJson(await v3Request(srv, key, { query: params(), headerOver: { 'x-acs-date': ts } }),
                        'InvalidTimeStamp.Format', { host: srv.host });
});

itest('InvalidVersion (400) and InvalidAction.NotFound (404)', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    for (const Version of ['2016-03-14', '2014-05-27', '2014-05-26 ', '2014-5-26'])
        assertErrorJson(await v1Request(srv, key, { params: params(), common: { Version } }), 'InvalidVersion', { host: srv.host });
    assertErrorJson(await v3Request(srv, key, { query: params(), headerOver: { 'x-acs-version': '2016-03-14' } }),
                    'InvalidVersion', { host: srv.host });
    for (const Action of ['DescribeInstances', 'getinstancescreenshot', 'GetInstanceScreenshots', 'GetInstanceScreenshot '])
        assertErrorJson(await v1Request(srv, key, { params: params(), common: { Action } }), 'InvalidAction.NotFound',
                        { host: srv.host });
    assertErrorJson(await v3Request(srv, key, { query: params(), headerOver: { 'x-acs-action': 'DescribeRegions' } }),
                    'InvalidAction.NotFound', { host: srv.host });
    // Through pop-core, which signs any action name.
    assertPopError(await rejection(popClient(srv, key).request('DescribeRegions', {}, { method: 'GET' })),
                   'InvalidAction.NotFound');
    // Another path than "/".
    const res = await v1Request(srv, key, { params: params() });
    assert.equal(res.status, 404);
    const other = await rawRequest(srv, { path: '/v1' + res.sent.path.slice(1) });
    assertErrorJson(other, 'InvalidAction.NotFound', { host: srv.host });
});

itest('UnsupportedHTTPMethod (403) for PUT, DELETE, PATCH', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
        assertErrorJson(await v1Request(srv, key, { params: params(), method, place: 'query' }),
                        'UnsupportedHTTPMethod', { host: srv.host });
        assertErrorJson(await v1Request(srv, key, { params: params(), method, place: 'body' }),
                        'UnsupportedHTTPMethod', { host: srv.host });
        assertErrorJson(await v3Request(srv, key, { query: params(), method }), 'UnsupportedHTTPMethod', { host: srv.host });
    }
});

itest('request limits: 414 for an over-long URL, 413 for an oversized body, with JSON error bodies', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    const checkLimit = (res, status, code) => {
        assert.equal(res.status, status, `${res.status}: ${res.text.slice(0, 300)}`);
        assert.equal(res.headers['content-type'], JSON_TYPE);
        assert.ok(res.json, res.text.slice(0, 200));
        assert.deepEqual(Object.keys(res.json).sort(), ['Code', 'HostId', 'Message', 'Recommend', 'RequestId']);
        assert.equal(res.json.Code, code);
        assert.ok(res.json.Message.length > 0);
        assert.match(res.json.RequestId, UUID_RE);
        assert.equal(res.headers['x-acs-request-id'], res.json.RequestId);
    };
    // A URL of 20 KB (the daemon takes 16 KiB).
    const long = await v1Request(srv, key, { params: { ...params(), Padding: 'x'.repeat(20000) } });
    checkLimit(long, 414, 'RequestURITooLong');
    // A form body of 100 KB (the daemon takes 64 KiB), with a length and chunked.
    const big = { ...params(), Padding: 'y'.repeat(100000) };
    checkLimit(await v1Request(srv, key, { params: big, method: 'POST' }), 413, 'RequestEntityTooLarge');
    checkLimit(await v1Request(srv, key, { params: big, method: 'POST', place: 'chunked' }), 413, 'RequestEntityTooLarge');
    // A body that only claims to be big.
    const claim = await rawRequest(srv, { method: 'POST', path: '/', headers: { 'content-length': '1000000000',
        'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' });
    checkLimit(claim, 413, 'RequestEntityTooLarge');
    // Just under the limits: accepted by the transport (the gateway then answers).
    passedGateway(await v1Request(srv, key, { params: { ...params(), Padding: 'x'.repeat(12000) } }), srv);
    passedGateway(await v1Request(srv, key, { params: { ...params(), Padding: 'y'.repeat(60000) }, method: 'POST' }), srv);
    // The server is still healthy afterwards.
    passedGateway(await v3Request(srv, key, { query: params() }), srv);
});

itest('a parameter given twice is refused, naming it; query and form merge otherwise', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    const p = params();
    // InstanceId in both the query and the form body.
    const res = await v1Request(srv, key, { params: p, method: 'POST', place: 'split' });
    passedGateway(res, srv); // split alone is fine: merged
    const dup = await rawRequest(srv, { method: 'POST', path: res.sent.path, headers: res.sent.headers,
        body: res.sent.body + `&InstanceId=${newInstanceId()}` });
    assertErrorJson(dup, 'InvalidParameter', { detail: 'InstanceId', host: srv.host });
    // Twice in the query.
    const q = await v1Request(srv, key, { params: p });
    const twice = await rawRequest(srv, { path: `${q.sent.path}&RegionId=${REGION}` });
    assertErrorJson(twice, 'InvalidParameter', { detail: 'RegionId', host: srv.host });
});

itest('a malformed percent-encoding in the query is refused as InvalidParameter', async (ctx) => {
    const srv = await ctx.server();
    for (const path of ['/?Action=%zz', '/?Action=%', '/?%G0=1', '/?A=%E0%A4%A'])
        assertErrorJson(await rawRequest(srv, { path }), 'InvalidParameter', { detail: 'QueryString', host: srv.host });
});
