/* The lstm_attn / cnn_lstm network (see seq_net.h). */
#include "nn/seq_net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "nn/par.h"

static void add_tensor(bml__seq_net *n, const char *name, size_t size) {
    BML__ASSERT(n->n_tensors < BML_SEQ_MAX_TENSORS);
    n->names[n->n_tensors] = name;
    n->sizes[n->n_tensors++] = size;
    n->n_params += size;
}

static size_t tensor_index(const bml__seq_net *n, const char *name) {
    for (size_t i = 0; i < n->n_tensors; i++)
        if (!strcmp(n->names[i], name)) return i;
    BML__ASSERT(!"no such tensor");
    return 0;
}

static float *tensor(const bml__seq_net *n, const char *name, int grad) {
    size_t i = tensor_index(n, name);
    return grad ? n->g[i] : n->p[i];
}
#define P(name) tensor(n, name, 0)
#define G(name) tensor(n, name, 1)

static const char *const LSTM_NAMES[2][2][4] = {
    {{"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0"},
     {"lstm.weight_ih_l0_reverse", "lstm.weight_hh_l0_reverse", "lstm.bias_ih_l0_reverse", "lstm.bias_hh_l0_reverse"}},
    {{"lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_ih_l1", "lstm.bias_hh_l1"},
     {"lstm.weight_ih_l1_reverse", "lstm.weight_hh_l1_reverse", "lstm.bias_ih_l1_reverse", "lstm.bias_hh_l1_reverse"}}};

void bml__seq_net_free(bml__seq_net *n) {
    if (!n) return;
    for (int s = 0; s < BML_SEQ_MAX_SHARDS; s++) bml__seq_net_free(n->shard[s]);
    free(n->params); /* NULL in a shard, which reads its network's */
    free(n->grads);
    free(n->bn_run);
    free(n->arena);
    free(n->len);
    free(n);
}

bml_status bml__seq_net_create(int cnn, int F, int O, int H, int heads, float dropout, uint64_t seed, bml__seq_net **out) {
    *out = NULL;
    if ((2 * H) % heads != 0) return bml__fail(BML_ERR_VALUE, "attention: 2 x hidden (%d) must divide into %d heads", 2 * H, heads);
    bml__seq_net *n = calloc(1, sizeof *n);
    if (!n) return bml__fail(BML_ERR_NOMEM, "out of memory");
    n->cnn = cnn, n->F = F, n->O = O, n->H = H, n->D = 2 * H, n->heads = heads, n->hh = 64, n->c1 = 64, n->c2 = 32;
    n->dropout = dropout;
    n->max_shards = BML_SEQ_MAX_SHARDS;
    n->in0 = cnn ? n->c2 : F;
    int D = n->D;
    if (cnn) {
        add_tensor(n, "cnn.0.weight", (size_t)n->c1 * 3);
        add_tensor(n, "cnn.0.bias", (size_t)n->c1);
        add_tensor(n, "cnn.2.weight", (size_t)n->c1);
        add_tensor(n, "cnn.2.bias", (size_t)n->c1);
        add_tensor(n, "cnn.3.weight", (size_t)n->c2 * n->c1 * 3);
        add_tensor(n, "cnn.3.bias", (size_t)n->c2);
        add_tensor(n, "cnn.5.weight", (size_t)n->c2);
        add_tensor(n, "cnn.5.bias", (size_t)n->c2);
    }
    for (int l = 0; l < 2; l++)
        for (int d = 0; d < 2; d++) {
            int in = l == 0 ? n->in0 : D;
            add_tensor(n, LSTM_NAMES[l][d][0], (size_t)4 * H * in);
            add_tensor(n, LSTM_NAMES[l][d][1], (size_t)4 * H * H);
            add_tensor(n, LSTM_NAMES[l][d][2], (size_t)4 * H);
            add_tensor(n, LSTM_NAMES[l][d][3], (size_t)4 * H);
        }
    add_tensor(n, "attn.in_proj_weight", (size_t)3 * D * D);
    add_tensor(n, "attn.in_proj_bias", (size_t)3 * D);
    add_tensor(n, "attn.out_proj.weight", (size_t)D * D);
    add_tensor(n, "attn.out_proj.bias", (size_t)D);
    add_tensor(n, "norm.weight", (size_t)D);
    add_tensor(n, "norm.bias", (size_t)D);
    add_tensor(n, "head.0.weight", (size_t)n->hh * D);
    add_tensor(n, "head.0.bias", (size_t)n->hh);
    add_tensor(n, "head.3.weight", (size_t)O * n->hh);
    add_tensor(n, "head.3.bias", (size_t)O);
    n->params = bml__calloc(n->n_params, sizeof *n->params);
    n->grads = bml__calloc(n->n_params, sizeof *n->grads);
    n->bn_run = bml__calloc(2 * (size_t)(n->c1 + n->c2), sizeof *n->bn_run);
    if (!n->params || !n->grads || !n->bn_run) {
        bml__seq_net_free(n);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    size_t off = 0;
    for (size_t i = 0; i < n->n_tensors; i++) {
        n->p[i] = n->params + off;
        n->g[i] = n->grads + off;
        off += n->sizes[i];
    }
    /* PyTorch's default initialisation of each layer */
    bml__nn_rng_seed(&n->rng, seed);
    bml_nn_rng *r = &n->rng;
    if (cnn) {
        bml__nn_init_uniform(P("cnn.0.weight"), (size_t)n->c1 * 3, 1.0f / sqrtf(3.0f), r);
        bml__nn_init_uniform(P("cnn.0.bias"), (size_t)n->c1, 1.0f / sqrtf(3.0f), r);
        bml__nn_init_uniform(P("cnn.3.weight"), (size_t)n->c2 * n->c1 * 3, 1.0f / sqrtf(3.0f * n->c1), r);
        bml__nn_init_uniform(P("cnn.3.bias"), (size_t)n->c2, 1.0f / sqrtf(3.0f * n->c1), r);
        for (int c = 0; c < n->c1; c++) P("cnn.2.weight")[c] = 1.0f;
        for (int c = 0; c < n->c2; c++) P("cnn.5.weight")[c] = 1.0f;
        for (int c = 0; c < n->c1; c++) n->bn_run[n->c1 + c] = 1.0f; /* running variance 1 */
        for (int c = 0; c < n->c2; c++) n->bn_run[2 * n->c1 + n->c2 + c] = 1.0f;
    }
    for (int l = 0; l < 2; l++)
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < 4; k++) {
                size_t i = tensor_index(n, LSTM_NAMES[l][d][k]);
                bml__nn_init_uniform(n->p[i], n->sizes[i], 1.0f / sqrtf((float)H), r);
            }
    bml__nn_init_xavier_uniform(P("attn.in_proj_weight"), 3 * D, D, 1.0f, r);
    bml__nn_init_uniform(P("attn.out_proj.weight"), (size_t)D * D, 1.0f / sqrtf((float)D), r);
    for (int c = 0; c < D; c++) P("norm.weight")[c] = 1.0f;
    bml__nn_init_uniform(P("head.0.weight"), (size_t)n->hh * D, 1.0f / sqrtf((float)D), r);
    bml__nn_init_uniform(P("head.0.bias"), (size_t)n->hh, 1.0f / sqrtf((float)D), r);
    bml__nn_init_uniform(P("head.3.weight"), (size_t)O * n->hh, 1.0f / sqrtf((float)n->hh), r);
    bml__nn_init_uniform(P("head.3.bias"), (size_t)O, 1.0f / sqrtf((float)n->hh), r);
    *out = n;
    return BML_OK;
}

/* carve the activation arena for B sequences of T steps */
static bml_status ensure(bml__seq_net *n, int B, int T) {
    size_t bt = (size_t)B * T;
    if (bt <= n->cap_bt && (size_t)B <= n->cap_b && (size_t)T <= n->cap_t) return BML_OK;
    size_t F = (size_t)n->F, H = (size_t)n->H, D = (size_t)n->D, c1 = (size_t)n->c1, c2 = (size_t)n->c2;
    size_t hh = (size_t)n->hh, nh = (size_t)n->heads, in0 = (size_t)n->in0;
    size_t cnnr = n->cnn ? bt * F : 0; /* rows of the convolutions */
    size_t widest = D * 4;
    if (n->cnn && F * c1 * 3 > widest) widest = F * c1 * 3;
    if (hh > widest) widest = hh;
    size_t lstm_scr = bml__nn_lstm_backward_scratch(B, T, (int)H) + bml__nn_lstm_forward_scratch(B, (int)H);
    size_t mha_scr = bml__nn_mha_backward_scratch(B, T, (int)D);
    size_t scr = lstm_scr > mha_scr ? lstm_scr : mha_scr;
    if (cnnr * c1 * 3 > scr) scr = cnnr * c1 * 3;
    size_t d4w = widest > in0 ? widest : in0;
    size_t total = lstm_scr + bt * d4w + bt * F + cnnr + cnnr * 3 + 3 * cnnr * c1 + cnnr * c1 * 3 + 3 * cnnr * c2 +
                   2 * (c1 + c2) + bt * in0 + 4 * (2 * bt * H + bt * 4 * H) + 2 * bt * D + 2 * bt * D + bt * 3 * D + 2 * (size_t)B * nh * T * T +
                   4 * bt * D + 2 * bt + 4 * bt * hh + scr + 3 * bt * widest;
    float *a = realloc(n->arena, total * sizeof *a);
    int *len = realloc(n->len, (size_t)B * sizeof *len);
    if (!a || !len) {
        if (a) n->arena = a;
        if (len) n->len = len;
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    n->arena = a;
    n->len = len;
    memset(a, 0, total * sizeof *a);
#define CARVE(field, count) (n->field = a, a += (count))
    CARVE(x, bt * F);
    CARVE(rowmask, cnnr);
    CARVE(c1_col, cnnr * 3);
    CARVE(c1_out, cnnr * c1);
    CARVE(c1_relu, cnnr * c1);
    CARVE(bn1_out, cnnr * c1);
    CARVE(c2_col, cnnr * c1 * 3);
    CARVE(c2_out, cnnr * c2);
    CARVE(c2_relu, cnnr * c2);
    CARVE(bn2_out, cnnr * c2);
    CARVE(bn_stat, 2 * (c1 + c2));
    CARVE(lstm_in, bt * in0);
    for (int l = 0; l < 2; l++)
        for (int d = 0; d < 2; d++) {
            CARVE(h_out[l][d], bt * H);
            CARVE(h_cell[l][d], bt * H);
            CARVE(h_gates[l][d], bt * 4 * H);
        }
    CARVE(cat[0], bt * D);
    CARVE(cat[1], bt * D);
    CARVE(drop_mask, bt * D);
    CARVE(cat_drop, bt * D);
    CARVE(qkv, bt * 3 * D);
    CARVE(probs, (size_t)B * nh * T * T);
    CARVE(amask, (size_t)B * nh * T * T);
    CARVE(ctx, bt * D);
    CARVE(attn, bt * D);
    CARVE(res, bt * D);
    CARVE(ln_out, bt * D);
    CARVE(ln_mean, bt);
    CARVE(ln_rstd, bt);
    CARVE(h1, bt * hh);
    CARVE(h1_relu, bt * hh);
    CARVE(h1_mask, bt * hh);
    CARVE(h1_drop, bt * hh);
    CARVE(scratch, scr);
    CARVE(scratch_rev, lstm_scr);
    CARVE(d4, bt * d4w);
    CARVE(d1, bt * widest);
    CARVE(d2, bt * widest);
    CARVE(d3, bt * widest);
#undef CARVE
    n->cap_bt = bt, n->cap_b = (size_t)B, n->cap_t = (size_t)T;
    return BML_OK;
}

/* (B, T, H) forward and reverse halves -> (B, T, 2H) and back */
static void concat_dirs(float *cat, const float *f, const float *r, size_t bt, size_t H) {
    for (size_t i = 0; i < bt; i++) {
        memcpy(cat + i * 2 * H, f + i * H, H * sizeof *cat);
        memcpy(cat + i * 2 * H + H, r + i * H, H * sizeof *cat);
    }
}

static void split_dirs(float *f, float *r, const float *cat, size_t bt, size_t H) {
    for (size_t i = 0; i < bt; i++) {
        memcpy(f + i * H, cat + i * 2 * H, H * sizeof *f);
        memcpy(r + i * H, cat + i * 2 * H + H, H * sizeof *r);
    }
}

/* one LSTM layer l, one direction per task (forward: d = 0, reverse: d = 1) */
typedef struct {
    bml__seq_net *n;
    int l;
    const float *in; /* the layer's input (B, T, in_dim) */
    int in_dim;
} lstm_args;

static void lstm_forward_dir(void *arg, int d) {
    const lstm_args *a = arg;
    bml__seq_net *n = a->n;
    int l = a->l;
    bml__nn_lstm_forward(n->h_out[l][d], n->h_cell[l][d], n->h_gates[l][d], a->in, n->len, P(LSTM_NAMES[l][d][0]),
                        P(LSTM_NAMES[l][d][1]), P(LSTM_NAMES[l][d][2]), P(LSTM_NAMES[l][d][3]), n->B, n->T, a->in_dim, n->H, d,
                        d ? n->scratch_rev : n->scratch);
}

static void lstm_backward_dir(void *arg, int d) {
    const lstm_args *a = arg;
    bml__seq_net *n = a->n;
    int l = a->l;
    size_t bt = (size_t)n->B * n->T;
    const float *dh = n->d1 + (d ? bt * (size_t)n->H : 0); /* split_dirs put d out of each direction in d1 */
    bml__nn_lstm_backward(d ? n->d4 : n->d2, G(LSTM_NAMES[l][d][0]), G(LSTM_NAMES[l][d][1]), G(LSTM_NAMES[l][d][2]),
                         G(LSTM_NAMES[l][d][3]), dh, a->in, n->h_out[l][d], n->h_cell[l][d], n->h_gates[l][d], n->len,
                         P(LSTM_NAMES[l][d][0]), P(LSTM_NAMES[l][d][1]), n->B, n->T, a->in_dim, n->H, d,
                         d ? n->scratch_rev : n->scratch);
}

/* The shard s of n for sequences [row0, row0 + B): a workspace sharing n's parameters, with its own arena,
 * lengths and gradients (created on first use, kept for the next batches). Its inputs and dropout
 * multipliers are pointed at n's rows. */
static bml_status shard_prepare(bml__seq_net *n, int s, int row0, int B, int T) {
    bml__seq_net *sh = n->shard[s];
    if (!sh) {
        sh = calloc(1, sizeof *sh);
        if (!sh) return bml__fail(BML_ERR_NOMEM, "out of memory");
        sh->is_shard = 1, sh->cnn = 0, sh->F = n->in0, sh->O = n->O, sh->H = n->H, sh->D = n->D, sh->heads = n->heads;
        sh->hh = n->hh, sh->c1 = n->c1, sh->c2 = n->c2, sh->in0 = n->in0, sh->dropout = n->dropout;
        sh->n_params = n->n_params, sh->n_tensors = n->n_tensors;
        sh->grads = bml__calloc(n->n_params, sizeof *sh->grads);
        if (!sh->grads) {
            free(sh);
            return bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < n->n_tensors; i++) {
            sh->sizes[i] = n->sizes[i], sh->names[i] = n->names[i], sh->p[i] = n->p[i];
            sh->g[i] = sh->grads + (n->g[i] - n->grads);
        }
        n->shard[s] = sh;
    }
    BML__TRY(ensure(sh, B, T));
    sh->B = B, sh->T = T, sh->training = n->training;
    size_t r0 = (size_t)row0 * T;
    memcpy(sh->len, n->len + row0, (size_t)B * sizeof *sh->len);
    sh->lstm_in = n->lstm_in + r0 * n->in0;
    sh->drop_mask = n->drop_mask + r0 * n->D;
    sh->amask = n->amask + (size_t)row0 * n->heads * T * T;
    sh->h1_mask = n->h1_mask + r0 * n->hh;
    return BML_OK;
}

/* the front end on the whole batch: lstm_in (B*T, in0) from x */
static void front_forward(bml__seq_net *n, int training) {
    size_t bt = (size_t)n->B * n->T, F = (size_t)n->F;
    if (!n->cnn) {
        memcpy(n->lstm_in, n->x, bt * F * sizeof *n->x);
        return;
    }
    /* each step's features as a length-F signal with 1 channel: rows (step, position) */
    int R = (int)(bt * F), c1 = n->c1, c2 = n->c2;
    float *run = n->bn_run;
    bml__nn_conv1d_k3_forward(n->c1_out, n->c1_col, n->x, P("cnn.0.weight"), P("cnn.0.bias"), (int)bt, (int)F, 1, c1);
    bml__nn_relu_forward(n->c1_relu, n->c1_out, (size_t)R * c1);
    bml__nn_batchnorm_forward(n->bn1_out, n->bn_stat, n->bn_stat + c1, run, run + c1, n->c1_relu, P("cnn.2.weight"),
                             P("cnn.2.bias"), n->rowmask, R, c1, 1e-5f, 0.1f, training);
    bml__nn_conv1d_k3_forward(n->c2_out, n->c2_col, n->bn1_out, P("cnn.3.weight"), P("cnn.3.bias"), (int)bt, (int)F, c1, c2);
    bml__nn_relu_forward(n->c2_relu, n->c2_out, (size_t)R * c2);
    bml__nn_batchnorm_forward(n->bn2_out, n->bn_stat + 2 * c1, n->bn_stat + 2 * c1 + c2, run + 2 * c1, run + 2 * c1 + c2,
                             n->c2_relu, P("cnn.5.weight"), P("cnn.5.bias"), n->rowmask, R, c2, 1e-5f, 0.1f, training);
    bml__nn_mean_mid_forward(n->lstm_in, n->bn2_out, (int)bt, (int)F, c2);
}

/* The dropout multipliers of the whole batch, in the order the layers use them (after LSTM layer 0, in the
 * attention, in the head): all 1 unless training with dropout. */
static void draw_dropout(bml__seq_net *n, int training) {
    size_t bt = (size_t)n->B * n->T, D = (size_t)n->D, hh = (size_t)n->hh;
    int drop = training && n->dropout > 0;
    if (drop) bml__nn_dropout_mask(n->drop_mask, bt * D, n->dropout, &n->rng);
    else
        for (size_t i = 0; i < bt * D; i++) n->drop_mask[i] = 1.0f;
    bml__nn_mha_dropout_draw(n->amask, (size_t)n->B * n->heads * n->T * n->T, n->dropout, training, &n->rng);
    if (drop) bml__nn_dropout_mask(n->h1_mask, bt * hh, n->dropout, &n->rng);
    else
        for (size_t i = 0; i < bt * hh; i++) n->h1_mask[i] = 1.0f;
}

/* the body from lstm_in to out (B*T, O), with the multipliers already drawn */
static void body_forward(bml__seq_net *n, float *out) {
    size_t bt = (size_t)n->B * n->T, H = (size_t)n->H, D = (size_t)n->D, hh = (size_t)n->hh;
    int training = n->training, drop = training && n->dropout > 0;
    /* two bidirectional layers; dropout on the first layer's output in training */
    const float *in = n->lstm_in;
    int in_dim = n->in0;
    for (int l = 0; l < 2; l++) {
        lstm_args a = {n, l, in, in_dim};
        bml__nn_parallel_for(2, lstm_forward_dir, &a); /* the two directions at once, each with its own scratch */
        concat_dirs(n->cat[l], n->h_out[l][0], n->h_out[l][1], bt, H);
        if (l == 0) {
            if (drop)
                for (size_t i = 0; i < bt * D; i++) n->cat_drop[i] = n->cat[0][i] * n->drop_mask[i];
            else
                memcpy(n->cat_drop, n->cat[0], bt * D * sizeof *n->cat_drop);
            in = n->cat_drop;
            in_dim = (int)D;
        }
    }
    bml__nn_mha_forward_drawn(n->attn, n->qkv, n->probs, n->amask, n->ctx, n->cat[1], n->len, P("attn.in_proj_weight"),
                             P("attn.in_proj_bias"), P("attn.out_proj.weight"), P("attn.out_proj.bias"), n->B, n->T, (int)D,
                             n->heads);
    for (size_t i = 0; i < bt * D; i++) n->res[i] = n->attn[i] + n->cat[1][i];
    bml__nn_layernorm_forward(n->ln_out, n->ln_mean, n->ln_rstd, n->res, P("norm.weight"), P("norm.bias"), (int)bt, (int)D, 1e-5f);
    bml__nn_linear_forward(n->h1, n->ln_out, P("head.0.weight"), P("head.0.bias"), (int)bt, (int)D, n->hh);
    bml__nn_relu_forward(n->h1_relu, n->h1, bt * hh);
    if (drop)
        for (size_t i = 0; i < bt * hh; i++) n->h1_drop[i] = n->h1_relu[i] * n->h1_mask[i];
    else
        memcpy(n->h1_drop, n->h1_relu, bt * hh * sizeof *n->h1_drop);
    bml__nn_linear_forward(out, n->h1_drop, P("head.3.weight"), P("head.3.bias"), (int)bt, n->hh, n->O);
}

/* one shard's forward or backward (a task of bml__nn_parallel_for) */
typedef struct {
    bml__seq_net *n;
    float *out;
    const float *dout;
} shard_args;

static void shard_forward_task(void *arg, int s) {
    const shard_args *a = arg;
    bml__seq_net *n = a->n;
    int r0 = n->shard_row0[s];
    n->shard_status[s] = shard_prepare(n, s, r0, n->shard_row0[s + 1] - r0, n->T);
    if (n->shard_status[s] == BML_OK) body_forward(n->shard[s], a->out + (size_t)r0 * n->T * n->O);
}

bml_status bml__seq_net_forward(bml__seq_net *n, const float *x, const float *mask, int B, int T, int training, float *out) {
    BML__TRY(ensure(n, B, T));
    n->B = B, n->T = T, n->training = training;
    size_t bt = (size_t)B * T, F = (size_t)n->F;
    for (int b = 0; b < B; b++) {
        int L = 0;
        for (int t = 0; t < T; t++) L += mask[(size_t)b * T + t] != 0;
        n->len[b] = L > 0 ? L : 1; /* padded steps are at the end */
    }
    memcpy(n->x, x, bt * F * sizeof *x);
    if (n->cnn)
        for (size_t i = 0; i < bt; i++)
            for (size_t l = 0; l < F; l++) n->rowmask[i * F + l] = mask[i];
    front_forward(n, training);
    draw_dropout(n, training);
    int S = B / BML_SEQ_SHARD_MIN;
    S = S < 1 ? 1 : S > n->max_shards ? n->max_shards : S;
    n->n_shards = S;
    if (S == 1) {
        body_forward(n, out);
        return BML_OK;
    }
    for (int s = 0; s <= S; s++) n->shard_row0[s] = (int)((long)s * B / S);
    shard_args a = {n, out, NULL};
    bml__nn_parallel_for(S, shard_forward_task, &a);
    for (int s = 0; s < S; s++) BML__TRY(n->shard_status[s]);
    return BML_OK;
}

/* grads += d loss / d params of the body, from dout (B*T, O); leaves d lstm_in in d2 */
static void body_backward(bml__seq_net *n, const float *dout) {
    int B = n->B, T = n->T;
    size_t bt = (size_t)B * T, H = (size_t)n->H, D = (size_t)n->D, hh = (size_t)n->hh;
    float *d1 = n->d1, *d2 = n->d2, *d3 = n->d3;
    /* head */
    memset(d1, 0, bt * hh * sizeof *d1);
    bml__nn_linear_backward(d1, G("head.3.weight"), G("head.3.bias"), dout, n->h1_drop, P("head.3.weight"), (int)bt, n->hh, n->O);
    bml__nn_dropout_relu_backward_set(d1, d1, n->h1_mask, n->h1_relu, bt * hh);
    memset(d2, 0, bt * D * sizeof *d2);
    bml__nn_linear_backward(d2, G("head.0.weight"), G("head.0.bias"), d1, n->ln_out, P("head.0.weight"), (int)bt, (int)D, n->hh);
    /* LayerNorm(attention + lstm): d2 -> d1 = d res */
    memset(d1, 0, bt * D * sizeof *d1);
    bml__nn_layernorm_backward(d1, G("norm.weight"), G("norm.bias"), d2, n->res, P("norm.weight"), n->ln_mean, n->ln_rstd,
                              (int)bt, (int)D);
    /* d cat[1] = d res (residual) + attention backward */
    memcpy(d3, d1, bt * D * sizeof *d3);
    bml__nn_mha_backward(d3, G("attn.in_proj_weight"), G("attn.in_proj_bias"), G("attn.out_proj.weight"),
                        G("attn.out_proj.bias"), d1, n->cat[1], n->qkv, n->probs, n->amask, n->ctx, n->len,
                        P("attn.in_proj_weight"), P("attn.out_proj.weight"), B, T, (int)D, n->heads, n->scratch);
    /* LSTM layer 1 (input cat_drop), then the dropout, then layer 0 */
    for (int l = 1; l >= 0; l--) {
        const float *in = l == 1 ? n->cat_drop : n->lstm_in;
        int in_dim = l == 1 ? (int)D : n->in0;
        float *dfwd = d1, *drev = d1 + bt * H; /* d1 is free again: split d cat[l] (in d3) into directions */
        split_dirs(dfwd, drev, d3, bt, H);
        /* the two directions at once: d input of the forward one into d2, of the reverse one into d4, then
         * d2 += d4 */
        memset(d2, 0, bt * (size_t)in_dim * sizeof *d2);
        memset(n->d4, 0, bt * (size_t)in_dim * sizeof *n->d4);
        lstm_args a = {n, l, in, in_dim};
        bml__nn_parallel_for(2, lstm_backward_dir, &a);
        for (size_t i = 0; i < bt * (size_t)in_dim; i++) d2[i] += n->d4[i];
        if (l == 1) { /* through the inter-layer dropout: d cat[0] into d3 */
            memset(d3, 0, bt * D * sizeof *d3);
            bml__nn_dropout_backward(d3, d2, n->drop_mask, bt * D);
        }
    }
}

/* the front end's backward from d lstm_in in d2 */
static void front_backward(bml__seq_net *n) {
    if (!n->cnn) return; /* d2 holds d x, not needed */
    size_t bt = (size_t)n->B * n->T, F = (size_t)n->F;
    float *d1 = n->d1, *d2 = n->d2, *d3 = n->d3;
    int R = (int)(bt * F), c1 = n->c1, c2 = n->c2;
    /* mean over the positions, BatchNorm2, ReLU, Conv2, BatchNorm1, ReLU, Conv1 */
    memset(d1, 0, (size_t)R * c2 * sizeof *d1);
    bml__nn_mean_mid_backward(d1, d2, (int)bt, (int)F, c2);
    memset(d3, 0, (size_t)R * c2 * sizeof *d3);
    bml__nn_batchnorm_backward(d3, G("cnn.5.weight"), G("cnn.5.bias"), d1, n->c2_relu, P("cnn.5.weight"), n->bn_stat + 2 * c1,
                              n->bn_stat + 2 * c1 + c2, n->rowmask, R, c2, n->training);
    bml__nn_relu_backward_set(d1, d3, n->c2_relu, (size_t)R * c2);
    memset(d2, 0, (size_t)R * c1 * sizeof *d2);
    bml__nn_conv1d_k3_backward(d2, G("cnn.3.weight"), G("cnn.3.bias"), d1, n->c2_col, P("cnn.3.weight"), (int)bt, (int)F, c1, c2,
                              n->scratch);
    memset(d3, 0, (size_t)R * c1 * sizeof *d3);
    bml__nn_batchnorm_backward(d3, G("cnn.2.weight"), G("cnn.2.bias"), d2, n->c1_relu, P("cnn.2.weight"), n->bn_stat,
                              n->bn_stat + c1, n->rowmask, R, c1, n->training);
    bml__nn_relu_backward_set(d1, d3, n->c1_relu, (size_t)R * c1);
    bml__nn_conv1d_k3_backward(NULL, G("cnn.0.weight"), G("cnn.0.bias"), d1, n->c1_col, P("cnn.0.weight"), (int)bt, (int)F, 1, c1,
                              n->scratch);
}

/* the body's parameters: the tensors after the front end's, one range of the gradient layout */
static size_t body_offset(const bml__seq_net *n) { return (size_t)(n->g[tensor_index(n, LSTM_NAMES[0][0][0])] - n->grads); }

static void shard_backward_task(void *arg, int s) {
    const shard_args *a = arg;
    bml__seq_net *n = a->n, *sh = n->shard[s];
    size_t off = body_offset(n);
    memset(sh->grads + off, 0, (n->n_params - off) * sizeof *sh->grads);
    body_backward(sh, a->dout + (size_t)n->shard_row0[s] * n->T * n->O);
}

/* grads += the shards' gradients, added shard by shard in order for each value; in fixed parts */
#define SUM_PARTS 8
static void shard_sum_task(void *arg, int part) {
    bml__seq_net *n = arg;
    size_t off = body_offset(n), len = n->n_params - off;
    size_t lo = off + len * (size_t)part / SUM_PARTS, hi = off + len * (size_t)(part + 1) / SUM_PARTS;
    const float *g0 = n->shard[0]->grads;
    for (size_t k = lo; k < hi; k++) {
        float acc = g0[k];
        for (int s = 1; s < n->n_shards; s++) acc += n->shard[s]->grads[k];
        n->grads[k] += acc;
    }
}

void bml__seq_net_backward(bml__seq_net *n, const float *dout) {
    if (n->n_shards == 1) {
        body_backward(n, dout);
    } else {
        shard_args a = {n, NULL, dout};
        bml__nn_parallel_for(n->n_shards, shard_backward_task, &a);
        bml__nn_parallel_for(SUM_PARTS, shard_sum_task, n);
        if (n->cnn) /* d lstm_in of every shard into d2, for the front end */
            for (int s = 0; s < n->n_shards; s++) {
                const bml__seq_net *sh = n->shard[s];
                memcpy(n->d2 + (size_t)n->shard_row0[s] * n->T * n->in0, sh->d2, (size_t)sh->B * sh->T * sh->in0 * sizeof *n->d2);
            }
    }
    front_backward(n);
}

void bml__seq_net_attention(const bml__seq_net *n, float *w) {
    if (n->n_shards == 1) {
        bml__nn_mha_average_heads(w, n->probs, n->B, n->T, n->heads);
        return;
    }
    for (int s = 0; s < n->n_shards; s++) {
        const bml__seq_net *sh = n->shard[s];
        bml__nn_mha_average_heads(w + (size_t)n->shard_row0[s] * n->T * n->T, sh->probs, sh->B, sh->T, sh->heads);
    }
}
