// A small workload profiled by the real @pyroscope/nodejs agent (wall with
// CPU time, and heap) and pushed to Kiln's /ingest.
// Environment: KILN_URL, DURATION (seconds, default 20).
'use strict';
const crypto = require('node:crypto');
const Pyroscope = require('@pyroscope/nodejs');

// Kept alive so the heap profile shows in-use allocations.
const retained = [];

function burnCpu(until) {
  let digest = Buffer.from('kiln');
  while (Date.now() < until) {
    digest = crypto.createHash('sha256').update(digest).digest();
  }
  return digest;
}

function allocateMemory() {
  retained.push(new Array(4096).fill({ kiln: Math.random() }));
  if (retained.length > 256) retained.shift();
}

async function main() {
  const seconds = Number(process.env.DURATION || '20');
  Pyroscope.init({
    serverAddress: process.env.KILN_URL,
    appName: 'kiln.agents.node',
    tags: { agent: 'pyroscope-nodejs', env: 'ci' },
    basicAuthUser: 'kiln-user',
    basicAuthPassword: 'kiln-password',
    flushIntervalMs: 5000,
    wall: { collectCpuTime: true },
  });
  Pyroscope.start();
  const deadline = Date.now() + seconds * 1000;
  // Work in 50 ms slices so the agent's timers (sampling, upload) still run.
  while (Date.now() < deadline) {
    burnCpu(Date.now() + 50);
    allocateMemory();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Pyroscope.stop();
  console.log('kiln.agents.node: done');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
