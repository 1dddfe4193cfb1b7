#!/usr/bin/env node
// s3rver for the embedded broker, with S3's conditional writes honoured.
//
//   node serve.js DIRECTORY PORT BUCKET      (NODE_PATH = .tools/s3rver/node_modules)
//
// Why not plain `s3rver`: Tansu's s3:// engine relies on conditional PUTs. After a
// restart it creates a partition's watermark with `If-None-Match: *` (expecting
// 412 when it exists, then re-reading it) and updates it with `If-Match: <etag>`;
// record batches are written with `If-None-Match: *` too. s3rver 3.7.1 ignores
// both headers, so a restarted broker reset every partition's offsets to 0 and
// overwrote the stored batches (measured: the first message after a restart got
// offset 0). This wrapper answers 412 PreconditionFailed as S3 does, serialising
// the check and the write per key so two writers cannot both win.
//
// It also makes object writes atomic. s3rver 3.7.1 truncates the object file when a
// PUT begins and streams the body into it: a writer killed mid-request (kill -9 of
// Tansu) left a partition's watermark.json empty, and that partition refused every
// produce from then on (measured in the fault soak). Here the whole body is read
// first (a request cut short is refused), written to a temporary file and renamed
// over the object; readers see the old object or the new one, never a part. Side files
// are written the same way, and temporary files a killed server left are swept at start
// (durable-store.js).
//
// And it lists objects itself (listing.js): s3rver's listing answered 500 for any prefix
// holding more than 1,000 keys (its continuation token uses DES, which Node's OpenSSL 3
// refuses), so Tansu could not fetch from a partition past its 1,000th record batch.
'use strict';

const S3rver = require('s3rver');
const bucketCtrl = require('s3rver/lib/controllers/bucket');
const S3Error = require('s3rver/lib/models/error');

const { install, sweep } = require('./durable-store');
const { getBucket } = require('./listing');

const [directory, port, bucket] = process.argv.slice(2);
if (!directory || !port || !bucket) {
  console.error('usage: serve.js DIRECTORY PORT BUCKET');
  process.exit(2);
}

const tails = new Map(); // key -> promise of the last conditional write queued on it
const MAX_WAIT_MS = 15000; // a predecessor that hangs longer than this no longer blocks

function serialised(key, fn) {
  const previous = tails.get(key) || Promise.resolve();
  const cap = new Promise(resolve => setTimeout(resolve, MAX_WAIT_MS).unref());
  const run = Promise.race([previous, cap]).then(fn, fn);
  const tail = run.catch(() => {});
  tails.set(key, tail);
  tail.then(() => {
    if (tails.get(key) === tail) tails.delete(key);
  });
  return run;
}

function objectKey(ctx) {
  // Path-style requests only (Tansu's default): /bucket/key/parts
  const [, b, ...rest] = ctx.path.split('/');
  if (!b || rest.length === 0) return null;
  return [decodeURIComponent(b), rest.map(decodeURIComponent).join('/')];
}

async function currentEtag(store, b, key) {
  try {
    return (await store.getMetadata(b, key)).etag; // '"<md5>"'
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
}

function conditionalWrites(ctx, next) {
  const ifMatch = ctx.headers['if-match'];
  const ifNoneMatch = ctx.headers['if-none-match'];
  const target = ctx.method === 'PUT' && (ifMatch || ifNoneMatch) ? objectKey(ctx) : null;
  if (!target) return next();
  const [b, key] = target;
  return serialised(`${b}/${key}`, async () => {
    const etag = await currentEtag(ctx.store, b, key);
    const failed =
      (ifNoneMatch === '*' && etag !== null) ||
      (ifMatch && ifMatch !== '*' && etag !== ifMatch) ||
      (ifMatch === '*' && etag === null);
    if (failed) {
      throw new S3Error(
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
        { Condition: ifNoneMatch ? 'If-None-Match' : 'If-Match' },
      );
    }
    // A writer killed mid-request (kill -9 of Tansu) leaves s3rver waiting for a body
    // that never comes: release the key when its connection closes, not only when done.
    const socket = ctx.req.socket;
    let onClose;
    const closed = new Promise(resolve => {
      onClose = resolve;
      if (socket.destroyed) resolve();
      else socket.once('close', onClose);
    });
    try {
      await Promise.race([next(), closed]);
    } finally {
      socket.removeListener('close', onClose); // keep-alive sockets serve many requests
    }
  });
}

// s3rver runs silent; an error that is not an S3 answer (it becomes a 500) goes to the log.
async function logUnexpected(ctx, next) {
  try {
    await next();
  } catch (err) {
    if (!(err instanceof S3Error) || err.code === 'InternalError') {
      console.error(`${new Date().toISOString()} ${ctx.method} ${ctx.url}: ${err.stack || err}`);
    }
    throw err;
  }
}

const server = new S3rver({
  directory,
  address: '127.0.0.1',
  port: Number(port),
  silent: true,
  allowMismatchedSignatures: true,
  configureBuckets: [{ name: bucket, configs: [] }],
});
install(server.store);
bucketCtrl.getBucket = getBucket; // the router looks it up on every request
// Just before the router, after s3rver's own error rendering and XML encoding.
server.middleware.splice(server.middleware.length - 1, 0, logUnexpected, conditionalWrites);
sweep(directory)
  .then(removed => {
    if (removed) console.log(`s3rver: removed ${removed} temporary file(s) left by a killed server`);
    return server.run();
  })
  .then(
    ({ address, port: p }) => console.log(`s3rver (conditional writes) on ${address}:${p}`),
    err => {
      console.error(err);
      process.exit(1);
    },
  );
