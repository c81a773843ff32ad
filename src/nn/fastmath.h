/* Element functions shared by the layers, written so that loops over them vectorise (no calls, no
 * branches). Internal to src/nn. */
#ifndef BML_NN_FASTMATH_H
#define BML_NN_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) for x <= 0 (clamped at -87, where the result is below FLT_MIN anyway): x = n ln2 + r with
 * |r| <= ln2 / 2, ln2 split in two parts (Cody-Waite), exp(r) by the degree-6 minimax polynomial of
 * Moshier's Cephes expf, 2^n by building the exponent bits. About 1 ulp. */
static inline float bml__exp_nonpos(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23; /* unsigned: a NaN's n gives a NaN, never an overflow */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh(x) = sign(x) (1 - e) / (1 + e) with e = exp(-2|x|); the odd Taylor series below 1/16, where that
 * would cancel. Relative error below 1e-6 (glibc's tanhf goes through expm1f and is several times
 * slower, and does not vectorise). */
static inline float bml__tanh_fast(float x) {
    float a = fabsf(x), x2 = x * x;
    float small = x * (1.0f + x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f)));
    float e = bml__exp_nonpos(-2.0f * a), y = (1.0f - e) / (1.0f + e);
    y = x < 0 ? -y : y;
    return a < 0.0625f ? small : y;
}

/* sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) below, e = exp(-|x|): never overflows; ~1 ulp */
static inline float bml__sigmoid_fast(float x) {
    float e = bml__exp_nonpos(-fabsf(x)), r = 1.0f / (1.0f + e);
    return x >= 0 ? r : e * r;
}

#endif
