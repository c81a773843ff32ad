/* Run directory, metrics and CSV outputs. */
#define _POSIX_C_SOURCE 200809L
#include "track/track.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "core/json.h"
#include "pipelines/sample_io.h"
#include "track/writers.h"
#include "explain/figures.h"

void bml__track_eval_release(bml__track_eval *e) {
    free(e->idx);
    free(e->fold);
    free(e->pred);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------------ metrics */
/* NULL when out of memory */
static cJSON *metrics_json(const bml_metrics *m) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "n", (double)m->n) || !cJSON_AddNumberToObject(o, "rmse", m->rmse) ||
        !cJSON_AddNumberToObject(o, "mae", m->mae) || !cJSON_AddNumberToObject(o, "mape", m->mape) ||
        !cJSON_AddNumberToObject(o, "r2", m->r2) || !cJSON_AddNumberToObject(o, "max_abs_error", m->max_abs_error)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *bml__track_metrics_block(const bml_samples *s, const bml__track_eval *ev, const size_t *rows, size_t n_rows) {
    size_t O = s->n_targets;
    size_t n = rows ? n_rows : ev->n;
    double *yt = bml__calloc(n ? n : 1, sizeof *yt), *yp = bml__calloc(n ? n : 1, sizeof *yp);
    cJSON *o = cJSON_CreateObject();
    if (!yt || !yp || !o) {
        free(yt);
        free(yp);
        cJSON_Delete(o);
        return NULL;
    }
    for (size_t k = 0; k < O; k++) {
        for (size_t r = 0; r < n; r++) {
            size_t e = rows ? rows[r] : r;
            yt[r] = s->y[ev->idx[e] * O + k];
            yp[r] = ev->pred[e * O + k];
        }
        bml_metrics m = bml_metrics_compute(yt, yp, n, 1);
        cJSON *t = metrics_json(&m);
        if (!t || !cJSON_AddItemToObject(o, s->target_names[k], t)) {
            cJSON_Delete(t);
            cJSON_Delete(o);
            o = NULL;
            break;
        }
    }
    free(yt);
    free(yp);
    return o;
}

/* the group key of an evaluation row: its cell ("E5-A", from bml_sample_cell_key) or its temperature;
 * as long as the names are (caller frees) */
static char *group_key(const bml_sample_meta *m, int by_cell) {
    if (!by_cell) return bml__sprintf("%g", m->temperature_c);
    size_t n = bml_sample_cell_key(m, NULL, 0) + 1;
    char *k = malloc(n);
    if (k) bml_sample_cell_key(m, k, n);
    return k;
}

/* group the evaluation rows by a string key and add {key: block} to parent; -1 when out of memory */
static int grouped(cJSON *parent, const char *name, const bml_samples *s, const bml__track_eval *ev, int by_cell) {
    int bad = 1;
    cJSON *g = cJSON_AddObjectToObject(parent, name);
    size_t *rows = bml__calloc(ev->n ? ev->n : 1, sizeof *rows);
    char *seen = bml__calloc(ev->n ? ev->n : 1, 1);
    char **keys = bml__calloc(ev->n ? ev->n : 1, sizeof *keys);
    if (!g || !rows || !seen || !keys) goto out;
    for (size_t a = 0; a < ev->n; a++)
        if (!(keys[a] = group_key(&s->meta[ev->idx[a]], by_cell))) goto out;
    for (size_t a = 0; a < ev->n; a++) {
        if (seen[a]) continue;
        size_t m = 0;
        for (size_t b = a; b < ev->n; b++) {
            if (!seen[b] && !strcmp(keys[a], keys[b])) {
                seen[b] = 1;
                rows[m++] = b;
            }
        }
        cJSON *blk = bml__track_metrics_block(s, ev, rows, m);
        if (!blk || !cJSON_AddItemToObject(g, keys[a], blk)) {
            cJSON_Delete(blk);
            goto out;
        }
    }
    bad = 0;
out:
    for (size_t a = 0; keys && a < ev->n; a++) free(keys[a]);
    free(keys);
    free(rows);
    free(seen);
    return bad ? -1 : 0;
}

/* NULL when out of memory: every part is there or none */
cJSON *bml__track_metrics(const bml_samples *s, const bml__track_eval *ev, const bml_split *sp, const bml_kv *study,
                          size_t n_study) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    int bad = 0;
    cJSON *st = cJSON_AddObjectToObject(root, "study");
    for (size_t i = 0; st && i < n_study; i++) bad |= !cJSON_AddStringToObject(st, study[i].key, study[i].value);
    bad |= !st || !cJSON_AddNumberToObject(st, "n_samples", (double)s->n) ||
           !cJSON_AddNumberToObject(st, "n_evaluated", (double)ev->n);
    cJSON *fn = st ? cJSON_AddArrayToObject(st, "features") : NULL, *tn = st ? cJSON_AddArrayToObject(st, "targets") : NULL;
    bad |= !fn || !tn;
    for (size_t j = 0; !bad && j < s->n_features; j++) bad |= !cJSON_AddItemToArray(fn, cJSON_CreateString(s->feature_names[j]));
    for (size_t k = 0; !bad && k < s->n_targets; k++) bad |= !cJSON_AddItemToArray(tn, cJSON_CreateString(s->target_names[k]));
    cJSON *all = bml__track_metrics_block(s, ev, NULL, 0);
    if (!all || !cJSON_AddItemToObject(root, "overall", all)) {
        cJSON_Delete(all);
        bad = 1;
    }
    bad |= grouped(root, "per_temperature", s, ev, 0) != 0 || grouped(root, "per_cell", s, ev, 1) != 0;
    cJSON *folds = cJSON_AddArrayToObject(root, "folds");
    size_t *rows = bml__calloc(ev->n ? ev->n : 1, sizeof *rows);
    size_t O = s->n_targets;
    double *fold_rmse = bml__calloc(sp->n_folds * O + 1, sizeof *fold_rmse);
    double *fold_mae = bml__calloc(sp->n_folds * O + 1, sizeof *fold_mae);
    bad |= !folds || !rows || !fold_rmse || !fold_mae;
    for (size_t f = 0; !bad && f < sp->n_folds; f++) {
        size_t m = 0;
        for (size_t r = 0; r < ev->n; r++)
            if (ev->fold[r] == f) rows[m++] = r;
        cJSON *fo = cJSON_CreateObject();
        if (!fo || !cJSON_AddItemToArray(folds, fo)) {
            cJSON_Delete(fo);
            bad = 1;
            break;
        }
        bad |= !cJSON_AddStringToObject(fo, "name", sp->folds[f].name) ||
               !cJSON_AddNumberToObject(fo, "n_train", (double)sp->folds[f].n_train) ||
               !cJSON_AddNumberToObject(fo, "n_val", (double)sp->folds[f].n_val) ||
               !cJSON_AddNumberToObject(fo, "n_test", (double)sp->folds[f].n_test);
        cJSON *blk = bml__track_metrics_block(s, ev, rows, m);
        if (!blk || !cJSON_AddItemToObject(fo, "metrics", blk)) {
            cJSON_Delete(blk);
            bad = 1;
            break;
        }
        for (size_t k = 0; k < O; k++) {
            cJSON *t = cJSON_GetObjectItemCaseSensitive(blk, s->target_names[k]);
            fold_rmse[f * O + k] = cJSON_GetObjectItemCaseSensitive(t, "rmse")->valuedouble;
            fold_mae[f * O + k] = cJSON_GetObjectItemCaseSensitive(t, "mae")->valuedouble;
        }
    }
    if (!bad && sp->n_folds > 1) {
        cJSON *sum = cJSON_AddObjectToObject(root, "fold_summary");
        bad |= !sum;
        for (size_t k = 0; !bad && k < O; k++) {
            double mr = 0, sr = 0, ma = 0;
            size_t F = sp->n_folds;
            for (size_t f = 0; f < F; f++) mr += fold_rmse[f * O + k], ma += fold_mae[f * O + k];
            mr /= (double)F;
            ma /= (double)F;
            for (size_t f = 0; f < F; f++) sr += (fold_rmse[f * O + k] - mr) * (fold_rmse[f * O + k] - mr);
            cJSON *t = cJSON_AddObjectToObject(sum, s->target_names[k]);
            bad |= !t || !cJSON_AddNumberToObject(t, "n_folds", (double)F) || !cJSON_AddNumberToObject(t, "rmse_mean", mr) ||
                   !cJSON_AddNumberToObject(t, "rmse_std", sqrt(sr / (double)F)) || !cJSON_AddNumberToObject(t, "mae_mean", ma);
        }
    }
    free(rows);
    free(fold_rmse);
    free(fold_mae);
    if (bad) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* ------------------------------------------------------------------ CSV writing */
/* Files inside the partial run directory are written directly (direct: the directory is published whole);
 * files written elsewhere (predict's output, features) go through a temporary file and a rename. */
static bml_status put_file(const char *path, const char *data, size_t len, int direct) {
    return direct ? bml__write_file(path, data, len) : bml__write_file_atomic(path, data, len);
}

static bml_status sb_write(bml__sb *b, const char *path, int direct) {
    bml_status st = b->nomem ? bml__fail(BML_ERR_NOMEM, "out of memory") : put_file(path, b->buf ? b->buf : "", b->len, direct);
    free(b->buf);
    memset(b, 0, sizeof *b);
    return st;
}

/* b into dir/name; b's text is freed either way */
static bml_status sb_write_in(bml__sb *b, const char *dir, const char *name) {
    char *p = bml__path_join(dir, name);
    if (!p) {
        free(b->buf);
        memset(b, 0, sizeof *b);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    bml_status st = sb_write(b, p, 1);
    free(p);
    return st;
}

/* lower, upper: (n, O) prediction intervals (lower_<t>, upper_<t> after pred_<t>), or NULL */
static bml_status write_predictions(const char *path, int direct, const bml_samples *s, const size_t *idx, size_t n,
                                        const double *pred, const double *lower, const double *upper,
                                        const char *const *fold_names, const size_t *fold_of, const char *const *roles) {
    bml__sb b = {0};
    size_t O = s->n_targets;
    if (fold_names) bml__sb_str(&b, "fold,split,");
    bml__sb_sample_meta_header(&b);
    for (size_t k = 0; k < O; k++) {
        bml__sb_str(&b, ",true_");
        bml__sb_csv(&b, s->target_names[k]);
        bml__sb_str(&b, ",pred_");
        bml__sb_csv(&b, s->target_names[k]);
        if (lower) {
            bml__sb_str(&b, ",lower_");
            bml__sb_csv(&b, s->target_names[k]);
            bml__sb_str(&b, ",upper_");
            bml__sb_csv(&b, s->target_names[k]);
        }
    }
    bml__sb_str(&b, "\n");
    for (size_t r = 0; r < n; r++) {
        if (fold_names) {
            bml__sb_csv(&b, fold_names[fold_of[r]]);
            bml__sb_str(&b, ",");
            bml__sb_str(&b, roles[fold_of[r]]);
            bml__sb_str(&b, ",");
        }
        bml__sb_sample_meta(&b, &s->meta[idx[r]]);
        for (size_t k = 0; k < O; k++) {
            bml__sb_str(&b, ",");
            bml__sb_num(&b, s->y[idx[r] * O + k]);
            bml__sb_str(&b, ",");
            bml__sb_num(&b, pred[r * O + k]);
            if (lower) {
                bml__sb_str(&b, ",");
                bml__sb_num(&b, lower[r * O + k]);
                bml__sb_str(&b, ",");
                bml__sb_num(&b, upper[r * O + k]);
            }
        }
        bml__sb_str(&b, "\n");
    }
    return sb_write(&b, path, direct);
}

bml_status bml__track_write_predictions(const char *path, const bml_samples *s, const size_t *idx, size_t n,
                                        const double *pred, const double *lower, const double *upper,
                                        const char *const *fold_names, const size_t *fold_of, const char *const *roles) {
    return write_predictions(path, 0, s, idx, n, pred, lower, upper, fold_names, fold_of, roles);
}

static bml_status write_shap(const char *path, const bml_samples *s, const bml__track_fold *folds, size_t n_folds) {
    bml__sb b = {0};
    size_t F = s->n_features, O = s->n_targets;
    bml__sb_str(&b, "fold,");
    bml__sb_sample_meta_header(&b);
    bml__sb_str(&b, ",target,expected_value,prediction");
    for (size_t j = 0; j < F; j++) bml__sb_str(&b, ",shap_"), bml__sb_csv(&b, s->feature_names[j]);
    for (size_t j = 0; j < F; j++) bml__sb_str(&b, ",value_"), bml__sb_csv(&b, s->feature_names[j]);
    bml__sb_str(&b, "\n");
    for (size_t f = 0; f < n_folds; f++) {
        if (!folds[f].shap) continue;
        size_t n_shap = folds[f].shap_rows ? folds[f].n_shap : folds[f].n_eval;
        for (size_t r = 0; r < n_shap; r++) {
            size_t i = folds[f].shap_rows ? folds[f].shap_rows[r] : r, si = folds[f].eval_idx[i];
            for (size_t k = 0; k < O; k++) {
                const double *phi = folds[f].shap + (r * O + k) * (F + 1);
                bml__sb_csv(&b, folds[f].fold->name);
                bml__sb_str(&b, ",");
                bml__sb_sample_meta(&b, &s->meta[si]);
                bml__sb_str(&b, ",");
                bml__sb_csv(&b, s->target_names[k]);
                bml__sb_str(&b, ",");
                bml__sb_num(&b, phi[F]);
                bml__sb_str(&b, ",");
                bml__sb_num(&b, folds[f].pred[i * O + k]);
                for (size_t j = 0; j < F; j++) bml__sb_str(&b, ","), bml__sb_num(&b, phi[j]);
                for (size_t j = 0; j < F; j++) bml__sb_str(&b, ","), bml__sb_num(&b, s->x[si * F + j]);
                bml__sb_str(&b, "\n");
            }
        }
    }
    return sb_write(&b, path, 1);
}

static bml_status write_importance(const char *path, const bml_samples *s, const bml__track_fold *folds, size_t n_folds) {
    bml__sb b = {0};
    size_t F = s->n_features, O = s->n_targets;
    bml__sb_str(&b, "fold,target,feature,gain,total_gain,split_count,mean_abs_shap\n");
    for (size_t f = 0; f < n_folds; f++) {
        if (!folds[f].imp) continue;
        for (size_t k = 0; k < O; k++)
            for (size_t j = 0; j < F; j++) {
                double mabs = NAN;
                size_t n_shap = folds[f].shap_rows ? folds[f].n_shap : folds[f].n_eval;
                if (folds[f].shap && n_shap) { /* over the rows with SHAP values */
                    mabs = 0;
                    for (size_t r = 0; r < n_shap; r++) mabs += fabs(folds[f].shap[(r * O + k) * (F + 1) + j]);
                    mabs /= (double)n_shap;
                }
                bml__sb_csv(&b, folds[f].fold->name);
                bml__sb_str(&b, ",");
                bml__sb_csv(&b, s->target_names[k]);
                bml__sb_str(&b, ",");
                bml__sb_csv(&b, s->feature_names[j]);
                for (int kind = 0; kind < 3; kind++) bml__sb_str(&b, ","), bml__sb_num(&b, folds[f].imp[((size_t)kind * O + k) * F + j]);
                bml__sb_str(&b, ",");
                bml__sb_num(&b, mabs);
                bml__sb_str(&b, "\n");
            }
    }
    return sb_write(&b, path, 1);
}

static bml_status write_json(const char *path, const cJSON *j) {
    char *txt = cJSON_Print(j);
    if (!txt) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = put_file(path, txt, strlen(txt), 1);
    free(txt);
    return st;
}

static bml_status write_in(const char *dir, const char *name, bml_status (*fn)(const char *, const void *), const void *arg) {
    char *p = bml__path_join(dir, name);
    if (!p) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = fn(p, arg);
    free(p);
    return st;
}

static bml_status write_text_fn(const char *path, const void *txt) { return put_file(path, txt, strlen(txt), 1); }

/* ------------------------------------------------------------------ trackers */
typedef struct {
    bml__scalar *v; /* tags owned here */
    size_t n, cap;
    int nomem;
} scalars;

/* add (tag, step, value); takes tag (malloc'ed; NULL: out of memory); non-finite values are not logged */
static void add_scalar(scalars *sc, char *tag, long step, double value) {
    if (!tag) {
        sc->nomem = 1;
        return;
    }
    if (!isfinite(value)) {
        free(tag);
        return;
    }
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : 64;
        bml__scalar *v = realloc(sc->v, cap * sizeof *v);
        if (!v) {
            free(tag);
            sc->nomem = 1;
            return;
        }
        sc->v = v;
        sc->cap = cap;
    }
    sc->v[sc->n++] = (bml__scalar){tag, step, value};
}

static void scalars_release(scalars *sc) {
    for (size_t i = 0; i < sc->n; i++) free((char *)sc->v[i].tag);
    free(sc->v);
    memset(sc, 0, sizeof *sc);
}

/* metrics (overall per target; per fold when there are several) and the per-epoch history */
/* A fold's model history and fit information: from the model, or as a fold fitted elsewhere gave them
 * (malloc'ed, NULL when none) */
/* a fold's per-epoch history (caller frees); NULL for a model without one, and then *nomem set where it has
 * one that memory did not allow */
static char *fold_history(const bml__track_fold *f, int *nomem) {
    char *h = f->model ? bml_model_history_csv(f->model) : f->history_csv ? bml__strdup(f->history_csv) : NULL;
    if (!h && (f->model ? errno == ENOMEM : f->history_csv != NULL)) *nomem = 1;
    return h;
}
static char *fold_fit_info(const bml__track_fold *f) {
    return f->model ? bml_model_fit_info_json(f->model) : f->fit_info ? bml__strdup(f->fit_info) : NULL;
}

/* A fold's model into dir: saved (with its CV+ interval models in dir/uncertainty when it made intervals), or the
 * files a fold fitted elsewhere saved, byte for byte */
static bml_status save_fold_model(const bml__track_fold *f, const char *dir) {
    if (f->model) {
        BML__TRY(bml_model_save(f->model, dir));
        if (!f->cv) return BML_OK;
        char *u = bml__path_join(dir, "uncertainty");
        bml_status st = u ? bml_cvplus_save(f->cv, u) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(u);
        return st;
    }
    BML__TRY(bml__mkdir_p(dir));
    bml_status st = BML_OK;
    for (size_t i = 0; st == BML_OK && i < f->n_files; i++) {
        const bml__track_file *mf = &f->files[i];
        char *p = bml__path_join(dir, mf->name), *slash = p ? strrchr(p, '/') : NULL;
        if (!p) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK && slash && slash > p + strlen(dir)) { /* a file in a sub-folder of the model */
            *slash = 0;
            st = bml__mkdir_p(p);
            *slash = '/';
        }
        if (st == BML_OK) st = bml__write_file(p, mf->data, mf->len);
        free(p);
    }
    return st;
}

static void collect_scalars(const cJSON *metrics, const bml_split *sp, const bml__track_fold *folds, scalars *sc) {
    static const char *const names[] = {"rmse", "mae", "mape", "r2", "max_abs_error"};
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(metrics, "overall")) {
        for (size_t k = 0; k < 5; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, names[k]);
            if (cJSON_IsNumber(v)) add_scalar(sc, bml__sprintf("%s/%s", t->string, names[k]), 0, v->valuedouble);
        }
    }
    const cJSON *f;
    size_t fi = 0;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(metrics, "folds")) {
        if (sp->n_folds < 2 || fi >= sp->n_folds) break;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(f, "metrics")) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "rmse");
            if (cJSON_IsNumber(v)) add_scalar(sc, bml__sprintf("folds/%s/%s/rmse", sp->folds[fi].name, t->string), 0, v->valuedouble);
        }
        fi++;
    }
    for (size_t k = 0; k < sp->n_folds; k++) {
        char *h = fold_history(&folds[k], &sc->nomem);
        char *line = h ? strchr(h, '\n') : NULL;
        while (line && line[1]) {
            long e;
            double tl, vl = NAN, lr;
            char vbuf[64] = "";
            if (sscanf(line + 1, "%ld,%lf,%63[^,],%lf", &e, &tl, vbuf, &lr) == 4 ||
                sscanf(line + 1, "%ld,%lf,,%lf", &e, &tl, &lr) == 3) {
                int many = sp->n_folds > 1;
                const char *fold = sp->folds[k].name;
                if (*vbuf) bml__parse_double(vbuf, &vl);
                add_scalar(sc, many ? bml__sprintf("%s/train_loss", fold) : bml__strdup("loss/train"), e, tl);
                add_scalar(sc, many ? bml__sprintf("%s/val_loss", fold) : bml__strdup("loss/val"), e, vl);
                add_scalar(sc, many ? bml__sprintf("%s/learning_rate", fold) : bml__strdup("learning_rate"), e, lr);
            }
            line = strchr(line + 1, '\n');
        }
        free(h);
    }
}

/* PLplot reports no write errors: a figure cut short (a full disk) must not pass for a finished one.
 * A PNG ends with its IEND chunk, an SVG with its closing tag. */
static bml_status check_figures(const char *run_dir) {
    char *dir = bml__path_join(run_dir, "figures");
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        bml_status st = dir ? bml__fail(BML_ERR_IO, "%s: %s", dir, strerror(errno)) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(dir);
        return st;
    }
    bml_status st = BML_OK;
    struct dirent *e;
    while (st == BML_OK && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        int png = l > 4 && !strcmp(e->d_name + l - 4, ".png"), svg = l > 4 && !strcmp(e->d_name + l - 4, ".svg");
        if (!png && !svg) continue;
        char *p = bml__path_join(dir, e->d_name);
        if (!p) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        char tail[65] = {0};
        ssize_t got = -1;
        int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat sb;
        if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size >= 8) {
            off_t at = sb.st_size > 64 ? sb.st_size - 64 : 0;
            got = pread(fd, tail, (size_t)(sb.st_size - at), at);
        }
        if (fd >= 0) close(fd);
        int whole = got >= 8 && (png ? !memcmp(tail + got - 8, "IEND\xae\x42\x60\x82", 8) : strstr(tail, "</svg>") != NULL);
        if (!whole) st = bml__fail(BML_ERR_IO, "%s: the figure was not written whole (is the disk full?)", p);
        free(p);
    }
    closedir(d);
    free(dir);
    return st;
}

void bml__track_fold_release(bml__track_fold *f) {
    if (!f) return;
    bml_model_free(f->model);
    bml_cvplus_free(f->cv);
    bml__preprocess_release(&f->pre);
    free(f->eval_idx);
    free(f->pred);
    free(f->lower);
    free(f->upper);
    free(f->shap);
    free(f->shap_rows);
    free(f->imp);
    free(f->att_idx);
    free(f->att);
    free(f->lat);
    free(f->history_csv);
    free(f->fit_info);
    for (size_t i = 0; i < f->n_files; i++) free(f->files[i].name), free(f->files[i].data);
    free(f->files);
}

/* ------------------------------------------------------------------ the trackers */
static bml_status tensorboard_check(const bml__track_settings *set) {
    if (set->tensorboard_dir && *set->tensorboard_dir) BML__TRY(bml__path_check_inside("tracking.tensorboard_dir", set->tensorboard_dir));
    return BML_OK;
}

static bml_status tensorboard_in_run(const bml__track_settings *set, const char *dir, const bml__scalar *sc, size_t n) {
    char *d = bml__path_join(dir, set->tensorboard_dir);
    bml_status st = d ? bml__tensorboard_write(d, (double)time(NULL), sc, n, NULL) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(d);
    return st;
}

static bml_status mlflow_after(const bml__track_settings *set, const char *run_dir, const bml__scalar *sc, size_t n) {
    const char *slash = strrchr(run_dir, '/');
    double now = (double)time(NULL);
    bml_status st = bml__mlflow_log(set->mlruns_dir, set->experiment_name, slash ? slash + 1 : run_dir, set->params, set->n_params,
                                    sc, n, run_dir, now, now, NULL);
    if (st != BML_OK) bml__fail_prefix(st, "run written to %s, but MLflow tracking failed", run_dir);
    return st;
}

static const char *const ALL[] = {"tensorboard", "mlflow", NULL};
static const bml_param_info TB_PARAMS[] = {
    {"tensorboard_dir", "string", "tensorboard", "the event files' folder inside the run directory"}};
static const bml_param_info MLFLOW_PARAMS[] = {
    {"mlruns_dir", "string", "mlruns", "the MLflow file store"},
    {"experiment_name", "string", "batteryml", "the MLflow experiment (found by name or created)"}};
static const bml_param_info ALL_PARAMS[] = {
    {"tensorboard_dir", "string", "tensorboard", "the event files' folder inside the run directory"},
    {"mlruns_dir", "string", "mlruns", "the MLflow file store"},
    {"experiment_name", "string", "batteryml", "the MLflow experiment (found by name or created)"}};
#define MAX_TRACKERS 8
static bml__tracker_def trackers[MAX_TRACKERS] = {
    {"local", "the run directory only", NULL, 0, NULL, NULL, NULL, NULL},
    {"tensorboard", "the run directory and TensorBoard event files of the training curves", TB_PARAMS, 1, tensorboard_check,
     tensorboard_in_run, NULL, NULL},
    {"mlflow", "the run directory and an MLflow run in a file store", MLFLOW_PARAMS, 2, NULL, NULL, mlflow_after, NULL},
    {"all", "every tracker above", ALL_PARAMS, 3, NULL, NULL, NULL, ALL},
};
static size_t n_trackers = 4; /* written only before any run (bml__tracker_register): not locked */

size_t bml__tracker_count(void) { return n_trackers; }
const bml__tracker_def *bml__tracker_at(size_t i) { return i < n_trackers ? &trackers[i] : NULL; }

const bml__tracker_def *bml__tracker_find(const char *name) {
    for (size_t i = 0; name && i < n_trackers; i++)
        if (!strcmp(trackers[i].name, name)) return &trackers[i];
    return NULL;
}

const bml__tracker_def *bml__tracker_register(const bml__tracker_def *def) {
    if (!def || !def->name || bml__tracker_find(def->name) || n_trackers == MAX_TRACKERS) return NULL;
    trackers[n_trackers] = *def;
    return &trackers[n_trackers++];
}

bml_status bml__tracker_unknown(const char *name) {
    bml__sb b = {0};
    for (size_t i = 0; i < n_trackers; i++) bml__sb_str(&b, i ? ", " : ""), bml__sb_str(&b, trackers[i].name);
    bml_status st = b.buf && !b.nomem ? bml__fail(BML_ERR_VALUE, "unknown tracking '%s' (valid: %s)", name, b.buf)
                                      : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(b.buf);
    return st;
}

/* the trackers a choice runs: itself, or those it combines */
static size_t tracker_parts(const bml__tracker_def *t, const bml__tracker_def **parts, size_t cap) {
    size_t n = 0;
    if (t && !t->combines && cap) parts[n++] = t;
    for (size_t i = 0; t && t->combines && t->combines[i] && n < cap; i++) {
        const bml__tracker_def *p = bml__tracker_find(t->combines[i]);
        if (p && !p->combines) parts[n++] = p;
    }
    return n;
}

bml_status bml__track_check_paths(const bml__track_settings *set) {
    if (set->run_name && *set->run_name) BML__TRY(bml__path_check_name("run_name", set->run_name));
    const bml__tracker_def *parts[MAX_TRACKERS];
    size_t n = tracker_parts(set->tracker, parts, MAX_TRACKERS);
    for (size_t i = 0; i < n; i++)
        if (parts[i]->check) BML__TRY(parts[i]->check(set));
    return BML_OK;
}

/* ------------------------------------------------------------------ the run directory's files */
/* What the writers of a run's files share: the partial directory and the results. */
typedef struct {
    const char *tmp; /* the partial run directory */
    const bml_samples *s, *seq;
    const bml_split *sp;
    const bml__track_fold *folds;
} run_out;

/* metrics.json, with the fit information of each fold's model */
static bml_status write_metrics_json(const run_out *o, cJSON *metrics) {
    const bml_split *sp = o->sp;
    const bml__track_fold *folds = o->folds;
    const char *tmp = o->tmp;
    bml_status st = BML_OK;
    /* fit information of each fold's model */
    cJSON *jf = cJSON_GetObjectItemCaseSensitive(metrics, "folds");
    for (size_t f = 0; st == BML_OK && f < sp->n_folds; f++) {
        char *info = fold_fit_info(&folds[f]);
        cJSON *ij = info ? cJSON_Parse(info) : NULL;
        free(info);
        if (ij ? !cJSON_AddItemToObject(cJSON_GetArrayItem(jf, (int)f), "model", ij) : folds[f].model || folds[f].fit_info) {
            cJSON_Delete(ij);
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        }
    }
    if (st == BML_OK) {
        char *p = bml__path_join(tmp, "metrics.json");
        st = p ? write_json(p, metrics) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(p);
    }
    return st;
}

/* predictions.csv over every fold */
static bml_status write_all_predictions(const run_out *o) {
    const bml_samples *s = o->s;
    const bml_split *sp = o->sp;
    const bml__track_fold *folds = o->folds;
    size_t n = 0, O = s->n_targets;
    int intervals = 1;
    for (size_t f = 0; f < sp->n_folds; f++) n += folds[f].n_eval, intervals &= folds[f].lower != NULL;
    size_t *idx = bml__calloc(n ? n : 1, sizeof *idx), *fo = bml__calloc(n ? n : 1, sizeof *fo);
    double *pr = bml__calloc(n * O + 1, sizeof *pr);
    double *lo = intervals ? bml__calloc(n * O + 1, sizeof *lo) : NULL, *up = intervals ? bml__calloc(n * O + 1, sizeof *up) : NULL;
    const char **fnames = bml__calloc(sp->n_folds, sizeof *fnames), **roles = bml__calloc(sp->n_folds, sizeof *roles);
    bml_status st = idx && fo && pr && fnames && roles && (!intervals || (lo && up)) ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t f = 0, r = 0; st == BML_OK && f < sp->n_folds; f++) {
        fnames[f] = sp->folds[f].name;
        roles[f] = folds[f].eval_is_test ? "test" : "val";
        for (size_t i = 0; i < folds[f].n_eval; i++, r++) {
            idx[r] = folds[f].eval_idx[i];
            fo[r] = f;
            memcpy(pr + r * O, folds[f].pred + i * O, O * sizeof *pr);
            if (intervals) {
                memcpy(lo + r * O, folds[f].lower + i * O, O * sizeof *lo);
                memcpy(up + r * O, folds[f].upper + i * O, O * sizeof *up);
            }
        }
    }
    if (st == BML_OK) {
        char *p = bml__path_join(o->tmp, "predictions.csv");
        st = p ? write_predictions(p, 1, s, idx, n, pr, lo, up, fnames, fo, roles) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(p);
    }
    free(idx), free(fo), free(pr), free(lo), free(up), free(fnames), free(roles);
    return st;
}

/* shap.csv and importance.csv, where the models gave them */
static bml_status write_explain(const run_out *o) {
    const bml_samples *s = o->s;
    const bml_split *sp = o->sp;
    const bml__track_fold *folds = o->folds;
    const char *tmp = o->tmp;
    bml_status st = BML_OK;
    int any_shap = 0, any_imp = 0;
    for (size_t f = 0; f < sp->n_folds; f++) any_shap |= folds[f].shap != NULL, any_imp |= folds[f].imp != NULL;
    if (st == BML_OK && any_shap) {
        char *p = bml__path_join(tmp, "shap.csv");
        st = p ? write_shap(p, s, folds, sp->n_folds) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(p);
    }
    if (st == BML_OK && any_imp) {
        char *p = bml__path_join(tmp, "importance.csv");
        st = p ? write_importance(p, s, folds, sp->n_folds) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(p);
    }
    return st;
}

static bml_status write_attention(const run_out *o) {
    const bml_samples *seq = o->seq;
    const bml_split *sp = o->sp;
    const bml__track_fold *folds = o->folds;
    const char *tmp = o->tmp;
    bml_status st = BML_OK;
    /* attention of sequence models: attention.csv, one row per (sequence, query step, key step) */
    int any_att = 0;
    for (size_t f = 0; f < sp->n_folds; f++) any_att |= folds[f].att != NULL;
    if (st == BML_OK && any_att) {
        bml__sb b = {0};
        size_t T = seq->seq_len;
        bml__sb_str(&b, "fold,experiment,cell,temperature_c,query_step,key_step,query_set,key_set,weight\n");
        for (size_t f = 0; f < sp->n_folds; f++)
            for (size_t a = 0; folds[f].att && a < folds[f].n_att; a++) {
                size_t i = folds[f].att_idx[a];
                const bml_sample_meta *m = &seq->meta[i];
                for (size_t q = 0; q < T; q++)
                    for (size_t k = 0; k < T; k++) {
                        if (seq->mask[i * T + q] == 0 || seq->mask[i * T + k] == 0) continue;
                        char t[160];
                        bml__sb_csv(&b, sp->folds[f].name);
                        snprintf(t, sizeof t, ",%d,", m->experiment);
                        bml__sb_str(&b, t);
                        bml__sb_csv(&b, m->cell);
                        snprintf(t, sizeof t, ",%g,%zu,%zu,%d,%d,%.7g\n", m->temperature_c, q, k, seq->step_meta[i * T + q].set_index,
                                 seq->step_meta[i * T + k].set_index, folds[f].att[(a * T + q) * T + k]);
                        bml__sb_str(&b, t);
                    }
            }
        st = sb_write_in(&b, tmp, "attention.csv");
    }
    return st;
}

static bml_status write_latent(const run_out *o) {
    const bml_samples *seq = o->seq;
    const bml_split *sp = o->sp;
    const bml__track_fold *folds = o->folds;
    const char *tmp = o->tmp;
    bml_status st = BML_OK;
    /* latent trajectories of latent-ODE models: latent.csv, one row per (sequence, step) */
    int any_lat = 0;
    for (size_t f = 0; f < sp->n_folds; f++) any_lat |= folds[f].lat != NULL;
    if (st == BML_OK && any_lat) {
        bml__sb b = {0};
        size_t T = seq->seq_len, L = 0;
        for (size_t f = 0; f < sp->n_folds; f++) L = folds[f].lat ? folds[f].lat_dim : L;
        bml__sb_str(&b, "fold,experiment,cell,temperature_c,step,set,days");
        for (size_t j = 0; j < L; j++) {
            char t[32];
            snprintf(t, sizeof t, ",z%zu", j);
            bml__sb_str(&b, t);
        }
        bml__sb_str(&b, "\n");
        for (size_t f = 0; f < sp->n_folds; f++)
            for (size_t a = 0; folds[f].lat && a < folds[f].n_att; a++) {
                size_t i = folds[f].att_idx[a];
                const bml_sample_meta *m = &seq->meta[i];
                for (size_t q = 0; q < T; q++) {
                    if (seq->mask[i * T + q] == 0) continue;
                    char t[160];
                    bml__sb_csv(&b, sp->folds[f].name);
                    snprintf(t, sizeof t, ",%d,", m->experiment);
                    bml__sb_str(&b, t);
                    bml__sb_csv(&b, m->cell);
                    snprintf(t, sizeof t, ",%g,%zu,%d,%.6g", m->temperature_c, q, seq->step_meta[i * T + q].set_index,
                             seq->t ? seq->t[i * T + q] : NAN);
                    bml__sb_str(&b, t);
                    for (size_t j = 0; j < L; j++) {
                        snprintf(t, sizeof t, ",%.7g", folds[f].lat[(a * T + q) * folds[f].lat_dim + j]);
                        bml__sb_str(&b, t);
                    }
                    bml__sb_str(&b, "\n");
                }
            }
        st = sb_write_in(&b, tmp, "latent.csv");
    }
    return st;
}

static bml_status write_history(const run_out *o) {
    const bml_split *sp = o->sp;
    const bml__track_fold *folds = o->folds;
    const char *tmp = o->tmp;
    bml_status st = BML_OK;
    /* per-epoch history of neural models: step_metrics.csv with a fold column */
    if (st == BML_OK) {
        bml__sb b = {0};
        int hist_nomem = 0;
        for (size_t f = 0; f < sp->n_folds; f++) {
            char *h = fold_history(&folds[f], &hist_nomem);
            if (!h) continue;
            char *line = strchr(h, '\n');
            if (!b.len) bml__sb_str(&b, "fold,"), bml__sb_put(&b, h, line ? (size_t)(line - h) + 1 : strlen(h));
            for (char *p = line ? line + 1 : NULL; p && *p;) {
                char *e = strchr(p, '\n');
                size_t l = e ? (size_t)(e - p) + 1 : strlen(p);
                bml__sb_csv(&b, sp->folds[f].name);
                bml__sb_str(&b, ",");
                bml__sb_put(&b, p, l);
                p += l;
            }
            free(h);
        }
        if (hist_nomem) {
            free(b.buf);
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        } else if (b.len || b.nomem) {
            st = sb_write_in(&b, tmp, "step_metrics.csv");
        } else {
            free(b.buf);
        }
    }
    return st;
}

static bml_status write_models(const run_out *o, double *t_model_save) {
    const bml_samples *s = o->s;
    const bml_split *sp = o->sp;
    const bml__track_fold *folds = o->folds;
    const char *tmp = o->tmp;
    bml_status st = BML_OK;
    /* models: model/ for one fold, model/<fold>/ for several */
    for (size_t f = 0; st == BML_OK && f < sp->n_folds; f++) {
        char *dir = sp->n_folds == 1 ? bml__sprintf("%s/model", tmp) : bml__sprintf("%s/model/%s", tmp, sp->folds[f].name);
        if (!dir) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = save_fold_model(&folds[f], dir);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        *t_model_save += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (st == BML_OK) {
            cJSON *pj = bml__preprocess_json(&folds[f].pre, s->n_features);
            char *p = bml__path_join(dir, "preprocess.json");
            st = pj && p ? bml__json_write_sealed(p, pj) : bml__fail(BML_ERR_NOMEM, "out of memory");
            free(p);
            cJSON_Delete(pj);
        }
        free(dir);
    }
    return st;
}

bml_status bml__track_write_run(const bml__track_settings *set, const bml_samples *s, const bml_samples *seq, const bml_split *sp,
                                const bml__track_fold *folds, cJSON *metrics, const bml__track_extra *extra,
                                size_t n_extra, char **run_dir, double *t_model_save) {
    *run_dir = NULL;
    *t_model_save = 0;
    const char *outdir = set->output_dir;
    const char *given = set->run_name;
    const bml__tracker_def *parts[MAX_TRACKERS];
    size_t n_parts = tracker_parts(set->tracker, parts, MAX_TRACKERS);
    /* every output of the run stays inside its directory: the configured sub-paths and the fold names
     * (from the data: cell names) that name model folders */
    BML__TRY(bml__track_check_paths(set));
    for (size_t f = 0; sp->n_folds > 1 && f < sp->n_folds; f++) BML__TRY(bml__path_check_name("fold name", sp->folds[f].name));
    char *name;
    if (given && *given) {
        name = bml__strdup(given);
    } else {
        time_t t = time(NULL);
        struct tm tmv;
        gmtime_r(&t, &tmv);
        char ts[32];
        strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tmv);
        const char *mn = set->model_name, *sn = set->split_name;
        name = bml__sprintf("%s-%s-%s", ts, mn && *mn ? mn : "model", sn && *sn ? sn : "split"); /* registry names: no '/' */
    }
    if (!name) return bml__fail(BML_ERR_NOMEM, "out of memory");
    /* the partials of runs killed before they finished go first; ours is locked while we live */
    bml_status st = bml__stage_clean(outdir, NULL);
    bml__stage stage = {NULL, -1};
    char *tag = bml__strndup(name, 64); /* only a hint for people: a long run_name must still fit NAME_MAX */
    if (st == BML_OK) st = tag ? bml__stage_open(&stage, outdir, tag) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(tag);
    const char *tmp = stage.path;
    char *final = NULL;
    if (st == BML_OK) st = write_in(tmp, "config.yaml", write_text_fn, set->config_yaml);
    run_out o = {tmp, s, seq, sp, folds};
    if (st == BML_OK) st = write_metrics_json(&o, metrics);
    if (st == BML_OK) st = write_all_predictions(&o);
    if (st == BML_OK) st = write_explain(&o);
    for (size_t i = 0; st == BML_OK && i < n_extra; i++) st = write_in(tmp, extra[i].name, write_text_fn, extra[i].text);
    if (st == BML_OK) st = write_attention(&o);
    if (st == BML_OK) st = write_latent(&o);
    if (st == BML_OK) st = write_history(&o);
    /* trackers: what they write inside the run directory (TensorBoard's event files) now, the rest (MLflow's
     * file store) once the run is published */
    scalars sc = {0};
    int any_tracker = 0;
    for (size_t i = 0; i < n_parts; i++) any_tracker |= parts[i]->in_run || parts[i]->after;
    if (any_tracker) collect_scalars(metrics, sp, folds, &sc);
    if (sc.nomem && st == BML_OK) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == BML_OK && i < n_parts; i++)
        if (parts[i]->in_run) st = parts[i]->in_run(set, tmp, sc.v, sc.n);
    if (st == BML_OK) st = write_models(&o, t_model_save);
    /* figures, from the files just written (config key figures: false skips them) */
    int want_fig = set->figures;
    if (st == BML_OK && want_fig) st = bml__figures_draw(tmp, NULL);
    if (st == BML_OK && want_fig) st = check_figures(tmp);
    /* synced, then renamed to the first free name of name, name-2, ...: parallel runs never collide */
    if (st == BML_OK) st = bml__stage_publish(&stage, outdir, name, 1, &final);
    bml__stage_discard(&stage);
    for (size_t i = 0; st == BML_OK && i < n_parts; i++)
        if (parts[i]->after) st = parts[i]->after(set, final, sc.v, sc.n);
    scalars_release(&sc);
    free(name);
    *run_dir = final;
    return st;
}
