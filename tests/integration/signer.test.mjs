// signer.test.mjs: the tests' own raw signer (lib/clients.mjs) reproduces the
// test vectors of PROTOCOL.md §1.2 and §1.3, so that a gateway test that
// fails blames the server, not the signer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentEncode, v1Signature, v1StringToSign, v3Sign, EMPTY_SHA256 } from './lib/clients.mjs';

test('percent-encoding follows RFC 3986 with upper-case hex', () => {
    assert.equal(percentEncode("a b*c~d!e'f(g)h+i/j:k"), 'a%20b%2Ac~d%21e%27f%28g%29h%2Bi%2Fj%3Ak');
    assert.equal(percentEncode('é'), '%C3%A9');
});

test('V1 signer reproduces PROTOCOL.md §1.2 vectors', () => {
    const p1 = {
        AccessKeyId: 'testid', Action: 'DescribeRegions', Format: 'XML', SignatureMethod: 'HMAC-SHA1',
        SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf', SignatureVersion: '1.0',
        Timestamp: '2016-02-23T12:46:24Z', Version: '2014-05-26',
    };
    assert.equal(v1StringToSign('GET', p1),
        'GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26');
    assert.equal(v1Signature('GET', p1, 'testsecret'), 'OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
    assert.equal(v1Signature('POST', p1, 'testsecret'), 'MxbnVAM4w6sft9xjVpe/GCKueuk=');
    const p3 = {
        AccessKeyId: 'testAccessKeyId', Action: 'GetInstanceScreenshot', Format: 'JSON',
        InstanceId: 'i-bp1gbz20g229bvu5****', RegionId: 'cn-hangzhou', SignatureMethod: 'HMAC-SHA1',
        SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf', SignatureVersion: '1.0',
        Timestamp: '2024-01-01T00:00:00Z', Version: '2014-05-26', WakeUp: 'false',
    };
    assert.equal(v1Signature('GET', p3, 'testAccessKeySecret'), '58C/zfSLKCwwr8qUeIcenDZplVc=');
    assert.equal(v1Signature('POST', p3, 'testAccessKeySecret'), 'Jm3RFlKpfo6hUoi5HJo9gLE72AQ=');
    assert.equal(v1Signature('GET', { ...p3, SecurityToken: 'CAIS+token/abc==' }, 'testAccessKeySecret'),
        'XSeG3MMjmbszF0WZwEqOj2IfuFk=');
    assert.equal(v1Signature('GET', { ...p3, SignatureType: '' }, 'testAccessKeySecret'),
        'yLMZSYnOPpWLYr96Ji22KFXD8qI=');
});

test('V3 signer reproduces PROTOCOL.md §1.3 vectors', () => {
    const signed = ['host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-version'];
    const a = v3Sign({
        method: 'POST',
        query: { ImageId: 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd', RegionId: 'cn-shanghai' },
        headers: {
            host: 'ecs.cn-shanghai.aliyuncs.com', 'x-acs-action': 'RunInstances', 'x-acs-version': '2014-05-26',
            'x-acs-date': '2023-10-26T10:22:32Z', 'x-acs-signature-nonce': '3156853299f313e23d1673dc12e1703d',
            'x-acs-content-sha256': EMPTY_SHA256,
        },
        signedHeaders: signed, bodyHash: EMPTY_SHA256, accessKeyId: 'YourAccessKeyId', secret: 'YourAccessKeySecret',
    });
    assert.equal(a.hashed, '7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259');
    assert.equal(a.signature, '06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0');
    const b = v3Sign({
        method: 'POST',
        query: { InstanceId: 'i-bp1gbz20g229bvu5****', RegionId: 'cn-hangzhou', WakeUp: 'false' },
        headers: {
            host: '127.0.0.1:8080', 'x-acs-action': 'GetInstanceScreenshot', 'x-acs-version': '2014-05-26',
            'x-acs-date': '2024-01-01T00:00:00Z', 'x-acs-signature-nonce': '3156853299f313e23d1673dc12e1703d',
            'x-acs-content-sha256': EMPTY_SHA256,
        },
        signedHeaders: signed, bodyHash: EMPTY_SHA256, accessKeyId: 'testAccessKeyId', secret: 'testAccessKeySecret',
    });
    assert.equal(b.hashed, '49512a5f3213386478272789a4c1072e8078ba9e607bd54afd678a708b43fdf1');
    assert.equal(b.signature, 'c09477b4a0e64e0d49b71068ecbd15aa1459ca8341d0e353fc1523cf89674a92');
    assert.equal(b.authorization, `ACS3-HMAC-SHA256 Credential=testAccessKeyId,SignedHeaders=${signed.join(';')},Signature=${b.signature}`);
});
