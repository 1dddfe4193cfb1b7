// s3rver 3.7.1's filesystem store, made safe against kill -9 (of its writers and of itself).
//
// The store keeps an object as `KEY._S3rver_object` plus side files. s3rver writes all
// of them in place (truncate, then stream), so a process killed mid-write leaves an
// empty object, an empty `metadata.json` (which fails every read and listing of the key
// with a JSON SyntaxError) or an `.md5` that no longer matches its object. Here:
//  - an object is written whole to a temporary file and renamed over the old one;
//  - side files are written the same way;
//  - the ETag's MD5 sits in `KEY._S3rver_object.sum` with the inode, size and mtime of
//    the object it describes, written before the rename. A sum that does not describe the
//    object on disk (a writer killed between the two, an old data directory) is
//    recomputed from the content. A reader can never pair one object with another's MD5.
//  - damaged metadata.json reads as "no metadata" instead of failing;
//  - at start, temporary files left by a killed server are removed (sweep()).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const S3Error = require('s3rver/lib/models/error');
const S3Object = require('s3rver/lib/models/object');

const TMP_RE = /\._S3rver_[A-Za-z0-9.]+\.tmp-\d+-\d+$/;
const CACHE_MAX = 200000; // described objects kept in memory (≈ 50 MB); then start afresh
let tmpSeq = 0;

function tmpName(file) {
  return `${file}.tmp-${process.pid}-${tmpSeq++}`;
}

async function writeAtomically(file, data) {
  const tmp = tmpName(file);
  try {
    await fs.promises.writeFile(tmp, data);
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

function md5Of(file) {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('md5');
    fs.createReadStream(file)
      .on('error', reject)
      .on('data', chunk => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

const sumOf = (md5, stat) =>
  JSON.stringify({ md5, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs });
const sameFile = (a, b) => a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

async function readJson(file) {
  try {
    return JSON.parse(await fs.promises.readFile(file, 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT' || err instanceof SyntaxError) return null;
    throw err;
  }
}

const OBJECT_SUFFIX = '._S3rver_object';

async function readDirectory(absDir) {
  const entry = { files: new Set(), dirs: new Set(), exists: true };
  let list;
  try {
    list = await fs.promises.readdir(absDir, { withFileTypes: true });
  } catch (err) {
    if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') throw err;
    return { ...entry, exists: false };
  }
  for (const e of list) {
    if (e.isDirectory()) entry.dirs.add(e.name);
    else if (e.name.endsWith(OBJECT_SUFFIX)) entry.files.add(e.name.slice(0, -OBJECT_SUFFIX.length));
    // anything else (side files, a leftover temporary file) is not an object
  }
  return entry;
}

function install(store) {
  const cache = new Map(); // object path -> { ino, size, mtimeMs, md5, stored }

  // Directory index for listings: { files: object names, dirs: subdirectory names } per
  // directory, read from disk once and then kept current by this process's own writes
  // (it is the only writer of its data directory). Names added while a read is in
  // flight are merged into its result; a delete drops the whole index.
  const index = new Map();
  const inflight = new Map(); // absDir -> { promise, added: { files, dirs } }
  let deletes = 0;

  function directory(dir) {
    const absDir = path.resolve(dir); // one spelling per directory: no trailing slash
    const known = index.get(absDir);
    if (known) return Promise.resolve(known);
    const pending = inflight.get(absDir);
    if (pending) return pending.promise;
    const added = { files: new Set(), dirs: new Set() };
    const deletesBefore = deletes;
    const finish = entry => {
      // synchronous: no write can slip between the merge and the index taking over
      inflight.delete(absDir);
      for (const f of added.files) entry.files.add(f);
      for (const d of added.dirs) entry.dirs.add(d);
      if (entry.exists && deletes === deletesBefore) index.set(absDir, entry);
      return entry;
    };
    const promise = readDirectory(absDir).then(finish, err => {
      inflight.delete(absDir);
      throw err;
    });
    inflight.set(absDir, { promise, added });
    return promise;
  }

  function noted(absDir, kind, name) {
    const entry = index.get(absDir) || (inflight.get(absDir) || {}).added;
    if (entry) entry[kind].add(name);
  }

  function indexObject(objectPath) {
    const rel = path.relative(store.rootDirectory, path.dirname(objectPath)).split(path.sep);
    for (let i = 0; i < rel.length; i++) {
      noted(path.join(store.rootDirectory, ...rel.slice(0, i)), 'dirs', rel[i]);
    }
    noted(path.dirname(objectPath), 'files', path.basename(objectPath).slice(0, -OBJECT_SUFFIX.length));
  }
  const paths = (bucket, key) => ({
    object: store.getResourcePath(bucket, key, 'object'),
    sum: store.getResourcePath(bucket, key, 'object.sum'),
    meta: store.getResourcePath(bucket, key, 'metadata.json'),
  });

  function remember(objectPath, stat, md5, stored) {
    if (cache.size >= CACHE_MAX) cache.clear();
    const known = { ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs, md5, stored };
    cache.set(objectPath, known);
    return known;
  }

  async function md5For(p, stat) {
    const sum = await readJson(p.sum);
    if (sum && typeof sum.md5 === 'string' && sameFile(sum, stat)) return sum.md5;
    const md5 = await md5Of(p.object);
    const now = await fs.promises.stat(p.object);
    if (sameFile(now, stat)) {
      await writeAtomically(p.sum, sumOf(md5, stat));
    }
    return md5;
  }

  // What s3rver's getMetadata returns; throws ENOENT when there is no such object.
  async function getMetadata(bucket, key) {
    const p = paths(bucket, key);
    const stat = await fs.promises.stat(p.object);
    let known = cache.get(p.object);
    if (!known || !sameFile(known, stat) || known.stored === null) {
      const [md5, stored] = await Promise.all([md5For(p, stat), readJson(p.meta)]);
      known = remember(p.object, stat, md5, stored || {});
    }
    return {
      ...known.stored,
      etag: JSON.stringify(known.md5),
      'last-modified': stat.mtime.toUTCString(),
      'content-length': stat.size,
    };
  }

  // For listings: { size, etag, lastModified }, or null when the object vanished meanwhile.
  async function metadataOrNull(bucket, key) {
    try {
      const m = await getMetadata(bucket, key);
      return { size: m['content-length'], etag: m.etag, lastModified: new Date(m['last-modified']) };
    } catch (err) {
      if (err.code === 'ENOENT') return null;
      throw err;
    }
  }

  // A listing's size, ETag and date: from memory when this process wrote or read the object.
  function listed(bucket, key) {
    const known = cache.get(store.getResourcePath(bucket, key, 'object'));
    if (!known) return metadataOrNull(bucket, key);
    return { size: known.size, etag: JSON.stringify(known.md5), lastModified: new Date(known.mtimeMs) };
  }

  const originalDelete = store.deleteObject.bind(store);

  async function putMetadata(bucket, key, metadata, md5) {
    const p = paths(bucket, key);
    const kept = Object.fromEntries(
      Object.entries(metadata).filter(
        ([k]) => S3Object.ALLOWED_METADATA.includes(k) || k.startsWith('x-amz-meta-'),
      ),
    );
    await writeAtomically(p.meta, JSON.stringify(kept, null, 2));
    if (md5) {
      const stat = await fs.promises.stat(p.object);
      await writeAtomically(p.sum, sumOf(md5, stat));
    }
  }

  async function putObject(object) {
    const chunks = [];
    for await (const chunk of object.content) chunks.push(chunk); // throws if cut short
    const body = Buffer.concat(chunks);
    const expected = Number(object.metadata['content-length']);
    if (Number.isFinite(expected) && body.length !== expected) {
      throw new S3Error('IncompleteBody', 'You did not provide the number of bytes specified');
    }
    const p = paths(object.bucket, object.key);
    await fs.promises.mkdir(path.dirname(p.object), { recursive: true });
    const tmp = tmpName(p.object);
    const md5 = crypto.createHash('md5').update(body).digest('hex');
    try {
      await fs.promises.writeFile(tmp, body);
      const stat = await fs.promises.stat(tmp);
      await writeAtomically(p.sum, sumOf(md5, stat));
      await fs.promises.rename(tmp, p.object);
      remember(p.object, stat, md5, null);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    await putMetadata(object.bucket, object.key, object.metadata, undefined);
    indexObject(p.object);
    return { size: body.length, md5 };
  }

  async function deleteObject(bucket, key) {
    const p = paths(bucket, key);
    deletes += 1;
    index.clear();
    cache.delete(p.object);
    await fs.promises.rm(p.sum, { force: true });
    return originalDelete(bucket, key);
  }

  Object.assign(store, { getMetadata, listed, directory, putMetadata, putObject, deleteObject });
  return store;
}

// Remove temporary files a killed server left behind (none is in flight at start).
async function sweep(directory) {
  let removed = 0;
  const pending = [directory];
  while (pending.length) {
    const dir = pending.pop();
    let list;
    try {
      list = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (err.code === 'ENOENT') continue;
      throw err;
    }
    for (const entry of list) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else if (TMP_RE.test(entry.name)) {
        await fs.promises.rm(full, { force: true });
        removed += 1;
      }
    }
  }
  return removed;
}

module.exports = { install, sweep, TMP_RE, OBJECT_SUFFIX };
