// http.test.mjs: the HTTP layer as real clients use it: keep-alive
// connections carrying several calls, V1 form bodies sent chunked,
// parameters split between the query and the form body, wire encodings
// that differ from the canonical one, and the x-acs-request-id header.
import assert from 'node:assert/strict';
import http from 'node:http';
import { itest } from './lib/harness.mjs';
import { v1Request, v3Request, v1Common, v1Signature, rawRequest, percentEncode } from './lib/clients.mjs';
import { assertRawSuccess, assertGuestPicture, assertErrorJson, JSON_TYPE } from './lib/expect.mjs';
import { newInstanceId } from './lib/server.mjs';

const REGION = 'cn-hangzhou';

itest('keep-alive: several calls on one connection, successes and errors alike', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const a = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const b = await ctx.instanceVm(srv, accountId, { mode: 'vbe=1024x768' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    ctx.defer(() => agent.destroy());
    const r1 = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: a.id }, agent });
    const r2 = await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: a.id }, agent });
    const r3 = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: b.id }, method: 'POST', agent });
    const r4 = await rawRequest(srv, { path: '/nowhere', agent });
    const r5 = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: newInstanceId() }, agent });
    assertGuestPicture(assertRawSuccess(r1, a.id), 'text');
    assertErrorJson(r2, 'Throttling', { host: srv.host });
    assertGuestPicture(assertRawSuccess(r3, b.id), 'vbe=1024x768');
    assertErrorJson(r4, 'InvalidAction.NotFound', { host: srv.host });
    assertErrorJson(r5, 'InvalidParameter', { detail: 'InstanceId', host: srv.host });
    assert.equal(r1.reusedSocket, false);
    for (const r of [r2, r3, r4, r5]) {
        assert.equal(r.reusedSocket, true, 'the connection was kept open');
        assert.equal(r.localPort, r1.localPort);
    }
    for (const r of [r1, r2, r3, r4, r5]) assert.notEqual(r.headers.connection, 'close');
});

itest('a V1 POST whose form body comes chunked (Transfer-Encoding: chunked, no Content-Length)', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const res = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id }, method: 'POST', place: 'chunked' });
    assert.equal(Array.isArray(res.sent.body), true);
    assertGuestPicture(assertRawSuccess(res, id), 'text');
    // An error through the same path parses the chunked body too.
    const err = await v1Request(srv, key, { params: { RegionId: REGION }, method: 'POST', place: 'chunked' });
    assertErrorJson(err, 'MissingParameter', { detail: 'InstanceId', host: srv.host });
});

itest('query and form body merge: operation parameters in the query, the rest in the body (and the reverse)', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const a = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const res = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: a.id }, method: 'POST', place: 'split' });
    assert.ok(res.sent.path.includes('InstanceId='));
    assert.ok(!res.sent.body.includes('InstanceId='));
    assert.ok(res.sent.body.includes('Signature='));
    assertGuestPicture(assertRawSuccess(res, a.id), 'text');

    // The reverse, by hand: common parameters in the query, operation ones in the body.
    const b = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const op = { RegionId: REGION, InstanceId: b.id };
    const common = v1Common(key);
    common.Signature = v1Signature('POST', { ...common, ...op }, key.accessKeySecret);
    const q = Object.entries(common).map(([k, v]) => `${k}=${percentEncode(v)}`).join('&');
    const form = Object.entries(op).map(([k, v]) => `${k}=${percentEncode(v)}`).join('&');
    const rev = await rawRequest(srv, { method: 'POST', path: `/?${q}`, body: form,
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' } });
    assertGuestPicture(assertRawSuccess(rev, b.id), 'text');
});

itest('a V3 request with a form body: parameters in the body, body hashed into the signature', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    const body = `InstanceId=${id}`;
    const res = await v3Request(srv, key, { query: { RegionId: REGION }, body,
                                            contentType: 'application/x-www-form-urlencoded' });
    assertGuestPicture(assertRawSuccess(res, id), 'text');
});

itest('V1 signatures are over decoded values: raw *()!\' on the wire, lower-case escapes, + for space', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    // Node's querystring style: leaves *()!' raw. Lower-case hex escapes.
    // A nonce with those characters and a space, written as '+'.
    const nonce = "n*o(n)c!e'x-" + Date.now();
    const params = { ...v1Common(key, { SignatureNonce: nonce }), RegionId: REGION, InstanceId: newInstanceId(),
                     Note: 'a b+c' };
    params.Signature = v1Signature('GET', params, key.accessKeySecret);
    const wire = Object.entries(params).map(([k, v]) => `${k}=${encodeURIComponent(v)
        .replace(/%20/g, '+').replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())}`).join('&');
    assert.ok(wire.includes("n*o(n)c!e'x-"));
    assert.ok(wire.includes('Note=a+b%2bc'));
    const res = await rawRequest(srv, { path: `/?${wire}` });
    assertErrorJson(res, 'InvalidParameter', { detail: 'InstanceId', host: srv.host }); // past the gateway
    // The same as a form body.
    const params2 = { ...v1Common(key, { SignatureNonce: nonce + '2' }), RegionId: REGION, InstanceId: newInstanceId(),
                      Note: 'a b+c' };
    params2.Signature = v1Signature('POST', params2, key.accessKeySecret);
    const form = Object.entries(params2).map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%20/g, '+')}`).join('&');
    const res2 = await rawRequest(srv, { method: 'POST', path: '/', body: form,
                                         headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assertErrorJson(res2, 'InvalidParameter', { detail: 'InstanceId', host: srv.host });
});

itest('every answer carries x-acs-request-id equal to the body\'s RequestId, unique per request', async (ctx) => {
    const srv = await ctx.server();
    const { key } = await srv.account();
    const seen = new Set();
    for (let i = 0; i < 20; i++) {
        const res = await (i % 2 ? v3Request(srv, key, { query: { RegionId: REGION, InstanceId: newInstanceId() } })
                                 : rawRequest(srv, { path: '/' }));
        assert.equal(res.headers['content-type'], JSON_TYPE);
        assert.equal(res.headers['x-acs-request-id'], res.json.RequestId);
        seen.add(res.json.RequestId);
    }
    assert.equal(seen.size, 20);
});
