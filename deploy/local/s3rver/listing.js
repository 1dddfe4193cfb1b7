// ListObjects (V1 and V2) for serve.js, replacing s3rver 3.7.1's.
//
// Why: s3rver's own listing cannot be used by the embedded broker.
//  - Its V2 continuation token is DES-encrypted, and Node.js 17+ (OpenSSL 3) refuses DES
//    ("digital envelope routines::unsupported"). Every listing of more than 1,000 keys
//    answered 500 InternalError. Tansu lists a partition's whole `records/` prefix on
//    every fetch, so once a partition held 1,000 record batches, every fetch from it
//    failed and the worker stalled (the fault soak's 295,156 missing samples; kill -9
//    had nothing to do with it).
//  - It walks the bucket with readdirSync + statSync: a temporary file renamed away
//    between the two (an atomic write finishing) throws ENOENT, and the listing 500s.
//  - One unparsable `metadata.json` (a write cut by kill -9) fails the whole listing.
//
// Here the token is the last key, base64url-encoded behind a version tag (S3 clients
// treat tokens as opaque). Only the directories under the prefix are looked at, through
// the store's in-memory directory index (durable-store.js: read from disk once, kept
// current by this process's own writes, so a listing is not a directory scan per page),
// an object that vanished meanwhile is left out, and a damaged side file never fails it.
'use strict';

const path = require('path');

const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');
const S3Error = require('s3rver/lib/models/error');

const TOKEN_TAG = 'ct1:';
const PAGE_MAX = 1000; // S3's cap on one page

function encodeToken(key) {
  return Buffer.from(TOKEN_TAG + key, 'utf8').toString('base64url');
}

function decodeToken(token) {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(TOKEN_TAG)) {
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', {
      ArgumentName: 'continuation-token',
    });
  }
  return text.slice(TOKEN_TAG.length);
}

// S3 orders keys by their UTF-8 bytes, which is code-point order; JavaScript compares
// UTF-16 units, the same order except for astral characters against U+E000–U+FFFF.
const byKey = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

// Every object key at or below `keyDir` (a directory of the bucket, '' for its root)
// that starts with `prefix`. Directories that cannot hold such keys are not read.
async function keysUnder(store, bucketPath, keyDir, prefix) {
  const keys = [];
  const pending = [keyDir];
  while (pending.length) {
    const dir = pending.pop();
    const { files, dirs } = await store.directory(path.join(bucketPath, dir));
    for (const name of dirs) {
      const sub = `${dir}${name}/`;
      if (sub.startsWith(prefix) || prefix.startsWith(sub)) pending.push(sub);
    }
    for (const name of files) {
      const key = dir + name;
      if (key.startsWith(prefix)) keys.push(key);
    }
  }
  return keys.sort(byKey);
}

// One page: { objects: [{key, size, etag, lastModified}], commonPrefixes, isTruncated, last }
async function listPage(store, bucket, { prefix = '', delimiter = '', startAfter = '', maxKeys }) {
  const bucketPath = store.getBucketPath(bucket);
  const keyDir = prefix.slice(0, prefix.lastIndexOf('/') + 1);
  const keys = await keysUnder(store, bucketPath, keyDir, prefix);
  const picked = [];
  const commonPrefixes = [];
  let isTruncated = false;
  let last = '';
  for (const key of keys) {
    if (startAfter && byKey(key, startAfter) <= 0) continue;
    let entry = key;
    let isPrefix = false;
    if (delimiter) {
      const idx = key.indexOf(delimiter, prefix.length);
      if (idx !== -1) {
        entry = key.slice(0, idx + delimiter.length);
        isPrefix = true;
        if (commonPrefixes[commonPrefixes.length - 1] === entry) continue;
        if (startAfter && startAfter.startsWith(entry)) continue; // listed on an earlier page
      }
    }
    if (picked.length + commonPrefixes.length >= maxKeys) {
      isTruncated = true;
      break;
    }
    if (isPrefix) commonPrefixes.push(entry);
    else picked.push(key);
    last = entry; // a resumed page skips every key under a common prefix already given
  }
  const described = await Promise.all(picked.map(key => store.listed(bucket, key)));
  const objects = [];
  picked.forEach((key, i) => {
    if (described[i] !== null) objects.push({ key, ...described[i] });
  });
  return { objects, commonPrefixes, isTruncated, last };
}

function maxKeysOf(query) {
  if (query['max-keys'] === undefined) return PAGE_MAX;
  if (!/^\d+$/.test(query['max-keys']) || Number(query['max-keys']) > 2147483647) {
    throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', {
      ArgumentName: 'max-keys',
      ArgumentValue: query['max-keys'],
    });
  }
  return Math.min(PAGE_MAX, Number(query['max-keys']));
}

// The GET Bucket controller (s3rver's routes call `bucketCtrl.getBucket(ctx)`).
async function getBucket(ctx) {
  const query = ctx.query;
  const v2 = query['list-type'] === '2';
  const prefix = query.prefix || '';
  const delimiter = query.delimiter || '';
  let startAfter;
  if (v2) {
    if ('marker' in query) {
      throw new S3Error('InvalidArgument', 'Marker unsupported with REST.GET.BUCKET in list-type=2', {
        ArgumentName: 'marker',
      });
    }
    startAfter = query['continuation-token']
      ? decodeToken(query['continuation-token'])
      : query['start-after'] || '';
  } else {
    startAfter = query.marker || '';
  }
  const maxKeys = maxKeysOf(query);
  const page =
    maxKeys === 0
      ? { objects: [], commonPrefixes: [], isTruncated: false, last: '' }
      : await listPage(ctx.store, ctx.params.bucket, { prefix, delimiter, startAfter, maxKeys });
  const withOwner = v2 ? query['fetch-owner'] === 'true' : true;
  ctx.body = {
    ListBucketResult: {
      '@': { xmlns: 'http://doc.s3.amazonaws.com/2006-03-01/' },
      Name: ctx.params.bucket,
      Prefix: prefix,
      ...(v2
        ? {
            StartAfter: query['continuation-token'] ? undefined : query['start-after'],
            ContinuationToken: query['continuation-token'] || undefined,
            NextContinuationToken: page.isTruncated ? encodeToken(page.last) : undefined,
            KeyCount: page.objects.length + page.commonPrefixes.length,
          }
        : {
            Marker: startAfter,
            NextMarker: delimiter && page.isTruncated ? page.last : undefined,
          }),
      MaxKeys: query['max-keys'] || PAGE_MAX,
      Delimiter: delimiter || undefined,
      IsTruncated: page.isTruncated,
      Contents: page.objects.map(o => ({
        Key: o.key,
        LastModified: o.lastModified.toISOString(),
        ETag: o.etag,
        Size: o.size,
        Owner: withOwner ? { ID: DUMMY_ACCOUNT.id, DisplayName: DUMMY_ACCOUNT.displayName } : undefined,
        StorageClass: 'STANDARD',
      })),
      CommonPrefixes: page.commonPrefixes.map(p => ({ Prefix: p })),
    },
  };
}

module.exports = { getBucket, listPage };
