/* half.c: fp16/bf16 conversions by integer arithmetic (no dependence on the FPU rounding mode). */
#include "core/half.h"

#include <string.h>

static inline uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_f16(float f)
{
    uint32_t x = f2u(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) { /* Inf or NaN */
        if (a == 0x7f800000u)
            return sign | 0x7c00u;
        return sign | 0x7e00u | (uint16_t)((a >> 13) & 0x3ffu); /* quiet NaN, payload top bits */
    }
    if (a >= 0x477ff000u) /* >= 65520: rounds to Inf */
        return sign | 0x7c00u;
    if (a < 0x38800000u) { /* below 2^-14: fp16 subnormal or zero */
        if (a < 0x33000000u) /* below 2^-25: rounds to zero (2^-25 itself ties to even 0) */
            return sign;
        uint32_t e = a >> 23;               /* 102..112 */
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e;           /* value = m * 2^(e-150); unit 2^-24 -> shift 126-e */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (q & 1)))
            q++;
        return sign | (uint16_t)q; /* q may reach 0x400: the smallest normal, correctly encoded */
    }
    /* normal: rebias exponent, round the 13 dropped mantissa bits to nearest even */
    uint32_t r = a + 0x0fffu + ((a >> 13) & 1u);
    r -= (127u - 15u) << 23;
    return sign | (uint16_t)(r >> 13);
}

float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0x1f)
        return u2f(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0)
            return u2f(sign);
        /* subnormal: value = m * 2^-24; normalise */
        int sh = 0;
        while (!(m & 0x400u)) {
            m <<= 1;
            sh++;
        }
        m &= 0x3ffu;
        return u2f(sign | ((uint32_t)(113 - sh) << 23) | (m << 13));
    }
    return u2f(sign | ((e + 112u) << 23) | (m << 13));
}

uint16_t f32_to_bf16(float f)
{
    uint32_t x = f2u(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: keep sign and top payload, force quiet */
        return (uint16_t)((x >> 16) | 0x0040u);
    x += 0x7fffu + ((x >> 16) & 1u); /* overflow into the exponent gives Inf, as it should */
    return (uint16_t)(x >> 16);
}

float bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

/* ---- arrays: F16C/AVX2 where the CPU has them (chosen at run time), the scalar code above
 * otherwise and for the tails. vcvtph2ps is exact and vcvtps2ph with immediate 0 rounds to
 * nearest even, so both paths give identical results for every non-NaN value (NaNs stay NaN;
 * tests/check_core.c compares them over all 65,536 patterns). */

#if defined(__x86_64__)
#include <immintrin.h>

static int have_f16c(void)
{
    static int cached = -1;
    if (cached < 0)
        cached = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx2");
    return cached;
}

__attribute__((target("avx2,f16c"))) static size_t f16_to_f32_f16c(const uint16_t *src, float *dst,
                                                                   size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    return i;
}

__attribute__((target("avx2,f16c"))) static size_t f32_to_f16_f16c(const float *src, uint16_t *dst,
                                                                   size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), 0));
    return i;
}

__attribute__((target("avx2"))) static size_t bf16_to_f32_avx2(const uint16_t *src, float *dst,
                                                               size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(w, 16));
    }
    return i;
}
#else
static int have_f16c(void) { return 0; }
static size_t f16_to_f32_f16c(const uint16_t *s, float *d, size_t n) { (void)s, (void)d, (void)n; return 0; }
static size_t f32_to_f16_f16c(const float *s, uint16_t *d, size_t n) { (void)s, (void)d, (void)n; return 0; }
static size_t bf16_to_f32_avx2(const uint16_t *s, float *d, size_t n) { (void)s, (void)d, (void)n; return 0; }
#endif

void f16_to_f32_array(const uint16_t *src, float *dst, size_t n)
{
    size_t i = have_f16c() ? f16_to_f32_f16c(src, dst, n) : 0;
    for (; i < n; i++)
        dst[i] = f16_to_f32(src[i]);
}

void f32_to_f16_array(const float *src, uint16_t *dst, size_t n)
{
    size_t i = have_f16c() ? f32_to_f16_f16c(src, dst, n) : 0;
    for (; i < n; i++)
        dst[i] = f32_to_f16(src[i]);
}

void bf16_to_f32_array(const uint16_t *src, float *dst, size_t n)
{
    size_t i = have_f16c() ? bf16_to_f32_avx2(src, dst, n) : 0;
    for (; i < n; i++)
        dst[i] = bf16_to_f32(src[i]);
}

void f32_to_bf16_array(const float *src, uint16_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f32_to_bf16(src[i]);
}
