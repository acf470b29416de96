import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/builder/half.ts';

describe('half-precision conversions', () => {
  it('converts known float16 bit patterns both ways', () => {
    const values = new Float32Array([0, 1, -2, 0.5, 65504, 2 ** -24, Number.POSITIVE_INFINITY]);
    const bits = f32ToF16(values);
    expect([...bits]).toEqual([0x0000, 0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00]);
    expect([...f16ToF32(bits)]).toEqual([...values]);
  });

  it('rounds to nearest even and overflows to infinity', () => {
    // 1 + 2^-11 lies exactly between 1 and the next half (1 + 2^-10): ties go to even (1).
    expect(f32ToF16(new Float32Array([1 + 2 ** -11]))[0]).toBe(0x3c00);
    expect(f32ToF16(new Float32Array([1 + 3 * 2 ** -11]))[0]).toBe(0x3c02);
    expect(f32ToF16(new Float32Array([70000]))[0]).toBe(0x7c00);
  });

  it('converts bfloat16 both ways', () => {
    const bits = f32ToBf16(new Float32Array([1, -3.5, 1.00390625]));
    expect([...bits]).toEqual([0x3f80, 0xc060, 0x3f80]); // 1 + 2^-8 ties to even: 1
    expect([...bf16ToF32(bits)]).toEqual([1, -3.5, 1]);
  });
});
