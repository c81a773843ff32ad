/* The neural-network core: optimised kernels against naive ones, finite-difference gradient checks of
 * every layer, loss and the whole MLP, parity with PyTorch 1.13 (tools/gen_torch_reference.py) for the
 * layers, the MLP, the losses, AdamW, the scheduler and clipping, and the mlp model's save/load. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "core/internal.h"
#include "nn/acla_net.h"
#include "nn/mlp_net.h"
#include "nn/nn.h"
#include "nn/par.h"
#include "nn/seq_net.h"
#include "test.h"
#include "nn/optim.h"

#define TORCH TEST_DATA "/torch"

/* ------------------------------------------------------------------ reference files */
typedef struct {
    char name[64];
    uint32_t ndim, dims[4];
    size_t n;
    float *data;
} tensor;
typedef struct {
    tensor *t;
    uint32_t count;
} tfile;

static tfile load(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TORCH, name);
    tfile f = {0};
    FILE *fp = fopen(path, "rb");
    char magic[4];
    uint32_t ver;
    if (!fp || fread(magic, 1, 4, fp) != 4 || memcmp(magic, "BMLT", 4) || fread(&ver, 4, 1, fp) != 1 ||
        fread(&f.count, 4, 1, fp) != 1) {
        fprintf(stderr, "  cannot read %s\n", path);
        t_fail_count++;
        if (fp) fclose(fp);
        f.count = 0;
        return f;
    }
    f.t = calloc(f.count, sizeof *f.t);
    for (uint32_t i = 0; i < f.count; i++) {
        uint32_t l;
        if (fread(&l, 4, 1, fp) != 1 || l >= 64 || fread(f.t[i].name, 1, l, fp) != l || fread(&f.t[i].ndim, 4, 1, fp) != 1 ||
            f.t[i].ndim > 4 || fread(f.t[i].dims, 4, f.t[i].ndim, fp) != f.t[i].ndim) {
            t_fail_count++;
            break;
        }
        f.t[i].n = 1;
        for (uint32_t k = 0; k < f.t[i].ndim; k++) f.t[i].n *= f.t[i].dims[k];
        f.t[i].data = malloc(f.t[i].n * sizeof(float) + 4);
        if (fread(f.t[i].data, sizeof(float), f.t[i].n, fp) != f.t[i].n) t_fail_count++;
    }
    fclose(fp);
    return f;
}

static const float *get(const tfile *f, const char *name) {
    for (uint32_t i = 0; i < f->count; i++)
        if (!strcmp(f->t[i].name, name)) return f->t[i].data;
    fprintf(stderr, "  no tensor '%s' in the reference\n", name);
    t_fail_count++;
    static float zeros[4096];
    return zeros;
}

static void release(tfile *f) {
    for (uint32_t i = 0; i < f->count; i++) free(f->t[i].data);
    free(f->t);
}

/* |a - b| <= atol + rtol |b| everywhere; prints the worst element */
static void close_to(const char *what, const float *a, const float *b, size_t n, double rtol, double atol) {
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(e <= worst)) worst = e, at = i;
    }
    if (!(worst <= 1.0)) {
        fprintf(stderr, "  %s: element %zu is %.9g, reference %.9g (rtol %g, atol %g)\n", what, at, a[at], b[at], rtol, atol);
        t_fail_count++;
    }
}

static float *randv(size_t n, bml_nn_rng *r, float scale) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = scale * bml__nn_rng_normal(r);
    return v;
}

static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* ------------------------------------------------------------------ kernels */
static void test_matmul_kernels_match_naive(void) {
    bml_nn_rng r;
    bml__nn_rng_seed(&r, 11);
    int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {32, 64, 7}, {33, 17, 65}, {64, 128, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *a = randv((size_t)M * K, &r, 1), *b = randv((size_t)N * K, &r, 1), *c0 = randv((size_t)M * N, &r, 1);
        float *c1 = malloc((size_t)M * N * sizeof(float)), *c2 = malloc((size_t)M * N * sizeof(float));
        for (int acc = 0; acc < 2; acc++) {
            memcpy(c1, c0, (size_t)M * N * sizeof(float));
            memcpy(c2, c0, (size_t)M * N * sizeof(float));
            bml__nn_matmul_abt(c1, a, b, M, N, K, acc);
            bml__nn_matmul_abt_naive(c2, a, b, M, N, K, acc);
            close_to("abt", c1, c2, (size_t)M * N, 1e-5, 1e-5);
            memcpy(c1, c0, (size_t)M * N * sizeof(float));
            memcpy(c2, c0, (size_t)M * N * sizeof(float));
            bml__nn_matmul_ab(c1, a, b, M, N, K, acc); /* b read as (K, N) */
            bml__nn_matmul_ab_naive(c2, a, b, M, N, K, acc);
            close_to("ab", c1, c2, (size_t)M * N, 1e-5, 1e-5);
            memcpy(c1, c0, (size_t)M * N * sizeof(float));
            memcpy(c2, c0, (size_t)M * N * sizeof(float));
            bml__nn_matmul_atb(c1, a, b, M, N, K, acc); /* a read as (K, M) */
            bml__nn_matmul_atb_naive(c2, a, b, M, N, K, acc);
            close_to("atb", c1, c2, (size_t)M * N, 1e-5, 1e-5);
        }
        free(a), free(b), free(c0), free(c1), free(c2);
    }
}

/* bml__nn_gemm against a double-precision product (every transpose, alpha and beta, edge shapes around
 * the 6-row tiles and 16/32-column panels, strided operands, a k long enough to be sliced), and its promise
 * that a product cut into row or column parts, or run on several threads, gives the whole product's bits */
static void gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda, const float *b, int ldb,
                     float beta, float *c, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)(ta ? a[(size_t)k * lda + i] : a[(size_t)i * lda + k]) *
                     (tb ? b[(size_t)j * ldb + k] : b[(size_t)k * ldb + j]);
            double v = alpha * s + (beta != 0.0f ? (double)beta * c[(size_t)i * ldc + j] : 0.0);
            c[(size_t)i * ldc + j] = (float)v;
        }
}

static void gemm_reference_and_splits(int isa, uint64_t *digest) {
    bml_nn_rng r;
    bml__nn_rng_seed(&r, 12);
    int shapes[][3] = {{1, 1, 1}, {5, 15, 3}, {6, 16, 8}, {7, 33, 17}, {13, 31, 64}, {40, 70, 300}, {97, 64, 5}, {0, 4, 3}, {19, 45, 700}};
    float ab[][2] = {{1, 0}, {1, 1}, {0.5f, -2}};
    size_t bad_split = 0, bad_threads = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t v = 0; v < sizeof ab / sizeof *ab; v++) {
                    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1; /* strided operands */
                    size_t na = (size_t)(ta ? K : M) * lda + 1, nb = (size_t)(tb ? N : K) * ldb + 1, nc = (size_t)M * ldc + 1;
                    float *a = randv(na, &r, 1), *b = randv(nb, &r, 1), *c0 = randv(nc, &r, 1);
                    float *c1 = malloc(nc * sizeof *c1), *c2 = malloc(nc * sizeof *c2), *c3 = malloc(nc * sizeof *c3);
                    memcpy(c1, c0, nc * sizeof *c1), memcpy(c2, c0, nc * sizeof *c2), memcpy(c3, c0, nc * sizeof *c3);
                    float al = ab[v][0], be = ab[v][1];
                    bml__nn_gemm(ta, tb, M, N, K, al, a, lda, b, ldb, be, c1, ldc);
                    gemm_ref(ta, tb, M, N, K, al, a, lda, b, ldb, be, c2, ldc);
                    close_to("gemm vs double", c1, c2, nc, 1e-5, 1e-5 * sqrt((double)K + 1));
                    /* rows in parts of 1, 2, ... (never the same cut twice), then columns in parts of 5 */
                    for (int i0 = 0, m = 1; i0 < M; i0 += m, m++) {
                        int mm = M - i0 < m ? M - i0 : m;
                        const float *ai = a + (size_t)i0 * (ta ? 1 : (size_t)lda);
                        bml__nn_gemm(ta, tb, mm, N, K, al, ai, lda, b, ldb, be, c3 + (size_t)i0 * ldc, ldc);
                    }
                    bad_split += memcmp(c1, c3, nc * sizeof *c1) != 0;
                    memcpy(c3, c0, nc * sizeof *c3);
                    for (int j0 = 0; j0 < N; j0 += 5) {
                        int w = N - j0 < 5 ? N - j0 : 5;
                        const float *bj = b + (size_t)j0 * (tb ? (size_t)ldb : 1);
                        bml__nn_gemm(ta, tb, M, w, K, al, a, lda, bj, ldb, be, c3 + j0, ldc);
                    }
                    bad_split += memcmp(c1, c3, nc * sizeof *c1) != 0;
                    const unsigned char *bytes = (const unsigned char *)c1; /* FNV-1a over every result */
                    for (size_t i = 0; i < nc * sizeof *c1; i++) *digest = (*digest ^ bytes[i]) * 1099511628211ULL;
                    free(a), free(b), free(c0), free(c1), free(c2), free(c3);
                }
    /* a product large enough to be cut into parts for threads: the same bits at 1, 2 and 3 threads */
    int M = 600, N = 200, K = 150;
    float *a = randv((size_t)M * K, &r, 1), *b = randv((size_t)N * K, &r, 1), *c[3];
    int before = bml__nn_threads_set(1);
    for (int t = 0; t < 3; t++) {
        bml__nn_threads_set(t + 1);
        c[t] = malloc((size_t)M * N * sizeof(float));
        bml__nn_gemm(0, 1, M, N, K, 1.0f, a, K, b, K, 0.0f, c[t], N);
    }
    bml__nn_threads_set(before);
    bad_threads += memcmp(c[0], c[1], (size_t)M * N * sizeof(float)) != 0;
    bad_threads += memcmp(c[0], c[2], (size_t)M * N * sizeof(float)) != 0;
    /* ... and one with too few rows for parts, cut into parts of columns at 2 and 3 threads (as a
     * convolution's weight gradient: a^T b, 20 rows, 200 columns, K = 1000, accumulating into c): a part
     * run twice or not at all would show against the double reference */
    float *a2 = randv((size_t)1000 * 20, &r, 1), *b2 = randv((size_t)1000 * 200, &r, 1), *c2[3];
    for (int t = 0; t < 3; t++) {
        bml__nn_threads_set(t + 1);
        c2[t] = malloc((size_t)20 * 200 * sizeof(float));
        for (int i = 0; i < 20 * 200; i++) c2[t][i] = 0.5f;
        bml__nn_gemm(1, 0, 20, 200, 1000, 1.0f, a2, 20, b2, 200, 1.0f, c2[t], 200);
    }
    bml__nn_threads_set(before);
    float *ref2 = malloc((size_t)20 * 200 * sizeof(float));
    for (int i = 0; i < 20 * 200; i++) ref2[i] = 0.5f;
    gemm_ref(1, 0, 20, 200, 1000, 1.0f, a2, 20, b2, 200, 1.0f, ref2, 200);
    close_to("gemm columns in parts vs double", c2[2], ref2, (size_t)20 * 200, 1e-5, 1e-5 * sqrt(1001.0));
    bad_threads += memcmp(c2[0], c2[1], (size_t)20 * 200 * sizeof(float)) != 0;
    bad_threads += memcmp(c2[0], c2[2], (size_t)20 * 200 * sizeof(float)) != 0;
    free(a2), free(b2), free(c2[0]), free(c2[1]), free(c2[2]), free(ref2);
    if (bad_split || bad_threads) fprintf(stderr, "  kernels %d: %zu split and %zu thread mismatches\n", isa, bad_split, bad_threads);
    CHECK_INT(bad_split, 0);
    CHECK_INT(bad_threads, 0);
    free(a), free(b), free(c[0]), free(c[1]), free(c[2]);
}

/* ... with each of the kernels this CPU has (plain C always): the same bits from all */
static void test_gemm_reference_and_splits(void) {
    uint64_t digest[3] = {0}, ran = 0;
    for (int isa = 0; isa < 3; isa++) {
        if (!bml__nn_gemm_use_isa(isa)) continue;
        digest[isa] = 1469598103934665603ULL;
        gemm_reference_and_splits(isa, &digest[isa]);
        if (digest[isa] != digest[0]) fprintf(stderr, "  kernels %d give other bits than plain C\n", isa);
        CHECK(digest[isa] == digest[0]);
        ran++;
    }
    CHECK(ran >= 1);
    if (!bml__nn_gemm_use_isa(2)) bml__nn_gemm_use_isa(1); /* back to the fastest */
}

/* the pool: every task runs exactly once at any thread count, a loop started from inside a task runs
 * (on the task's own thread) instead of waiting for the busy pool */
typedef struct {
    int *hits;
    int nested;
} pool_ctx;

static void pool_inner(void *arg, int i) { __atomic_fetch_add(&((int *)arg)[i], 1, __ATOMIC_RELAXED); }

static void pool_task(void *arg, int i) {
    pool_ctx *p = arg;
    __atomic_fetch_add(&p->hits[i], 1, __ATOMIC_RELAXED);
    if (p->nested) bml__nn_parallel_for(7, pool_inner, p->hits + 1000 + 7 * i);
}

static void test_parallel_for_runs_each_task_once(void) {
    int before = bml__nn_threads_set(1);
    for (int th = 1; th <= 4; th++)
        for (int nested = 0; nested < 2; nested++) {
            bml__nn_threads_set(th);
            int *hits = calloc(2000, sizeof *hits);
            pool_ctx p = {hits, nested};
            bml__nn_parallel_for(100, pool_task, &p);
            size_t wrong = 0;
            for (int i = 0; i < 100; i++) wrong += hits[i] != 1;
            for (int i = 0; i < 700; i++) wrong += hits[1000 + i] != nested;
            CHECK_INT(wrong, 0);
            free(hits);
        }
    bml__nn_threads_set(before);
    int cap_before = bml__nn_threads_cap(3);
    bml__nn_threads_set(8);
    CHECK_INT(bml__nn_threads(), 3);
    bml__nn_threads_set(2);
    CHECK_INT(bml__nn_threads(), 2);
    bml__nn_threads_cap(cap_before);
    bml__nn_threads_set(before);
}

/* ------------------------------------------------------------------ parity with PyTorch */
static void test_linear_parity(void) {
    tfile f = load("linear.bin");
    float out[12], dx[20] = {0}, dw[15] = {0}, db[3] = {0};
    bml__nn_linear_forward(out, get(&f, "x"), get(&f, "w"), get(&f, "b"), 4, 5, 3);
    close_to("linear out", out, get(&f, "out"), 12, 1e-5, 1e-6);
    bml__nn_linear_backward(dx, dw, db, get(&f, "dout"), get(&f, "x"), get(&f, "w"), 4, 5, 3);
    close_to("linear dx", dx, get(&f, "dx"), 20, 1e-5, 1e-6);
    close_to("linear dw", dw, get(&f, "dw"), 15, 1e-5, 1e-6);
    close_to("linear db", db, get(&f, "db"), 3, 1e-5, 1e-6);
    release(&f);
}

static void test_layernorm_parity(void) {
    tfile f = load("layernorm.bin");
    float out[24], mean[4], rstd[4], dx[24] = {0}, dw[6] = {0}, db[6] = {0};
    bml__nn_layernorm_forward(out, mean, rstd, get(&f, "x"), get(&f, "w"), get(&f, "b"), 4, 6, 1e-5f);
    close_to("layernorm out", out, get(&f, "out"), 24, 1e-5, 1e-6);
    bml__nn_layernorm_backward(dx, dw, db, get(&f, "dout"), get(&f, "x"), get(&f, "w"), mean, rstd, 4, 6);
    close_to("layernorm dx", dx, get(&f, "dx"), 24, 1e-4, 1e-6);
    close_to("layernorm dw", dw, get(&f, "dw"), 6, 1e-5, 1e-6);
    close_to("layernorm db", db, get(&f, "db"), 6, 1e-5, 1e-6);
    release(&f);
}

static void test_activation_parity(void) {
    tfile f = load("activations.bin");
    float out[20], d[20] = {0};
    bml__nn_relu_forward(out, get(&f, "x"), 20);
    close_to("relu", out, get(&f, "relu"), 20, 0, 1e-30);
    bml__nn_relu_backward(d, get(&f, "dout"), out, 20);
    close_to("drelu", d, get(&f, "drelu"), 20, 0, 1e-30);
    memset(d, 0, sizeof d);
    bml__nn_tanh_forward(out, get(&f, "x"), 20);
    close_to("tanh", out, get(&f, "tanh"), 20, 1e-6, 1e-7);
    bml__nn_tanh_backward(d, get(&f, "dout"), out, 20);
    close_to("dtanh", d, get(&f, "dtanh"), 20, 1e-5, 1e-7);
    release(&f);
}

static void mlp_parity(const char *file, const int *dims, int L, int tanh_act) {
    tfile f = load(file);
    bml__mlp_net *n = NULL;
    CHECK_OK(bml__mlp_net_create(dims, L, tanh_act, 0.1f, 1, &n));
    if (!n) return;
    for (int l = 0; l < L; l++) {
        char k[16];
        snprintf(k, sizeof k, "w%d", l);
        memcpy(n->w[l], get(&f, k), n->sizes[2 * l] * sizeof(float));
        snprintf(k, sizeof k, "b%d", l);
        memcpy(n->b[l], get(&f, k), n->sizes[2 * l + 1] * sizeof(float));
    }
    int B = 8, O = dims[L];
    float *out = zeros((size_t)B * O), *dout = zeros((size_t)B * O), *dx = zeros((size_t)B * dims[0]);
    CHECK_OK(bml__mlp_net_forward(n, get(&f, "x"), B, 0, out));
    close_to("mlp out", out, get(&f, "out"), (size_t)B * O, 1e-5, 1e-6);
    bml_loss loss = {.kind = BML_LOSS_MSE};
    float l = (float)bml__loss_eval(&loss, out, get(&f, "y"), NULL, (size_t)B * O, dout);
    close_to("mlp loss", &l, get(&f, "loss"), 1, 1e-5, 1e-7);
    memset(n->grads, 0, n->n_params * sizeof(float));
    bml__mlp_net_backward(n, dout, B, dx);
    close_to("mlp dx", dx, get(&f, "dx"), (size_t)B * dims[0], 1e-4, 1e-6);
    for (int k = 0; k < L; k++) {
        char key[16];
        snprintf(key, sizeof key, "dw%d", k);
        close_to(key, n->dw[k], get(&f, key), n->sizes[2 * k], 1e-4, 1e-6);
        snprintf(key, sizeof key, "db%d", k);
        close_to(key, n->db[k], get(&f, key), n->sizes[2 * k + 1], 1e-4, 1e-6);
    }
    free(out), free(dout), free(dx);
    bml__mlp_net_free(n);
    release(&f);
}

static void test_mlp_parity(void) {
    int relu_dims[] = {7, 64, 32, 3}, tanh_dims[] = {5, 16, 2};
    mlp_parity("mlp_relu.bin", relu_dims, 3, 0);
    mlp_parity("mlp_tanh.bin", tanh_dims, 2, 1);
}

static void test_loss_parity(void) {
    tfile f = load("losses.bin");
    const char *names[] = {"mse", "mae", "huber", "mape"};
    for (int k = 0; k < 4; k++) {
        bml_loss l = {.delta = 0.5f, .epsilon = 1e-8f};
        CHECK_INT(bml__loss_parse(names[k], &l.kind), 0);
        float d[12];
        float v = (float)bml__loss_eval(&l, get(&f, "pred"), get(&f, "y"), NULL, 12, d);
        char key[16];
        close_to(names[k], &v, get(&f, names[k]), 1, 1e-5, 1e-7);
        snprintf(key, sizeof key, "d%s", names[k]);
        close_to(key, d, get(&f, key), 12, 1e-5, 1e-7);
    }
    bml_loss_kind kind;
    CHECK(bml__loss_parse("focal", &kind) != 0);
    /* a mask drops values from the mean and from the gradient */
    float p[3] = {1, 2, 3}, y[3] = {0, 0, 0}, m[3] = {1, 0, 1}, d[3];
    bml_loss mse = {.kind = BML_LOSS_MSE};
    CHECK_NEAR(bml__loss_eval(&mse, p, y, m, 3, d), 5.0, 1e-12);
    CHECK_NEAR(d[1], 0, 0);
    CHECK_NEAR(d[2], 3, 1e-6);
    release(&f);
}

static void test_physics_loss(void) {
    tfile f = load("physics.bin");
    bml_loss l = {.kind = BML_LOSS_PHYSICS, .monotonicity = 0.3f, .smoothness = 0.2f, .T = 5, .O = 2};
    float d[20];
    float v = (float)bml__loss_eval(&l, get(&f, "pred"), get(&f, "y"), get(&f, "mask"), 20, d);
    close_to("physics_informed", &v, get(&f, "loss"), 1, 1e-5, 1e-7);
    close_to("d physics_informed", d, get(&f, "dpred"), 20, 1e-4, 1e-7);
    /* finite differences, padded steps included (their gradient is 0) */
    float p[20];
    memcpy(p, get(&f, "pred"), sizeof p);
    for (int i = 0; i < 20; i++) {
        float keep = p[i];
        p[i] = keep + 1e-3f;
        double lp = bml__loss_eval(&l, p, get(&f, "y"), get(&f, "mask"), 20, NULL);
        p[i] = keep - 1e-3f;
        double lm = bml__loss_eval(&l, p, get(&f, "y"), get(&f, "mask"), 20, NULL);
        p[i] = keep;
        CHECK_NEAR((lp - lm) / 2e-3, d[i], 2e-3);
    }
    bml_loss_kind kind;
    CHECK_INT(bml__loss_parse("physics_informed", &kind), 0);
    CHECK_INT(kind, BML_LOSS_PHYSICS);
    release(&f);
}

static void test_adamw_scheduler_clip_parity(void) {
    tfile f = load("optim.bin");
    float p[10];
    memcpy(p, get(&f, "p0"), sizeof p);
    bml_adamw o;
    CHECK_OK(bml__adamw_init(&o, 10, 1e-3f, 0.01f));
    const float *grads = get(&f, "grads");
    for (int s = 0; s < 6; s++) {
        bml__adamw_step(&o, p, grads + s * 10);
        char key[16];
        snprintf(key, sizeof key, "p%d", s + 1);
        close_to(key, p, get(&f, key), 10, 1e-6, 1e-7);
    }
    bml__adamw_release(&o);
    const float *lrs = get(&f, "lrs");
    float mine[400];
    for (int e = 0; e < 400; e++) mine[e] = (float)bml__cosine_warm_restarts_lr(1e-3, 0, 50, 2, e);
    close_to("cosine warm restarts", mine, lrs, 400, 1e-6, 1e-12);
    float g[11];
    memcpy(g, get(&f, "clip_in"), sizeof g);
    size_t sizes[3] = {3, 4, 4};
    float norm = (float)bml__clip_grad_norm(g, sizes, 3, 1.0);
    close_to("clip norm", &norm, get(&f, "clip_norm"), 1, 1e-6, 0);
    close_to("clipped", g, get(&f, "clip_out"), 11, 1e-6, 1e-8);
    release(&f);
}

static void test_lstm_parity(void) {
    tfile f = load("lstm.bin");
    int B = 3, T = 6, C = 4, H = 5, len[3];
    for (int b = 0; b < B; b++) len[b] = (int)get(&f, "len")[b];
    float out[2][3 * 6 * 5], cell[2][3 * 6 * 5], gates[2][3 * 6 * 20];
    float *scratch = zeros(bml__nn_lstm_backward_scratch(B, T, H) + bml__nn_lstm_forward_scratch(B, H));
    const char *sfx[2] = {"l0", "l0_reverse"};
    float both[3 * 6 * 10], dx[3 * 6 * 4] = {0};
    for (int d = 0; d < 2; d++) {
        char wi[32], wh[32], bi[32], bh[32];
        snprintf(wi, sizeof wi, "weight_ih_%s", sfx[d]);
        snprintf(wh, sizeof wh, "weight_hh_%s", sfx[d]);
        snprintf(bi, sizeof bi, "bias_ih_%s", sfx[d]);
        snprintf(bh, sizeof bh, "bias_hh_%s", sfx[d]);
        bml__nn_lstm_forward(out[d], cell[d], gates[d], get(&f, "x"), len, get(&f, wi), get(&f, wh), get(&f, bi), get(&f, bh),
                            B, T, C, H, d, scratch);
        for (int r = 0; r < B * T; r++) memcpy(both + (size_t)r * 2 * H + d * H, out[d] + (size_t)r * H, (size_t)H * sizeof(float));
    }
    close_to("lstm out", both, get(&f, "out"), (size_t)B * T * 2 * H, 1e-5, 1e-6);
    const float *dout2 = get(&f, "dout");
    for (int d = 0; d < 2; d++) {
        float dout[3 * 6 * 5], dwi[20 * 4] = {0}, dwh[20 * 5] = {0}, dbi[20] = {0}, dbh[20] = {0};
        for (int r = 0; r < B * T; r++) memcpy(dout + (size_t)r * H, dout2 + (size_t)r * 2 * H + d * H, (size_t)H * sizeof(float));
        char wi[32], wh[32], k[40];
        snprintf(wi, sizeof wi, "weight_ih_%s", sfx[d]);
        snprintf(wh, sizeof wh, "weight_hh_%s", sfx[d]);
        bml__nn_lstm_backward(dx, dwi, dwh, dbi, dbh, dout, get(&f, "x"), out[d], cell[d], gates[d], len, get(&f, wi),
                             get(&f, wh), B, T, C, H, d, scratch);
        snprintf(k, sizeof k, "dweight_ih_%s", sfx[d]);
        close_to(k, dwi, get(&f, k), 80, 1e-4, 1e-6);
        snprintf(k, sizeof k, "dweight_hh_%s", sfx[d]);
        close_to(k, dwh, get(&f, k), 100, 1e-4, 1e-6);
        snprintf(k, sizeof k, "dbias_ih_%s", sfx[d]);
        close_to(k, dbi, get(&f, k), 20, 1e-4, 1e-6);
        snprintf(k, sizeof k, "dbias_hh_%s", sfx[d]);
        close_to(k, dbh, get(&f, k), 20, 1e-4, 1e-6);
    }
    close_to("lstm dx", dx, get(&f, "dx"), (size_t)B * T * C, 1e-4, 1e-6);
    free(scratch);
    release(&f);
}

static void test_mha_parity(void) {
    tfile f = load("mha.bin");
    int B = 2, T = 5, D = 8, nh = 2, len[2] = {(int)get(&f, "len")[0], (int)get(&f, "len")[1]};
    float out[80], qkv[240], probs[2 * 2 * 25], dmask[2 * 2 * 25], ctx[80], avg[50];
    bml__nn_mha_forward(out, qkv, probs, dmask, ctx, get(&f, "x"), len, get(&f, "w_in"), get(&f, "b_in"), get(&f, "w_out"),
                       get(&f, "b_out"), B, T, D, nh, 0.1f, 0, NULL);
    close_to("mha out", out, get(&f, "out"), 80, 1e-5, 1e-6);
    bml__nn_mha_average_heads(avg, probs, B, T, nh);
    close_to("mha weights", avg, get(&f, "weights"), 50, 1e-5, 1e-7);
    float dx[80] = {0}, dwi[192] = {0}, dbi[24] = {0}, dwo[64] = {0}, dbo[8] = {0};
    float *scratch = zeros(bml__nn_mha_backward_scratch(B, T, D));
    bml__nn_mha_backward(dx, dwi, dbi, dwo, dbo, get(&f, "dout"), get(&f, "x"), qkv, probs, dmask, ctx, len, get(&f, "w_in"),
                        get(&f, "w_out"), B, T, D, nh, scratch);
    close_to("mha dx", dx, get(&f, "dx"), 80, 1e-4, 1e-6);
    close_to("mha dw_in", dwi, get(&f, "dw_in"), 192, 1e-4, 1e-6);
    close_to("mha db_in", dbi, get(&f, "db_in"), 24, 1e-4, 1e-5); /* the key bias has zero gradient: rounding only */
    close_to("mha dw_out", dwo, get(&f, "dw_out"), 64, 1e-5, 1e-6);
    close_to("mha db_out", dbo, get(&f, "db_out"), 8, 1e-5, 1e-6);
    free(scratch);
    release(&f);
}

/* PyTorch (N, C, L) <-> channels last (N, L, C) */
static void to_last(float *dst, const float *src, int N, int C, int L) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int l = 0; l < L; l++) dst[((size_t)n * L + l) * C + c] = src[((size_t)n * C + c) * L + l];
}

static void test_conv_batchnorm_parity(void) {
    tfile f = load("conv_bn.bin");
    int N = 2, Cin = 3, Cout = 4, L = 5;
    float x[30], col[2 * 5 * 9], c[40], y[40], mean[4], rstd[4], rm[4] = {0, 0, 0, 0}, rv[4] = {1, 1, 1, 1};
    to_last(x, get(&f, "x"), N, Cin, L);
    bml__nn_conv1d_k3_forward(c, col, x, get(&f, "conv_w"), get(&f, "conv_b"), N, L, Cin, Cout);
    float ref[40];
    to_last(ref, get(&f, "conv_out"), N, Cout, L);
    close_to("conv out", c, ref, 40, 1e-5, 1e-6);
    bml__nn_batchnorm_forward(y, mean, rstd, rm, rv, c, get(&f, "bn_w"), get(&f, "bn_b"), NULL, N * L, Cout, 1e-5f, 0.1f, 1);
    to_last(ref, get(&f, "out"), N, Cout, L);
    close_to("batchnorm out", y, ref, 40, 1e-5, 1e-6);
    close_to("running mean", rm, get(&f, "run_mean"), 4, 1e-5, 1e-7);
    close_to("running var", rv, get(&f, "run_var"), 4, 1e-5, 1e-7);
    float dout[40], dc[40] = {0}, dbw[4] = {0}, dbb[4] = {0}, dx[30] = {0}, dcw[36] = {0}, dcb[4] = {0}, scratch[90];
    to_last(dout, get(&f, "dout"), N, Cout, L);
    bml__nn_batchnorm_backward(dc, dbw, dbb, dout, c, get(&f, "bn_w"), mean, rstd, NULL, N * L, Cout, 1);
    to_last(ref, get(&f, "dconv_out"), N, Cout, L);
    close_to("batchnorm dx", dc, ref, 40, 1e-4, 1e-6);
    close_to("batchnorm dw", dbw, get(&f, "dbn_w"), 4, 1e-5, 1e-6);
    close_to("batchnorm db", dbb, get(&f, "dbn_b"), 4, 1e-5, 1e-6);
    bml__nn_conv1d_k3_backward(dx, dcw, dcb, dc, col, get(&f, "conv_w"), N, L, Cin, Cout, scratch);
    to_last(ref, get(&f, "dx"), N, Cin, L);
    close_to("conv dx", dx, ref, 30, 1e-4, 1e-6);
    close_to("conv dw", dcw, get(&f, "dconv_w"), 36, 1e-4, 1e-6);
    close_to("conv db", dcb, get(&f, "dconv_b"), 4, 1e-4, 1e-6);
    release(&f);
}

/* ------------------------------------------------------------------ finite differences */
/* Central differences of L = sum(out * w_out) with respect to v[i], against the analytic gradient g[i],
 * for a function f that recomputes out from the current inputs. Float32: step 1e-2, tolerance 2 %. */
typedef void (*fwd_fn)(void *ctx, float *out);
static float g_fd_step = 1e-2f;
static double g_fd_atol = 1e-3; /* float32 rounding of the loss, divided by the step */
static void fd_check(const char *what, void *ctx, fwd_fn f, float *v, const float *g, size_t n, const float *w_out,
                     size_t n_out) {
    float *out = malloc(n_out * sizeof *out);
    double worst = 0;
    size_t at = 0;
    double num_at = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = v[i], h = g_fd_step * fmaxf(1.0f, fabsf(keep));
        double lp = 0, lm = 0;
        v[i] = keep + h;
        f(ctx, out);
        for (size_t k = 0; k < n_out; k++) lp += (double)out[k] * w_out[k];
        v[i] = keep - h;
        f(ctx, out);
        for (size_t k = 0; k < n_out; k++) lm += (double)out[k] * w_out[k];
        v[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        double e = fabs(num - g[i]) / (g_fd_atol + 2e-2 * fabs(num));
        if (e > worst) worst = e, at = i, num_at = num;
    }
    if (worst > 1.0) {
        fprintf(stderr, "  %s: d/dv[%zu] analytic %.6g, numeric %.6g\n", what, at, g[at], num_at);
        t_fail_count++;
    }
    free(out);
}

typedef struct {
    float *x, *w, *b, *mean, *rstd, *mask;
    int N, C, OC, kind;
} layer_ctx;

static void layer_fwd(void *vc, float *out) {
    layer_ctx *c = vc;
    size_t n = (size_t)c->N * c->C;
    switch (c->kind) {
    case 0: bml__nn_linear_forward(out, c->x, c->w, c->b, c->N, c->C, c->OC); break;
    case 1: bml__nn_tanh_forward(out, c->x, n); break;
    case 2: bml__nn_relu_forward(out, c->x, n); break;
    case 3: bml__nn_layernorm_forward(out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C, 1e-5f); break;
    case 4:
        for (size_t i = 0; i < n; i++) out[i] = c->x[i] * c->mask[i];
        break;
    }
}

static void test_layer_gradients(void) {
    bml_nn_rng r;
    bml__nn_rng_seed(&r, 21);
    int N = 5, C = 6, OC = 4;
    layer_ctx c = {randv((size_t)N * C, &r, 1), randv((size_t)OC * C, &r, 1), randv((size_t)OC, &r, 1), zeros((size_t)N),
                   zeros((size_t)N), zeros((size_t)N * C), N, C, OC, 0};
    float *wout = randv((size_t)N * OC, &r, 1), *out = zeros((size_t)N * C * 4);
    /* Linear */
    float *dx = zeros((size_t)N * C), *dw = zeros((size_t)OC * C), *db = zeros((size_t)OC);
    bml__nn_linear_backward(dx, dw, db, wout, c.x, c.w, N, C, OC);
    fd_check("linear dx", &c, layer_fwd, c.x, dx, (size_t)N * C, wout, (size_t)N * OC);
    fd_check("linear dw", &c, layer_fwd, c.w, dw, (size_t)OC * C, wout, (size_t)N * OC);
    fd_check("linear db", &c, layer_fwd, c.b, db, (size_t)OC, wout, (size_t)N * OC);
    /* element-wise: tanh, relu (inputs kept away from the kink), dropout with a fixed mask */
    float *w2 = randv((size_t)N * C, &r, 1);
    for (int kind = 1; kind <= 2; kind++) {
        c.kind = kind;
        for (int i = 0; i < N * C; i++)
            if (fabsf(c.x[i]) < 0.1f) c.x[i] = 0.5f;
        layer_fwd(&c, out);
        memset(dx, 0, (size_t)N * C * sizeof *dx);
        if (kind == 1) bml__nn_tanh_backward(dx, w2, out, (size_t)N * C);
        else bml__nn_relu_backward(dx, w2, out, (size_t)N * C);
        fd_check(kind == 1 ? "tanh" : "relu", &c, layer_fwd, c.x, dx, (size_t)N * C, w2, (size_t)N * C);
    }
    c.kind = 4;
    bml__nn_dropout_forward(out, c.mask, c.x, (size_t)N * C, 0.3f, &r);
    int zeroed = 0;
    for (int i = 0; i < N * C; i++) zeroed += c.mask[i] == 0.0f;
    CHECK(zeroed > 0 && zeroed < N * C);
    memset(dx, 0, (size_t)N * C * sizeof *dx);
    bml__nn_dropout_backward(dx, w2, c.mask, (size_t)N * C);
    fd_check("dropout", &c, layer_fwd, c.x, dx, (size_t)N * C, w2, (size_t)N * C);
    /* LayerNorm */
    c.kind = 3;
    float *lw = randv((size_t)C, &r, 1), *lb = randv((size_t)C, &r, 1);
    float *keep_w = c.w, *keep_b = c.b;
    c.w = lw, c.b = lb;
    layer_fwd(&c, out);
    float *dlw = zeros((size_t)C), *dlb = zeros((size_t)C);
    memset(dx, 0, (size_t)N * C * sizeof *dx);
    bml__nn_layernorm_backward(dx, dlw, dlb, w2, c.x, c.w, c.mean, c.rstd, N, C);
    fd_check("layernorm dx", &c, layer_fwd, c.x, dx, (size_t)N * C, w2, (size_t)N * C);
    fd_check("layernorm dw", &c, layer_fwd, c.w, dlw, (size_t)C, w2, (size_t)N * C);
    fd_check("layernorm db", &c, layer_fwd, c.b, dlb, (size_t)C, w2, (size_t)N * C);
    c.w = keep_w, c.b = keep_b;
    free(lw), free(lb), free(dlw), free(dlb);
    free(c.x), free(c.w), free(c.b), free(c.mean), free(c.rstd), free(c.mask);
    free(wout), free(out), free(dx), free(dw), free(db), free(w2);
}

typedef struct {
    bml_loss l;
    float *p, *y;
    size_t n;
} loss_ctx;
static void loss_fwd(void *vc, float *out) {
    loss_ctx *c = vc;
    out[0] = (float)bml__loss_eval(&c->l, c->p, c->y, NULL, c->n, NULL);
}

typedef struct {
    float *x, *w_ih, *w_hh, *b_ih, *b_hh, *out, *cell, *gates, *scratch, *w_in, *b_in, *w_out, *b_out, *bw, *bb, *rm, *rv,
        *mean, *rstd, *col, *rowmask;
    int *len, B, T, C, H, reverse, kind;
} seq_ctx;

static void seq_fwd(void *vc, float *out) {
    seq_ctx *c = vc;
    size_t n = (size_t)c->B * c->T;
    float probs[2 * 2 * 36], dmask[2 * 2 * 36], qkv[2 * 6 * 24], ctx[2 * 6 * 8];
    switch (c->kind) {
    case 0:
        bml__nn_lstm_forward(out, c->cell, c->gates, c->x, c->len, c->w_ih, c->w_hh, c->b_ih, c->b_hh, c->B, c->T, c->C, c->H,
                            c->reverse, c->scratch);
        break;
    case 1:
        bml__nn_mha_forward(out, qkv, probs, dmask, ctx, c->x, c->len, c->w_in, c->b_in, c->w_out, c->b_out, c->B, c->T, c->C,
                           2, 0, 0, NULL);
        break;
    case 2: {
        float rm[8], rv[8];
        memcpy(rm, c->rm, (size_t)c->C * sizeof *rm);
        memcpy(rv, c->rv, (size_t)c->C * sizeof *rv);
        bml__nn_batchnorm_forward(out, c->mean, c->rstd, rm, rv, c->x, c->bw, c->bb, c->rowmask, (int)n, c->C, 1e-5f, 0.1f, 1);
        break;
    }
    case 5: { /* the first-step attention */
        float q[2 * 8], kv[2 * 6 * 16];
        bml__nn_mha_first_forward(out, q, kv, probs, dmask, ctx, c->x, c->len, c->w_in, c->b_in, c->w_out, c->b_out, c->B, c->T,
                                 c->C, 2, 0, 0, NULL);
        break;
    }
    case 3: bml__nn_conv1d_k3_forward(out, c->col, c->x, c->w_in, c->b_in, c->B, c->T, c->C, c->H); break;
    case 4: bml__nn_mean_mid_forward(out, c->x, c->B, c->T, c->C); break;
    }
}

/* the dropout multipliers: 0 or 1/(1-p), zero at rate p (within 5 standard deviations), neighbours and two
 * successive masks independent (pairs of zeros at rate p^2), the same masks again from the same seed */
static void test_dropout_mask_statistics(void) {
    enum { N = 200000 };
    const float p = 0.3f, keep = 1.0f / (1.0f - 0.3f);
    float *a = zeros(N), *b = zeros(N), *c = zeros(N);
    bml_nn_rng r, r2;
    bml__nn_rng_seed(&r, 11);
    bml__nn_rng_seed(&r2, 11);
    bml__nn_dropout_mask(a, N, p, &r);
    bml__nn_dropout_mask(b, N, p, &r);
    bml__nn_dropout_mask(c, N, p, &r2);
    double zeros_a = 0, pairs_next = 0, pairs_ab = 0;
    int bad = 0, same = 1;
    for (int i = 0; i < N; i++) {
        bad += !(a[i] == 0.0f || a[i] == keep);
        zeros_a += a[i] == 0.0f;
        if (i + 1 < N) pairs_next += a[i] == 0.0f && a[i + 1] == 0.0f;
        pairs_ab += a[i] == 0.0f && b[i] == 0.0f;
        same &= memcmp(&a[i], &c[i], sizeof(float)) == 0;
    }
    CHECK(bad == 0);
    CHECK(same);
    double sd1 = sqrt(N * 0.3 * 0.7), sd2 = sqrt(N * 0.09 * 0.91);
    CHECK(fabs(zeros_a - N * 0.3) < 5 * sd1);
    CHECK(fabs(pairs_next - (N - 1) * 0.09) < 5 * sd2);
    CHECK(fabs(pairs_ab - N * 0.09) < 5 * sd2);
    bml__nn_dropout_mask(a, N, 0.0f, &r); /* p = 0 keeps everything, multiplier 1 */
    bad = 0;
    for (int i = 0; i < N; i++) bad += a[i] != 1.0f;
    CHECK(bad == 0);
    free(a);
    free(b);
    free(c);
}

static void test_sequence_layer_gradients(void) {
    bml_nn_rng r;
    bml__nn_rng_seed(&r, 31);
    int B = 2, T = 6, C = 3, H = 4, len[2] = {6, 4};
    seq_ctx c = {0};
    c.B = B, c.T = T, c.C = C, c.H = H, c.len = len;
    c.x = randv((size_t)B * T * C, &r, 1);
    for (int t = len[1]; t < T; t++) memset(c.x + ((size_t)T + t) * C, 0, (size_t)C * sizeof(float));
    c.w_ih = randv((size_t)4 * H * C, &r, 0.5f), c.w_hh = randv((size_t)4 * H * H, &r, 0.5f);
    c.b_ih = randv((size_t)4 * H, &r, 0.3f), c.b_hh = randv((size_t)4 * H, &r, 0.3f);
    c.out = zeros((size_t)B * T * 8), c.cell = zeros((size_t)B * T * H), c.gates = zeros((size_t)B * T * 4 * H);
    c.scratch = zeros(bml__nn_lstm_backward_scratch(B, T, H) + bml__nn_lstm_forward_scratch(B, H) + 1000);
    float *wout = randv((size_t)B * T * 8, &r, 1);
    for (int t = len[1]; t < T; t++) memset(wout + ((size_t)T + t) * H, 0, (size_t)H * sizeof(float)); /* pads unread */
    /* lengths 6 and 4, then 4 and 4 (all of one length: the products read the steps' rows in place) */
    for (int rep = 0; rep < 4; rep++) {
        int rev = rep % 2;
        len[0] = rep < 2 ? 6 : 4;
        c.kind = 0, c.reverse = rev;
        seq_fwd(&c, c.out);
        float *dx = zeros((size_t)B * T * C), *dwi = zeros((size_t)4 * H * C), *dwh = zeros((size_t)4 * H * H);
        float *dbi = zeros((size_t)4 * H), *dbh = zeros((size_t)4 * H), *sc = zeros(bml__nn_lstm_backward_scratch(B, T, H));
        bml__nn_lstm_backward(dx, dwi, dwh, dbi, dbh, wout, c.x, c.out, c.cell, c.gates, len, c.w_ih, c.w_hh, B, T, C, H, rev, sc);
        fd_check(rev ? "lstm(reverse) dx" : "lstm dx", &c, seq_fwd, c.x, dx, (size_t)B * T * C, wout, (size_t)B * T * H);
        fd_check(rev ? "lstm(reverse) dw_ih" : "lstm dw_ih", &c, seq_fwd, c.w_ih, dwi, (size_t)4 * H * C, wout, (size_t)B * T * H);
        fd_check(rev ? "lstm(reverse) dw_hh" : "lstm dw_hh", &c, seq_fwd, c.w_hh, dwh, (size_t)4 * H * H, wout, (size_t)B * T * H);
        fd_check(rev ? "lstm(reverse) db_hh" : "lstm db_hh", &c, seq_fwd, c.b_hh, dbh, (size_t)4 * H, wout, (size_t)B * T * H);
        free(dx), free(dwi), free(dwh), free(dbi), free(dbh), free(sc);
    }
    len[0] = 6;
    /* attention, D = 8, 2 heads, the second sequence padded after 4 steps */
    int D = 8;
    float *xa = randv((size_t)B * T * D, &r, 1);
    float *keepx = c.x;
    c.x = xa, c.C = D, c.kind = 1;
    c.w_in = randv((size_t)3 * D * D, &r, 0.5f), c.b_in = randv((size_t)3 * D, &r, 0.2f);
    c.w_out = randv((size_t)D * D, &r, 0.5f), c.b_out = randv((size_t)D, &r, 0.2f);
    float probs[2 * 2 * 36], dmask[2 * 2 * 36], qkv[2 * 6 * 24], ctx[2 * 6 * 8], out[2 * 6 * 8];
    bml__nn_mha_forward(out, qkv, probs, dmask, ctx, c.x, len, c.w_in, c.b_in, c.w_out, c.b_out, B, T, D, 2, 0, 0, NULL);
    float *wa = randv((size_t)B * T * D, &r, 1), *dx = zeros((size_t)B * T * D), *dwi = zeros((size_t)3 * D * D);
    float *dbi = zeros((size_t)3 * D), *dwo = zeros((size_t)D * D), *dbo = zeros((size_t)D), *sc = zeros(bml__nn_mha_backward_scratch(B, T, D));
    bml__nn_mha_backward(dx, dwi, dbi, dwo, dbo, wa, c.x, qkv, probs, dmask, ctx, len, c.w_in, c.w_out, B, T, D, 2, sc);
    fd_check("mha dx", &c, seq_fwd, c.x, dx, (size_t)B * T * D, wa, (size_t)B * T * D);
    fd_check("mha dw_in", &c, seq_fwd, c.w_in, dwi, (size_t)3 * D * D, wa, (size_t)B * T * D);
    fd_check("mha db_in", &c, seq_fwd, c.b_in, dbi, (size_t)3 * D, wa, (size_t)B * T * D);
    fd_check("mha dw_out", &c, seq_fwd, c.w_out, dwo, (size_t)D * D, wa, (size_t)B * T * D);
    /* the first-step attention: the full attention's first row, and its own gradients (padded keys unread) */
    {
        float o1[2 * 8], q1[2 * 8], kv1[2 * 6 * 16], p1[2 * 2 * 6], m1[2 * 2 * 6], c1[2 * 8];
        bml__nn_mha_first_forward(o1, q1, kv1, p1, m1, c1, c.x, len, c.w_in, c.b_in, c.w_out, c.b_out, B, T, D, 2, 0, 0, NULL);
        for (int b = 0; b < B; b++) {
            close_to("mha first out", o1 + b * D, out + (size_t)b * T * D, (size_t)D, 1e-5, 1e-6);
            for (int h = 0; h < 2; h++) close_to("mha first probs", p1 + (b * 2 + h) * T, probs + (size_t)(b * 2 + h) * T * T, (size_t)T, 1e-5, 1e-7);
        }
        c.kind = 5;
        float *w1 = randv((size_t)B * D, &r, 1), *fdx = zeros((size_t)B * T * D), *fwi = zeros((size_t)3 * D * D);
        float *fbi = zeros((size_t)3 * D), *fwo = zeros((size_t)D * D), *fbo = zeros((size_t)D);
        float *fsc = zeros(bml__nn_mha_first_backward_scratch(B, T, D));
        bml__nn_mha_first_backward(fdx, fwi, fbi, fwo, fbo, w1, c.x, q1, kv1, p1, m1, c1, len, c.w_in, c.w_out, B, T, D, 2, fsc);
        fd_check("mha first dx", &c, seq_fwd, c.x, fdx, (size_t)B * T * D, w1, (size_t)B * D);
        fd_check("mha first dw_in", &c, seq_fwd, c.w_in, fwi, (size_t)3 * D * D, w1, (size_t)B * D);
        fd_check("mha first db_in", &c, seq_fwd, c.b_in, fbi, (size_t)3 * D, w1, (size_t)B * D);
        fd_check("mha first dw_out", &c, seq_fwd, c.w_out, fwo, (size_t)D * D, w1, (size_t)B * D);
        fd_check("mha first db_out", &c, seq_fwd, c.b_out, fbo, (size_t)D, w1, (size_t)B * D);
        for (int t = len[1]; t < T; t++) /* padded keys of the second sequence get no gradient */
            for (int i = 0; i < D; i++) CHECK(fdx[((size_t)T + t) * D + i] == 0.0f);
        free(w1), free(fdx), free(fwi), free(fbi), free(fwo), free(fbo), free(fsc);
        c.kind = 1;
    }
    /* BatchNorm in training mode, statistics over the unmasked rows only */
    int R = B * T, Cb = 3;
    c.kind = 2, c.C = Cb;
    c.x = randv((size_t)R * Cb, &r, 2);
    c.bw = randv((size_t)Cb, &r, 1), c.bb = randv((size_t)Cb, &r, 1);
    c.rm = zeros((size_t)Cb), c.rv = zeros((size_t)Cb), c.mean = zeros((size_t)Cb), c.rstd = zeros((size_t)Cb);
    c.rowmask = zeros((size_t)R);
    for (int i = 0; i < R; i++) c.rowmask[i] = i % 5 == 4 ? 0.0f : 1.0f;
    float *bo = zeros((size_t)R * Cb), *wb = randv((size_t)R * Cb, &r, 1);
    for (int i = 0; i < R; i++)
        if (c.rowmask[i] == 0) memset(wb + (size_t)i * Cb, 0, (size_t)Cb * sizeof(float));
    seq_fwd(&c, bo);
    float *dbx = zeros((size_t)R * Cb), *dbw = zeros((size_t)Cb), *dbb = zeros((size_t)Cb);
    bml__nn_batchnorm_backward(dbx, dbw, dbb, wb, c.x, c.bw, c.mean, c.rstd, c.rowmask, R, Cb, 1);
    fd_check("batchnorm dx", &c, seq_fwd, c.x, dbx, (size_t)R * Cb, wb, (size_t)R * Cb);
    fd_check("batchnorm dw", &c, seq_fwd, c.bw, dbw, (size_t)Cb, wb, (size_t)R * Cb);
    free(bo), free(wb), free(dbx), free(dbw), free(dbb), free(c.bw), free(c.bb), free(c.rm), free(c.rv), free(c.mean),
        free(c.rstd), free(c.rowmask), free(c.x);
    /* Conv1d k3 (N=2, L=6, Cin=3 -> Cout=4) and the mean over L */
    c.kind = 3, c.B = 2, c.T = 6, c.C = 3, c.H = 4;
    c.x = randv(36, &r, 1);
    free(c.w_in), free(c.b_in);
    c.w_in = randv(36, &r, 0.5f), c.b_in = randv(4, &r, 0.5f);
    c.col = zeros(2 * 6 * 9);
    float *co = zeros(48), *wc = randv(48, &r, 1), *dcx = zeros(36), *dcw = zeros(36), *dcb = zeros(4), *csc = zeros(108);
    seq_fwd(&c, co);
    bml__nn_conv1d_k3_backward(dcx, dcw, dcb, wc, c.col, c.w_in, 2, 6, 3, 4, csc);
    fd_check("conv1d dx", &c, seq_fwd, c.x, dcx, 36, wc, 48);
    fd_check("conv1d dw", &c, seq_fwd, c.w_in, dcw, 36, wc, 48);
    fd_check("conv1d db", &c, seq_fwd, c.b_in, dcb, 4, wc, 48);
    c.kind = 4;
    float *mo = zeros(6), *wm = randv(6, &r, 1), *dmx = zeros(36);
    bml__nn_mean_mid_backward(dmx, wm, 2, 6, 3);
    fd_check("mean", &c, seq_fwd, c.x, dmx, 36, wm, 6);
    free(mo), free(wm), free(dmx), free(co), free(wc), free(dcx), free(dcw), free(dcb), free(csc), free(c.col), free(c.x);
    free(keepx), free(xa), free(wa), free(dx), free(dwi), free(dbi), free(dwo), free(dbo), free(sc);
    free(c.w_ih), free(c.w_hh), free(c.b_ih), free(c.b_hh), free(c.out), free(c.cell), free(c.gates), free(c.scratch);
    free(c.w_in), free(c.b_in), free(c.w_out), free(c.b_out), free(wout);
}

static void test_loss_gradients(void) {
    bml_nn_rng r;
    bml__nn_rng_seed(&r, 22);
    float p[9], y[9], d[9], one = 1.0f;
    for (int i = 0; i < 9; i++) p[i] = bml__nn_rng_normal(&r), y[i] = p[i] + (i % 2 ? 0.7f : -0.9f) * (1 + 0.1f * i);
    for (int k = 0; k < 4; k++) {
        loss_ctx c = {{.kind = (bml_loss_kind)k, .delta = 0.5f, .epsilon = 1e-8f}, p, y, 9};
        bml__loss_eval(&c.l, p, y, NULL, 9, d);
        fd_check("loss", &c, loss_fwd, p, d, 9, &one, 1);
    }
}

typedef struct {
    bml__mlp_net *n;
    float *x;
    int B;
} net_ctx;
static void net_fwd(void *vc, float *out) {
    net_ctx *c = vc;
    bml__mlp_net_forward(c->n, c->x, c->B, 0, out);
}

static void test_mlp_gradients(void) {
    for (int act = 0; act < 2; act++) {
        int dims[] = {4, 8, 6, 2}, B = 5;
        bml__mlp_net *n = NULL;
        CHECK_OK(bml__mlp_net_create(dims, 3, act, 0.0f, 3, &n));
        if (!n) return;
        bml_nn_rng r;
        bml__nn_rng_seed(&r, 23);
        for (size_t i = 0; i < n->n_params; i++) n->params[i] += 0.1f * bml__nn_rng_normal(&r); /* non-zero biases */
        net_ctx c = {n, randv((size_t)B * 4, &r, 1), B};
        float *wout = randv((size_t)B * 2, &r, 1), *out = zeros((size_t)B * 2), *dx = zeros((size_t)B * 4);
        net_fwd(&c, out);
        memset(n->grads, 0, n->n_params * sizeof(float));
        bml__mlp_net_backward(n, wout, B, dx);
        float *g = malloc(n->n_params * sizeof *g);
        memcpy(g, n->grads, n->n_params * sizeof *g);
        fd_check(act ? "mlp(tanh) params" : "mlp(relu) params", &c, net_fwd, n->params, g, n->n_params, wout, (size_t)B * 2);
        fd_check(act ? "mlp(tanh) inputs" : "mlp(relu) inputs", &c, net_fwd, c.x, dx, (size_t)B * 4, wout, (size_t)B * 2);
        free(g), free(c.x), free(wout), free(out), free(dx);
        bml__mlp_net_free(n);
    }
}

/* ------------------------------------------------------------------ whole sequence networks */
/* B = 50: the network runs it as three data-parallel shards (seq_net.h) */
static void seq_net_parity(const char *file, int cnn, int B) {
    tfile f = load(file);
    int T = 6, F = 5, O = 2, H = 8, BT = B * T;
    bml__seq_net *n = NULL;
    CHECK_OK(bml__seq_net_create(cnn, F, O, H, 4, 0.0f, 1, &n));
    if (!n) return;
    /* the PyTorch names map onto ours, in the same order */
    for (size_t i = 0; i < n->n_tensors; i++) memcpy(n->p[i], get(&f, n->names[i]), n->sizes[i] * sizeof(float));
    float *mask = zeros((size_t)BT), *out = zeros((size_t)BT * O), *dout = zeros((size_t)BT * O);
    for (int i = 0; i < BT; i++) mask[i] = 1.0f;
    CHECK_OK(bml__seq_net_forward(n, get(&f, "x"), mask, B, T, 1, out));
    CHECK(n->n_shards == (B >= 2 * BML_SEQ_SHARD_MIN ? B / BML_SEQ_SHARD_MIN : 1));
    close_to(cnn ? "cnn_lstm out" : "lstm_attn out", out, get(&f, "out"), (size_t)BT * O, 1e-4, 1e-6);
    bml_loss mse = {.kind = BML_LOSS_MSE};
    float l = (float)bml__loss_eval(&mse, out, get(&f, "y"), NULL, (size_t)BT * O, dout);
    close_to("loss", &l, get(&f, "loss"), 1, 1e-5, 1e-7);
    memset(n->grads, 0, n->n_params * sizeof(float));
    bml__seq_net_backward(n, dout);
    for (size_t i = 0; i < n->n_tensors; i++) {
        char key[64];
        snprintf(key, sizeof key, "d%s", n->names[i]);
        close_to(key, n->g[i], get(&f, key), n->sizes[i], 2e-3, 2e-6);
    }
    if (cnn) {
        close_to("bn1 running mean", n->bn_run, get(&f, "bn1_running_mean"), 64, 1e-4, 1e-6);
        close_to("bn1 running var", n->bn_run + 64, get(&f, "bn1_running_var"), 64, 1e-4, 1e-6);
        close_to("bn2 running mean", n->bn_run + 128, get(&f, "bn2_running_mean"), 32, 1e-4, 1e-6);
        close_to("bn2 running var", n->bn_run + 160, get(&f, "bn2_running_var"), 32, 1e-4, 1e-6);
    }
    free(mask), free(out), free(dout);
    bml__seq_net_free(n);
    release(&f);
}

static void test_seq_net_parity(void) {
    seq_net_parity("lstm_attn.bin", 0, 3);
    seq_net_parity("cnn_lstm.bin", 1, 3);
    seq_net_parity("lstm_attn_b50.bin", 0, 50);
    seq_net_parity("cnn_lstm_b50.bin", 1, 50);
}

/* The shards of a batch compute what the same sequences give as batches of their own, to the bit: every
 * output, the attention maps and the gradients (the sum of the shards' gradients, in shard order), with
 * sequences of several lengths and dropout (the multipliers drawn for the whole batch, as one batch draws
 * them). lstm_attn only: cnn_lstm's BatchNorm takes statistics over the whole batch. */
static void test_seq_net_shards_exact(void) {
    enum { B = 40, T = 7, F = 3, O = 2, H = 6 };
    bml__seq_net *n = NULL, *m = NULL;
    CHECK_OK(bml__seq_net_create(0, F, O, H, 2, 0.0f, 3, &n));
    CHECK_OK(bml__seq_net_create(0, F, O, H, 2, 0.0f, 3, &m));
    if (!n || !m) {
        bml__seq_net_free(n), bml__seq_net_free(m);
        return;
    }
    bml_nn_rng r;
    bml__nn_rng_seed(&r, 8);
    float *x = randv((size_t)B * T * F, &r, 1), *mask = zeros((size_t)B * T), *dout = randv((size_t)B * T * O, &r, 1);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) mask[b * T + t] = t < 2 + b % (T - 1) ? 1.0f : 0.0f;
    for (int i = 0; i < B * T * O; i++)
        if (mask[i / O] == 0) dout[i] = 0;
    float *out = zeros((size_t)B * T * O), *part = zeros((size_t)B * T * O), *w = zeros((size_t)B * T * T),
          *wp = zeros((size_t)B * T * T), *gsum = zeros(n->n_params);
    CHECK_OK(bml__seq_net_forward(n, x, mask, B, T, 1, out));
    CHECK(n->n_shards == 2);
    memset(n->grads, 0, n->n_params * sizeof(float));
    bml__seq_net_backward(n, dout);
    bml__seq_net_attention(n, w);
    for (int s = 0; s < 2; s++) { /* the same sequences as two batches of 20, one network each time */
        size_t r0 = (size_t)s * (B / 2) * T;
        memset(m->grads, 0, m->n_params * sizeof(float));
        CHECK_OK(bml__seq_net_forward(m, x + r0 * F, mask + r0, B / 2, T, 1, part + r0 * O));
        CHECK(m->n_shards == 1);
        bml__seq_net_backward(m, dout + r0 * O);
        bml__seq_net_attention(m, wp + r0 * T);
        for (size_t k = 0; k < m->n_params; k++) gsum[k] = s ? gsum[k] + m->grads[k] : m->grads[k];
    }
    CHECK(!memcmp(out, part, (size_t)B * T * O * sizeof(float)));
    CHECK(!memcmp(w, wp, (size_t)B * T * T * sizeof(float)));
    CHECK(!memcmp(n->grads, gsum, n->n_params * sizeof(float)));
    /* with dropout, against the same network run whole (max_shards 1): the multipliers are drawn for the
     * whole batch in the same order, so the outputs are the same bits; the gradients are summed in
     * another order */
    bml__seq_net *d1 = NULL, *d2 = NULL;
    CHECK_OK(bml__seq_net_create(0, F, O, H, 2, 0.3f, 9, &d1));
    CHECK_OK(bml__seq_net_create(0, F, O, H, 2, 0.3f, 9, &d2));
    if (d1 && d2) {
        d2->max_shards = 1;
        float *o1 = zeros((size_t)B * T * O), *o2 = zeros((size_t)B * T * O);
        for (int step = 0; step < 2; step++) {
            memset(d1->grads, 0, d1->n_params * sizeof(float));
            memset(d2->grads, 0, d2->n_params * sizeof(float));
            CHECK_OK(bml__seq_net_forward(d1, x, mask, B, T, 1, o1));
            CHECK_OK(bml__seq_net_forward(d2, x, mask, B, T, 1, o2));
            CHECK(d1->n_shards == 2 && d2->n_shards == 1);
            CHECK(!memcmp(o1, o2, (size_t)B * T * O * sizeof(float)));
            bml__seq_net_backward(d1, dout);
            bml__seq_net_backward(d2, dout);
            close_to("sharded gradients with dropout", d1->grads, d2->grads, d1->n_params, 1e-4, 1e-6);
        }
        free(o1), free(o2);
    }
    bml__seq_net_free(d1), bml__seq_net_free(d2);
    free(x), free(mask), free(dout), free(out), free(part), free(w), free(wp), free(gsum);
    bml__seq_net_free(n), bml__seq_net_free(m);
}

/* acla against the PyTorch module (tools/gen_torch_reference.py acla_case: rk4 over the union of the
 * samples' own times, the CNN-LSTM run over every step there, on the first step here) */
static void test_acla_parity(void) {
    tfile f = load("acla.bin");
    enum { B = 3, T = 5, F = 6, O = 2 };
    bml__acla_shape sh = {F, O, 8, 2, 4, 3, 5, 4, 2, 7, 0.0f};
    bml_ode_opts so = {BML_ODE_RK4, 0, 0, 0, NULL, 0, 0};
    bml__acla_net *n = NULL;
    CHECK_OK(bml__acla_net_create(&sh, &so, 0, 1, &n));
    if (!n || !f.count) {
        bml__acla_net_free(n), release(&f);
        return;
    }
    CHECK(n->n_tensors == f.count / 2 - 3);
    for (size_t i = 0; i < n->n_tensors; i++) memcpy(n->p[i], get(&f, n->names[i]), n->sizes[i] * sizeof(float));
    float x[B * T * (F + 1)], mask[B * T], out[B * T * O], dout[B * T * O];
    const float *xr = get(&f, "x"), *tr = get(&f, "t");
    for (int i = 0; i < B * T; i++) {
        memcpy(x + i * (F + 1), xr + i * F, F * sizeof(float));
        x[i * (F + 1) + F] = tr[i];
        mask[i] = 1.0f;
    }
    CHECK_OK(bml__acla_net_forward(n, x, mask, B, T, 1, out));
    close_to("acla out", out, get(&f, "out"), B * T * O, 1e-4, 1e-5);
    close_to("acla latent", bml__acla_net_latent(n), get(&f, "latent"), (size_t)B * T * 6, 1e-4, 1e-5);
    /* the full attention map of explain: its first row is what the network used (the first-step attention) */
    float map[B * T * T], row0[T];
    bml__acla_net_attention(n, map);
    for (int b = 0; b < B; b++) {
        for (int k = 0; k < T; k++) row0[k] = 0.5f * (n->probs0[(b * 2) * T + k] + n->probs0[(b * 2 + 1) * T + k]);
        close_to("acla attention row 0", map + b * T * T, row0, T, 1e-5, 1e-7);
        for (int q = 0; q < T; q++) {
            float sum = 0;
            for (int k = 0; k < T; k++) sum += map[(b * T + q) * T + k];
            CHECK(fabsf(sum - 1.0f) < 1e-5f);
        }
    }
    bml_loss mse = {.kind = BML_LOSS_MSE};
    float l = (float)bml__loss_eval(&mse, out, get(&f, "y"), NULL, B * T * O, dout);
    close_to("acla loss", &l, get(&f, "loss"), 1, 1e-5, 1e-7);
    memset(n->grads, 0, n->n_params * sizeof(float));
    CHECK_OK(bml__acla_net_backward(n, dout));
    for (size_t i = 0; i < n->n_tensors; i++) {
        char key[64];
        snprintf(key, sizeof key, "d%s", n->names[i]);
        close_to(key, n->g[i], get(&f, key), n->sizes[i], 2e-3, 2e-6);
    }
    bml__acla_net_free(n);
    release(&f);
}

typedef struct {
    bml__seq_net *n;
    float *x, *mask;
    int B, T;
} seqnet_ctx;
static void seqnet_fwd(void *vc, float *out) {
    seqnet_ctx *c = vc;
    bml__seq_net_forward(c->n, c->x, c->mask, c->B, c->T, 1, out);
}

/* the whole networks by finite differences, with a padded sequence and BatchNorm on batch statistics */
static void test_seq_net_gradients(void) {
    for (int cnn = 0; cnn < 2; cnn++) {
        int B = 2, T = 5, F = 3, O = 2, H = 4;
        bml__seq_net *n = NULL;
        CHECK_OK(bml__seq_net_create(cnn, F, O, H, 2, 0.0f, 5, &n));
        if (!n) return;
        bml_nn_rng r;
        bml__nn_rng_seed(&r, 41);
        seqnet_ctx c = {n, randv((size_t)B * T * F, &r, 1), zeros((size_t)B * T), B, T};
        for (int i = 0; i < B * T; i++) c.mask[i] = i < T + 3 ? 1.0f : 0.0f; /* second sequence: 3 steps */
        for (int i = T + 3; i < B * T; i++) memset(c.x + (size_t)i * F, 0, (size_t)F * sizeof(float));
        float *w = randv((size_t)B * T * O, &r, 1), *out = zeros((size_t)B * T * O);
        for (int i = 0; i < B * T * O; i++)
            if (c.mask[i / O] == 0) w[i] = 0;
        seqnet_fwd(&c, out);
        memset(n->grads, 0, n->n_params * sizeof(float));
        bml__seq_net_backward(n, w);
        /* every tensor, a handful of coordinates each (the check is O(params) forwards); LayerNorm over
         * small activations curves strongly: a smaller step */
        g_fd_step = cnn ? 1e-4f : 1e-3f; /* BatchNorm over few rows curves more still */
        g_fd_atol = cnn ? 5e-3 : 1e-3;
        for (size_t t = 0; t < n->n_tensors; t++) {
            size_t k = n->sizes[t] < 6 ? n->sizes[t] : 6;
            float *sub_p = n->p[t], *sub_g = n->g[t];
            fd_check(n->names[t], &c, seqnet_fwd, sub_p, sub_g, k, w, (size_t)B * T * O);
        }
        g_fd_step = 1e-2f, g_fd_atol = 1e-3;
        /* padding never leaks into real steps: changing a padded input changes nothing */
        float *o2 = zeros((size_t)B * T * O);
        c.x[(size_t)(T + 4) * F] = 100.0f;
        seqnet_fwd(&c, o2);
        for (int i = 0; i < B * T * O; i++)
            if (c.mask[i / O] != 0) CHECK(fabsf(o2[i] - out[i]) < 1e-6f);
        free(o2), free(c.x), free(c.mask), free(w), free(out);
        bml__seq_net_free(n);
    }
}

/* ------------------------------------------------------------------ the mlp model */
static void test_mlp_model_fit_save_load(void) {
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL, *tr = NULL, *va = NULL;
    bml_split *sp = NULL;
    bml_model *m = NULL, *m2 = NULL, *m3 = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    CHECK_OK(bml_pipeline_create("summary_set", NULL, 0, &p));
    if (!ds || !p) goto out;
    CHECK_OK(bml_pipeline_transform(p, ds, &s));
    CHECK_OK(bml_split_create("temperature_holdout", NULL, 0, s, 42, &sp));
    if (!s || !sp) goto out;
    CHECK_OK(bml_samples_subset(s, sp->folds[0].train, sp->folds[0].n_train, &tr));
    CHECK_OK(bml_samples_subset(s, sp->folds[0].val, sp->folds[0].n_val, &va));
    size_t tr_rows[96];
    for (size_t i = 0; i < tr->n; i++) tr_rows[i] = i;
    bml_samples_impute_mean(tr, tr_rows, tr->n);
    bml_samples_impute_mean(va, tr_rows, 0);
    for (size_t i = 0; i < va->n * va->n_features; i++)
        if (isnan(va->x[i])) va->x[i] = 0.027;
    bml_kv kv[] = {{"epochs", "30"}, {"patience", "0"}};
    CHECK_OK(bml_model_create("mlp", kv, 2, &m));
    CHECK_OK(bml_model_create("mlp", kv, 2, &m3));
    if (!m || !m3) goto out;
    CHECK_OK(bml_model_fit(m, tr, va, 7));
    CHECK_OK(bml_model_fit(m3, tr, va, 7));
    char *h = bml_model_history_csv(m);
    CHECK(h && !strncmp(h, "epoch,train_loss,val_loss,lr\n1,", 31));
    int lines = 0;
    for (char *q = h; q && *q; q++) lines += *q == '\n';
    CHECK_INT(lines, 31);
    free(h);
    double a[32], b[32], c[32];
    CHECK_OK(bml_model_predict(m, va->x, va->n, a));
    CHECK_OK(bml_model_predict(m3, va->x, va->n, c));
    CHECK(!memcmp(a, c, sizeof a)); /* same seed, same numbers */
    char dir[] = "/tmp/bml-test-mlp-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK_OK(bml_model_save(m, dir));
    CHECK_OK(bml_model_load(dir, &m2));
    if (m2) {
        CHECK_OK(bml_model_predict(m2, va->x, va->n, b));
        CHECK(!memcmp(a, b, sizeof a));
    }
    /* a damaged checkpoint is refused */
    char cmd[200];
    snprintf(cmd, sizeof cmd, "printf 'NOTACKPT' > %s/weights.bin", dir);
    CHECK_INT(system(cmd), 0);
    bml_model *bad = NULL;
    CHECK_ERR(bml_model_load(dir, &bad), BML_ERR_PARSE, "not a BatteryML checkpoint");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
    /* NaN features are refused: the runner imputes them */
    tr->x[1] = NAN;
    bml_model_free(m3);
    m3 = NULL;
    CHECK_OK(bml_model_create("mlp", kv, 2, &m3));
    if (m3) CHECK_ERR(bml_model_fit(m3, tr, va, 7), BML_ERR_VALUE, "must be imputed");
out:
    bml_model_free(m);
    bml_model_free(m2);
    bml_model_free(m3);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_split_free(sp);
    bml_samples_free(s);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
}

static void test_mlp_bad_parameters(void) {
    bml_model *m = NULL;
    bml_kv a[] = {{"learning_rate", "0"}};
    CHECK_ERR(bml_model_create("mlp", a, 1, &m), BML_ERR_VALUE, "learning_rate must be > 0");
    bml_kv b[] = {{"dropout", "1.5"}};
    CHECK_ERR(bml_model_create("mlp", b, 1, &m), BML_ERR_VALUE, "dropout must be <= 0.999");
    bml_kv c[] = {{"epochs", "0"}};
    CHECK_ERR(bml_model_create("mlp", c, 1, &m), BML_ERR_VALUE, "epochs must be >= 1");
    CHECK(m == NULL);
}

TEST_MAIN("nn", T(test_matmul_kernels_match_naive), T(test_gemm_reference_and_splits), T(test_parallel_for_runs_each_task_once), T(test_linear_parity), T(test_layernorm_parity),
          T(test_activation_parity), T(test_mlp_parity), T(test_loss_parity), T(test_physics_loss), T(test_adamw_scheduler_clip_parity), T(test_lstm_parity), T(test_mha_parity), T(test_conv_batchnorm_parity),
          T(test_sequence_layer_gradients), T(test_dropout_mask_statistics),
          T(test_seq_net_parity), T(test_seq_net_shards_exact), T(test_seq_net_gradients), T(test_acla_parity),
          T(test_layer_gradients), T(test_loss_gradients), T(test_mlp_gradients), T(test_mlp_model_fit_save_load),
          T(test_mlp_bad_parameters))
