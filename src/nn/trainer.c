/* The trainer (see trainer.h). */
#include "nn/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "nn/nn.h"
#include "nn/par.h"

void bml__train_history_release(bml_train_history *h) {
    free(h->train_loss);
    free(h->val_loss);
    free(h->lr);
    memset(h, 0, sizeof *h);
}

/* per-value mask of B samples from their per-step masks (NULL when the network is static) */
static void value_mask(const bml_trainable *t, const float *mask, int B, float *vm) {
    size_t per = t->out_dim / t->mask_dim;
    for (size_t b = 0; b < (size_t)B; b++)
        for (size_t v = 0; v < t->out_dim; v++) vm[b * t->out_dim + v] = mask[b * t->mask_dim + v / per];
}

bml_status bml__train_eval_loss(bml_trainable *t, const float *x, const float *y, const float *mask, size_t n, long batch,
                               const bml_loss *loss, double *out) {
    float *pred = bml__calloc((size_t)batch * t->out_dim, sizeof *pred);
    float *vm = t->mask_dim ? bml__calloc((size_t)batch * t->out_dim, sizeof *vm) : NULL;
    if (!pred || (t->mask_dim && !vm)) {
        free(pred);
        free(vm);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    double sum = 0, count = 0;
    bml_status st = BML_OK;
    for (size_t i = 0; i < n && st == BML_OK; i += (size_t)batch) {
        int B = (int)((n - i) < (size_t)batch ? n - i : (size_t)batch);
        const float *mb = t->mask_dim ? mask + i * t->mask_dim : NULL;
        st = t->forward(t->net, x + i * t->in_dim, mb, B, 0, pred);
        if (st != BML_OK) break;
        size_t nvals = (size_t)B * t->out_dim, valid = nvals;
        if (vm) {
            value_mask(t, mb, B, vm);
            valid = 0;
            for (size_t k = 0; k < nvals; k++) valid += vm[k] != 0;
        }
        /* the losses are means over values: weight each chunk by its number of values */
        if (valid) sum += bml__loss_eval(loss, pred, y + i * t->out_dim, vm, nvals, NULL) * (double)valid;
        count += (double)valid;
    }
    free(pred);
    free(vm);
    *out = count ? sum / count : NAN;
    return st;
}

bml_status bml__lr_find_suggest(const double *lr, const double *loss, size_t n, double *out) {
    const size_t skip_begin = 10, skip_end = 1;
    *out = NAN;
    size_t *at = bml__calloc(n + 1, sizeof *at), m = 0;
    if (!at) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = skip_begin; i + skip_end < n; i++)
        if (isfinite(loss[i])) at[m++] = i; /* the finite losses, as Lightning keeps them */
    if (m < 2) {
        free(at);
        return bml__fail(BML_ERR_VALUE, "the learning-rate range test has %zu usable steps: too few for a suggestion "
                                        "(more num_steps, or a larger max_lr)", m);
    }
    /* numpy.gradient with unit spacing: one-sided at the ends, central inside */
    size_t best = 0;
    double best_g = INFINITY;
    for (size_t k = 0; k < m; k++) {
        double g = k == 0 ? loss[at[1]] - loss[at[0]]
                 : k == m - 1 ? loss[at[m - 1]] - loss[at[m - 2]]
                              : 0.5 * (loss[at[k + 1]] - loss[at[k - 1]]);
        if (g < best_g) best_g = g, best = k;
    }
    *out = lr[at[best]];
    free(at);
    return BML_OK;
}

/* The buffers of one mini-batch (inputs, targets, per-step masks and their per-value form, predictions and
 * their gradient) and the shuffled order of the samples. */
typedef struct {
    size_t *order;
    float *xb, *yb, *mb, *vm, *pred, *dpred;
} batch_ws;

static void batch_ws_release(batch_ws *w) {
    free(w->order);
    free(w->xb);
    free(w->yb);
    free(w->mb);
    free(w->vm);
    free(w->pred);
    free(w->dpred);
    memset(w, 0, sizeof *w);
}

static bml_status batch_ws_init(batch_ws *w, const bml_trainable *t, size_t n, size_t bs) {
    size_t in = t->in_dim, od = t->out_dim, md = t->mask_dim;
    memset(w, 0, sizeof *w);
    w->order = bml__calloc(n ? n : 1, sizeof *w->order);
    w->xb = bml__calloc(bs * in, sizeof *w->xb), w->yb = bml__calloc(bs * od, sizeof *w->yb);
    w->mb = md ? bml__calloc(bs * md, sizeof *w->mb) : NULL, w->vm = md ? bml__calloc(bs * od, sizeof *w->vm) : NULL;
    w->pred = bml__calloc(bs * od, sizeof *w->pred), w->dpred = bml__calloc(bs * od, sizeof *w->dpred);
    if (!w->order || !w->xb || !w->yb || !w->pred || !w->dpred || (md && (!w->mb || !w->vm))) {
        batch_ws_release(w);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) w->order[i] = i;
    return BML_OK;
}

/* gather samples order[i .. i+B) into the batch and, for sequences, the per-value mask */
static void batch_fill(batch_ws *w, const bml_trainable *t, const float *x, const float *y, const float *mask, size_t i, int B) {
    size_t in = t->in_dim, od = t->out_dim, md = t->mask_dim;
    for (int b = 0; b < B; b++) {
        memcpy(w->xb + (size_t)b * in, x + w->order[i + (size_t)b] * in, in * sizeof *w->xb);
        memcpy(w->yb + (size_t)b * od, y + w->order[i + (size_t)b] * od, od * sizeof *w->yb);
        if (md) memcpy(w->mb + (size_t)b * md, mask + w->order[i + (size_t)b] * md, md * sizeof *w->mb);
    }
    if (md) value_mask(t, w->mb, B, w->vm);
}

static int cancelled(const bml_train_opts *o) { return o->cancel && __atomic_load_n(o->cancel, __ATOMIC_RELAXED) != 0; }

/* one optimiser step from the batch's loss gradient: backward, clipping, AdamW */
static bml_status batch_step(bml_trainable *t, const bml_train_opts *o, bml_adamw *opt, const batch_ws *w, int B) {
    memset(t->grads, 0, t->n_params * sizeof *t->grads);
    BML__TRY(t->backward(t->net, w->dpred, B));
    if (o->grad_clip > 0) bml__clip_grad_norm(t->grads, t->sizes, t->n_tensors, o->grad_clip);
    bml__adamw_step(opt, t->params, t->grads);
    return BML_OK;
}

/* the range test (see bml_train_opts.lr_find_steps) */
static bml_status lr_range_test(bml_trainable *t, const float *x, const float *y, const float *mask, size_t n,
                                const bml_train_opts *o, bml_train_history *h) {
    size_t bs = (size_t)o->batch_size, od = t->out_dim, N = (size_t)o->lr_find_steps;
    if (!(o->lr_find_min >= 1e-20) || !(o->lr_find_max > o->lr_find_min) || !(o->lr_find_max <= 1e6))
        return bml__fail(BML_ERR_VALUE, "lr-find needs 1e-20 <= min_lr < max_lr <= 1e6 (got %g, %g)", o->lr_find_min,
                         o->lr_find_max);
    if (n == 0) return bml__fail(BML_ERR_VALUE, "lr-find: no training samples");
    bml_adamw opt;
    BML__TRY(bml__adamw_init(&opt, t->n_params, (float)o->lr_find_min, (float)o->weight_decay));
    batch_ws w;
    bml_status st = batch_ws_init(&w, t, n, bs);
    h->train_loss = bml__calloc(N, sizeof(double));
    h->val_loss = bml__calloc(N, sizeof(double));
    h->lr = bml__calloc(N, sizeof(double));
    if (st == BML_OK && (!h->train_loss || !h->val_loss || !h->lr)) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    bml__rng rng;
    bml__rng_seed(&rng, o->seed ^ 0x5eedULL);
    const double beta = 0.98;
    double avg = 0, best = INFINITY;
    size_t i = n; /* position in the current epoch's order */
    for (size_t s = 0; st == BML_OK && s < N; s++) {
        if (cancelled(o)) {
            st = bml__fail(BML_ERR_CANCELLED, "lr-find cancelled at step %zu of %zu", s + 1, N);
            break;
        }
        double lr = N > 1 ? o->lr_find_min * pow(o->lr_find_max / o->lr_find_min, (double)s / (double)(N - 1)) : o->lr_find_min;
        opt.lr = (float)lr;
        if (i >= n) { /* a new epoch */
            bml__rng_shuffle(&rng, w.order, n);
            i = 0;
        }
        int B = (int)((n - i) < bs ? n - i : bs);
        batch_fill(&w, t, x, y, mask, i, B);
        i += (size_t)B;
        if ((st = t->forward(t->net, w.xb, w.mb, B, 1, w.pred)) != BML_OK) break;
        double l = bml__loss_eval(&o->loss, w.pred, w.yb, w.vm, (size_t)B * od, w.dpred);
        avg = beta * avg + (1 - beta) * l;
        double smooth = avg / (1 - pow(beta, (double)(s + 1)));
        h->train_loss[s] = smooth;
        h->val_loss[s] = l;
        h->lr[s] = lr;
        h->n_epochs = s + 1;
        if (o->on_epoch) o->on_epoch(o->on_epoch_user, (long)s + 1, (long)N, smooth, l);
        if (!isfinite(smooth) || smooth > 4 * best) break; /* diverged: the curve ends here */
        if (smooth < best) best = smooth;
        st = batch_step(t, o, &opt, &w, B);
    }
    bml__adamw_release(&opt);
    batch_ws_release(&w);
    if (st != BML_OK) bml__train_history_release(h);
    return st;
}

static bml_status train(bml_trainable *t, const float *x, const float *y, const float *mask, size_t n, const float *xv,
                        const float *yv, const float *mv, size_t nv, const bml_train_opts *o, bml_train_history *h);

bml_status bml__train(bml_trainable *t, const float *x, const float *y, const float *mask, size_t n, const float *xv,
                     const float *yv, const float *mv, size_t nv, const bml_train_opts *o, bml_train_history *h) {
    memset(h, 0, sizeof *h);
    h->best_epoch = -1;
    int threads_before = bml__nn_threads_set(o->threads); /* for this fit, in this thread */
    bml_status st = o->lr_find_steps > 0 ? lr_range_test(t, x, y, mask, n, o, h) : train(t, x, y, mask, n, xv, yv, mv, nv, o, h);
    bml__nn_threads_set(threads_before);
    return st;
}

static bml_status train(bml_trainable *t, const float *x, const float *y, const float *mask, size_t n, const float *xv,
                        const float *yv, const float *mv, size_t nv, const bml_train_opts *o, bml_train_history *h) {
    size_t bs = (size_t)o->batch_size, od = t->out_dim, md = t->mask_dim;
    if (o->loss.kind == BML_LOSS_PHYSICS && !md)
        return bml__fail(BML_ERR_VALUE, "loss physics_informed needs sequences (models lstm_attn, cnn_lstm on latent_ode_seq)");
    bml_adamw opt;
    BML__TRY(bml__adamw_init(&opt, t->n_params, (float)o->learning_rate, (float)o->weight_decay));
    batch_ws w;
    bml_status st = batch_ws_init(&w, t, n, bs);
    float *best = bml__calloc(t->n_params, sizeof *best);
    h->train_loss = bml__calloc((size_t)o->epochs, sizeof(double));
    h->val_loss = bml__calloc((size_t)o->epochs, sizeof(double));
    h->lr = bml__calloc((size_t)o->epochs, sizeof(double));
    if (st == BML_OK && (!best || !h->train_loss || !h->val_loss || !h->lr)) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st != BML_OK) goto done;
    bml__rng rng;
    bml__rng_seed(&rng, o->seed ^ 0x5eedULL);
    double best_val = INFINITY;
    long wait = 0;
    for (long e = 0; e < o->epochs; e++) {
        double lr = o->cosine ? bml__cosine_warm_restarts_lr(o->learning_rate, 0.0, (int)o->t0, (int)o->t_mult, e)
                              : o->learning_rate;
        opt.lr = (float)lr;
        bml__rng_shuffle(&rng, w.order, n);
        double sum = 0, count = 0;
        for (size_t i = 0; i < n; i += bs) {
            if (cancelled(o)) {
                st = bml__fail(BML_ERR_CANCELLED, "training cancelled in epoch %ld of %ld", e + 1, o->epochs);
                goto done;
            }
            int B = (int)((n - i) < bs ? n - i : bs);
            batch_fill(&w, t, x, y, mask, i, B);
            size_t nvals = (size_t)B * od, valid = nvals;
            if (md) {
                valid = 0;
                for (size_t k = 0; k < nvals; k++) valid += w.vm[k] != 0;
            }
            if ((st = t->forward(t->net, w.xb, w.mb, B, 1, w.pred)) != BML_OK) goto done;
            double l = bml__loss_eval(&o->loss, w.pred, w.yb, w.vm, nvals, w.dpred);
            if (!isfinite(l)) {
                st = bml__fail(BML_ERR_VALUE, "training diverged: loss is %g in epoch %ld (lower learning_rate?)", l, e + 1);
                goto done;
            }
            sum += l * (double)valid;
            count += (double)valid;
            if ((st = batch_step(t, o, &opt, &w, B)) != BML_OK) goto done;
        }
        h->train_loss[e] = count ? sum / count : NAN;
        h->lr[e] = lr;
        h->val_loss[e] = NAN;
        h->n_epochs = (size_t)e + 1;
        if (nv && (st = bml__train_eval_loss(t, xv, yv, mv, nv, o->batch_size, &o->loss, &h->val_loss[e])) != BML_OK) goto done;
        if (o->on_epoch) o->on_epoch(o->on_epoch_user, e + 1, o->epochs, h->train_loss[e], h->val_loss[e]);
        if (cancelled(o) && e + 1 < o->epochs) { /* asked during the epoch's callback */
            st = bml__fail(BML_ERR_CANCELLED, "training cancelled after epoch %ld of %ld", e + 1, o->epochs);
            goto done;
        }
        if (nv) {
            if (h->val_loss[e] < best_val) {
                best_val = h->val_loss[e];
                h->best_epoch = e;
                memcpy(best, t->params, t->n_params * sizeof *best);
                wait = 0;
            } else if (o->patience > 0 && ++wait >= o->patience) {
                break;
            }
        }
    }
    if (nv && h->best_epoch >= 0) memcpy(t->params, best, t->n_params * sizeof *best); /* restore the best weights */
done:
    bml__adamw_release(&opt);
    batch_ws_release(&w);
    free(best);
    if (st != BML_OK) bml__train_history_release(h);
    return st;
}
