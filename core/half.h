/* half.h: IEEE binary16 (fp16) and bfloat16 <-> binary32 conversions.
 *
 * Scalar, exact, portable: round-to-nearest-even, overflow to Inf, subnormals kept, NaN stays
 * NaN (quietened, payload kept where it fits). These are the reference conversions; vectorised
 * kernels are tested against them. Verified over all 65,536 16-bit patterns in tests. */
#ifndef DB_HALF_H
#define DB_HALF_H

#include <stddef.h>
#include <stdint.h>

uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float bf16_to_f32(uint16_t h);

void f16_to_f32_array(const uint16_t *src, float *dst, size_t n);
void f32_to_f16_array(const float *src, uint16_t *dst, size_t n);
void bf16_to_f32_array(const uint16_t *src, float *dst, size_t n);
void f32_to_bf16_array(const float *src, uint16_t *dst, size_t n);

#endif
