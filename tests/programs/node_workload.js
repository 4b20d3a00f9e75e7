// A Node.js workload for node_and_java.sh: objects, strings, Buffers, JSON,
// zlib and worker threads, each ending in a digest that the run without
// preload must match.
'use strict';
const crypto = require('crypto');
const zlib = require('zlib');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

function digest(value) {
  return crypto.createHash('sha256').update(value).digest('hex').slice(0, 16);
}

function build(seed, n) {
  let x = seed;
  const items = [];
  for (let i = 0; i < n; i++) {
    x = (x * 16807) % 2147483647;
    items.push({ id: i, name: 'item-' + x.toString(36), tags: [x % 7, x % 11, x % 13], blob: Buffer.alloc(x % 300, i % 251) });
  }
  return items;
}

if (!isMainThread) {
  const items = build(workerData, 50000);
  parentPort.postMessage(digest(JSON.stringify(items.map((it) => [it.id, it.name, it.tags, it.blob.length]))));
} else {
  const items = build(42, 200000);
  const json = JSON.stringify(items.map((it) => ({ id: it.id, name: it.name, tags: it.tags })));
  console.log('json', json.length, digest(json));
  const parsed = JSON.parse(json);
  parsed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
  console.log('sorted', digest(parsed.map((p) => p.name).join(',')));
  const packed = zlib.gzipSync(Buffer.from(json), { level: 6 });
  console.log('gunzip', digest(zlib.gunzipSync(packed)));
  const big = items.map((it) => it.blob).reduce((acc, b) => acc + b.length, 0);
  console.log('buffers', big);
  const workers = [1, 2, 3, 4].map((seed) => new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: seed });
    w.on('message', resolve);
    w.on('error', reject);
  }));
  Promise.all(workers).then((d) => console.log('workers', d.join(' ')));
}
