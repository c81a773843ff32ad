/* The library's matrix product (bml__nn_gemm, see nn.h): register-blocked kernels of its own for the small
 * and mid-sized products of the networks, AVX-512 or AVX2 + FMA where the CPU has them, plain C otherwise.
 *
 * Every element is computed the same way whatever the shapes, strides, blocking or instruction set: its
 * products are accumulated from zero in the order k = 0, 1, ..., K-1 with fused multiply-adds (vector FMA
 * and C's fmaf round alike), then c = alpha acc (+ beta c). So a product split into parts (rows or columns)
 * gives exactly what the whole product gives: parallel parts never change a result. Why not OpenBLAS: its
 * threaded driver rounds differently from its one-thread one, and the kernels it picks depend on whether it
 * knows the CPU (OpenBLAS 0.3.21 takes an Emerald Rapids Xeon for a Prescott and runs SSE3 kernels, at a
 * third of this file's speed on the networks' shapes). */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "nn/nn.h"
#include "nn/par.h"

#define MR 8 /* rows per tile at most: 8 with AVX-512 (16 accumulators of its 32 registers), 6 otherwise */

/* op(a)(i, k) = a[i * ai + k * ak]; the B panel: bp[k * ldp + j], j < NR (zero beyond the product's columns);
 * tile (mr, NR) receives the sums */

#if defined(__x86_64__) || defined(__i386__)
#define NR512 32
/* the tile's products over k = 0..K-1 of this call: the accumulators start from zero (first) or from the raw
 * sums that an earlier call over the preceding k left in part (rows of 32), and go to c as below (last) or
 * back to part: a product cut along k this way rounds exactly as one call over all of k */
__attribute__((target("avx512f"), always_inline)) static inline void
tile512(int mr, int K, const float *a, size_t ai, size_t ak, const float *bp, size_t ldp, float *part, int first, int last,
        float alpha, float beta, float *c, size_t ldc, int w) {
    __m512 acc[MR][2];
    for (int r = 0; r < mr; r++) {
        acc[r][0] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(part + r * NR512);
        acc[r][1] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(part + r * NR512 + 16);
    }
    for (int k = 0; k < K; k++) {
        __m512 b0 = _mm512_loadu_ps(bp + (size_t)k * ldp), b1 = _mm512_loadu_ps(bp + (size_t)k * ldp + 16);
        const float *ak_ = a + (size_t)k * ak;
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_set1_ps(ak_[(size_t)r * ai]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    if (!last) {
        for (int r = 0; r < mr; r++) {
            _mm512_storeu_ps(part + r * NR512, acc[r][0]);
            _mm512_storeu_ps(part + r * NR512 + 16, acc[r][1]);
        }
        return;
    }
    /* c = alpha acc (+ beta c), a multiply and an add each (no FMA), as the C loop rounds; the w columns
     * of the tile only */
    __mmask16 m0 = w >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << w) - 1u);
    __mmask16 m1 = w >= 32 ? (__mmask16)0xffff : w <= 16 ? (__mmask16)0 : (__mmask16)((1u << (w - 16)) - 1u);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < mr; r++) {
        float *cr = c + (size_t)r * ldc;
        __m512 v0 = _mm512_mul_ps(va, acc[r][0]), v1 = _mm512_mul_ps(va, acc[r][1]);
        if (beta != 0.0f) {
            v0 = _mm512_add_ps(v0, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m0, cr)));
            v1 = _mm512_add_ps(v1, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16)));
        }
        _mm512_mask_storeu_ps(cr, m0, v0);
        _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
}

#define TILE512_CASES(FIRST, LAST)                                                                                     \
    switch (mr) { /* a constant row count each: the accumulators stay in registers */                                  \
    case 8: tile512(8, K, a, ai, ak, bp, ldp, part, FIRST, LAST, alpha, beta, c, ldc, w); break;                       \
    case 7: tile512(7, K, a, ai, ak, bp, ldp, part, FIRST, LAST, alpha, beta, c, ldc, w); break;                       \
    case 6: tile512(6, K, a, ai, ak, bp, ldp, part, FIRST, LAST, alpha, beta, c, ldc, w); break;                       \
    case 5: tile512(5, K, a, ai, ak, bp, ldp, part, FIRST, LAST, alpha, beta, c, ldc, w); break;                       \
    case 4: tile512(4, K, a, ai, ak, bp, ldp, part, FIRST, LAST, alpha, beta, c, ldc, w); break;                       \
    case 3: tile512(3, K, a, ai, ak, bp, ldp, part, FIRST, LAST, alpha, beta, c, ldc, w); break;                       \
    case 2: tile512(2, K, a, ai, ak, bp, ldp, part, FIRST, LAST, alpha, beta, c, ldc, w); break;                       \
    default: tile512(1, K, a, ai, ak, bp, ldp, part, FIRST, LAST, alpha, beta, c, ldc, w); break;                      \
    }

/* tile512 over a part of k: first, middle or last (see tile512) */
__attribute__((target("avx512f"))) static void tile512_k(int mr, int K, const float *a, size_t ai, size_t ak, const float *bp,
                                                        size_t ldp, float *part, int first, int last, float alpha,
                                                        float beta, float *c, size_t ldc, int w) {
    if (first && last) {
        TILE512_CASES(1, 1)
    } else if (first) {
        TILE512_CASES(1, 0)
    } else if (last) {
        TILE512_CASES(0, 1)
    } else {
        TILE512_CASES(0, 0)
    }
}

/* the whole of k at once */
__attribute__((target("avx512f"))) static void tile512_any(int mr, int K, const float *a, size_t ai, size_t ak,
                                                          const float *bp, size_t ldp, float alpha, float beta, float *c,
                                                          size_t ldc, int w) {
    tile512_k(mr, K, a, ai, ak, bp, ldp, NULL, 1, 1, alpha, beta, c, ldc, w);
}

#define NR256 16
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile256(int mr, int K, const float *a, size_t ai, size_t ak, const float *bp, size_t ldp, float *tile) {
    __m256 c[MR][2];
    for (int r = 0; r < mr; r++) c[r][0] = c[r][1] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 b0 = _mm256_loadu_ps(bp + (size_t)k * ldp), b1 = _mm256_loadu_ps(bp + (size_t)k * ldp + 8);
        const float *ak_ = a + (size_t)k * ak;
        for (int r = 0; r < mr; r++) {
            __m256 av = _mm256_set1_ps(ak_[(size_t)r * ai]);
            c[r][0] = _mm256_fmadd_ps(av, b0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(av, b1, c[r][1]);
        }
    }
    for (int r = 0; r < mr; r++) {
        _mm256_storeu_ps(tile + r * NR256, c[r][0]);
        _mm256_storeu_ps(tile + r * NR256 + 8, c[r][1]);
    }
}

__attribute__((target("avx2,fma"))) static void tile256_any(int mr, int K, const float *a, size_t ai, size_t ak,
                                                           const float *bp, size_t ldp, float *tile) {
    switch (mr) {
    case 6: tile256(6, K, a, ai, ak, bp, ldp, tile); break;
    case 5: tile256(5, K, a, ai, ak, bp, ldp, tile); break;
    case 4: tile256(4, K, a, ai, ak, bp, ldp, tile); break;
    case 3: tile256(3, K, a, ai, ak, bp, ldp, tile); break;
    case 2: tile256(2, K, a, ai, ak, bp, ldp, tile); break;
    default: tile256(1, K, a, ai, ak, bp, ldp, tile); break;
    }
}
#endif

/* plain C, 16 columns: fmaf rounds as the vector FMAs do */
static void tile_c(int mr, int K, const float *a, size_t ai, size_t ak, const float *bp, size_t ldp, float *tile) {
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < 16; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) s = fmaf(a[(size_t)r * ai + (size_t)k * ak], bp[(size_t)k * ldp + j], s);
            tile[r * 16 + j] = s;
        }
}

/* c (mr rows ldc apart, w columns) = alpha tile (+ beta c), tile rows nr apart */
static void tile_store(int mr, int nr, const float *tile, float alpha, float beta, float *c, size_t ldc, int w) {
    for (int r = 0; r < mr; r++) {
        float *cr = c + (size_t)r * ldc;
        const float *tr = tile + r * nr;
        if (beta == 0.0f)
            for (int j = 0; j < w; j++) cr[j] = alpha * tr[j];
        else
            for (int j = 0; j < w; j++) cr[j] = alpha * tr[j] + beta * cr[j];
    }
}

#if defined(__x86_64__) || defined(__i386__)
static void tile256_to_c(int mr, int K, const float *a, size_t ai, size_t ak, const float *bp, size_t ldp, float alpha,
                         float beta, float *c, size_t ldc, int w) {
    float tile[MR * NR256];
    tile256_any(mr, K, a, ai, ak, bp, ldp, tile);
    tile_store(mr, NR256, tile, alpha, beta, c, ldc, w);
}
#endif

static void tile_c_to_c(int mr, int K, const float *a, size_t ai, size_t ak, const float *bp, size_t ldp, float alpha,
                        float beta, float *c, size_t ldc, int w) {
    float tile[MR * 16];
    tile_c(mr, K, a, ai, ak, bp, ldp, tile);
    tile_store(mr, 16, tile, alpha, beta, c, ldc, w);
}

/* tile (mr, nr) of the product into c: c = alpha acc (+ beta c), its first w columns */
typedef void (*tile_fn)(int, int, const float *, size_t, size_t, const float *, size_t, float, float, float *, size_t, int);

static pthread_once_t pick_once = PTHREAD_ONCE_INIT;
static tile_fn kernel; /* chosen once for the process, with its panel width and tile height */
static int kernel_nr, kernel_mr;

static int isa_supported(int isa) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (isa == 2) return __builtin_cpu_supports("avx512f");
    if (isa == 1) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return isa == 0;
}

static void use_isa(int isa) {
#if defined(__x86_64__) || defined(__i386__)
    if (isa == 2) {
        kernel = tile512_any, kernel_nr = NR512, kernel_mr = 8;
        return;
    }
    if (isa == 1) {
        kernel = tile256_to_c, kernel_nr = NR256, kernel_mr = 6;
        return;
    }
#endif
    kernel = tile_c_to_c, kernel_nr = 16, kernel_mr = 6;
}

static void pick(void) { use_isa(isa_supported(2) ? 2 : isa_supported(1) ? 1 : 0); }

int bml__nn_gemm_use_isa(int isa) {
    pthread_once(&pick_once, pick);
    if (isa < 0 || isa > 2 || !isa_supported(isa)) return 0;
    use_isa(isa);
    return 1;
}

const char *bml__nn_gemm_kernel(void) {
    pthread_once(&pick_once, pick);
#if defined(__x86_64__) || defined(__i386__)
    if (kernel == tile512_any) return "avx512f";
    if (kernel == tile256_to_c) return "avx2+fma";
#endif
    return "c";
}

/* panel j0 (K, nr) of b packed into dst (columns past N zero) */
static void pack_panel(int trans_b, int N, int K, const float *b, int ldb, int nr_, int j0, float *dst) {
    int w = N - j0 < nr_ ? N - j0 : nr_;
    if (trans_b) { /* b's rows j0.. are the panel's columns: read each row once, in order */
        for (int j = 0; j < w; j++) {
            const float *bj = b + (size_t)(j0 + j) * ldb;
            for (int k = 0; k < K; k++) dst[(size_t)k * nr_ + j] = bj[k];
        }
        for (int k = 0; k < K; k++)
            for (int j = w; j < nr_; j++) dst[(size_t)k * nr_ + j] = 0.0f;
    } else {
        for (int k = 0; k < K; k++) {
            float *row = dst + (size_t)k * nr_;
            for (int j = 0; j < w; j++) row[j] = b[(size_t)k * ldb + j0 + j];
            for (int j = w; j < nr_; j++) row[j] = 0.0f;
        }
    }
}

enum { KC = 256, KC_MIN = 320 }; /* slices of k: a (256, 32) slice of the panel is 32 KiB */

/* does panel j0 need packing (else it is read from b as it lies: a whole panel of untransposed b) */
static int needs_pack(int trans_b, int N, int nr_, int j0) { return trans_b || N - j0 < nr_; }

/* the product's rows, panel by panel; packed: every panel of b already packed ((K, nr) each, in order), or
 * NULL to pack each panel here */
static void gemm_serial_packed(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *a, int lda,
                               const float *b, int ldb, float beta, float *c, int ldc, const float *packed) {
    pthread_once(&pick_once, pick);
    tile_fn kern = kernel;
    int nr_ = kernel_nr, mr_ = kernel_mr;
    if (M <= 0 || N <= 0) return;
    size_t ai = trans_a ? 1 : (size_t)lda, ak = trans_a ? (size_t)lda : 1;
    size_t panel_size = (size_t)(K > 0 ? K : 1) * (size_t)nr_;
    float stack_panel[256 * 32], *panel = stack_panel;
    if (!packed && panel_size > sizeof stack_panel / sizeof *stack_panel) {
        panel = malloc(panel_size * sizeof *panel);
        if (!panel) { /* no memory for the panel: the same sums, element by element */
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    float s = 0.0f;
                    for (int k = 0; k < K; k++)
                        s = fmaf(a[(size_t)i * ai + (size_t)k * ak], trans_b ? b[(size_t)j * ldb + k] : b[(size_t)k * ldb + j], s);
                    float v = alpha * s;
                    c[(size_t)i * ldc + j] = beta == 0.0f ? v : v + beta * c[(size_t)i * ldc + j];
                }
            return;
        }
    }
    /* a long k (the weight gradients: k runs over a batch's samples and steps) with the AVX-512 kernel: the
     * panel (K, 32) outgrows L1 and each row tile would stream it from L2 again; instead slices of KC rows of
     * k go over all row tiles, the tiles' raw sums kept in between (M, 32) (without memory: unsliced) */
    float *sums = NULL;
#if defined(__x86_64__) || defined(__i386__)
    if (kern == tile512_any && K > KC_MIN) sums = malloc((size_t)M * NR512 * sizeof *sums);
#endif
    for (int j0 = 0; j0 < N; j0 += nr_) {
        int w = N - j0 < nr_ ? N - j0 : nr_;
        const float *bp = b + j0;
        size_t ldp = (size_t)ldb;
        if (needs_pack(trans_b, N, nr_, j0)) {
            ldp = (size_t)nr_;
            if (packed) {
                bp = packed + (size_t)(j0 / nr_) * panel_size;
            } else {
                pack_panel(trans_b, N, K, b, ldb, nr_, j0, panel);
                bp = panel;
            }
        }
#if defined(__x86_64__) || defined(__i386__)
        if (sums) { /* the panel in slices of KC rows of k, each over every row tile while it is in L1 */
            for (int k0 = 0; k0 < K; k0 += KC) {
                int kc = K - k0 < KC ? K - k0 : KC;
                for (int i0 = 0; i0 < M; i0 += mr_) {
                    int mr = M - i0 < mr_ ? M - i0 : mr_;
                    tile512_k(mr, kc, a + (size_t)i0 * ai + (size_t)k0 * ak, ai, ak, bp + (size_t)k0 * ldp, ldp,
                              sums + (size_t)i0 * NR512, k0 == 0, k0 + kc == K, alpha, beta, c + (size_t)i0 * ldc + j0,
                              (size_t)ldc, w);
                }
            }
            continue;
        }
#endif
        for (int i0 = 0; i0 < M; i0 += mr_) {
            int mr = M - i0 < mr_ ? M - i0 : mr_;
            kern(mr, K, a + (size_t)i0 * ai, ai, ak, bp, ldp, alpha, beta, c + (size_t)i0 * ldc + j0, (size_t)ldc, w);
        }
    }
    if (panel != stack_panel) free(panel);
    free(sums);
}

static void gemm_serial(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *a, int lda, const float *b,
                        int ldb, float beta, float *c, int ldc) {
    gemm_serial_packed(trans_a, trans_b, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

/* A large product (2^21 multiply-adds and more): its rows in parts on the calling thread's threads (parts
 * of 24 rows and 2^19 multiply-adds at least, small enough to share out evenly), or where it has too few
 * rows, its columns (parts of 32 columns and more); each element comes out as the whole product gives it. */
typedef struct {
    int trans_a, trans_b, M, N, K, lda, ldb, ldc, rows, cols; /* parts of rows rows, or of cols columns */
    float alpha, beta;
    const float *a, *b;
    float *c;
    const float *packed; /* row parts: the panels of b that need packing, packed once for every part (or NULL) */
} gemm_part;

static void gemm_part_run(void *arg, int i) {
    const gemm_part *g = arg;
    if (g->cols) { /* columns j0.. of b and c */
        int j0 = i * g->cols, w = g->N - j0 < g->cols ? g->N - j0 : g->cols;
        const float *b = g->b + (g->trans_b ? (size_t)j0 * g->ldb : (size_t)j0);
        gemm_serial(g->trans_a, g->trans_b, g->M, w, g->K, g->alpha, g->a, g->lda, b, g->ldb, g->beta, g->c + j0, g->ldc);
        return;
    }
    int i0 = i * g->rows, m = g->M - i0 < g->rows ? g->M - i0 : g->rows;
    const float *a = g->a + (size_t)i0 * (g->trans_a ? 1 : (size_t)g->lda);
    gemm_serial_packed(g->trans_a, g->trans_b, m, g->N, g->K, g->alpha, a, g->lda, g->b, g->ldb, g->beta,
                       g->c + (size_t)i0 * g->ldc, g->ldc, g->packed);
}

void bml__nn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc) {
    double work = (double)M * N * K;
    int parts = work < (1 << 21) ? 1 : (int)(work / (1 << 19)); /* parts of 2^19 multiply-adds and more */
    int row_parts = parts > M / 24 ? M / 24 : parts;
    int col_parts = parts > N / 32 ? N / 32 : parts;
    if ((row_parts < 2 && col_parts < 2) || bml__nn_threads() < 2) {
        gemm_serial(trans_a, trans_b, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (row_parts >= 2) {
        int rows = (M + row_parts - 1) / row_parts;
        rows = (rows + 23) / 24 * 24; /* whole tiles of 6 or 8 rows */
        gemm_part g = {trans_a, trans_b, M, N, K, lda, ldb, ldc, rows, 0, alpha, beta, a, b, c, NULL};
        /* the panels that need packing (all of a transposed b, else the last narrow one) are packed once here,
         * not again by every part (without memory for them, each part packs its own) */
        pthread_once(&pick_once, pick);
        int nr_ = kernel_nr, n_panels = (N + nr_ - 1) / nr_;
        size_t panel_size = (size_t)(K > 0 ? K : 1) * (size_t)nr_;
        float *packed = needs_pack(trans_b, N, nr_, (n_panels - 1) * nr_) ? malloc((size_t)n_panels * panel_size * sizeof *packed) : NULL;
        if (packed) {
            for (int p = 0; p < n_panels; p++)
                if (needs_pack(trans_b, N, nr_, p * nr_)) pack_panel(trans_b, N, K, b, ldb, nr_, p * nr_, packed + (size_t)p * panel_size);
            g.packed = packed;
        }
        bml__nn_parallel_for((M + rows - 1) / rows, gemm_part_run, &g);
        free(packed);
        return;
    }
    /* few rows and many columns (the weight gradients of a convolution: M = 32, K = thousands): parts of
     * whole 32-column panels */
    int cols = (N + col_parts - 1) / col_parts;
    cols = (cols + 31) / 32 * 32;
    gemm_part g = {trans_a, trans_b, M, N, K, lda, ldb, ldc, 0, cols, alpha, beta, a, b, c, NULL};
    bml__nn_parallel_for((N + cols - 1) / cols, gemm_part_run, &g);
}
