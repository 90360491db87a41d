// xml.test.mjs: Format=XML (PROTOCOL.md §2). Success:
//   <?xml version="1.0" encoding="UTF-8"?><GetInstanceScreenshotResponse>
//   <RequestId>…</RequestId><InstanceId>…</InstanceId><Screenshot>…</Screenshot>
//   </GetInstanceScreenshotResponse>
// Error:
//   <?xml version='1.0' encoding='UTF-8'?><Error><RequestId/><HostId/><Code/>
//   <Message/><Recommend><![CDATA[…]]></Recommend></Error>
// both as exactly text/xml;charset=utf-8 (the V3 SDK parses XML only under
// that string). pop-core always parses JSON, so only raw V1 requests ask
// for XML here.
import assert from 'node:assert/strict';
import { itest } from './lib/harness.mjs';
import { v1Request, v3Request, v1StringToSign } from './lib/clients.mjs';
import { XML_TYPE, JSON_TYPE, UUID_RE, decodeScreenshot, assertGuestPicture, assertErrorJson, assertRawSuccess,
         messageOf, assertNoInternals } from './lib/expect.mjs';
import { newInstanceId } from './lib/server.mjs';

const REGION = 'cn-hangzhou';
const SUCCESS_RE = /^<\?xml version="1\.0" encoding="UTF-8"\?><GetInstanceScreenshotResponse><RequestId>([^<]*)<\/RequestId><InstanceId>([^<]*)<\/InstanceId><Screenshot>([^<]*)<\/Screenshot><\/GetInstanceScreenshotResponse>$/;
const ERROR_RE = /^<\?xml version='1\.0' encoding='UTF-8'\?><Error><RequestId>([^<]*)<\/RequestId><HostId>([^<]*)<\/HostId><Code>([^<]*)<\/Code><Message>([^<]*)<\/Message><Recommend><!\[CDATA\[(.*)\]\]><\/Recommend><\/Error>$/s;

// Character data of an XML text node (the five entities and numeric references).
function unescapeXml(s) {
    assert.doesNotMatch(s, /&(?!(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/, `bare & in ${s}`);
    return s.replace(/&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/g, (_, e) => ({
        amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]
        ?? String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)));
}

function assertXmlSuccess(res, instanceId, mode) {
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.equal(res.headers['content-type'], XML_TYPE);
    const m = SUCCESS_RE.exec(res.text);
    assert.ok(m, `not the success document: ${res.text.slice(0, 300)}`);
    assert.match(m[1], UUID_RE);
    assert.equal(res.headers['x-acs-request-id'], m[1]);
    assert.equal(m[2], instanceId);
    assertGuestPicture(decodeScreenshot(m[3]), mode);
}

function assertXmlError(res, code, { detail, message, host } = {}) {
    assert.equal(res.headers['content-type'], XML_TYPE);
    const m = ERROR_RE.exec(res.text);
    assert.ok(m, `not the error document: ${res.text.slice(0, 400)}`);
    const [, requestId, hostId, gotCode, msg, recommend] = m;
    assert.match(requestId, UUID_RE);
    assert.equal(res.headers['x-acs-request-id'], requestId);
    if (host !== undefined) assert.equal(unescapeXml(hostId), host);
    assert.equal(gotCode, code);
    assert.equal(unescapeXml(msg), message ?? messageOf(code, detail));
    assert.match(recommend, /^https:\/\/[^\]]*$/);
    assertNoInternals(res.text);
    return { requestId, code: gotCode, message: unescapeXml(msg) };
}

itest('Format=XML success document, any case of XML', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const cases = [['XML', 'GET'], ['xml', 'POST'], ['Xml', 'GET']];
    for (const [Format, method] of cases) {
        const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
        const res = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id }, common: { Format }, method });
        assertXmlSuccess(res, id, 'text');
    }
});

itest('Format=XML error documents: operation, throttle and gateway errors, escaped', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const xml = { Format: 'XML' };
    // The operation's own.
    let res = await v1Request(srv, key, { params: { RegionId: REGION }, common: xml });
    assert.equal(res.status, 400);
    assertXmlError(res, 'MissingParameter', { detail: 'InstanceId', host: srv.host });
    res = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: newInstanceId() }, common: xml });
    assert.equal(res.status, 404);
    assertXmlError(res, 'InvalidParameter', { detail: 'InstanceId', host: srv.host });
    // Throttling, with its header.
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    assertXmlSuccess(await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id }, common: xml }), id, 'text');
    res = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id }, common: xml });
    assert.equal(res.status, 429);
    assertXmlError(res, 'Throttling', { host: srv.host });
    assert.ok(Number(res.headers['x-acs-retry-after']) > 0);
    // A gateway error whose message holds '&' and '%': escaped, exact once unescaped.
    res = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: newInstanceId() }, common: xml,
                                      secret: 'not-the-secret' });
    assert.equal(res.status, 400);
    const { Signature, ...signed } = res.sent.params;
    assert.ok(Signature);
    assertXmlError(res, 'SignatureDoesNotMatch', { detail: v1StringToSign('GET', signed), host: srv.host });
    // A Host header with markup in it comes back escaped, not as markup.
    res = await v1Request(srv, key, { params: { RegionId: REGION }, common: xml,
                                      headers: { host: 'a<b>&c' } });
    assertXmlError(res, 'MissingParameter', { detail: 'InstanceId', host: 'a<b>&c' });
});

itest('without Format: JSON by default and for Accept: application/json, XML for Accept: text/xml; Format wins', async (ctx) => {
    const srv = await ctx.server();
    const { accountId, key } = await srv.account();
    const p = () => ({ RegionId: REGION, InstanceId: newInstanceId() });
    const noFormat = { Format: null };
    let res = await v1Request(srv, key, { params: p(), common: noFormat });
    assertErrorJson(res, 'InvalidParameter', { detail: 'InstanceId' });
    res = await v1Request(srv, key, { params: p(), common: noFormat, headers: { accept: 'application/json' } });
    assertErrorJson(res, 'InvalidParameter', { detail: 'InstanceId' });
    res = await v1Request(srv, key, { params: p(), common: noFormat, headers: { accept: 'text/xml' } });
    assertXmlError(res, 'InvalidParameter', { detail: 'InstanceId' });
    res = await v3Request(srv, key, { query: p(), headerOver: { accept: 'application/xml' } });
    assertXmlError(res, 'InvalidParameter', { detail: 'InstanceId' });
    // Format beats Accept, both ways.
    res = await v1Request(srv, key, { params: p(), common: { Format: 'JSON' }, headers: { accept: 'text/xml' } });
    assert.equal(res.headers['content-type'], JSON_TYPE);
    res = await v1Request(srv, key, { params: p(), common: { Format: 'XML' }, headers: { accept: 'application/json' } });
    assertXmlError(res, 'InvalidParameter', { detail: 'InstanceId' });
    // Success in JSON with Accept: application/json and no Format.
    const { id } = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    res = await v1Request(srv, key, { params: { RegionId: REGION, InstanceId: id }, common: noFormat,
                                      headers: { accept: 'application/json' } });
    assertGuestPicture(assertRawSuccess(res, id), 'text');
    // And in XML for a V3 request that accepts only XML.
    const other = await ctx.instanceVm(srv, accountId, { mode: 'text' });
    res = await v3Request(srv, key, { query: { RegionId: REGION, InstanceId: other.id }, headerOver: { accept: 'text/xml' } });
    assertXmlSuccess(res, other.id, 'text');
});
