import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { PutObjectTaggingCommand, type S3Client } from '@aws-sdk/client-s3';
import { ObjectActions } from '../../../src/jobs/buckets/object-actions.ts';
import { OWNED_TAG_KEYS, verdictTags } from '../../../src/jobs/buckets/tags.ts';
import { createS3Client } from '../../../src/sources/s3/client.ts';
import { exists, keysOf, putObject, setTags, tagsOf, testS3Client } from '../../support/buckets.ts';
import { type S3rverHandle, startS3rver } from '../../support/s3rver.ts';

const BUCKET = 'actions-bucket';
const QUARANTINE = 'actions-quarantine';

describe('object actions against s3rver', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  let actions: ObjectActions;
  const infectedTags = () => ({
    tags: verdictTags('scangate', { status: 'infected', finding: 'Eicar-Signature' }, new Date()),
    owned: OWNED_TAG_KEYS.scangate,
  });

  before(async () => {
    s3 = await startS3rver([BUCKET, QUARANTINE]);
    client = testS3Client(s3);
    actions = new ObjectActions(createS3Client(s3.config));
  });
  after(async () => {
    client?.destroy();
    await s3?.stop();
  });

  test('a writer that replaces the tags right after ours is detected, and both sets end up on the object', async () => {
    const key = 'race/object.bin';
    await putObject(client, BUCKET, key, randomBytes(32), { owner: 'team-a' });
    let raced = false;
    // The first tag write of scangate is answered only after another writer put its own tag set
    // (without scangate's): as if that writer's PUT landed just after scangate's.
    const remove = s3.intercept((request, response) => {
      if (raced || request.method !== 'PUT' || !request.url?.includes(`/${BUCKET}/${key}?tagging`))
        return false;
      raced = true;
      request.resume();
      client
        .send(
          new PutObjectTaggingCommand({
            Bucket: BUCKET,
            Key: key,
            Tagging: {
              TagSet: [
                { Key: 'owner', Value: 'team-a' },
                { Key: 'reviewed', Value: 'yes' },
              ],
            },
          }),
        )
        .then(() => response.writeHead(200).end());
      return true;
    });
    try {
      const { tags, owned } = infectedTags();
      const record = await actions.tag({ bucket: BUCKET, key }, tags, owned);
      assert.ok(raced);
      assert.equal(record.ok, true, record.detail);
      assert.match(record.detail ?? '', /after 2 writes/);
      const final = await tagsOf(client, BUCKET, key);
      assert.equal(final.owner, 'team-a');
      assert.equal(final.reviewed, 'yes', "the other writer's tag survives");
      assert.equal(final['scangate-status'], 'infected', 'and so does ours');
    } finally {
      remove();
    }
  });

  test('more than 10 tags in all: the tag action fails and the object keeps its own tags', async () => {
    const key = 'full/object.bin';
    const nine = Object.fromEntries(Array.from({ length: 9 }, (_, index) => [`t${index}`, 'v']));
    await putObject(client, BUCKET, key, randomBytes(8));
    await setTags(client, BUCKET, key, nine);
    const { tags, owned } = infectedTags();
    const record = await actions.tag({ bucket: BUCKET, key }, tags, owned);
    assert.equal(record.ok, false);
    assert.match(record.detail ?? '', /^tag_limit/);
    assert.deepEqual(await tagsOf(client, BUCKET, key), nine);
  });

  test('quarantine copies first and deletes after; redone after a crash it finds the copy in place', async () => {
    const key = 'q/bad file.com';
    await putObject(client, BUCKET, key, randomBytes(16));
    const to = { bucket: QUARANTINE, prefix: 'infected/' };
    const moved = await actions.quarantine({ bucket: BUCKET, key }, to, infectedTags());
    assert.equal(moved.ok, true, moved.detail);
    assert.equal(await exists(client, BUCKET, key), false);
    assert.deepEqual(await keysOf(client, QUARANTINE, 'infected/q/'), [`infected/${key}`]);
    assert.equal((await tagsOf(client, QUARANTINE, `infected/${key}`))['scangate-status'], 'infected');
    const again = await actions.quarantine({ bucket: BUCKET, key }, to, infectedTags());
    assert.equal(again.ok, true, again.detail);
  });

  test('a copy that fails leaves the original in place', async () => {
    const key = 'q/kept.com';
    await putObject(client, BUCKET, key, randomBytes(16));
    const failed = await actions.quarantine(
      { bucket: BUCKET, key },
      { bucket: 'no-such-quarantine', prefix: '' },
    );
    assert.equal(failed.ok, false);
    assert.equal(await exists(client, BUCKET, key), true);
  });
});
