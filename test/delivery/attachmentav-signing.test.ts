import assert from 'node:assert/strict';
import { createPrivateKey, createSign, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  attachmentAvHeaders,
  attachmentAvSignedText,
  generateCallbackSigningKey,
  verifyAttachmentAv,
} from '../../src/attachmentav-signing.ts';
import { ConfigError, defaultConfig } from '../../src/config.ts';
import { loadCallbackSigningKeys } from '../../src/delivery/callback-signing-keys.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';

const body = '{"status":"clean","size":12}';
const url = 'https://api.example.com/attachmentav/callback';

describe('attachmentAV callback signatures', () => {
  const privateKey = createPrivateKey(generateCallbackSigningKey());
  const now = 1_800_000_000;

  test('x-signature is RSA-SHA256 over {timestamp}.{tenantId}.{callback_url}.{body}', () => {
    const headers = attachmentAvHeaders(privateKey, 'tenant-a', url, body, now);
    assert.equal(headers['x-timestamp'], String(now));
    const expected = createSign('sha256').update(`${now}.tenant-a.${url}.${body}`).sign(privateKey, 'base64');
    assert.equal(headers['x-signature'], expected);
    assert.equal(attachmentAvSignedText('1', 't', 'u', 'b'), '1.t.u.b');
  });

  test('verification fails for another tenant, URL, body, key or an old timestamp', () => {
    const headers = attachmentAvHeaders(privateKey, 'tenant-a', url, body, now);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    assert.equal(verifyAttachmentAv([privateKey], headers, 'tenant-a', url, body, 300, now), true);
    assert.equal(verifyAttachmentAv([other, privateKey], headers, 'tenant-a', url, body, 300, now), true);
    assert.equal(verifyAttachmentAv([privateKey], headers, 'tenant-b', url, body, 300, now), false);
    assert.equal(verifyAttachmentAv([privateKey], headers, 'tenant-a', `${url}x`, body, 300, now), false);
    assert.equal(verifyAttachmentAv([privateKey], headers, 'tenant-a', url, `${body} `, 300, now), false);
    assert.equal(verifyAttachmentAv([other], headers, 'tenant-a', url, body, 300, now), false);
    assert.equal(verifyAttachmentAv([privateKey], headers, 'tenant-a', url, body, 300, now + 301), false);
    assert.equal(verifyAttachmentAv([privateKey], {}, 'tenant-a', url, body, 300, now), false);
  });
});

describe('loadCallbackSigningKeys', () => {
  let dir: string;
  let store: SqliteStore;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scangate-rsa-'));
    store = new SqliteStore(path.join(dir, 'scangate.db'));
    await store.init();
  });

  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('without a key file, one key is generated, kept in the store and reused', async () => {
    const callbacks = defaultConfig(dir).callbacks;
    const first = await loadCallbackSigningKeys(callbacks, store.keys);
    const second = await loadCallbackSigningKeys(callbacks, store.keys);
    assert.equal(first.published.length, 1);
    assert.equal(first.published[0]!.current, true);
    assert.deepEqual(second.published, first.published);
  });

  test('a rotation: the new key file signs, the previous public key stays published', async () => {
    const oldKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const newKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(path.join(dir, 'new.pem'), newKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(path.join(dir, 'old.pub.pem'), oldKey.publicKey.export({ type: 'spki', format: 'pem' }));
    const keys = await loadCallbackSigningKeys(
      {
        ...defaultConfig(dir).callbacks,
        rsaPrivateKeyFile: path.join(dir, 'new.pem'),
        rsaPreviousPublicKeyFiles: [path.join(dir, 'old.pub.pem')],
      },
      store.keys,
    );
    assert.deepEqual(
      keys.published.map((key) => key.current),
      [true, false],
    );
    assert.equal(keys.published[1]!.pem, oldKey.publicKey.export({ type: 'spki', format: 'pem' }));
    const headers = attachmentAvHeaders(keys.privateKey, 't', url, body);
    assert.equal(verifyAttachmentAv([keys.published[0]!.pem], headers, 't', url, body), true);
    assert.notEqual(keys.published[0]!.id, keys.published[1]!.id);
  });

  test('a key file that is not an RSA PEM key is a clear configuration error', async () => {
    await writeFile(path.join(dir, 'broken.pem'), 'not a key');
    await assert.rejects(
      loadCallbackSigningKeys(
        { ...defaultConfig(dir).callbacks, rsaPrivateKeyFile: path.join(dir, 'broken.pem') },
        store.keys,
      ),
      (error) => error instanceof ConfigError && /CALLBACK_RSA_KEY_FILE/.test(error.message),
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(path.join(dir, 'ec.pem'), ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await assert.rejects(
      loadCallbackSigningKeys(
        { ...defaultConfig(dir).callbacks, rsaPrivateKeyFile: path.join(dir, 'ec.pem') },
        store.keys,
      ),
      /RSA/,
    );
  });
});
