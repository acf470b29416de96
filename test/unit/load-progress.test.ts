import { expect, it } from 'vitest';
import type { LoadProgress } from '../../src/core/engine.ts';
import { LoadProgressTracker } from '../../src/core/load-progress.ts';

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
