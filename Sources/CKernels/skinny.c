#include "ckernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TALLY_X86 1
#endif

// Four input rows against each weight row of [first_column, end_column): each weight row is
// read once, eight floats at a step, with the four rows' sums kept apart.

// Plain C for any processor; the compiler vectorizes it for the baseline of its target (NEON
// on arm64).
static void columns_portable(float *out, long out_stride, const float *const x[4], long rows,
                             const float *weight, long C, long first_column, long end_column) {
    for (long o = first_column; o < end_column; o++) {
        const float *w = weight + o * C;
        float sums[4][8] = {{0}};
        long c = 0;
        for (; c + 8 <= C; c += 8) {
            for (int n = 0; n < 4; n++) {
                for (int k = 0; k < 8; k++) sums[n][k] += w[c + k] * x[n][c + k];
            }
        }
        for (long n = 0; n < rows; n++) {
            float total = 0;
            for (int k = 0; k < 8; k++) total += sums[n][k];
            for (long tail = c; tail < C; tail++) total += w[tail] * x[n][tail];
            out[n * out_stride + o] = total;
        }
    }
}

#ifdef TALLY_X86
__attribute__((target("avx2,fma")))
static void columns_avx2(float *out, long out_stride, const float *const x[4], long rows,
                         const float *weight, long C, long first_column, long end_column) {
    for (long o = first_column; o < end_column; o++) {
        const float *w = weight + o * C;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        long c = 0;
        for (; c + 8 <= C; c += 8) {
            __m256 weights = _mm256_loadu_ps(w + c);
            s0 = _mm256_fmadd_ps(weights, _mm256_loadu_ps(x[0] + c), s0);
            s1 = _mm256_fmadd_ps(weights, _mm256_loadu_ps(x[1] + c), s1);
            s2 = _mm256_fmadd_ps(weights, _mm256_loadu_ps(x[2] + c), s2);
            s3 = _mm256_fmadd_ps(weights, _mm256_loadu_ps(x[3] + c), s3);
        }
        float sums[4][8];
        _mm256_storeu_ps(sums[0], s0); _mm256_storeu_ps(sums[1], s1); _mm256_storeu_ps(sums[2], s2); _mm256_storeu_ps(sums[3], s3);
        for (long n = 0; n < rows; n++) {
            float total = 0;
            for (int k = 0; k < 8; k++) total += sums[n][k];
            for (long tail = c; tail < C; tail++) total += w[tail] * x[n][tail];
            out[n * out_stride + o] = total;
        }
    }
}

static void columns_sse(float *out, long out_stride, const float *const x[4], long rows,
                        const float *weight, long C, long first_column, long end_column) {
    for (long o = first_column; o < end_column; o++) {
        const float *w = weight + o * C;
        __m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps(), a2 = _mm_setzero_ps(), a3 = _mm_setzero_ps();
        __m128 b0 = _mm_setzero_ps(), b1 = _mm_setzero_ps(), b2 = _mm_setzero_ps(), b3 = _mm_setzero_ps();
        long c = 0;
        for (; c + 8 <= C; c += 8) {
            __m128 low = _mm_loadu_ps(w + c), high = _mm_loadu_ps(w + c + 4);
            a0 = _mm_add_ps(a0, _mm_mul_ps(low, _mm_loadu_ps(x[0] + c))); b0 = _mm_add_ps(b0, _mm_mul_ps(high, _mm_loadu_ps(x[0] + c + 4)));
            a1 = _mm_add_ps(a1, _mm_mul_ps(low, _mm_loadu_ps(x[1] + c))); b1 = _mm_add_ps(b1, _mm_mul_ps(high, _mm_loadu_ps(x[1] + c + 4)));
            a2 = _mm_add_ps(a2, _mm_mul_ps(low, _mm_loadu_ps(x[2] + c))); b2 = _mm_add_ps(b2, _mm_mul_ps(high, _mm_loadu_ps(x[2] + c + 4)));
            a3 = _mm_add_ps(a3, _mm_mul_ps(low, _mm_loadu_ps(x[3] + c))); b3 = _mm_add_ps(b3, _mm_mul_ps(high, _mm_loadu_ps(x[3] + c + 4)));
        }
        float sums[4][8];
        _mm_storeu_ps(sums[0], a0); _mm_storeu_ps(sums[0] + 4, b0); _mm_storeu_ps(sums[1], a1); _mm_storeu_ps(sums[1] + 4, b1);
        _mm_storeu_ps(sums[2], a2); _mm_storeu_ps(sums[2] + 4, b2); _mm_storeu_ps(sums[3], a3); _mm_storeu_ps(sums[3] + 4, b3);
        for (long n = 0; n < rows; n++) {
            float total = 0;
            for (int k = 0; k < 8; k++) total += sums[n][k];
            for (long tail = c; tail < C; tail++) total += w[tail] * x[n][tail];
            out[n * out_stride + o] = total;
        }
    }
}
#endif

int tally_runs(enum tally_instruction_set set) {
    switch (set) {
    case tally_portable: return 1;
#ifdef TALLY_X86
    case tally_sse: return 1;
    // Reads the processor's features, which the compiler's runtime found at start-up: no
    // state of ours, so no race between the threads that call this.
    case tally_avx2_fma: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
    }
}

enum tally_instruction_set tally_best_instruction_set(void) {
    if (tally_runs(tally_avx2_fma)) return tally_avx2_fma;
    if (tally_runs(tally_sse)) return tally_sse;
    return tally_portable;
}

void tally_skinny_columns_with(enum tally_instruction_set set, float *out, long out_stride, const float *input, long rows,
                               const float *weight, long C, long first_column, long end_column) {
    // Missing rows repeat the last one; their sums are not stored.
    const float *x[4];
    for (long n = 0; n < 4; n++) x[n] = input + (n < rows ? n : rows - 1) * C;
#ifdef TALLY_X86
    if (set == tally_avx2_fma && tally_runs(tally_avx2_fma)) { columns_avx2(out, out_stride, x, rows, weight, C, first_column, end_column); return; }
    if (set != tally_portable) { columns_sse(out, out_stride, x, rows, weight, C, first_column, end_column); return; }
#endif
    columns_portable(out, out_stride, x, rows, weight, C, first_column, end_column);
}

void tally_skinny_columns(float *out, long out_stride, const float *input, long rows,
                          const float *weight, long C, long first_column, long end_column) {
    tally_skinny_columns_with(tally_best_instruction_set(), out, out_stride, input, rows, weight, C, first_column, end_column);
}
