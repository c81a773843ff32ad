/* Benchmark of the neural-network core against the Python peer (../shared/bench-peer/bench.py):
 * the same shapes and training loop (AdamW 1e-3 / wd 0.01, cosine warm restarts (50, 2), clip 1.0,
 * MSE, batch 32, seeded shuffling), timed per epoch. One JSON line per case with the peer's field
 * names: case, threads, sec_per_epoch_{mean,std,min,median}, batches_per_epoch, epochs_timed,
 * loss_first, loss_last, flops_per_epoch_est, achieved_gflops, params, and ours: peak_gflops (the machine's
 * single-precision sgemm peak at that many threads, measured first: per thread at once, 16 one-thread
 * 1024 x 256 x 256 products with the library's kernels), blas_peak_gflops (one 1024^3 one-thread OpenBLAS sgemm
 * per thread at once), peak_fraction (of peak_gflops), weights_hash (FNV-1a of the trained weights' bits: the same at every thread
 * count), blas_core (the kernels OpenBLAS picked), cpu_sec_per_epoch_min (the process's CPU time in its
 * cheapest timed epoch: all threads together; on a shared machine, the cost of an epoch on one thread).
 * --threads N runs the networks' parallel loops on N threads (training.threads; OpenBLAS itself always
 * runs single-threaded).
 *   mlp        2,000 x 7 -> 1, Linear(7,64)-ReLU-Dropout-Linear(64,32)-ReLU-Dropout-Linear(32,1)
 *   lstm_attn  64 sequences x 30 steps x 5 features -> 3 outputs per step
 *   cnn_lstm   the same shapes
 *   node_dopri5, node_rk4, node_euler, node_dopri5_adjoint: neural_ode (latent 32, hidden 64) on the same
 *              shapes, rtol 1e-3 / atol 1e-4, with function evaluations per forward and backward
 *              (flops_per_epoch_est: the dynamics' products only, from the evaluation counts)
 *   acla       the acla network of SPEC 6 on 64 x 30 x 20 features -> 3, dopri5 rtol 1e-4 / atol 1e-5
 * The data follow the peer's generators (our own random numbers).
 * Usage: bench_nn [--epochs 20] [--warmup 2] [--threads 2,1] [--isa auto|avx512|avx2] [--cases mlp,lstm_attn,cnn_lstm,node_dopri5,
 *        node_rk4,node_euler,node_dopri5_adjoint,acla] */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_env.h"
#include "batteryml/parallel.h"
#include "nn/acla_net.h"
#include "nn/mlp_net.h"
#include "nn/par.h"
#include "nn/ode_net.h"
#include "nn/seq_net.h"
#include "nn/trainer.h"

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    double t_last, *times, *losses;
    double cpu_last, cpu_min; /* process CPU time: at the last epoch's end, least over the timed epochs */
    long n, warmup;
} timing;

static void on_epoch(void *u, long epoch, long epochs, double train_loss, double val_loss) {
    (void)epochs, (void)val_loss;
    timing *t = u;
    double now = now_s();
    t->times[epoch - 1] = now - t->t_last;
    double cpu = cpu_s();
    if (epoch > t->warmup) t->cpu_min = fmin(t->cpu_min, cpu - t->cpu_last);
    t->cpu_last = cpu;
    t->losses[epoch - 1] = train_loss;
    t->t_last = now;
    t->n = epoch;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *extra_fields = ""; /* appended to the next report's JSON object */
static double peak_gflops = NAN;      /* of the thread count being run: the library's kernels */
static double blas_peak_gflops = NAN; /* the same with OpenBLAS's one-thread sgemm */

char *openblas_get_corename(void);

/* the machine's sgemm peak at `threads` threads: that many 1024^3 one-thread products at once, best of 3 */
typedef struct {
    float *a, *b, *c;
} peak_mats;
static int peak_with_blas;
static void peak_task(void *arg, int i) {
    peak_mats *m = (peak_mats *)arg + i;
    if (peak_with_blas)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 1.0f, m->a, 1024, m->b, 1024, 0.0f, m->c, 1024);
    else /* the library's kernels are not blocked for cache: 16 products of 1024 x 256 x 256, the same FLOPs */
        for (int r = 0; r < 16; r++)
            bml__nn_gemm(0, 0, 1024, 256, 256, 1.0f, m->a, 256, m->b, 256, 0.0f, m->c, 256);
}
static double measure_peak(int threads, int blas) {
    peak_with_blas = blas;
    enum { N = 1024 };
    peak_mats m[64];
    if (threads > 64) threads = 64;
    for (int i = 0; i < threads; i++) {
        m[i].a = malloc(sizeof(float) * N * N), m[i].b = malloc(sizeof(float) * N * N), m[i].c = malloc(sizeof(float) * N * N);
        if (!m[i].a || !m[i].b || !m[i].c) exit(1);
        for (size_t k = 0; k < (size_t)N * N; k++) m[i].a[k] = (float)(k % 7) * 0.1f, m[i].b[k] = (float)(k % 5) * 0.1f;
    }
    double best = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        bml__nn_parallel_for(threads, peak_task, m);
        best = fmin(best, now_s() - t0);
    }
    for (int i = 0; i < threads; i++) free(m[i].a), free(m[i].b), free(m[i].c);
    return 2.0 * N * N * N * threads / best / 1e9;
}

static uint64_t weights_hash(const float *w, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)w;
    for (size_t i = 0; i < n * sizeof *w; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}
static uint64_t last_hash; /* of the case being reported */

static void report(const char *name, int threads, timing *tm, long warmup, size_t n, size_t params, double flops) {
    long k = tm->n - warmup;
    double *t = tm->times + warmup, mean = 0, sd = 0, mn = INFINITY;
    for (long i = 0; i < k; i++) mean += t[i], mn = fmin(mn, t[i]);
    mean /= (double)k;
    for (long i = 0; i < k; i++) sd += (t[i] - mean) * (t[i] - mean);
    sd = sqrt(sd / (double)k);
    double *s = malloc((size_t)k * sizeof *s);
    memcpy(s, t, (size_t)k * sizeof *s);
    qsort(s, (size_t)k, sizeof *s, cmp_d);
    double med = k % 2 ? s[k / 2] : 0.5 * (s[k / 2 - 1] + s[k / 2]);
    free(s);
    bench_line_start(), printf("\"case\": \"%s\", \"threads\": %d, \"sec_per_epoch_mean\": %.6f, \"sec_per_epoch_std\": %.6f, "
           "\"sec_per_epoch_min\": %.6f, \"sec_per_epoch_median\": %.6f, \"batches_per_epoch\": %zu, \"epochs_timed\": %ld, "
           "\"loss_first\": %.5f, \"loss_last\": %.5f, \"flops_per_epoch_est\": %.0f, \"achieved_gflops\": %.3f, "
           "\"params\": %zu, \"cpu_sec_per_epoch_min\": %.6f, \"peak_gflops\": %.2f, \"blas_peak_gflops\": %.2f, \"peak_fraction\": %.4f, \"weights_hash\": \"%016llx\", "
           "\"blas_core\": \"%s\", \"kernel\": \"%s\"%s}\n",
           name, threads, mean, sd, mn, med, (n + 31) / 32, k, tm->losses[warmup], tm->losses[tm->n - 1], flops,
           flops / mean / 1e9, params, tm->cpu_min, peak_gflops, blas_peak_gflops, flops / mean / 1e9 / peak_gflops, (unsigned long long)last_hash,
           openblas_get_corename(), bml__nn_gemm_kernel(), extra_fields);
    extra_fields = "";
    fflush(stdout);
}

/* normal draws from the shared stream */
static float normal(bml_nn_rng *r) { return bml__nn_rng_normal(r); }

static int bench_threads = 1; /* of the run in progress: training.threads */

static bml_train_opts opts(long epochs, timing *tm) {
    bml_train_opts o = {0};
    o.threads = bench_threads;
    o.epochs = epochs, o.batch_size = 32, o.patience = 0, o.learning_rate = 1e-3, o.weight_decay = 0.01, o.grad_clip = 1.0;
    o.cosine = 1, o.t0 = 50, o.t_mult = 2, o.loss.kind = BML_LOSS_MSE, o.seed = 0;
    o.on_epoch = on_epoch, o.on_epoch_user = tm;
    return o;
}

static bml_status mlp_fwd(void *net, const float *x, const float *mask, int B, int training, float *out) {
    (void)mask;
    return bml__mlp_net_forward(net, x, B, training, out);
}
static bml_status mlp_bwd(void *net, const float *dout, int B) {
    bml__mlp_net_backward(net, dout, B, NULL);
    return BML_OK;
}

static void bench_mlp(int threads, long epochs, long warmup) {
    size_t n = 2000, F = 7;
    bml_nn_rng r;
    bml__nn_rng_seed(&r, 0);
    float *x = malloc(n * F * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n * F; i++) x[i] = normal(&r);
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * F;
        y[i] = sinf(xi[0]) + 0.5f * xi[1] * xi[2] - 0.3f * xi[3] * xi[3] + 0.1f * normal(&r);
    }
    int dims[] = {7, 64, 32, 1};
    bml__mlp_net *net;
    if (bml__mlp_net_create(dims, 3, 0, 0.1f, 0, &net) != BML_OK) exit(1);
    timing tm = {now_s(), calloc((size_t)epochs, sizeof(double)), calloc((size_t)epochs, sizeof(double)), 0, INFINITY, 0, warmup};
    bml_trainable t = {net, net->params, net->grads, net->n_params, net->sizes, 6, F, 1, 0, mlp_fwd, mlp_bwd};
    bml_train_opts o = opts(epochs, &tm);
    bml_train_history h;
    tm.t_last = now_s(), tm.cpu_last = cpu_s();
    if (bml__train(&t, x, y, NULL, n, NULL, NULL, NULL, 0, &o, &h) != BML_OK) exit(1);
    last_hash = weights_hash(net->params, net->n_params);
    report("mlp", threads, &tm, warmup, n, net->n_params, 6.0 * (double)net->n_params * (double)n);
    bml__train_history_release(&h);
    bml__mlp_net_free(net);
    free(tm.times), free(tm.losses), free(x), free(y);
}

typedef struct {
    bml__seq_net *net;
    int T;
} seq_ctx;
static bml_status seq_fwd(void *c, const float *x, const float *mask, int B, int training, float *out) {
    seq_ctx *s = c;
    return bml__seq_net_forward(s->net, x, mask, B, s->T, training, out);
}
static bml_status seq_bwd(void *c, const float *dout, int B) {
    (void)B;
    bml__seq_net_backward(((seq_ctx *)c)->net, dout);
    return BML_OK;
}

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static void bench_seq(const char *name, int cnn, int threads, long epochs, long warmup) {
    size_t n = 64, T = 30, F = 5, O = 3;
    bml_nn_rng r;
    bml__nn_rng_seed(&r, 0);
    float *x = malloc(n * T * F * sizeof *x), *y = malloc(n * T * O * sizeof *y), *mask = malloc(n * T * sizeof *mask);
    float *t = malloc(T * sizeof *t);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < T; k++) t[k] = bml__nn_rng_uniform(&r) * 300.0f;
        qsort(t, T, sizeof *t, cmp_f);
        for (size_t k = 0; k < T; k++) {
            for (size_t f = 0; f < F; f++) x[(i * T + k) * F + f] = normal(&r);
            x[(i * T + k) * F] = t[k] / 300.0f; /* elapsed time as a feature */
            mask[i * T + k] = 1.0f;
        }
        float rate = 0.2f + 0.1f / (1.0f + expf(-x[i * T * F + 1]));
        for (size_t k = 0; k < T; k++)
            for (size_t o = 0; o < O; o++)
                y[(i * T + k) * O + o] = 1.0f - rate * powf(t[k] / 300.0f, 0.5f + 0.25f * (float)(o + 1)) + 0.01f * normal(&r);
    }
    bml__seq_net *net;
    if (bml__seq_net_create(cnn, (int)F, (int)O, 64, 4, 0.1f, 0, &net) != BML_OK) exit(1);
    timing tm = {now_s(), calloc((size_t)epochs, sizeof(double)), calloc((size_t)epochs, sizeof(double)), 0, INFINITY, 0, warmup};
    seq_ctx c = {net, (int)T};
    bml_trainable tr = {&c, net->params, net->grads, net->n_params, net->sizes, net->n_tensors, T * F, T * O, T, seq_fwd, seq_bwd};
    bml_train_opts o = opts(epochs, &tm);
    bml_train_history h;
    tm.t_last = now_s(), tm.cpu_last = cpu_s();
    if (bml__train(&tr, x, y, mask, n, NULL, NULL, NULL, 0, &o, &h) != BML_OK) exit(1);
    double tokens = (double)(n * T), attn = 3.0 * (double)n * 2 * (2.0 * T * T * 128);
    double conv = cnn ? (double)(64 * 3 + 64 + 64 * 2 + 32 * 64 * 3 + 32 + 32 * 2) : 0;
    double fl = 6.0 * (((double)net->n_params - conv) + conv * (double)F) * tokens + attn;
    last_hash = weights_hash(net->params, net->n_params);
    report(name, threads, &tm, warmup, n, net->n_params, fl);
    bml__train_history_release(&h);
    bml__seq_net_free(net);
    free(tm.times), free(tm.losses), free(x), free(y), free(mask), free(t);
}

/* neural_ode: the peer's seq_data shapes (64 x 30 x 5 -> 3, batch 32); the peer solves a batch over its first
 * sample's times, so here every sample shares one time vector (the solve then runs over those 30 times) */
typedef struct {
    bml__ode_net *net;  /* or */
    bml__acla_net *acla;
    int T;
    long forwards, nfe_fwd, nfe_bwd, timed_from;
} node_ctx;
static const bml__ode_block *node_block(const node_ctx *s) { return s->acla ? &s->acla->ode : &s->net->ode; }
static bml_status node_fwd(void *c, const float *x, const float *mask, int B, int training, float *out) {
    node_ctx *s = c;
    bml_status st = s->acla ? bml__acla_net_forward(s->acla, x, mask, B, s->T, training, out)
                            : bml__ode_net_forward(s->net, x, mask, B, s->T, out);
    if (s->forwards++ >= s->timed_from) s->nfe_fwd += node_block(s)->nfe_forward;
    return st;
}
static bml_status node_bwd(void *c, const float *dout, int B) {
    (void)B;
    node_ctx *s = c;
    bml_status st = s->acla ? bml__acla_net_backward(s->acla, dout) : bml__ode_net_backward(s->net, dout);
    if (s->forwards > s->timed_from) s->nfe_bwd += node_block(s)->nfe_backward;
    return st;
}

static void bench_node(const char *name, bml_ode_method method, int adjoint, int threads, long epochs, long warmup) {
    int acla = !strcmp(name, "acla");
    size_t n = 64, T = 30, F = acla ? 20 : 5, O = 3;
    bml_nn_rng r;
    bml__nn_rng_seed(&r, 0);
    float *x = malloc(n * T * (F + 1) * sizeof *x), *y = malloc(n * T * O * sizeof *y), *mask = malloc(n * T * sizeof *mask);
    float *t = malloc(T * sizeof *t);
    for (size_t k = 0; k < T; k++) t[k] = bml__nn_rng_uniform(&r);
    qsort(t, T, sizeof *t, cmp_f);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < T; k++) {
            float *row = x + (i * T + k) * (F + 1);
            for (size_t f = 0; f < F; f++) row[f] = normal(&r);
            row[0] = t[k];
            row[F] = t[k]; /* the time column */
            mask[i * T + k] = 1.0f;
        }
        float rate = 0.2f + 0.1f / (1.0f + expf(-x[i * T * (F + 1) + 1]));
        for (size_t k = 0; k < T; k++)
            for (size_t o = 0; o < O; o++)
                y[(i * T + k) * O + o] = 1.0f - rate * powf(t[k], 0.5f + 0.25f * (float)(o + 1)) + 0.01f * normal(&r);
    }
    bml_ode_opts so = {method, acla ? 1e-4 : 1e-3, acla ? 1e-5 : 1e-4, 0, NULL, 0, 0};
    bml__ode_net *net = NULL;
    bml__acla_net *an = NULL;
    bml__acla_shape sh = {(int)F, (int)O, 64, 4, 64, 32, 64, 64, 20, 128, 0.1f}; /* the peer's ACLA(20, 3) */
    if (acla ? bml__acla_net_create(&sh, &so, adjoint, 0, &an) : bml__ode_net_create((int)F, (int)O, 32, 64, &so, adjoint, 0, &net))
        exit(1);
    timing tm = {now_s(), calloc((size_t)epochs, sizeof(double)), calloc((size_t)epochs, sizeof(double)), 0, INFINITY, 0, warmup};
    long batches = (long)((n + 31) / 32);
    node_ctx c = {net, an, (int)T, 0, 0, 0, warmup * batches};
    bml_trainable tr = {&c, acla ? an->params : net->params, acla ? an->grads : net->grads, acla ? an->n_params : net->n_params,
                        acla ? an->sizes : net->sizes, acla ? an->n_tensors : net->n_tensors, T * (F + 1), T * O, T, node_fwd, node_bwd};
    bml_train_opts o = opts(epochs, &tm);
    bml_train_history h;
    tm.t_last = now_s(), tm.cpu_last = cpu_s();
    if (bml__train(&tr, x, y, mask, n, NULL, NULL, NULL, 0, &o, &h) != BML_OK) exit(1);
    long timed = c.forwards - c.timed_from;
    char ex[160];
    snprintf(ex, sizeof ex, ", \"method\": \"%s\", \"adjoint\": %s, \"nfe_fwd_mean\": %.2f, \"nfe_bwd_mean\": %.2f",
             method == BML_ODE_DOPRI5 ? "dopri5" : method == BML_ODE_RK4 ? "rk4" : "euler", adjoint ? "true" : "false",
             (double)c.nfe_fwd / (double)timed, (double)c.nfe_bwd / (double)timed);
    extra_fields = ex;
    last_hash = weights_hash(tr.params, tr.n_params);
    /* an estimate from the dynamics' products only: 2 B sum(d_l d_l+1) per evaluation, twice that per
     * vector-Jacobian product (input and weight gradients), 32 rows a batch; backpropagation makes one
     * vector-Jacobian product per evaluation of the forward solve, the adjoint the backward solve's count */
    const int *d = node_block(&c)->dyn.d;
    double per_eval = 2.0 * 32.0 * ((double)d[0] * d[1] + (double)d[1] * d[2] + (double)d[2] * d[3]);
    double vjps = adjoint ? (double)c.nfe_bwd : (double)c.nfe_fwd;
    double flops = ((double)c.nfe_fwd + 2.0 * vjps) * per_eval / (double)(epochs - warmup);
    report(name, threads, &tm, warmup, n, tr.n_params, flops);
    bml__train_history_release(&h);
    bml__ode_net_free(net);
    bml__acla_net_free(an);
    free(tm.times), free(tm.losses), free(x), free(y), free(mask), free(t);
}

int main(int argc, char **argv) {
    long epochs = 20, warmup = 2;
    openblas_set_num_threads(1); /* for the OpenBLAS peak: one thread per product, products on our threads */
    const char *threads = "2,1", *cases = "mlp,lstm_attn,cnn_lstm";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--epochs")) epochs = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = argv[i + 1];
        else if (!strcmp(argv[i], "--cases")) cases = argv[i + 1];
        else if (!strcmp(argv[i], "--isa")) { /* the matrix kernels: auto (the widest), avx512 or avx2 */
            const char *v = argv[i + 1];
            int isa = !strcmp(v, "avx512") ? 2 : !strcmp(v, "avx2") ? 1 : !strcmp(v, "auto") ? -1 : -2;
            if (isa == -2) {
                fprintf(stderr, "bench_nn: --isa takes auto, avx512 or avx2\n");
                return 2;
            }
            if (isa >= 0 && !bml__nn_gemm_use_isa(isa)) {
                fprintf(stderr, "bench_nn: this CPU has no %s kernels\n", v);
                return 2;
            }
            /* below AVX-512 the ODE dynamics take the library's products instead of their fused AVX-512 ones */
            if (isa == 1) bml__ode_block_plain_products(1);
        }
    }
    char tb[64];
    snprintf(tb, sizeof tb, "%s", threads);
    for (char *s1 = NULL, *tt = strtok_r(tb, ",", &s1); tt; tt = strtok_r(NULL, ",", &s1)) {
        int th = atoi(tt);
        if (th < 1) th = bml_parallel_cores();
        bml__nn_threads_set(th);
        bench_threads = th;
        peak_gflops = measure_peak(th, 0);
        blas_peak_gflops = measure_peak(th, 1);
        char cb[128];
        snprintf(cb, sizeof cb, "%s", cases);
        for (char *s2 = NULL, *c = strtok_r(cb, ",", &s2); c; c = strtok_r(NULL, ",", &s2)) {
            if (!strcmp(c, "mlp")) bench_mlp(th, epochs + warmup, warmup);
            else if (!strcmp(c, "lstm_attn")) bench_seq("lstm_attn", 0, th, epochs + warmup, warmup);
            else if (!strcmp(c, "cnn_lstm")) bench_seq("cnn_lstm", 1, th, epochs + warmup, warmup);
            else if (!strcmp(c, "node_dopri5")) bench_node(c, BML_ODE_DOPRI5, 0, th, epochs + warmup, warmup);
            else if (!strcmp(c, "node_rk4")) bench_node(c, BML_ODE_RK4, 0, th, epochs + warmup, warmup);
            else if (!strcmp(c, "node_euler")) bench_node(c, BML_ODE_EULER, 0, th, epochs + warmup, warmup);
            else if (!strcmp(c, "node_dopri5_adjoint")) bench_node(c, BML_ODE_DOPRI5, 1, th, epochs + warmup, warmup);
            else if (!strcmp(c, "acla")) bench_node(c, BML_ODE_DOPRI5, 0, th, epochs + warmup, warmup);
            else fprintf(stderr, "bench_nn: unknown case '%s'\n", c);
        }
    }
    return 0;
}
