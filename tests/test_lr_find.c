/* The learning-rate finder: the suggestion rule against numpy.gradient by hand, the range test on a linear
 * model over standardised data (whose good rates are known), and training.learning_rate=auto in a study. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "test.h"
#include "nn/trainer.h"

static char tmp[64];

/* Lightning's rule: argmin of numpy.gradient(loss[10:-1]) after dropping non-finite losses */
static void test_suggestion_rule(void) {
    double lr[20], loss[20];
    for (int i = 0; i < 20; i++) lr[i] = pow(10, -5 + 0.25 * i), loss[i] = 1.0;
    /* steps 10..18 are considered */
    double tail[9] = {1.0, 0.98, 0.9, 0.7, 0.45, 0.3, 0.25, 0.3, 0.6};
    for (int i = 0; i < 9; i++) loss[10 + i] = tail[i];
    loss[19] = 100; /* the last step is left out */
    double s;
    CHECK_OK(bml__lr_find_suggest(lr, loss, 20, &s));
    /* gradients: 13: (0.45-0.9)/2=-0.225, 14: (0.3-0.7)/2=-0.2, 12: (0.7-0.98)/2=-0.14: the minimum is at 13 */
    CHECK_NEAR(s, lr[13], 0);
    /* a non-finite loss is dropped before the gradient, as Lightning does */
    loss[13] = NAN;
    CHECK_OK(bml__lr_find_suggest(lr, loss, 20, &s));
    /* kept: 10,11,12,14,15,...: gradients at 12 (index 2): (0.45-0.98)/2=-0.265, at 14: (0.3-0.9)/2=-0.3 */
    CHECK_NEAR(s, lr[14], 0);
    CHECK_ERR(bml__lr_find_suggest(lr, loss, 11, &s), BML_ERR_VALUE, "too few for a suggestion");
}

/* y = x w + b over F standardised features */
typedef struct {
    size_t F;
    float p[9], g[9]; /* w (F), b */
    const float *x_last;
} linear;

static bml_status lin_forward(void *net, const float *x, const float *mask, int B, int training, float *out) {
    (void)mask, (void)training;
    linear *l = net;
    l->x_last = x;
    for (int b = 0; b < B; b++) {
        float s = l->p[l->F];
        for (size_t j = 0; j < l->F; j++) s += l->p[j] * x[(size_t)b * l->F + j];
        out[b] = s;
    }
    return BML_OK;
}

static bml_status lin_backward(void *net, const float *dout, int B) {
    linear *l = net;
    for (int b = 0; b < B; b++) {
        for (size_t j = 0; j < l->F; j++) l->g[j] += dout[b] * l->x_last[(size_t)b * l->F + j];
        l->g[l->F] += dout[b];
    }
    return BML_OK;
}

/* the loss after `epochs` of training at a constant rate, from zero weights */
static double train_at(const float *x, const float *y, size_t n, double lr, long epochs) {
    /* batches of 512, as the range test below */
    linear l = {4, {0}, {0}, NULL};
    size_t sizes[1] = {5};
    bml_trainable t = {&l, l.p, l.g, 5, sizes, 1, 4, 1, 0, lin_forward, lin_backward};
    bml_train_opts o = {0};
    o.epochs = epochs, o.batch_size = 512, o.learning_rate = lr, o.loss.kind = BML_LOSS_MSE, o.seed = 3;
    bml_train_history h;
    double last = NAN;
    if (bml__train(&t, x, y, NULL, n, NULL, NULL, NULL, 0, &o, &h) == BML_OK) last = h.train_loss[h.n_epochs - 1];
    bml__train_history_release(&h);
    return last;
}

static void test_range_test_on_a_linear_model(void) {
    enum { N = 8192, F = 4 };
    static float x[N * F], y[N];
    const float w[F] = {1.5f, -2.0f, 0.5f, 3.0f};
    bml__rng r;
    bml__rng_seed(&r, 7);
    for (size_t i = 0; i < N; i++) {
        y[i] = 0.25f;
        for (size_t j = 0; j < F; j++) {
            /* standard normal by Box-Muller */
            double u1 = bml__rng_uniform(&r) + 1e-12, u2 = bml__rng_uniform(&r);
            x[i * F + j] = (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
            y[i] += w[j] * x[i * F + j];
        }
    }
    linear l = {F, {0}, {0}, NULL};
    size_t sizes[1] = {F + 1};
    bml_trainable t = {&l, l.p, l.g, F + 1, sizes, 1, F, 1, 0, lin_forward, lin_backward};
    bml_train_opts o = {0};
    /* batches of 512 keep the batch-to-batch noise of the loss (6 %) below the descent the test is after */
    o.batch_size = 512, o.loss.kind = BML_LOSS_MSE, o.seed = 11;
    o.lr_find_steps = 300, o.lr_find_min = 1e-6, o.lr_find_max = 10;
    bml_train_history h;
    CHECK_OK(bml__train(&t, x, y, NULL, N, NULL, NULL, NULL, 0, &o, &h));
    /* the rates grow exponentially from min to max over the steps */
    CHECK(h.n_epochs >= 20);
    CHECK_NEAR(h.lr[0], 1e-6, 1e-20);
    if (h.n_epochs > 1) CHECK_NEAR(h.lr[1] / h.lr[0], pow(1e7, 1.0 / 299), 1e-9);
    /* smoothing: the first smoothed loss is the first batch loss (bias correction) */
    CHECK_NEAR(h.train_loss[0], h.val_loss[0], 1e-12);
    double s = NAN;
    CHECK_OK(bml__lr_find_suggest(h.lr, h.train_loss, h.n_epochs, &s));
    /* Adam moves each weight by about lr a step: with weights of order 1 and tens of steps per decade of
     * rates, the loss falls where the rate is 1e-2..1; far below nothing moves, far above it oscillates */
    CHECK(s > 3e-3 && s < 1.5);
    if (!(s > 3e-3 && s < 1.5)) fprintf(stderr, "  suggestion %g\n", s);
    /* the suggestion trains this model well: better than a rate 100x smaller, in a few epochs */
    double at_s = train_at(x, y, N, s, 5), at_small = train_at(x, y, N, s / 100, 5);
    CHECK(at_s < 0.1 * at_small);
    bml__train_history_release(&h);
    /* a range that reaches absurd rates stops at the divergence (smoothed loss > 4x its minimum) */
    memset(l.p, 0, sizeof l.p);
    o.lr_find_max = 1e4;
    CHECK_OK(bml__train(&t, x, y, NULL, N, NULL, NULL, NULL, 0, &o, &h));
    CHECK(h.n_epochs < 300);
    double min_s = INFINITY;
    for (size_t i = 0; i + 1 < h.n_epochs; i++) min_s = fmin(min_s, h.train_loss[i]);
    CHECK(h.train_loss[h.n_epochs - 1] > 4 * min_s || !isfinite(h.train_loss[h.n_epochs - 1]));
    bml__train_history_release(&h);
    o.lr_find_min = 0;
    CHECK_ERR(bml__train(&t, x, y, NULL, N, NULL, NULL, NULL, 0, &o, &h), BML_ERR_VALUE, "1e-20 <= min_lr < max_lr <= 1e6");
    o.lr_find_min = 1e-320; /* max / min overflowed to infinity: the error blamed learning_rate (issue 19) */
    CHECK_ERR(bml__train(&t, x, y, NULL, N, NULL, NULL, NULL, 0, &o, &h), BML_ERR_VALUE, "1e-20 <= min_lr < max_lr <= 1e6");
}

static void test_auto_learning_rate_in_a_study(void) {
    char od[128];
    snprintf(od, sizeof od, "output_dir=%s/runs", tmp);
    const char *ov[] = {od, "model=mlp", "training.learning_rate=auto", "training.epochs=20", "figures=false", "run_name=auto"};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(BML_SOURCE_DIR "/configs", ov, 6, &c));
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
    bml_run_result *r = NULL;
    if (c) CHECK_OK(bml_run_experiment(c, &o, &r));
    /* the run records the rate it trained with, and the curve */
    bml_lr_find_result *lf = NULL;
    if (c) CHECK_OK(bml_run_lr_find(c, &o, &lf));
    if (r && lf) {
        char path[300], *txt = NULL, want[80];
        snprintf(path, sizeof path, "%s/config.yaml", r->run_dir);
        CHECK_OK(bml__read_file(path, &txt, NULL));
        snprintf(want, sizeof want, "  learning_rate: %.6g\n", lf->suggestion);
        CHECK(txt && strstr(txt, want));
        free(txt);
        snprintf(path, sizeof path, "%s/lr_find.csv", r->run_dir);
        CHECK_OK(bml__read_file(path, &txt, NULL));
        char *mine = bml_lr_find_csv(lf);
        CHECK_STR(txt, mine); /* the same test, the same numbers */
        free(mine);
        free(txt);
    }
    bml_lr_find_result_free(lf);
    bml_run_result_free(r);
    bml_config_free(c);
    /* trees have no learning-rate finder */
    const char *ov2[] = {"model=lgbm"};
    CHECK_OK(bml_config_compose(BML_SOURCE_DIR "/configs", ov2, 1, &c));
    lf = NULL;
    if (c) CHECK_ERR(bml_run_lr_find(c, &o, &lf), BML_ERR_VALUE, "for the neural models");
    bml_config_free(c);
    const char *ov3[] = {"model=mlp", "lr_find.num_steps=1"};
    CHECK_OK(bml_config_compose(BML_SOURCE_DIR "/configs", ov3, 2, &c));
    if (c) CHECK_ERR(bml_run_lr_find(c, &o, &lf), BML_ERR_VALUE, "lr_find.num_steps must be a whole number from 2");
    bml_config_free(c);
    /* a first rate below single precision's reach is refused by name, not blamed on learning_rate */
    const char *ov4[] = {"model=mlp", "lr_find.min_lr=1e-320"};
    CHECK_OK(bml_config_compose(BML_SOURCE_DIR "/configs", ov4, 2, &c));
    if (c) CHECK_ERR(bml_run_lr_find(c, &o, &lf), BML_ERR_VALUE, "lr_find.min_lr must be a number from 1e-20 to 1e6, got '1e-320'");
    bml_config_free(c);
    const char *ov5[] = {"model=mlp", "lr_find.max_lr=1e300"};
    CHECK_OK(bml_config_compose(BML_SOURCE_DIR "/configs", ov5, 2, &c));
    if (c) CHECK_ERR(bml_run_lr_find(c, &o, &lf), BML_ERR_VALUE, "lr_find.max_lr must be a number > lr_find.min_lr and at most 1e6");
    bml_config_free(c);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/bml-test-lrfind-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    static const test_case tests[] = {T(test_suggestion_rule), T(test_range_test_on_a_linear_model),
                                      T(test_auto_learning_rate_in_a_study)};
    int rc = run_tests("lr_find", tests, sizeof tests / sizeof *tests);
    bml__rm_rf(tmp);
    return rc;
}
