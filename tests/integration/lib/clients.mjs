// clients.mjs: the ways a test talks to ecshotd.
//
//  - Alibaba's own SDKs, configured as a user would point them at a private
//    endpoint: @alicloud/ecs20140526 (signature V3, or V1 with
//    signatureAlgorithm 'v2') and @alicloud/pop-core (V1, GET or POST);
//  - a raw signer written from PROTOCOL.md §1.1-§1.3 with node:crypto, sent
//    with node:http, for the requests no SDK makes: replays, stale or
//    malformed timestamps, wrong versions, other methods, oversized or
//    chunked bodies, Format=XML, unknown actions.
import http from 'node:http';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import Ecs from '@alicloud/ecs20140526';
import OpenApi from '@alicloud/openapi-client';
import RPCClient from '@alicloud/pop-core';

export const API_VERSION = '2014-05-26';
export const ACTION = 'GetInstanceScreenshot';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

// ---------------------------------------------------------------- SDKs

// The V3 SDK (ACS3-HMAC-SHA256), or with signature 'v1' its V1 (RPC) mode.
// headers: extra headers on every call (the SDK's globalParameters), e.g.
// the X-Forwarded-For a proxy would add. A key with a securityToken (STS
// credentials) is passed as the SDK's own securityToken option, as an
// application would.
export function ecsClient(server, key, { regionId = 'cn-hangzhou', signature = 'v3', readTimeout, headers } = {}) {
    const config = new OpenApi.Config({
        accessKeyId: key.accessKeyId,
        accessKeySecret: key.accessKeySecret,
        endpoint: server.host,
        protocol: 'http',
        regionId,
    });
    if (key.securityToken) config.securityToken = key.securityToken;
    if (signature === 'v1') config.signatureAlgorithm = 'v2';
    if (readTimeout) config.readTimeout = readTimeout;
    if (headers) config.globalParameters = new OpenApi.GlobalParameters({ headers });
    return new Ecs.default(config);
}

// Calls GetInstanceScreenshot through the ecs SDK; resolves to its response
// ({headers, statusCode, body: {requestId, instanceId, screenshot}}).
// regionId defaults to cn-hangzhou only when the key is absent: pass
// {regionId: undefined} to leave it out of the request.
export function sdkScreenshot(client, opts = {}) {
    const regionId = 'regionId' in opts ? opts.regionId : 'cn-hangzhou';
    const req = new Ecs.GetInstanceScreenshotRequest({ regionId, instanceId: opts.instanceId });
    if (opts.wakeUp !== undefined) req.wakeUp = opts.wakeUp;
    return client.getInstanceScreenshot(req);
}

// pop-core's RPCClient (V1; GET by default, {method: 'POST'} for a form body).
export function popClient(server, key) {
    return new RPCClient({
        endpoint: server.endpoint,
        apiVersion: API_VERSION,
        accessKeyId: key.accessKeyId,
        accessKeySecret: key.accessKeySecret,
        ...(key.securityToken ? { securityToken: key.securityToken } : {}),
    });
}

export function popScreenshot(client, params, method = 'GET') {
    return client.request(ACTION, params, { method, timeout: 30000 });
}

// Runs a promise that must reject; returns the error.
export async function rejection(promise) {
    try {
        await promise;
    } catch (e) {
        return e;
    }
    throw new Error('expected the call to fail, but it succeeded');
}

// ---------------------------------------------------------------- signing

// PROTOCOL.md §1.1: RFC 3986 on UTF-8, upper-case hex.
export function percentEncode(s) {
    return encodeURIComponent(String(s))
        .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

// yyyy-MM-ddTHH:mm:ssZ
export function isoSeconds(date = new Date()) {
    return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function canonicalQuery(params) {
    return Object.keys(params).sort()
        .map((k) => `${percentEncode(k)}=${percentEncode(params[k])}`).join('&');
}

// §1.2: StringToSign and Signature of a V1 request (params without Signature).
export function v1StringToSign(method, params) {
    return `${method}&${percentEncode('/')}&${percentEncode(canonicalQuery(params))}`;
}

export function v1Signature(method, params, secret) {
    return createHmac('sha1', secret + '&').update(v1StringToSign(method, params)).digest('base64');
}

// The common V1 parameters for key, overridable one by one (null drops one).
export function v1Common(key, over = {}) {
    const p = {
        Action: ACTION,
        Version: API_VERSION,
        Format: 'JSON',
        AccessKeyId: key.accessKeyId,
        SignatureMethod: 'HMAC-SHA1',
        SignatureVersion: '1.0',
        SignatureNonce: randomUUID(),
        Timestamp: isoSeconds(),
    };
    for (const [k, v] of Object.entries(over)) {
        if (v === null) delete p[k];
        else p[k] = v;
    }
    return p;
}

// §1.3: the V3 canonical request, string to sign and Authorization value.
export function v3Sign({ method, query = {}, headers, signedHeaders, bodyHash, accessKeyId, secret }) {
    const lower = {};
    for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = String(v);
    const names = (signedHeaders || Object.keys(lower).filter(
        (h) => h === 'host' || h === 'content-type' || h.startsWith('x-acs-'))).map((h) => h.toLowerCase()).sort();
    const canonicalHeaders = names.map((h) => `${h}:${(lower[h] ?? '').trim()}\n`).join('');
    const signed = names.join(';');
    const canonicalRequest = [method, '/', canonicalQuery(query), canonicalHeaders, signed, bodyHash].join('\n');
    const hashed = createHash('sha256').update(canonicalRequest).digest('hex');
    const stringToSign = `ACS3-HMAC-SHA256\n${hashed}`;
    const signature = createHmac('sha256', secret).update(stringToSign).digest('hex');
    return {
        canonicalRequest, hashed, stringToSign, signature,
        authorization: `ACS3-HMAC-SHA256 Credential=${accessKeyId},SignedHeaders=${signed},Signature=${signature}`,
    };
}

// ---------------------------------------------------------------- raw HTTP

// One HTTP exchange with node:http. body: string | Buffer | array of chunks
// (sent with Transfer-Encoding: chunked). Resolves to {status, headers,
// text, json (or undefined), socket reuse info}.
export function rawRequest(server, { method = 'GET', path = '/', headers = {}, body, agent } = {}) {
    return new Promise((resolve, reject) => {
        const chunked = Array.isArray(body);
        const h = { ...headers };
        if (body !== undefined && !chunked && !Object.keys(h).some((k) => k.toLowerCase() === 'content-length'))
            h['content-length'] = Buffer.byteLength(body);
        const req = http.request({
            host: '127.0.0.1', port: server.port, method, path, headers: h,
            agent: agent ?? false,
        }, (res) => {
            const parts = [];
            res.on('data', (c) => parts.push(c));
            res.on('error', reject);
            res.on('end', () => {
                const buf = Buffer.concat(parts);
                const text = buf.toString('utf8');
                let json;
                try { json = JSON.parse(text); } catch { json = undefined; }
                resolve({ status: res.statusCode, headers: res.headers, text, json, body: buf,
                          reusedSocket: req.reusedSocket, localPort: req.socket?.localPort });
            });
        });
        req.setTimeout(60000, () => req.destroy(new Error(`${method} ${path.slice(0, 80)} timed out`)));
        req.on('error', reject);
        if (chunked) {
            for (const c of body) req.write(c);
            req.end();
        } else {
            req.end(body);
        }
    });
}

// A V1 request built and signed by hand.
//   params:    operation parameters (RegionId, InstanceId, WakeUp...)
//   common:    overrides of the common parameters (null removes one)
//   method:    the HTTP method, also the one signed unless signMethod says otherwise
//   place:     'query' | 'body' | 'split' (operation params in the query,
//              the rest in the form body) | 'chunked' (form body, chunked)
//   secret:    the secret to sign with (default key's own)
//   tamper(p): edits the signed parameters before they are sent
// Resolves to the response plus {sent: {path, body, params}} for replays.
export async function v1Request(server, key, { params = {}, common = {}, method = 'GET', signMethod,
                                               place, secret, tamper, headers = {}, sign = true, agent } = {}) {
    const all = { ...v1Common(key, common), ...params };
    if (sign) all.Signature = v1Signature(signMethod || method, all, secret ?? key.accessKeySecret);
    if (tamper) tamper(all);
    place = place || (method === 'GET' ? 'query' : 'body');
    let queryParams = {}, bodyParams = {};
    if (place === 'query') queryParams = all;
    else if (place === 'split') {
        for (const [k, v] of Object.entries(all))
            (k in params ? queryParams : bodyParams)[k] = v;
    } else bodyParams = all;
    const qs = canonicalQuery(queryParams);
    const path = qs ? `/?${qs}` : '/';
    const sent = { method, path, params: all, headers: { ...headers }, agent };
    if (Object.keys(bodyParams).length || place === 'body' || place === 'chunked') {
        const form = canonicalQuery(bodyParams);
        sent.headers['content-type'] = 'application/x-www-form-urlencoded';
        if (place === 'chunked') {
            // Three pieces, split inside names and values on purpose.
            const a = Math.floor(form.length / 3), b = Math.floor(2 * form.length / 3);
            sent.body = [form.slice(0, a), form.slice(a, b), form.slice(b)];
        } else {
            sent.body = form;
        }
    }
    const res = await rawRequest(server, sent);
    return { ...res, sent };
}

// Sends exactly what an earlier v1Request sent (a replay).
export async function resend(server, sent) {
    const res = await rawRequest(server, sent);
    return { ...res, sent };
}

// A V3 request built and signed by hand, as the V3 SDK sends it by default:
// POST /?query, empty body, the six signed headers plus accept.
//   headerOver: overrides of the x-acs-* headers (null removes one, then it is
//               also left out of SignedHeaders)
//   body:       a raw body (hashed into x-acs-content-sha256)
export async function v3Request(server, key, { query = {}, method = 'POST', headerOver = {}, body,
                                               secret, contentType, signedHeaders, agent,
                                               authorization } = {}) {
    const bodyBuf = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
    const headers = {
        host: server.host,
        'x-acs-action': ACTION,
        'x-acs-version': API_VERSION,
        'x-acs-date': isoSeconds(),
        'x-acs-signature-nonce': randomUUID().replace(/-/g, ''),
        'x-acs-content-sha256': createHash('sha256').update(bodyBuf).digest('hex'),
        accept: 'application/json',
    };
    if (contentType) headers['content-type'] = contentType;
    for (const [k, v] of Object.entries(headerOver)) {
        if (v === null) delete headers[k];
        else headers[k] = v;
    }
    const signed = v3Sign({
        method, query, headers, signedHeaders,
        bodyHash: headers['x-acs-content-sha256'] ?? createHash('sha256').update(bodyBuf).digest('hex'),
        accessKeyId: key.accessKeyId, secret: secret ?? key.accessKeySecret,
    });
    headers.authorization = authorization ?? signed.authorization;
    const qs = canonicalQuery(query);
    const sent = { method, path: qs ? `/?${qs}` : '/', headers, body: body === undefined ? undefined : bodyBuf, agent };
    const res = await rawRequest(server, sent);
    return { ...res, sent, signed };
}
