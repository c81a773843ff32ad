/* AdamW, cosine warm restarts, gradient clipping, losses (see optim.h). */
#define _DEFAULT_SOURCE
#include "nn/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

bml_status bml__adamw_init(bml_adamw *o, size_t n, float lr, float weight_decay) {
    memset(o, 0, sizeof *o);
    o->lr = lr;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->weight_decay = weight_decay;
    o->n = n;
    o->m = bml__calloc(n ? n : 1, sizeof *o->m);
    o->v = bml__calloc(n ? n : 1, sizeof *o->v);
    if (!o->m || !o->v) {
        bml__adamw_release(o);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    return BML_OK;
}

void bml__adamw_release(bml_adamw *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

/* the update loop built for AVX2 as well (no FMA: the same roundings as the default build, so the same bits) */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void adamw_update(float *restrict p, float *restrict m,
                                                                            float *restrict v, const float *restrict g,
                                                                            size_t n, float decay, float b1, float b2,
                                                                            float one_b1, float one_b2, float bc2,
                                                                            float eps, float step_size) {
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] = m[i] * b1 + g[i] * one_b1;
        v[i] = v[i] * b2 + one_b2 * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2 + eps;
        p[i] += -step_size * (m[i] / denom);
    }
}

void bml__adamw_step(bml_adamw *o, float *p, const float *g) {
    o->step++;
    double bc1 = 1.0 - pow((double)o->beta1, (double)o->step);
    double bc2_sqrt = sqrt(1.0 - pow((double)o->beta2, (double)o->step));
    float step_size = (float)(o->lr / bc1);
    float decay = (float)(1.0 - (double)o->lr * (double)o->weight_decay);
    float b1 = o->beta1, b2 = o->beta2, one_b1 = 1.0f - b1, one_b2 = 1.0f - b2, bc2 = (float)bc2_sqrt;
    adamw_update(p, o->m, o->v, g, o->n, decay, b1, b2, one_b1, one_b2, bc2, o->eps, step_size);
}

double bml__cosine_warm_restarts_lr(double base_lr, double eta_min, int t0, int t_mult, long epoch) {
    long t_cur = epoch, t_i = t0;
    while (t_cur >= t_i) { /* as repeated scheduler.step(): restart when the period is over */
        t_cur -= t_i;
        t_i *= t_mult;
    }
    return eta_min + (base_lr - eta_min) * (1.0 + cos(M_PI * (double)t_cur / (double)t_i)) / 2.0;
}

/* the sum of squares in double, in 8 interleaved partial sums (element i into sum i % 8, added pairwise at
 * the end): a fixed order, so fixed bits, that vectorises */
__attribute__((target_clones("avx512f", "avx2", "default"))) static double sum_squares(const float *x, size_t n) {
    double s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += (double)x[i + k] * x[i + k];
    for (int k = 0; i < n; i++, k++) s[k] += (double)x[i] * x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

double bml__clip_grad_norm(float *g, const size_t *sizes, size_t n_tensors, double max_norm) {
    double total = 0;
    size_t off = 0;
    for (size_t t = 0; t < n_tensors; t++) {
        /* per-tensor norms in float32, then the norm of the norms */
        float norm_t = (float)sqrt(sum_squares(g + off, sizes[t]));
        total += (double)norm_t * norm_t;
        off += sizes[t];
    }
    float norm = (float)sqrt(total);
    float coef = (float)(max_norm / ((double)norm + 1e-6));
    if (coef < 1.0f)
        for (size_t i = 0; i < off; i++) g[i] *= coef;
    return norm;
}

int bml__loss_parse(const char *name, bml_loss_kind *kind) {
    static const char *const names[] = {"mse", "mae", "huber", "mape", "physics_informed"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, names[i])) {
            *kind = (bml_loss_kind)i;
            return 0;
        }
    return -1;
}

static double physics_eval(const bml_loss *l, const float *pred, const float *y, const float *mask, size_t n, float *dpred) {
    bml_loss mse = {BML_LOSS_MSE, 0, 0, 0, 0, 0, 0};
    double data = bml__loss_eval(&mse, pred, y, mask, n, dpred);
    size_t T = (size_t)l->T, O = (size_t)l->O, S = n / (T * O);
#define VALID(s, t) (!mask || mask[((s) * T + (t)) * O] != 0.0f)
#define AT(s, t, o) (((s) * T + (t)) * O + (o))
    double mono = 0, smooth = 0, n_pairs = 0, n_triples = 0;
    for (size_t s = 0; s < S; s++)
        for (size_t t = 0; t + 1 < T; t++) {
            if (!VALID(s, t) || !VALID(s, t + 1)) continue;
            n_pairs += (double)O;
            if (t + 2 < T && VALID(s, t + 2)) n_triples += (double)O;
        }
    for (size_t s = 0; s < S; s++)
        for (size_t t = 0; t + 1 < T; t++) {
            if (!VALID(s, t) || !VALID(s, t + 1)) continue;
            for (size_t o = 0; o < O; o++) {
                double inc = (double)pred[AT(s, t + 1, o)] - pred[AT(s, t, o)];
                if (inc > 0) {
                    mono += inc;
                    if (dpred) {
                        float g = (float)(l->monotonicity / n_pairs);
                        dpred[AT(s, t + 1, o)] += g;
                        dpred[AT(s, t, o)] -= g;
                    }
                }
                if (t + 2 < T && VALID(s, t + 2)) {
                    double d2 = (double)pred[AT(s, t + 2, o)] - 2.0 * pred[AT(s, t + 1, o)] + pred[AT(s, t, o)];
                    smooth += d2 * d2;
                    if (dpred) {
                        float g = (float)(2.0 * l->smoothness * d2 / n_triples);
                        dpred[AT(s, t + 2, o)] += g;
                        dpred[AT(s, t + 1, o)] -= 2.0f * g;
                        dpred[AT(s, t, o)] += g;
                    }
                }
            }
        }
#undef VALID
#undef AT
    return data + (n_pairs ? l->monotonicity * mono / n_pairs : 0) + (n_triples ? l->smoothness * smooth / n_triples : 0);
}

double bml__loss_eval(const bml_loss *l, const float *pred, const float *y, const float *mask, size_t n, float *dpred) {
    if (l->kind == BML_LOSS_PHYSICS) return physics_eval(l, pred, y, mask, n, dpred);
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) cnt += !mask || mask[i] != 0.0f;
    double sum = 0, inv = cnt ? 1.0 / (double)cnt : 0.0;
    for (size_t i = 0; i < n; i++) {
        if (mask && mask[i] == 0.0f) {
            if (dpred) dpred[i] = 0;
            continue;
        }
        double d = (double)pred[i] - (double)y[i], g;
        switch (l->kind) {
        case BML_LOSS_MSE:
            sum += d * d;
            g = 2 * d;
            break;
        case BML_LOSS_MAE:
            sum += fabs(d);
            g = d > 0 ? 1 : d < 0 ? -1 : 0;
            break;
        case BML_LOSS_HUBER:
            if (fabs(d) < l->delta) {
                sum += 0.5 * d * d;
                g = d;
            } else {
                sum += l->delta * (fabs(d) - 0.5 * l->delta);
                g = d > 0 ? l->delta : -l->delta;
            }
            break;
        case BML_LOSS_MAPE:
        default: {
            double den = fabs((double)y[i]) + l->epsilon;
            sum += 100.0 * fabs(d) / den;
            g = 100.0 * (d > 0 ? 1 : d < 0 ? -1 : 0) / den;
        }
        }
        if (dpred) dpred[i] = (float)(g * inv);
    }
    return sum * inv;
}
