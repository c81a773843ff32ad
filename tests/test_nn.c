/* The neural-network core: optimised kernels against naive ones, finite-difference gradient checks of
 * every layer, loss and the whole MLP, parity with PyTorch 1.13 (tools/gen_torch_reference.py) for the
 * layers, the MLP, the losses, AdamW, the scheduler and clipping, and the mlp model's save/load. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "core/internal.h"
#include "nn/mlp_net.h"
#include "nn/nn.h"
#include "test.h"
#include "train/optim.h"

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
    for (size_t i = 0; i < n; i++) v[i] = scale * bml_nn_rng_normal(r);
    return v;
}

static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* ------------------------------------------------------------------ kernels */
static void test_matmul_kernels_match_naive(void) {
    bml_nn_rng r;
    bml_nn_rng_seed(&r, 11);
    int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {32, 64, 7}, {33, 17, 65}, {64, 128, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *a = randv((size_t)M * K, &r, 1), *b = randv((size_t)N * K, &r, 1), *c0 = randv((size_t)M * N, &r, 1);
        float *c1 = malloc((size_t)M * N * sizeof(float)), *c2 = malloc((size_t)M * N * sizeof(float));
        for (int acc = 0; acc < 2; acc++) {
            memcpy(c1, c0, (size_t)M * N * sizeof(float));
            memcpy(c2, c0, (size_t)M * N * sizeof(float));
            bml_nn_matmul_abt(c1, a, b, M, N, K, acc);
            bml_nn_matmul_abt_naive(c2, a, b, M, N, K, acc);
            close_to("abt", c1, c2, (size_t)M * N, 1e-5, 1e-5);
            memcpy(c1, c0, (size_t)M * N * sizeof(float));
            memcpy(c2, c0, (size_t)M * N * sizeof(float));
            bml_nn_matmul_ab(c1, a, b, M, N, K, acc); /* b read as (K, N) */
            bml_nn_matmul_ab_naive(c2, a, b, M, N, K, acc);
            close_to("ab", c1, c2, (size_t)M * N, 1e-5, 1e-5);
            memcpy(c1, c0, (size_t)M * N * sizeof(float));
            memcpy(c2, c0, (size_t)M * N * sizeof(float));
            bml_nn_matmul_atb(c1, a, b, M, N, K, acc); /* a read as (K, M) */
            bml_nn_matmul_atb_naive(c2, a, b, M, N, K, acc);
            close_to("atb", c1, c2, (size_t)M * N, 1e-5, 1e-5);
        }
        free(a), free(b), free(c0), free(c1), free(c2);
    }
}

/* ------------------------------------------------------------------ parity with PyTorch */
static void test_linear_parity(void) {
    tfile f = load("linear.bin");
    float out[12], dx[20] = {0}, dw[15] = {0}, db[3] = {0};
    bml_nn_linear_forward(out, get(&f, "x"), get(&f, "w"), get(&f, "b"), 4, 5, 3);
    close_to("linear out", out, get(&f, "out"), 12, 1e-5, 1e-6);
    bml_nn_linear_backward(dx, dw, db, get(&f, "dout"), get(&f, "x"), get(&f, "w"), 4, 5, 3);
    close_to("linear dx", dx, get(&f, "dx"), 20, 1e-5, 1e-6);
    close_to("linear dw", dw, get(&f, "dw"), 15, 1e-5, 1e-6);
    close_to("linear db", db, get(&f, "db"), 3, 1e-5, 1e-6);
    release(&f);
}

static void test_layernorm_parity(void) {
    tfile f = load("layernorm.bin");
    float out[24], mean[4], rstd[4], dx[24] = {0}, dw[6] = {0}, db[6] = {0};
    bml_nn_layernorm_forward(out, mean, rstd, get(&f, "x"), get(&f, "w"), get(&f, "b"), 4, 6, 1e-5f);
    close_to("layernorm out", out, get(&f, "out"), 24, 1e-5, 1e-6);
    bml_nn_layernorm_backward(dx, dw, db, get(&f, "dout"), get(&f, "x"), get(&f, "w"), mean, rstd, 4, 6);
    close_to("layernorm dx", dx, get(&f, "dx"), 24, 1e-4, 1e-6);
    close_to("layernorm dw", dw, get(&f, "dw"), 6, 1e-5, 1e-6);
    close_to("layernorm db", db, get(&f, "db"), 6, 1e-5, 1e-6);
    release(&f);
}

static void test_activation_parity(void) {
    tfile f = load("activations.bin");
    float out[20], d[20] = {0};
    bml_nn_relu_forward(out, get(&f, "x"), 20);
    close_to("relu", out, get(&f, "relu"), 20, 0, 1e-30);
    bml_nn_relu_backward(d, get(&f, "dout"), out, 20);
    close_to("drelu", d, get(&f, "drelu"), 20, 0, 1e-30);
    memset(d, 0, sizeof d);
    bml_nn_tanh_forward(out, get(&f, "x"), 20);
    close_to("tanh", out, get(&f, "tanh"), 20, 1e-6, 1e-7);
    bml_nn_tanh_backward(d, get(&f, "dout"), out, 20);
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
    bml_loss loss = {BML_LOSS_MSE, 0, 0};
    float l = (float)bml_loss_eval(&loss, out, get(&f, "y"), NULL, (size_t)B * O, dout);
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
        bml_loss l = {0, 0.5f, 1e-8f};
        CHECK_INT(bml_loss_parse(names[k], &l.kind), 0);
        float d[12];
        float v = (float)bml_loss_eval(&l, get(&f, "pred"), get(&f, "y"), NULL, 12, d);
        char key[16];
        close_to(names[k], &v, get(&f, names[k]), 1, 1e-5, 1e-7);
        snprintf(key, sizeof key, "d%s", names[k]);
        close_to(key, d, get(&f, key), 12, 1e-5, 1e-7);
    }
    bml_loss_kind kind;
    CHECK(bml_loss_parse("focal", &kind) != 0);
    /* a mask drops values from the mean and from the gradient */
    float p[3] = {1, 2, 3}, y[3] = {0, 0, 0}, m[3] = {1, 0, 1}, d[3];
    bml_loss mse = {BML_LOSS_MSE, 0, 0};
    CHECK_NEAR(bml_loss_eval(&mse, p, y, m, 3, d), 5.0, 1e-12);
    CHECK_NEAR(d[1], 0, 0);
    CHECK_NEAR(d[2], 3, 1e-6);
    release(&f);
}

static void test_adamw_scheduler_clip_parity(void) {
    tfile f = load("optim.bin");
    float p[10];
    memcpy(p, get(&f, "p0"), sizeof p);
    bml_adamw o;
    CHECK_OK(bml_adamw_init(&o, 10, 1e-3f, 0.01f));
    const float *grads = get(&f, "grads");
    for (int s = 0; s < 6; s++) {
        bml_adamw_step(&o, p, grads + s * 10);
        char key[16];
        snprintf(key, sizeof key, "p%d", s + 1);
        close_to(key, p, get(&f, key), 10, 1e-6, 1e-7);
    }
    bml_adamw_release(&o);
    const float *lrs = get(&f, "lrs");
    float mine[400];
    for (int e = 0; e < 400; e++) mine[e] = (float)bml_cosine_warm_restarts_lr(1e-3, 0, 50, 2, e);
    close_to("cosine warm restarts", mine, lrs, 400, 1e-6, 1e-12);
    float g[11];
    memcpy(g, get(&f, "clip_in"), sizeof g);
    size_t sizes[3] = {3, 4, 4};
    float norm = (float)bml_clip_grad_norm(g, sizes, 3, 1.0);
    close_to("clip norm", &norm, get(&f, "clip_norm"), 1, 1e-6, 0);
    close_to("clipped", g, get(&f, "clip_out"), 11, 1e-6, 1e-8);
    release(&f);
}

/* ------------------------------------------------------------------ finite differences */
/* Central differences of L = sum(out * w_out) with respect to v[i], against the analytic gradient g[i],
 * for a function f that recomputes out from the current inputs. Float32: step 1e-2, tolerance 2 %. */
typedef void (*fwd_fn)(void *ctx, float *out);
static void fd_check(const char *what, void *ctx, fwd_fn f, float *v, const float *g, size_t n, const float *w_out,
                     size_t n_out) {
    float *out = malloc(n_out * sizeof *out);
    double worst = 0;
    size_t at = 0;
    double num_at = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = v[i], h = 1e-2f * fmaxf(1.0f, fabsf(keep));
        double lp = 0, lm = 0;
        v[i] = keep + h;
        f(ctx, out);
        for (size_t k = 0; k < n_out; k++) lp += (double)out[k] * w_out[k];
        v[i] = keep - h;
        f(ctx, out);
        for (size_t k = 0; k < n_out; k++) lm += (double)out[k] * w_out[k];
        v[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        double e = fabs(num - g[i]) / (1e-3 + 2e-2 * fabs(num));
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
    case 0: bml_nn_linear_forward(out, c->x, c->w, c->b, c->N, c->C, c->OC); break;
    case 1: bml_nn_tanh_forward(out, c->x, n); break;
    case 2: bml_nn_relu_forward(out, c->x, n); break;
    case 3: bml_nn_layernorm_forward(out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C, 1e-5f); break;
    case 4:
        for (size_t i = 0; i < n; i++) out[i] = c->x[i] * c->mask[i];
        break;
    }
}

static void test_layer_gradients(void) {
    bml_nn_rng r;
    bml_nn_rng_seed(&r, 21);
    int N = 5, C = 6, OC = 4;
    layer_ctx c = {randv((size_t)N * C, &r, 1), randv((size_t)OC * C, &r, 1), randv((size_t)OC, &r, 1), zeros((size_t)N),
                   zeros((size_t)N), zeros((size_t)N * C), N, C, OC, 0};
    float *wout = randv((size_t)N * OC, &r, 1), *out = zeros((size_t)N * C * 4);
    /* Linear */
    float *dx = zeros((size_t)N * C), *dw = zeros((size_t)OC * C), *db = zeros((size_t)OC);
    bml_nn_linear_backward(dx, dw, db, wout, c.x, c.w, N, C, OC);
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
        if (kind == 1) bml_nn_tanh_backward(dx, w2, out, (size_t)N * C);
        else bml_nn_relu_backward(dx, w2, out, (size_t)N * C);
        fd_check(kind == 1 ? "tanh" : "relu", &c, layer_fwd, c.x, dx, (size_t)N * C, w2, (size_t)N * C);
    }
    c.kind = 4;
    bml_nn_dropout_forward(out, c.mask, c.x, (size_t)N * C, 0.3f, &r);
    int zeroed = 0;
    for (int i = 0; i < N * C; i++) zeroed += c.mask[i] == 0.0f;
    CHECK(zeroed > 0 && zeroed < N * C);
    memset(dx, 0, (size_t)N * C * sizeof *dx);
    bml_nn_dropout_backward(dx, w2, c.mask, (size_t)N * C);
    fd_check("dropout", &c, layer_fwd, c.x, dx, (size_t)N * C, w2, (size_t)N * C);
    /* LayerNorm */
    c.kind = 3;
    float *lw = randv((size_t)C, &r, 1), *lb = randv((size_t)C, &r, 1);
    float *keep_w = c.w, *keep_b = c.b;
    c.w = lw, c.b = lb;
    layer_fwd(&c, out);
    float *dlw = zeros((size_t)C), *dlb = zeros((size_t)C);
    memset(dx, 0, (size_t)N * C * sizeof *dx);
    bml_nn_layernorm_backward(dx, dlw, dlb, w2, c.x, c.w, c.mean, c.rstd, N, C);
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
    out[0] = (float)bml_loss_eval(&c->l, c->p, c->y, NULL, c->n, NULL);
}

static void test_loss_gradients(void) {
    bml_nn_rng r;
    bml_nn_rng_seed(&r, 22);
    float p[9], y[9], d[9], one = 1.0f;
    for (int i = 0; i < 9; i++) p[i] = bml_nn_rng_normal(&r), y[i] = p[i] + (i % 2 ? 0.7f : -0.9f) * (1 + 0.1f * i);
    for (int k = 0; k < 4; k++) {
        loss_ctx c = {{(bml_loss_kind)k, 0.5f, 1e-8f}, p, y, 9};
        bml_loss_eval(&c.l, p, y, NULL, 9, d);
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
        bml_nn_rng_seed(&r, 23);
        for (size_t i = 0; i < n->n_params; i++) n->params[i] += 0.1f * bml_nn_rng_normal(&r); /* non-zero biases */
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

/* ------------------------------------------------------------------ the mlp model */
static void test_mlp_model_fit_save_load(void) {
    int e[] = {5};
    bml_oxford_opts o = {e, 1};
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

TEST_MAIN("nn", T(test_matmul_kernels_match_naive), T(test_linear_parity), T(test_layernorm_parity),
          T(test_activation_parity), T(test_mlp_parity), T(test_loss_parity), T(test_adamw_scheduler_clip_parity),
          T(test_layer_gradients), T(test_loss_gradients), T(test_mlp_gradients), T(test_mlp_model_fit_save_load),
          T(test_mlp_bad_parameters))
