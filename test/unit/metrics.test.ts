import { describe, expect, it } from 'vitest';
import { MetricsRecorder, prefillDecodeMs, quantile } from '../../src/core/metrics.ts';

describe('MetricsRecorder', () => {
  it('splits prefill from decode on an injected clock', () => {
    const times = [1000, 1200, 1210, 1230, 1260, 1300];
    let i = 0;
    const recorder = new MetricsRecorder(20, 5, () => times[i++]!);
    recorder.start(); // 1000
    recorder.token(); // 1200: first token, ttft 200 ms
    recorder.token(); // 1210
    recorder.token(); // 1230
    recorder.token(); // 1260
    const m = recorder.finish(); // 1300
    expect(m.ttftMs).toBe(200);
    expect(m.prefillTokPerSec).toBe(100);
    expect(m.decodeTokens).toBe(3);
    expect(m.decodeTokPerSec).toBe(50); // 3 tokens over 60 ms
    expect(m.itlP50Ms).toBe(20);
    expect(m.itlP95Ms).toBeCloseTo(29, 6);
    expect(m.totalMs).toBe(300);
    expect(m.cachedPromptTokens).toBe(5);
  });

  it('reports zeros, not NaN, when nothing was generated', () => {
    let t = 0;
    const recorder = new MetricsRecorder(3, 0, () => (t += 10));
    recorder.start();
    const m = recorder.finish();
    expect(m).toMatchObject({ ttftMs: 0, prefillTokPerSec: 0, decodeTokens: 0, decodeTokPerSec: 0 });
  });

  it('interpolates quantiles', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([], 0.5)).toBe(0);
  });
});

describe('prefillDecodeMs', () => {
  it('gives a run stopped before its first token (a long prompt stopped between chunks) no decode time', () => {
    const times = [1000, 1600];
    let i = 0;
    const recorder = new MetricsRecorder(700, 0, () => times[i++]!);
    recorder.start(); // 1000
    const m = recorder.finish(); // 1600: no token
    expect(m.ttftMs).toBe(0);
    expect(prefillDecodeMs(m)).toEqual({ prefillMs: 600, decodeMs: 0 });
  });

  it('splits a run with tokens at its first token', () => {
    const times = [1000, 1200, 1300, 1350];
    let i = 0;
    const recorder = new MetricsRecorder(20, 0, () => times[i++]!);
    recorder.start();
    recorder.token();
    recorder.token();
    expect(prefillDecodeMs(recorder.finish())).toEqual({ prefillMs: 200, decodeMs: 150 });
  });
});
