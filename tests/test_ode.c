/* ODE solvers against torchdiffeq 0.2.5 (../shared/reference/ode, copied to tests/data/ode): solutions
 * and function-evaluation counts of dopri5 (two tolerances), rk4 and euler, and the gradients of
 * backpropagation through all three (torchdiffeq's direct mode) and by the adjoint method (dopri5) with its
 * backward evaluation counts; finite differences of a whole dopri5 solve against its exact gradient. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "core/internal.h"
#include "nn/acla_net.h"
#include "nn/ode_net.h"
#include "nn/par.h"
#include "ode/ode.h"
#include "test.h"
#include "nn/trainer.h"

/* the reference dynamics: f(z, t) = W3 tanh(W2 tanh(W1 [z, t] + b1) + b2) + b3, per batch row */
typedef struct {
    int B, D, H;
    double *W1, *b1, *W2, *b2, *W3, *b3; /* (H, D+1), (H), (H, H), (H), (D, H), (D) */
    size_t np;                           /* parameters, in this order */
} mlp_dyn;

static void dyn_f(void *vc, double t, const double *y, double *dy) {
    mlp_dyn *m = vc;
    double h1[256], h2[256];
    for (int b = 0; b < m->B; b++) {
        const double *z = y + b * m->D;
        for (int i = 0; i < m->H; i++) {
            double s = m->b1[i] + m->W1[i * (m->D + 1) + m->D] * t;
            for (int j = 0; j < m->D; j++) s += m->W1[i * (m->D + 1) + j] * z[j];
            h1[i] = tanh(s);
        }
        for (int i = 0; i < m->H; i++) {
            double s = m->b2[i];
            for (int j = 0; j < m->H; j++) s += m->W2[i * m->H + j] * h1[j];
            h2[i] = tanh(s);
        }
        for (int i = 0; i < m->D; i++) {
            double s = m->b3[i];
            for (int j = 0; j < m->H; j++) s += m->W3[i * m->H + j] * h2[j];
            dy[b * m->D + i] = s;
        }
    }
}

static void dyn_vjp(void *vc, double t, const double *y, const double *v, double *dy, double *dp, double *dt) {
    mlp_dyn *m = vc;
    int D = m->D, H = m->H;
    double *dW1 = dp, *db1 = dW1 + H * (D + 1), *dW2 = db1 + H, *db2 = dW2 + H * H, *dW3 = db2 + H, *db3 = dW3 + D * H;
    double h1[256], h2[256], g2[256], g1[256];
    for (int b = 0; b < m->B; b++) {
        const double *z = y + b * D, *vb = v + b * D;
        for (int i = 0; i < H; i++) {
            double s = m->b1[i] + m->W1[i * (D + 1) + D] * t;
            for (int j = 0; j < D; j++) s += m->W1[i * (D + 1) + j] * z[j];
            h1[i] = tanh(s);
        }
        for (int i = 0; i < H; i++) {
            double s = m->b2[i];
            for (int j = 0; j < H; j++) s += m->W2[i * H + j] * h1[j];
            h2[i] = tanh(s);
        }
        for (int i = 0; i < D; i++) {
            db3[i] += vb[i];
            for (int j = 0; j < H; j++) dW3[i * H + j] += vb[i] * h2[j];
        }
        for (int j = 0; j < H; j++) {
            double s = 0;
            for (int i = 0; i < D; i++) s += m->W3[i * H + j] * vb[i];
            g2[j] = s * (1 - h2[j] * h2[j]);
            db2[j] += g2[j];
        }
        for (int i = 0; i < H; i++)
            for (int j = 0; j < H; j++) dW2[i * H + j] += g2[i] * h1[j];
        for (int j = 0; j < H; j++) {
            double s = 0;
            for (int i = 0; i < H; i++) s += m->W2[i * H + j] * g2[i];
            g1[j] = s * (1 - h1[j] * h1[j]);
            db1[j] += g1[j];
        }
        for (int i = 0; i < H; i++) {
            for (int j = 0; j < D; j++) dW1[i * (D + 1) + j] += g1[i] * z[j];
            dW1[i * (D + 1) + D] += g1[i] * t;
            if (dt) *dt += g1[i] * m->W1[i * (D + 1) + D];
        }
        for (int j = 0; j < D; j++) {
            double s = 0;
            for (int i = 0; i < H; i++) s += m->W1[i * (D + 1) + j] * g1[i];
            dy[b * D + j] += s;
        }
    }
}

static double *arr(const cJSON *a, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(a);
    double *v = calloc(*n + 1, sizeof *v);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) v[i++] = e->valuedouble;
    return v;
}

static void close_all(const char *what, const double *a, const double *b, size_t n, double rtol, double atol) {
    for (size_t i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= atol + rtol * fabs(b[i]))) {
            fprintf(stderr, "  %s[%zu]: %.17g, torchdiffeq %.17g\n", what, i, a[i], b[i]);
            t_fail_count++;
            return;
        }
}

/* f32_tight: a float32 reference at rtol 1e-6 / atol 1e-8, where float32 rounding of the error estimate
 * (~1e-7 relative) itself rejects steps: our double-precision solve needs no more evaluations than
 * torchdiffeq's float32 one (equality is not a property of the method there) */
static double max_abs(const double *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* a reference case: the parsed JSON (caller deletes) and its dynamics (release with dyn_free) */
static cJSON *load_case(const char *file, mlp_dyn *m) {
    char path[256], *txt = NULL;
    snprintf(path, sizeof path, "%s/ode/%s", TEST_DATA, file);
    CHECK_OK(bml__read_file(path, &txt, NULL));
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    if (!j) return NULL;
    *m = (mlp_dyn){cJSON_GetObjectItemCaseSensitive(j, "B")->valueint, cJSON_GetObjectItemCaseSensitive(j, "D")->valueint,
                   cJSON_GetObjectItemCaseSensitive(j, "H")->valueint, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "weights");
    size_t k;
    m->W1 = arr(cJSON_GetObjectItemCaseSensitive(w, "W1"), &k), m->b1 = arr(cJSON_GetObjectItemCaseSensitive(w, "b1"), &k);
    m->W2 = arr(cJSON_GetObjectItemCaseSensitive(w, "W2"), &k), m->b2 = arr(cJSON_GetObjectItemCaseSensitive(w, "b2"), &k);
    m->W3 = arr(cJSON_GetObjectItemCaseSensitive(w, "W3"), &k), m->b3 = arr(cJSON_GetObjectItemCaseSensitive(w, "b3"), &k);
    m->np = (size_t)(m->H * (m->D + 1) + m->H + m->H * m->H + m->H + m->D * m->H + m->D);
    return j;
}

static void dyn_free(mlp_dyn *m) { free(m->W1), free(m->b1), free(m->W2), free(m->b2), free(m->W3), free(m->b3); }

static void run_case_f(const char *file, double rtol, double atol, int f32);
static void run_case(const char *file, double rtol, double atol) { run_case_f(file, rtol, atol, 0); }

static void run_case_f(const char *file, double rtol, double atol, int f32) {
    mlp_dyn m;
    cJSON *j = load_case(file, &m);
    if (!j) return;
    size_t n, T, nw;
    double *y0 = arr(cJSON_GetObjectItemCaseSensitive(j, "y0"), &n), *t = arr(cJSON_GetObjectItemCaseSensitive(j, "t"), &T);
    double *lw = arr(cJSON_GetObjectItemCaseSensitive(j, "loss_weights"), &nw);
    double *y = calloc(T * n, sizeof *y), *dy0 = calloc(n, sizeof *dy0), *dp = calloc(m.np, sizeof *dp);
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(j, "solvers")) {
        const char *meth = cJSON_GetObjectItemCaseSensitive(s, "method")->valuestring;
        bml_ode_opts o = {!strcmp(meth, "euler") ? BML_ODE_EULER : !strcmp(meth, "rk4") ? BML_ODE_RK4 : BML_ODE_DOPRI5, 0, 0, 0, NULL, 0, 0};
        if (o.method == BML_ODE_DOPRI5) {
            o.rtol = cJSON_GetObjectItemCaseSensitive(s, "rtol")->valuedouble;
            o.atol = cJSON_GetObjectItemCaseSensitive(s, "atol")->valuedouble;
        }
        long nfe = 0;
        CHECK_OK(bml__ode_solve(dyn_f, &m, n, y0, t, T, &o, y, &nfe));
        char what[96];
        snprintf(what, sizeof what, "%s %s (rtol %g) nfe", file, meth, o.rtol);
        long want = cJSON_GetObjectItemCaseSensitive(s, "nfe_forward")->valueint;
        int noise_bound = f32 && o.method == BML_ODE_DOPRI5 && o.rtol < 1e-5;
        if (noise_bound ? nfe > want : nfe != want) {
            fprintf(stderr, "  %s: %ld, torchdiffeq %ld\n", what, nfe, want);
            t_fail_count++;
        }
        size_t ny;
        double *yr = arr(cJSON_GetObjectItemCaseSensitive(s, "y"), &ny);
        snprintf(what, sizeof what, "%s %s (rtol %g) y", file, meth, o.rtol);
        CHECK_INT(ny, T * n);
        close_all(what, y, yr, T * n, rtol, atol);
        free(yr);
        { /* gradients of sum(w * y) by backpropagation through the steps */
            memset(dp, 0, m.np * sizeof *dp);
            if (o.method == BML_ODE_DOPRI5) {
                long nfe2 = 0;
                CHECK_OK(bml__ode_backprop_dopri5(dyn_f, dyn_vjp, &m, n, y0, t, T, &o, lw, dy0, dp, &nfe2));
                CHECK_INT(nfe2, nfe);
            } else {
                CHECK_OK(bml__ode_backprop_fixed(dyn_f, dyn_vjp, &m, n, y0, t, T, o.method, lw, (f32 ? y : NULL), dy0, dp));
            }
            /* float32 references accumulate rounding over every step of a dopri5 solve (and at rtol 1e-6
             * take a slightly different step sequence): compare with the family's scale there */
            int loose = f32 && o.method == BML_ODE_DOPRI5;
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(s, "grad_direct");
            static const char *const names[6] = {"W1", "b1", "W2", "b2", "W3", "b3"};
            size_t off = 0;
            for (int q = 0; q < 6; q++) {
                size_t ng;
                double *gr = arr(cJSON_GetObjectItemCaseSensitive(g, names[q]), &ng);
                snprintf(what, sizeof what, "%s %s d%s", file, meth, names[q]);
                close_all(what, dp + off, gr, ng, loose ? 1e-3 : rtol * 10, loose ? 1e-4 * max_abs(gr, ng) : atol * 10);
                off += ng;
                free(gr);
            }
            size_t ng;
            double *gy = arr(cJSON_GetObjectItemCaseSensitive(g, "y0"), &ng);
            snprintf(what, sizeof what, "%s %s dy0", file, meth);
            close_all(what, dy0, gy, ng, loose ? 1e-3 : rtol * 10, loose ? 1e-4 * max_abs(gy, ng) : atol * 10);
            free(gy);
        }
        const cJSON *ga = cJSON_GetObjectItemCaseSensitive(s, "grad_adjoint");
        if (ga) { /* the adjoint method: evaluation counts and gradients */
            static const char *const names[7] = {"W1", "b1", "W2", "b2", "W3", "b3", "y0"};
            size_t sizes[6] = {(size_t)(m.H * (m.D + 1)), (size_t)m.H, (size_t)(m.H * m.H), (size_t)m.H, (size_t)(m.D * m.H), (size_t)m.D};
            long nf = 0, nb = 0;
            memset(dp, 0, m.np * sizeof *dp);
            CHECK_OK(bml__ode_adjoint_dopri5(dyn_f, dyn_vjp, &m, n, m.np, sizes, 6, y0, t, T, &o, lw, dy0, dp, &nf, &nb));
            long want_b = cJSON_GetObjectItemCaseSensitive(s, "nfe_backward_adjoint")->valueint;
            snprintf(what, sizeof what, "%s adjoint (rtol %g) nfe backward", file, o.rtol);
            if (f32 ? nb > want_b : nb != want_b) { /* float32 error estimates reject more steps there */
                fprintf(stderr, "  %s: %ld, torchdiffeq %ld\n", what, nb, want_b);
                t_fail_count++;
            }
            size_t off = 0;
            for (int q = 0; q < 7; q++) {
                size_t ng;
                double *gr = arr(cJSON_GetObjectItemCaseSensitive(ga, names[q]), &ng);
                snprintf(what, sizeof what, "%s adjoint (rtol %g) d%s", file, o.rtol, names[q]);
                const double *mine = q < 6 ? dp + off : dy0;
                if (f32) close_all(what, mine, gr, ng, 1e-3, 1e-4 * max_abs(gr, ng));
                else /* identical steps; the backward solve's own tolerance bounds the rest */
                    close_all(what, mine, gr, ng, fmax(rtol * 10, o.rtol), atol * 10 + o.rtol * 0.1 * max_abs(gr, ng));
                if (q < 6) off += ng;
                free(gr);
            }
        }
    }
    free(y), free(dy0), free(dp), free(y0), free(t), free(lw);
    dyn_free(&m);
    cJSON_Delete(j);
}

static void test_small_f64(void) { run_case("small_f64.json", 1e-9, 1e-12); }
static void test_small_f32(void) { run_case_f("small_f32.json", 2e-5, 1e-6, 1); }
static void test_wide_f32(void) { run_case_f("wide_f32.json", 2e-5, 1e-6, 1); }
static void test_latent_f32(void) { run_case_f("latent_f32.json", 2e-5, 1e-6, 1); }

/* L = sum(w * y(t)) of a dopri5 solve */
static double solve_loss(mlp_dyn *m, size_t n, const double *y0, const double *t, size_t T, const bml_ode_opts *o,
                         const double *w, double *y) {
    long nfe;
    CHECK_OK(bml__ode_solve(dyn_f, m, n, y0, t, T, o, y, &nfe));
    double L = 0;
    for (size_t i = 0; i < T * n; i++) L += w[i] * y[i];
    return L;
}

/* with grad_through_controller the dopri5 gradient is the exact derivative of the forward solve: central
 * differences of the loss (the steps' accept/reject pattern does not change for these tiny perturbations)
 * against it for every y0 entry and every W1 entry; the torchdiffeq-mode gradient differs from it; and the
 * adjoint gradient approaches the direct one as the tolerances tighten */
static void test_dopri5_gradients_finite_differences_and_adjoint(void) {
    mlp_dyn m;
    cJSON *j = load_case("small_f64.json", &m);
    if (!j) return;
    size_t n, T, nw;
    double *y0 = arr(cJSON_GetObjectItemCaseSensitive(j, "y0"), &n), *t = arr(cJSON_GetObjectItemCaseSensitive(j, "t"), &T);
    double *w = arr(cJSON_GetObjectItemCaseSensitive(j, "loss_weights"), &nw);
    double *y = calloc(T * n, sizeof *y), *dy0 = calloc(n, sizeof *dy0), *dp = calloc(m.np, sizeof *dp);
    double *dy0_torch = calloc(n, sizeof *dy0_torch), *dp_torch = calloc(m.np, sizeof *dp_torch);
    bml_ode_opts o = {BML_ODE_DOPRI5, 1e-3, 1e-4, 0, NULL, 0, 1};
    long nfe;
    CHECK_OK(bml__ode_backprop_dopri5(dyn_f, dyn_vjp, &m, n, y0, t, T, &o, w, dy0, dp, &nfe));
    o.grad_through_controller = 0;
    CHECK_OK(bml__ode_backprop_dopri5(dyn_f, dyn_vjp, &m, n, y0, t, T, &o, w, dy0_torch, dp_torch, &nfe));
    o.grad_through_controller = 1;
    const double eps = 1e-6;
    double differ = 0;
    for (size_t i = 0; i < n; i++) {
        double keep = y0[i];
        y0[i] = keep + eps;
        double Lp = solve_loss(&m, n, y0, t, T, &o, w, y);
        y0[i] = keep - eps;
        double Lm = solve_loss(&m, n, y0, t, T, &o, w, y);
        y0[i] = keep;
        CHECK_NEAR(dy0[i], (Lp - Lm) / (2 * eps), 1e-6 * (1 + fabs(dy0[i])));
        differ = fmax(differ, fabs(dy0[i] - dy0_torch[i]));
    }
    for (size_t i = 0; i < (size_t)(m.H * (m.D + 1)); i++) {
        double keep = m.W1[i];
        m.W1[i] = keep + eps;
        double Lp = solve_loss(&m, n, y0, t, T, &o, w, y);
        m.W1[i] = keep - eps;
        double Lm = solve_loss(&m, n, y0, t, T, &o, w, y);
        m.W1[i] = keep;
        CHECK_NEAR(dp[i], (Lp - Lm) / (2 * eps), 1e-6 * (1 + fabs(dp[i])));
    }
    CHECK(differ > 1e-7); /* the controller's contribution is there and the option changes it */
    /* adjoint and direct gradients converge to each other as the tolerances tighten */
    size_t sizes[6] = {(size_t)(m.H * (m.D + 1)), (size_t)m.H, (size_t)(m.H * m.H), (size_t)m.H, (size_t)(m.D * m.H), (size_t)m.D};
    double gap[3];
    for (int r = 0; r < 3; r++) {
        double tol = r == 0 ? 1e-3 : r == 1 ? 1e-6 : 1e-9;
        bml_ode_opts oa = {BML_ODE_DOPRI5, tol, tol * 0.1, 0, NULL, 0, 1};
        long nf, nb;
        memset(dp, 0, m.np * sizeof *dp), memset(dp_torch, 0, m.np * sizeof *dp_torch);
        CHECK_OK(bml__ode_backprop_dopri5(dyn_f, dyn_vjp, &m, n, y0, t, T, &oa, w, dy0, dp, &nf));
        CHECK_OK(bml__ode_adjoint_dopri5(dyn_f, dyn_vjp, &m, n, m.np, sizes, 6, y0, t, T, &oa, w, dy0_torch, dp_torch, &nf, &nb));
        gap[r] = 0;
        for (size_t i = 0; i < n; i++) gap[r] = fmax(gap[r], fabs(dy0[i] - dy0_torch[i]));
        for (size_t i = 0; i < m.np; i++) gap[r] = fmax(gap[r], fabs(dp[i] - dp_torch[i]));
    }
    CHECK(gap[1] < gap[0] * 0.1 && gap[2] < gap[1] * 0.1 && gap[2] < 1e-6);
    free(y), free(dy0), free(dp), free(dy0_torch), free(dp_torch), free(y0), free(t), free(w);
    dyn_free(&m);
    cJSON_Delete(j);
}

/* the neural_ode and acla networks: gradients of every solver mode against central differences of a
 * weighted sum of their outputs, over a batch with a padded step */
enum { NF = 3, NO = 2, NB = 3, NT = 4 };
typedef struct {
    bml__ode_net *node;
    bml__acla_net *acla;
    float x[NB * NT * (NF + 1)], mask[NB * NT], c[NB * NT * NO], out[NB * NT * NO];
} net_case;

static double net_loss(net_case *k) {
    if (k->node) CHECK_OK(bml__ode_net_forward(k->node, k->x, k->mask, NB, NT, k->out));
    else CHECK_OK(bml__acla_net_forward(k->acla, k->x, k->mask, NB, NT, 0, k->out));
    double L = 0;
    for (int i = 0; i < NB * NT * NO; i++) L += (double)k->c[i] * k->out[i];
    return L;
}

static void net_case_init(net_case *k) {
    bml_nn_rng rng;
    bml__nn_rng_seed(&rng, 7);
    for (int b = 0; b < NB; b++)
        for (int t = 0; t < NT; t++) {
            int real = !(b == 2 && t == 3); /* the last sample is one step shorter */
            k->mask[b * NT + t] = (float)real;
            float *r = k->x + (b * NT + t) * (NF + 1);
            for (int j = 0; j < NF; j++) r[j] = real ? 2 * bml__nn_rng_uniform(&rng) - 1 : 0;
            r[NF] = real ? 0.1f * (float)b + 0.3f * (float)t + 0.05f * bml__nn_rng_uniform(&rng) : 0;
            for (int o = 0; o < NO; o++) k->c[(b * NT + t) * NO + o] = real ? 2 * bml__nn_rng_uniform(&rng) - 1 : 0;
        }
}

/* every `stride`-th parameter against central differences; a failure names the parameter */
static void net_fd_check(const char *what, net_case *k, float *params, const float *grads, size_t n, size_t stride, float eps) {
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(grads[i]));
    CHECK(gmax > 1e-3);
    int bad = 0;
    for (size_t i = 0; i < n; i += stride) {
        float keep = params[i];
        params[i] = keep + eps;
        double Lp = net_loss(k);
        params[i] = keep - eps;
        double Lm = net_loss(k);
        params[i] = keep;
        double fd = (Lp - Lm) / (2 * (double)eps), g = grads[i];
        if (!(fabs(fd - g) <= 2e-3 * gmax + 2e-2 * fabs(g))) {
            if (bad++ < 3) fprintf(stderr, "  %s: d param %zu: %g, finite differences %g\n", what, i, g, fd);
        }
    }
    if (bad) t_fail_count++;
}

static const char *const MODE_NAME[4] = {"rk4", "euler", "dopri5 direct", "dopri5 adjoint"};
static bml_ode_opts mode_opts(int mode) {
    bml_ode_opts so = {mode == 0 ? BML_ODE_RK4 : mode == 1 ? BML_ODE_EULER : BML_ODE_DOPRI5, 1e-5, 1e-6, 0, NULL, 0, 0};
    return so;
}

static void test_neural_ode_network_gradients(void) {
    net_case k = {0};
    net_case_init(&k);
    for (int mode = 0; mode < 4; mode++) {
        bml_ode_opts so = mode_opts(mode);
        CHECK_OK(bml__ode_net_create(NF, NO, 4, 6, &so, mode == 3, 11, &k.node));
        if (!k.node) return;
        net_loss(&k);
        memset(k.node->grads, 0, k.node->n_params * sizeof *k.node->grads);
        CHECK_OK(bml__ode_net_backward(k.node, k.c));
        net_fd_check(MODE_NAME[mode], &k, k.node->params, k.node->grads, k.node->n_params, 3, 1e-2f);
        bml__ode_net_free(k.node);
        k.node = NULL;
    }
}

/* the block's fused AVX-512 products give bml__nn_gemm's bits: shapes with partial row tiles and column
 * panels (batch 11, hidden 37, latent 5), every solver mode, outputs and every gradient compared exactly */
static void test_fused_products_bit_identical(void) {
    enum { F = 3, O = 2, B = 11, T = 5 };
    float x[B * T * (F + 1)], mask[B * T], dout[B * T * O], out[2][B * T * O];
    bml_nn_rng rng;
    bml__nn_rng_seed(&rng, 5);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            mask[b * T + t] = (float)!(b % 4 == 1 && t == T - 1);
            float *r = x + (b * T + t) * (F + 1);
            for (int j = 0; j < F; j++) r[j] = 2 * bml__nn_rng_uniform(&rng) - 1;
            r[F] = 0.2f * (float)t + 0.01f * (float)(b % 3);
            for (int o = 0; o < O; o++) dout[(b * T + t) * O + o] = mask[b * T + t] * (2 * bml__nn_rng_uniform(&rng) - 1);
        }
    for (int mode = 0; mode < 4; mode++) {
        bml_ode_opts so = mode_opts(mode);
        float *grads[2] = {NULL, NULL};
        size_t n = 0;
        for (int plain = 0; plain < 2; plain++) {
            bml__ode_net *net = NULL;
            CHECK_OK(bml__ode_net_create(F, O, 5, 37, &so, mode == 3, 3, &net));
            if (!net) return;
            int was = bml__ode_block_plain_products(plain);
            CHECK_OK(bml__ode_net_forward(net, x, mask, B, T, out[plain]));
            memset(net->grads, 0, net->n_params * sizeof *net->grads);
            CHECK_OK(bml__ode_net_backward(net, dout));
            bml__ode_block_plain_products(was);
            n = net->n_params;
            grads[plain] = malloc(n * sizeof *grads[plain]);
            if (grads[plain]) memcpy(grads[plain], net->grads, n * sizeof *grads[plain]);
            bml__ode_net_free(net);
        }
        CHECK(grads[0] && grads[1]);
        if (grads[0] && grads[1]) {
            if (memcmp(out[0], out[1], sizeof out[0]) || memcmp(grads[0], grads[1], n * sizeof *grads[0])) {
                fprintf(stderr, "  %s: fused and plain products differ\n", MODE_NAME[mode]);
                t_fail_count++;
            }
            double gmax = 0;
            for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(grads[0][i]));
            CHECK(gmax > 1e-4);
        }
        free(grads[0]), free(grads[1]);
    }
}

/* euler and rk4 solve a batch of 40 as two shards of 20 rows: the outputs and every gradient but the
 * dynamics' equal, bit for bit, those of the batch solved whole (max_shards 1: its rows never meet), the
 * dynamics' within float rounding (summed shard by shard), and all of it the same at 1 and 2 threads */
static void test_shards_match_whole(void) {
    enum { F = 3, O = 2, B = 40, T = 6 };
    static float x[B * T * (F + 1)], mask[B * T], dout[B * T * O], out[3][B * T * O];
    bml_nn_rng rng;
    bml__nn_rng_seed(&rng, 9);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            mask[b * T + t] = (float)!(b % 7 == 3 && t >= T - 2);
            float *r = x + (b * T + t) * (F + 1);
            for (int j = 0; j < F; j++) r[j] = 2 * bml__nn_rng_uniform(&rng) - 1;
            r[F] = 0.15f * (float)t + 0.01f * (float)(b % 5);
            for (int o = 0; o < O; o++) dout[(b * T + t) * O + o] = mask[b * T + t] * (2 * bml__nn_rng_uniform(&rng) - 1);
        }
    for (int mode = 0; mode < 2; mode++) {
        bml_ode_opts so = mode_opts(mode);
        float *grads[3] = {NULL, NULL, NULL};
        size_t n = 0, d0 = 0, nd = 0;
        int shards[3] = {0};
        for (int v = 0; v < 3; v++) { /* whole (2 threads), sharded at 2 threads, sharded at 1 thread */
            bml__ode_net *net = NULL;
            CHECK_OK(bml__ode_net_create(F, O, 5, 24, &so, 0, 3, &net));
            if (!net) return;
            if (v == 0) net->ode.max_shards = 1;
            int was = bml__nn_threads_set(v == 2 ? 1 : 2);
            CHECK_OK(bml__ode_net_forward(net, x, mask, B, T, out[v]));
            memset(net->grads, 0, net->n_params * sizeof *net->grads);
            CHECK_OK(bml__ode_net_backward(net, dout));
            bml__nn_threads_set(was);
            shards[v] = net->ode.n_shards;
            n = net->n_params, d0 = (size_t)(net->ode.dyn.w[0] - net->params), nd = net->ode.n_dyn;
            grads[v] = malloc(n * sizeof *grads[v]);
            if (grads[v]) memcpy(grads[v], net->grads, n * sizeof *grads[v]);
            bml__ode_net_free(net);
        }
        CHECK_INT(shards[0], 1);
        CHECK_INT(shards[1], 2);
        if (!grads[0] || !grads[1] || !grads[2]) {
            CHECK(0);
        } else {
            CHECK(!memcmp(out[0], out[1], sizeof out[0]));
            CHECK(!memcmp(out[1], out[2], sizeof out[1]));
            CHECK(!memcmp(grads[1], grads[2], n * sizeof *grads[1]));
            double gmax = 0;
            size_t other = 0, far = 0;
            for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(grads[0][i]));
            for (size_t i = 0; i < n; i++) {
                int dyn = i >= d0 && i < d0 + nd;
                if (!dyn && memcmp(&grads[0][i], &grads[1][i], sizeof(float))) other++;
                if (dyn && !(fabs(grads[0][i] - grads[1][i]) <= 1e-5 * gmax)) far++;
            }
            if (other || far) {
                fprintf(stderr, "  %s shards: %zu other gradients differ, %zu dynamics gradients beyond 1e-5\n", MODE_NAME[mode], other, far);
                t_fail_count++;
            }
            CHECK(gmax > 1e-4);
        }
        free(grads[0]), free(grads[1]), free(grads[2]);
    }
}

/* a shard that fails on another thread: the caller gets its status and its message (errors are per thread),
 * the first failing shard's in row order */
static void test_shard_failure_message(void) {
    enum { F = 3, O = 2, B = 64, T = 4 };
    static float x[B * T * (F + 1)], mask[B * T], out[B * T * O];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            mask[b * T + t] = 1;
            float *r = x + (b * T + t) * (F + 1);
            for (int j = 0; j < F; j++) r[j] = 0.1f * (float)j;
            r[F] = 0.25f * (float)t;
        }
    for (int j = 0; j < F; j++) x[(50 * T) * (F + 1) + j] = NAN; /* row 50: shard 3 of 4 */
    bml_ode_opts so = mode_opts(1);
    bml__ode_net *net = NULL;
    CHECK_OK(bml__ode_net_create(F, O, 5, 8, &so, 0, 3, &net));
    if (!net) return;
    int was = bml__nn_threads_set(2);
    for (int rep = 0; rep < 400; rep++) { /* whichever thread the failing shard ran on */
        bml__fail(BML_ERR_IO, "a stale message");
        CHECK_ERR(bml__ode_net_forward(net, x, mask, B, T, out), BML_ERR_VALUE, "non-finite");
    }
    bml__nn_threads_set(was);
    CHECK_INT(net->ode.n_shards, 4);
    bml__ode_net_free(net);
}

/* acla: every part (attention block, CNN, one-step LSTM, z0, augmented ODE, read-out) in every solver mode;
 * padded steps never reach real ones */
static void test_acla_network_gradients(void) {
    net_case k = {0};
    net_case_init(&k);
    bml__acla_shape sh = {NF, NO, 4, 2, 3, 2, 3, 3, 2, 5, 0.1f};
    for (int mode = 0; mode < 4; mode++) {
        bml_ode_opts so = mode_opts(mode);
        CHECK_OK(bml__acla_net_create(&sh, &so, mode == 3, 12, &k.acla));
        if (!k.acla) return;
        for (int t = BML_ACLA_FUNC_FIRST; t < BML_ACLA_FUNC_FIRST + 6; t++) /* N(0, 0.01) would leave the dynamics nearly flat */
            for (size_t i = 0; i < k.acla->sizes[t]; i++) k.acla->p[t][i] *= 40.0f;
        net_loss(&k);
        memset(k.acla->grads, 0, k.acla->n_params * sizeof *k.acla->grads);
        CHECK_OK(bml__acla_net_backward(k.acla, k.c));
        char what[64];
        snprintf(what, sizeof what, "acla %s", MODE_NAME[mode]);
        net_fd_check(what, &k, k.acla->params, k.acla->grads, k.acla->n_params, mode < 2 ? 1 : 3, 1e-2f);
        if (mode == 0) {
            float keep[NB * NT * NO];
            net_loss(&k);
            memcpy(keep, k.out, sizeof keep);
            k.x[(2 * NT + 3) * (NF + 1) + 1] = 50.0f; /* a padded step's feature */
            net_loss(&k);
            for (int i = 0; i < NB * NT * NO; i++)
                if (k.mask[i / NO] != 0) CHECK(fabsf(keep[i] - k.out[i]) < 1e-6f);
            k.x[(2 * NT + 3) * (NF + 1) + 1] = 0.0f;
        }
        bml__acla_net_free(k.acla);
        k.acla = NULL;
    }
}

/* an adjoint backward solve that fails (here: held to a tolerance it cannot meet in one step) stops
 * training with the solver's message, as a failing forward solve does */
static bml_status fail_fwd(void *vn, const float *x, const float *mask, int B, int training, float *out) {
    (void)training;
    bml__ode_net *n = vn;
    n->ode.solver.rtol = 1e-3, n->ode.solver.atol = 1e-4, n->ode.solver.max_steps = 1000;
    return bml__ode_net_forward(n, x, mask, B, NT, out);
}
static bml_status fail_bwd(void *vn, const float *dout, int B) {
    (void)B;
    bml__ode_net *n = vn;
    n->ode.solver.rtol = 1e-12, n->ode.solver.atol = 1e-14, n->ode.solver.max_steps = 1;
    return bml__ode_net_backward(n, dout);
}
static void test_failing_backward_stops_training(void) {
    net_case k = {0};
    net_case_init(&k);
    bml_ode_opts so = mode_opts(3);
    bml__ode_net *n = NULL;
    CHECK_OK(bml__ode_net_create(NF, NO, 4, 6, &so, 1, 11, &n));
    if (!n) return;
    bml_trainable t = {n, n->params, n->grads, n->n_params, n->sizes, n->n_tensors, NT * (NF + 1), NT * NO, NT, fail_fwd, fail_bwd};
    bml_train_opts o = {.epochs = 2, .batch_size = 3, .learning_rate = 1e-3, .grad_clip = 1, .loss = {.kind = BML_LOSS_MSE, .T = NT, .O = NO}, .seed = 1};
    bml_train_history h = {0};
    CHECK_ERR(bml__train(&t, k.x, k.c, k.mask, NB, NULL, NULL, NULL, 0, &o, &h), BML_ERR_VALUE, "more than 1 steps");
    bml__train_history_release(&h);
    bml__ode_net_free(n);
}

static void decay(void *c, double t, const double *y, double *dy) {
    (void)c;
    dy[0] = -y[0] + t;
}

static void test_errors_and_exact_solution(void) {
    /* y' = -y + t, y(0) = 1: y = t - 1 + 2 e^-t */
    double t[4] = {0, 0.5, 1.0, 2.0}, y0 = 1, y[4];
    long nfe;
    bml_ode_opts o = {BML_ODE_DOPRI5, 1e-8, 1e-10, 0, NULL, 0, 0};
    CHECK_OK(bml__ode_solve(decay, NULL, 1, &y0, t, 4, &o, y, &nfe));
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], t[i] - 1 + 2 * exp(-t[i]), 1e-7);
    o.max_steps = 2;
    CHECK_ERR(bml__ode_solve(decay, NULL, 1, &y0, t, 4, &o, y, &nfe), BML_ERR_VALUE, "dopri5: more than 2 steps");
    double bad[3] = {0, 1, 1};
    CHECK_ERR(bml__ode_solve(decay, NULL, 1, &y0, bad, 3, &o, y, &nfe), BML_ERR_VALUE, "times must increase");
}

TEST_MAIN("ode", T(test_shards_match_whole), T(test_shard_failure_message), T(test_small_f64), T(test_small_f32), T(test_wide_f32), T(test_latent_f32),
          T(test_dopri5_gradients_finite_differences_and_adjoint),
          T(test_neural_ode_network_gradients), T(test_fused_products_bit_identical), T(test_acla_network_gradients), T(test_failing_backward_stops_training), T(test_errors_and_exact_solution))
