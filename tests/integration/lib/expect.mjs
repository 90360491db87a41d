// expect.mjs: exact checks of what ecshotd answers: success bodies, the
// JPEG inside them (size and the guest's known colours), error bodies of
// every code, and the error objects Alibaba's SDKs make of them.
import assert from 'node:assert/strict';
import jpeg from 'jpeg-js';
import { guestPicture } from './vm.mjs';

export const UUID_RE = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
export const JSON_TYPE = 'application/json;charset=utf-8';
export const XML_TYPE = 'text/xml;charset=utf-8';

// PROTOCOL.md §2.1: status and fixed message of every code.
export const CODES = {
    MissingParameter: [400, (p) => `The input parameter "${p}" that is mandatory for processing this request is not supplied.`],
    InvalidParameter: [404, (p) => `The specified parameter "${p}" is not valid.`],
    IncorrectInstanceStatus: [405, (s) => `The instance status "${s}" is not applicable.`],
    NotSupported: [405, (id) => `The operation is not supported for "${id}".`],
    Throttling: [429, () => 'Request was denied due to request throttling.'],
    IncompleteSignature: [400, () => 'The request signature does not conform to Aliyun standards.'],
    SignatureDoesNotMatch: [400, (sts) => `Specified signature is not matched with our calculation. server string to sign is:${sts}`],
    'InvalidAccessKeyId.NotFound': [404, () => 'Specified access key is not found.'],
    'InvalidAccessKeyId.Inactive': [400, () => 'Specified access key is disabled.'],
    SignatureNonceUsed: [400, () => 'Specified signature nonce was used already.'],
    'InvalidTimeStamp.Expired': [400, () => 'Specified time stamp or date value is expired.'],
    'InvalidTimeStamp.Format': [400, () => 'Specified time stamp or date value is not well formatted.'],
    InvalidVersion: [400, () => 'Specified parameter Version is not valid.'],
    'InvalidAction.NotFound': [404, () => 'Specified api is not found, please check your url and method.'],
    UnsupportedHTTPMethod: [403, () => 'This http method is not supported.'],
    MissingSecurityToken: [400, () => 'The SecurityToken is mandatory for this AccessKeyId.'],
    'InvalidSecurityToken.Expired': [400, () => 'Specified SecurityToken is expired.'],
    'InvalidSecurityToken.Malformed': [400, () => 'Specified SecurityToken is malformed.'],
    'InvalidSecurityToken.MismatchWithAccessKey': [400, () => 'Specified SecurityToken mismatch with the AccessKey.'],
    'Forbidden.RAM': [403, () => "User not authorized to operate on the specified resource, or this API doesn't support RAM."],
    InternalError: [500, () => 'The request processing has failed due to some unknown error, exception or failure.'],
    ServiceUnavailable: [503, () => 'The request has failed due to a temporary failure of the server.'],
};

// The expected Message of code with its detail (parameter name, status...).
export function messageOf(code, detail) {
    return CODES[code][1](detail);
}

// No answer may reveal where the daemon keeps its files or sockets.
export function assertNoInternals(text, what = 'body') {
    for (const s of ['/tmp', '.sock', '.db', 'ecshot-vm-', 'ecshot-it-'])
        assert.ok(!text.includes(s), `${what} reveals an internal path (${s}): ${text.slice(0, 400)}`);
}

// ---------------------------------------------------------------- images

// Decodes a Screenshot field: canonical base64 of a baseline JPEG.
export function decodeScreenshot(b64) {
    assert.equal(typeof b64, 'string');
    assert.match(b64, /^[A-Za-z0-9+/]+={0,2}$/, 'Screenshot is not plain base64');
    const bytes = Buffer.from(b64, 'base64');
    assert.equal(bytes.toString('base64'), b64, 'Screenshot is not canonical base64');
    assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff], 'not a JPEG (SOI)');
    assert.deepEqual([...bytes.subarray(-2)], [0xff, 0xd9], 'JPEG without EOI');
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 256 });
    return { ...img, bytes };
}

function rgbAt(img, x, y) {
    const i = (y * img.width + x) * 3;
    return [img.data[i], img.data[i + 1], img.data[i + 2]];
}

// Asserts that img is the guest's picture for mode: exact size, and the
// expected colour (each channel within tol, for JPEG) at the centre of
// every solid region and at four more points inside it.
export function assertGuestPicture(img, mode, tol = 40) {
    const pic = guestPicture(mode);
    assert.equal(img.width, pic.width, 'width');
    assert.equal(img.height, pic.height, 'height');
    for (const r of pic.regions) {
        const [cx, cy] = r.centre;
        const points = [[cx, cy],
            [r.x + Math.floor(r.w / 4), r.y + Math.floor(r.h / 4)],
            [r.x + Math.floor(3 * r.w / 4), r.y + Math.floor(r.h / 4)],
            [r.x + Math.floor(r.w / 4), r.y + Math.floor(3 * r.h / 4)],
            [r.x + Math.floor(3 * r.w / 4), r.y + Math.floor(3 * r.h / 4)]];
        for (const [x, y] of points) {
            const got = rgbAt(img, x, y);
            const ok = got.every((v, i) => Math.abs(v - r.rgb[i]) <= tol);
            assert.ok(ok, `${mode}: ${r.name} at (${x},${y}) is rgb(${got}), expected ${r.colour} rgb(${r.rgb})`);
        }
    }
}

// ---------------------------------------------------------------- bodies

// A JSON success body as the operation defines it.
export function assertSuccessJson(body, instanceId) {
    assert.deepEqual(Object.keys(body).sort(), ['InstanceId', 'RequestId', 'Screenshot']);
    assert.match(body.RequestId, UUID_RE);
    assert.equal(body.InstanceId, instanceId);
    return decodeScreenshot(body.Screenshot);
}

// A raw HTTP success: status, content type, request id header, body.
export function assertRawSuccess(res, instanceId) {
    assert.equal(res.status, 200, `expected 200, got ${res.status}: ${res.text.slice(0, 300)}`);
    assert.equal(res.headers['content-type'], JSON_TYPE);
    assert.ok(res.json, 'body is not JSON');
    const img = assertSuccessJson(res.json, instanceId);
    assert.equal(res.headers['x-acs-request-id'], res.json.RequestId);
    return img;
}

// A JSON error body: exactly the five keys (plus AccessDeniedDetail for a
// RAM denial), the code's status, message and a fresh RequestId.
//   message:  exact expected message (default: the code's fixed text with detail)
//   host:     expected HostId (the Host header sent)
//   anyRamDetail: accept a Forbidden.RAM body with or without AccessDeniedDetail
//             (for tests about the decision, not the body)
export function assertErrorJson(res, code, { detail, message, host, status, anyRamDetail } = {}) {
    const [wantStatus] = CODES[code] ?? [status];
    assert.equal(res.status, status ?? wantStatus,
        `expected HTTP ${status ?? wantStatus} ${code}, got ${res.status}: ${res.text.slice(0, 400)}`);
    assert.equal(res.headers['content-type'], JSON_TYPE);
    assert.ok(res.json, `error body is not JSON: ${res.text.slice(0, 200)}`);
    const body = res.json;
    const keys = ['Code', 'HostId', 'Message', 'Recommend', 'RequestId'];
    if (code === 'Forbidden.RAM' && (!anyRamDetail || 'AccessDeniedDetail' in body)) keys.push('AccessDeniedDetail');
    assert.deepEqual(Object.keys(body).sort(), keys.sort());
    assert.equal(body.Code, code);
    if (message !== undefined) {
        if (message instanceof RegExp) assert.match(body.Message, message);
        else assert.equal(body.Message, message);
    } else if (CODES[code]) {
        assert.equal(body.Message, messageOf(code, detail));
    }
    assert.match(body.RequestId, UUID_RE);
    assert.equal(res.headers['x-acs-request-id'], body.RequestId);
    if (host !== undefined) assert.equal(body.HostId, host);
    assert.equal(typeof body.Recommend, 'string');
    assert.match(body.Recommend, /^https:\/\//);
    assertNoInternals(res.text);
    return body;
}

// ---------------------------------------------------------------- SDK errors

// What the V3 SDK (@alicloud/openapi-core) raised: a ClientError (4xx),
// ServerError (5xx) or ThrottlingError (Code contains "Throttling"), with
// statusCode, code, data (the parsed body) and requestId.
export function assertEcsSdkError(err, code, { detail, message, cls, anyRamDetail } = {}) {
    const [status] = CODES[code];
    const want = cls ?? (code.includes('Throttling') ? 'ThrottlingError'
        : status >= 500 ? 'ServerError' : 'ClientError');
    assert.equal(err.name, want, `error class: ${err.name} (${err.message})`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.statusCode, status);
    assert.ok(err.data, 'err.data (the body)');
    const keys = ['Code', 'HostId', 'Message', 'Recommend', 'RequestId'];
    if (code === 'Forbidden.RAM' && (!anyRamDetail || 'AccessDeniedDetail' in err.data)) keys.push('AccessDeniedDetail');
    assert.deepEqual(Object.keys(err.data).sort(), keys.sort());
    assert.equal(err.data.Code, code);
    assert.equal(err.data.Message, message ?? messageOf(code, detail));
    assert.match(err.requestId, UUID_RE);
    assert.equal(err.data.RequestId, err.requestId);
    assertNoInternals(JSON.stringify(err.data));
    return err;
}

// What pop-core raised: an Error named CODE + "Error" with .code and .data.
export function assertPopError(err, code, { detail, message } = {}) {
    assert.equal(err.code, code, err.message);
    assert.equal(err.name, `${code}Error`);
    assert.ok(err.data);
    assert.equal(err.data.Code, code);
    assert.equal(err.data.Message, message ?? messageOf(code, detail));
    assert.match(err.data.RequestId, UUID_RE);
    assertNoInternals(JSON.stringify(err.data));
    return err;
}
