// onnx-run.js MODEL INPUT N C H W OUTPUT: runs MODEL with ONNX Runtime (onnxruntime-node) on
// INPUT (raw little-endian float32, NCHW) and writes the "probabilities" output to OUTPUT
// (raw float32). With BENCH=REPS in the environment it also times REPS single-image runs and
// prints the median per-frame latency in microseconds on stdout.
//
// SPDX-License-Identifier: GPL-3.0-or-later
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main () {
  const [model, input, n, c, h, w, output] = process.argv.slice(2);
  const dims = [n, c, h, w].map(Number);
  const threads = Number(process.env.ORT_THREADS || '1');
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'],
  });
  const raw = fs.readFileSync(input);
  const data = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const result = await session.run({ input: new ort.Tensor('float32', data, dims) });
  const probs = result.probabilities.data;
  fs.writeFileSync(output, Buffer.from(probs.buffer, probs.byteOffset, probs.byteLength));

  const reps = Number(process.env.BENCH || '0');
  if (reps > 0) {
    const per = dims[1] * dims[2] * dims[3];
    const one = new ort.Tensor('float32', data.slice(0, per), [1, dims[1], dims[2], dims[3]]);
    for (let i = 0; i < 5; i++) await session.run({ input: one });
    const times = [];
    for (let i = 0; i < reps; i++) {
      const t0 = process.hrtime.bigint();
      await session.run({ input: one });
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    times.sort((a, b) => a - b);
    console.log(times[Math.floor(times.length / 2)].toFixed(1));
  }
}

main().catch((e) => { console.error(String(e)); process.exit(1); });
