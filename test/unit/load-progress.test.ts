import { expect, it } from 'vitest';
import type { LoadProgress } from '../../src/core/engine.ts';
import { describeProgress, LoadProgressTracker } from '../../src/core/load-progress.ts';

it('reports per-file and total bytes, rate and ETA, throttled but never dropping a finished file', () => {
  let now = 0;
  const seen: LoadProgress[] = [];
  const tracker = new LoadProgressTracker(
    (p) => seen.push(p),
    () => now,
    100,
  );
  tracker.onEvent({ status: 'initiate', file: 'config.json' });
  tracker.onEvent({ status: 'progress', file: 'onnx/model.onnx', loaded: 0, total: 1000 });
  now = 50;
  tracker.onEvent({ status: 'progress', file: 'onnx/model.onnx', loaded: 100, total: 1000 }); // throttled
  tracker.onEvent({ status: 'progress', file: 'config.json', loaded: 200, total: 200 }); // finished: sent
  now = 1000;
  tracker.onEvent({ status: 'progress', file: 'onnx/model.onnx', loaded: 500, total: 1000 });
  expect(seen.map((p) => [p.file, p.loadedBytes, p.allLoadedBytes, p.allTotalBytes])).toEqual([
    ['onnx/model.onnx', 0, 0, 1000],
    ['config.json', 200, 300, 1200],
    ['onnx/model.onnx', 500, 700, 1200],
  ]);
  const last = seen.at(-1)!;
  expect(last.bytesPerSec).toBe(700);
  expect(last.etaSec).toBeCloseTo(500 / 700, 10);
  tracker.onEvent({ status: 'done', file: 'onnx/model.onnx' });
  expect(seen.at(-1)).toMatchObject({ loadedBytes: 1000, allLoadedBytes: 1200, etaSec: 0 });
  expect(tracker.totalBytes).toBe(1200);
});

it('counts bytes read from the browser cache apart from the download rate, and marks the set-up phase', () => {
  let now = 0;
  const seen: LoadProgress[] = [];
  const cached = new Set(['config.json', 'onnx/model.onnx']);
  const tracker = new LoadProgressTracker(
    (p) => seen.push(p),
    () => now,
    0,
    (file) => cached.has(file),
  );
  tracker.onEvent({ status: 'initiate', file: 'config.json' });
  tracker.onEvent({ status: 'done', file: 'config.json' });
  tracker.onEvent({ status: 'progress', file: 'config.json', loaded: 100, total: 100 });
  // The tokenizer still downloads; the weights are not in yet: no set-up.
  now = 1000;
  tracker.onEvent({ status: 'progress', file: 'tokenizer.json', loaded: 400, total: 1000 });
  expect(seen.at(-1)).toMatchObject({
    phase: 'download',
    localBytes: 100,
    allLoadedBytes: 500,
    bytesPerSec: 400,
  });
  tracker.onEvent({ status: 'done', file: 'tokenizer.json' });
  // Every file seen so far is in, but no weights among them: still downloading.
  expect(seen.at(-1)?.phase).toBe('download');
  tracker.onEvent({ status: 'initiate', file: 'onnx/model.onnx' });
  tracker.onEvent({ status: 'progress', file: 'onnx/model.onnx', loaded: 5000, total: 5000 });
  expect(seen.at(-1)).toMatchObject({
    phase: 'setup',
    localBytes: 5100,
    allLoadedBytes: 6100,
    bytesPerSec: 1000,
  });
  expect(tracker.setup()).toMatchObject({ phase: 'setup', allTotalBytes: 6100 });

  // Without a way to tell, nothing is claimed local.
  const plain = new LoadProgressTracker(
    () => undefined,
    () => now,
    0,
  );
  expect(plain.setup()).toBeNull();
  plain.onEvent({ status: 'done', file: 'onnx/model.onnx_data' });
  expect(plain.snapshot('onnx/model.onnx_data')).not.toHaveProperty('localBytes');
  expect(plain.snapshot('onnx/model.onnx_data').phase).toBe('setup');
});

it('a set-up after a load partly read from the browser cache says how much came from where', () => {
  const base: LoadProgress = {
    file: 'onnx/model.onnx',
    loadedBytes: 3 * 1024 ** 2,
    totalBytes: 3 * 1024 ** 2,
    allLoadedBytes: 4 * 1024 ** 2,
    allTotalBytes: 4 * 1024 ** 2,
    bytesPerSec: 1024 ** 2,
    etaSec: 0,
    phase: 'setup',
  };
  // Not "4 MiB downloaded": 3 MiB of it was read from the cache.
  expect(describeProgress({ ...base, localBytes: 3 * 1024 ** 2 })).toBe(
    'Setting up the model… (1 MiB downloaded, 3 MiB read from the browser cache)',
  );
  expect(describeProgress({ ...base, localBytes: 0 })).toBe('Setting up the model… (4 MiB downloaded)');
  expect(describeProgress({ ...base, localBytes: 4 * 1024 ** 2 })).toBe(
    'Setting up the model… (4 MiB read from the browser cache)',
  );
  expect(describeProgress(base)).toBe('Setting up the model… (4 MiB downloaded)');
  // While it downloads, the rate is the download's own (cached bytes left out), as before.
  expect(describeProgress({ ...base, phase: 'download', localBytes: 3 * 1024 ** 2, etaSec: 5 })).toBe(
    '4 MiB of 4 MiB · 1 MiB/s · 5 s left',
  );
});

it("a load ONNX Runtime runs after edgetier's CPU engine refused the model says so: its figures start over", () => {
  const p: LoadProgress = {
    file: 'onnx/model_quantized.onnx',
    loadedBytes: 1024 ** 2,
    totalBytes: 2 * 1024 ** 2,
    allLoadedBytes: 1024 ** 2,
    allTotalBytes: 2 * 1024 ** 2,
    bytesPerSec: 1024 ** 2,
    etaSec: 1,
    localBytes: 1024 ** 2,
    fallback: 'onnxruntime',
  };
  expect(describeProgress(p)).toBe(
    "On ONNX Runtime (edgetier's CPU engine could not run it): 1 MiB of 2 MiB · from the browser cache",
  );
  expect(describeProgress({ ...p, phase: 'setup', allLoadedBytes: 2 * 1024 ** 2, localBytes: 0 })).toBe(
    "On ONNX Runtime (edgetier's CPU engine could not run it): Setting up the model… (2 MiB downloaded)",
  );
});
