/* Folds fitted in other processes: a fold's result as bytes and back (bounds-checked: the bytes come from
 * another process), and the fold job an executor (bml_fold_executor: the CLI's MPI ranks) runs. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "run/runner.h"

/* A fold's result as bytes: the magic "BMLFOLD2" (2: the prediction intervals after the predictions), the sizes it was made for (features F, targets O, steps
 * T, flat rows), then every field of bml__track_fold in order. Counts and indices are u64, reals raw doubles,
 * texts a u64 length and their bytes; an optional array is preceded by a u64 1 (present) or 0. */
static const char FOLD_MAGIC[8] = {'B', 'M', 'L', 'F', 'O', 'L', 'D', '2'};

/* written into the core's text builder (bml__sb: binary-safe, out of memory noted once); nothing for n == 0, where
 * p may be NULL */
static void w_put(bml__sb *b, const void *p, size_t n) {
    if (n) bml__sb_put(b, p, n);
}
static void w_u64(bml__sb *b, uint64_t v) { w_put(b, &v, sizeof v); }
static void w_sizes(bml__sb *b, const size_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) w_u64(b, v[i]);
}
static void w_reals(bml__sb *b, const double *v, size_t n) { w_put(b, v, n * sizeof *v); }
static void w_opt_reals(bml__sb *b, const double *v, size_t n) {
    w_u64(b, v != NULL);
    if (v) w_reals(b, v, n);
}
static void w_text(bml__sb *b, const char *t, size_t n) {
    w_u64(b, n);
    w_put(b, t, n);
}
static void w_opt_str(bml__sb *b, const char *t) {
    w_u64(b, t != NULL);
    if (t) w_text(b, t, strlen(t));
}

typedef struct {
    const char *p;
    size_t left;
    const char *bad; /* what was malformed first, or NULL */
} rbuf;

static void r_get(rbuf *b, void *out, size_t n, const char *what) {
    if (b->bad) return;
    if (n > b->left) {
        b->bad = what;
        return;
    }
    memcpy(out, b->p, n);
    b->p += n, b->left -= n;
}
static uint64_t r_u64(rbuf *b, const char *what) {
    uint64_t v = 0;
    r_get(b, &v, sizeof v, what);
    return v;
}
/* a 0/1 flag */
static int r_flag(rbuf *b, const char *what) {
    uint64_t v = r_u64(b, what);
    if (v > 1 && !b->bad) b->bad = what;
    return !b->bad && v == 1;
}
/* n items of `size` bytes each: NULL (b->bad set) when the bytes left cannot hold them */
static void *r_array(rbuf *b, uint64_t n, size_t size, const char *what) {
    if (b->bad) return NULL;
    if (n > b->left / size) {
        b->bad = what;
        return NULL;
    }
    void *a = bml__calloc((size_t)n + 1, size);
    if (!a) {
        b->bad = "out of memory";
        return NULL;
    }
    r_get(b, a, (size_t)n * size, what);
    return a;
}
/* n reals */
static double *r_reals(rbuf *b, uint64_t n, const char *what) { return r_array(b, n, sizeof(double), what); }
static double *r_opt_reals(rbuf *b, uint64_t n, const char *what) { return r_flag(b, what) ? r_reals(b, n, what) : NULL; }
/* n indices, each below bound */
static size_t *r_sizes(rbuf *b, uint64_t n, uint64_t bound, const char *what) {
    uint64_t *v = r_array(b, n, sizeof(uint64_t), what);
    if (!v) return NULL;
    size_t *out = bml__calloc((size_t)n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        if (v[i] >= bound) b->bad = what;
        out[i] = (size_t)v[i];
    }
    if (!out) b->bad = "out of memory";
    free(v);
    return out;
}
/* a text without NUL bytes (malloc'ed) */
static char *r_text(rbuf *b, size_t *len, const char *what) {
    uint64_t n = r_u64(b, what);
    char *t = r_array(b, n, 1, what);
    if (t && memchr(t, 0, (size_t)n)) b->bad = what;
    if (len) *len = (size_t)n;
    return t;
}
static char *r_opt_str(rbuf *b, const char *what) { return r_flag(b, what) ? r_text(b, NULL, what) : NULL; }

/* the files below root/rel (rel "" for root), sorted by name, appended to *files */
static bml_status read_tree(const char *root, const char *rel, bml__track_file **files, size_t *n, size_t *cap) {
    char *dir = *rel ? bml__path_join(root, rel) : bml__strdup(root);
    if (!dir) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml__strvec names = {0};
    DIR *d = opendir(dir);
    bml_status st = d ? BML_OK : bml__fail(BML_ERR_IO, "%s: %s", dir, strerror(errno));
    for (struct dirent *e; st == BML_OK && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && bml__strvec_push(&names, e->d_name))
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (d) closedir(d);
    if (st == BML_OK) qsort(names.items, names.n, sizeof *names.items, bml__strcmp_ptr);
    for (size_t i = 0; st == BML_OK && i < names.n; i++) {
        char *r = *rel ? bml__sprintf("%s/%s", rel, names.items[i]) : bml__strdup(names.items[i]);
        char *full = r ? bml__path_join(root, r) : NULL;
        if (!full) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (bml__is_dir(full)) st = read_tree(root, r, files, n, cap);
        else {
            if (*n == *cap) {
                size_t nc = 2 * *cap + 8;
                bml__track_file *nf = realloc(*files, nc * sizeof *nf);
                if (!nf) st = bml__fail(BML_ERR_NOMEM, "out of memory");
                else *files = nf, *cap = nc;
            }
            if (st == BML_OK) {
                bml__track_file *f = &(*files)[*n];
                memset(f, 0, sizeof *f);
                st = bml__read_file(full, &f->data, &f->len);
                if (st == BML_OK) f->name = r, r = NULL, (*n)++;
            }
        }
        free(r);
        free(full);
    }
    bml__strvec_free(&names);
    free(dir);
    return st;
}

/* the files bml_model_save writes for m (and bml_cvplus_save for cv into its uncertainty/ when cv is not NULL), read
 * back from a temporary folder */
static bml_status model_files(const bml_model *m, const bml_cvplus *cv, bml__track_file **files, size_t *n) {
    *files = NULL;
    *n = 0;
    const char *tmp = getenv("TMPDIR");
    char *root = bml__sprintf("%s/bml-fold-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!root) return bml__fail(BML_ERR_NOMEM, "out of memory");
    if (!mkdtemp(root)) {
        bml_status st = bml__fail(BML_ERR_IO, "%s: cannot create a temporary folder for the fold's model: %s", root, strerror(errno));
        free(root);
        return st;
    }
    char *dir = bml__path_join(root, "model");
    size_t cap = 0;
    bml_status st = dir ? bml_model_save(m, dir) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK && cv) {
        char *u = bml__path_join(dir, "uncertainty");
        st = u ? bml_cvplus_save(cv, u) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(u);
    }
    if (st == BML_OK) st = read_tree(dir, "", files, n, &cap);
    bml__rm_rf(root);
    free(dir);
    free(root);
    if (st != BML_OK) {
        for (size_t i = 0; i < *n; i++) free((*files)[i].name), free((*files)[i].data);
        free(*files);
        *files = NULL;
        *n = 0;
    }
    return st;
}

/* names ordered as paths: '/' before every other character, so that the files of folder "a/" follow "a" at once */
static int path_order(const void *a, const void *b) {
    const unsigned char *x = *(const unsigned char *const *)a, *y = *(const unsigned char *const *)b;
    for (; *x && *x == *y; x++, y++) {}
    int cx = *x == '/' ? 1 : *x, cy = *y == '/' ? 1 : *y;
    return (cx > cy) - (cx < cy);
}

/* The model files of a result from another process name files inside the fold's model folder: relative paths
 * of components that are not empty and do not start with '.' (no "..", no hidden files, no "a//b" or "a/"),
 * each file once, and no file that is also another file's folder ("a" beside "a/b"). */
static bml_status check_model_file_names(const bml__track_file *files, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *c = files[i].name;
        for (;;) {
            size_t l = strcspn(c, "/");
            if (l == 0 || c[0] == '.')
                return bml__fail(BML_ERR_PARSE, "malformed fold result: a model file's name '%s' is not a plain relative path",
                                 files[i].name);
            if (!c[l]) break;
            c += l + 1;
        }
    }
    const char **names = bml__calloc(n + 1, sizeof *names);
    if (!names) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) names[i] = files[i].name;
    qsort(names, n, sizeof *names, path_order);
    bml_status st = BML_OK;
    for (size_t i = 1; i < n && st == BML_OK; i++) {
        size_t l = strlen(names[i - 1]);
        if (!strcmp(names[i - 1], names[i]))
            st = bml__fail(BML_ERR_PARSE, "malformed fold result: the model file '%s' comes twice", names[i]);
        else if (!strncmp(names[i - 1], names[i], l) && names[i][l] == '/')
            st = bml__fail(BML_ERR_PARSE, "malformed fold result: '%s' is a model file and a folder of '%s'", names[i - 1], names[i]);
    }
    free(names);
    return st;
}

/* fold fo's result, its stage times t and its log lines as bytes */
static bml_status fold_pack(const bml__track_fold *fo, const bml_samples *s, size_t n_flat, const bml_run_result *t, const char *log,
                            char **bytes, size_t *len) {
    size_t F = s->n_features, O = s->n_targets, T = s->seq_len ? s->seq_len : 1;
    bml__track_file *files = NULL;
    size_t n_files = 0;
    BML__TRY(model_files(fo->model, fo->cv, &files, &n_files));
    char *hist = bml_model_history_csv(fo->model), *info = bml_model_fit_info_json(fo->model);
    bml__sb b = {0};
    w_put(&b, FOLD_MAGIC, sizeof FOLD_MAGIC);
    w_u64(&b, F), w_u64(&b, O), w_u64(&b, T), w_u64(&b, n_flat);
    w_u64(&b, fo->n_eval);
    w_u64(&b, (uint64_t)fo->eval_is_test);
    w_sizes(&b, fo->eval_idx, fo->n_eval);
    w_reals(&b, fo->pred, fo->n_eval * O);
    w_opt_reals(&b, fo->lower, fo->n_eval * O);
    w_opt_reals(&b, fo->upper, fo->n_eval * O);
    w_u64(&b, fo->n_shap);
    w_u64(&b, fo->shap_rows != NULL);
    if (fo->shap_rows) w_sizes(&b, fo->shap_rows, fo->n_shap);
    w_opt_reals(&b, fo->shap, fo->n_shap * O * (F + 1));
    w_opt_reals(&b, fo->imp, 3 * O * F);
    w_u64(&b, fo->n_att);
    w_u64(&b, fo->att_idx != NULL);
    if (fo->att_idx) w_sizes(&b, fo->att_idx, fo->n_att);
    w_opt_reals(&b, fo->att, fo->n_att * T * T);
    w_u64(&b, fo->lat_dim);
    w_opt_reals(&b, fo->lat, fo->n_att * T * fo->lat_dim);
    w_opt_reals(&b, fo->pre.impute, F);
    w_opt_reals(&b, fo->pre.scaler.mean, F);
    w_opt_reals(&b, fo->pre.scaler.scale, F);
    double times[4] = {t->t_fit, t->t_predict, t->t_explain, t->t_backend};
    w_reals(&b, times, 4);
    w_opt_str(&b, log);
    w_opt_str(&b, hist);
    w_opt_str(&b, info);
    w_u64(&b, n_files);
    for (size_t i = 0; i < n_files; i++) {
        w_text(&b, files[i].name, strlen(files[i].name));
        w_text(&b, files[i].data, files[i].len);
    }
    free(hist);
    free(info);
    for (size_t i = 0; i < n_files; i++) free(files[i].name), free(files[i].data);
    free(files);
    if (b.nomem) {
        free(b.buf);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    *bytes = b.buf;
    *len = b.len;
    return BML_OK;
}

/* bytes of fold_pack back into fo (model NULL), t and *log; every size and index checked against this
 * study's samples */
static bml_status fold_unpack(const char *bytes, size_t len, const bml_samples *s, size_t n_flat, bml__track_fold *fo,
                              bml_run_result *t, char **log) {
    size_t F = s->n_features, O = s->n_targets, T = s->seq_len ? s->seq_len : 1;
    rbuf b = {bytes, len, NULL};
    char magic[sizeof FOLD_MAGIC] = {0};
    r_get(&b, magic, sizeof magic, "the header");
    if (!b.bad && memcmp(magic, FOLD_MAGIC, sizeof magic))
        return bml__fail(BML_ERR_PARSE, "the result is not a fold result of this version (expected %.8s)", FOLD_MAGIC);
    uint64_t sizes[4];
    for (int i = 0; i < 4; i++) sizes[i] = r_u64(&b, "the header");
    if (!b.bad && (sizes[0] != F || sizes[1] != O || sizes[2] != T || sizes[3] != n_flat))
        return bml__fail(BML_ERR_PARSE, "the result was made for %llu features, %llu targets, %llu steps and %llu rows; this study has "
                                        "%zu, %zu, %zu and %zu (a different configuration or data?)",
                         (unsigned long long)sizes[0], (unsigned long long)sizes[1], (unsigned long long)sizes[2],
                         (unsigned long long)sizes[3], F, O, T, n_flat);
    uint64_t n_eval = r_u64(&b, "the evaluated rows");
    if (!b.bad && n_eval > n_flat) b.bad = "the evaluated rows";
    fo->n_eval = (size_t)n_eval;
    fo->eval_is_test = r_flag(&b, "eval_is_test");
    fo->eval_idx = r_sizes(&b, n_eval, n_flat, "the evaluated rows");
    fo->pred = r_reals(&b, n_eval * O, "the predictions");
    fo->lower = r_opt_reals(&b, n_eval * O, "the lower bounds");
    fo->upper = r_opt_reals(&b, n_eval * O, "the upper bounds");
    if (!b.bad && !fo->lower != !fo->upper) b.bad = "the intervals (both bounds or neither)";
    for (size_t i = 0; !b.bad && fo->lower && i < n_eval * O; i++)
        if (!(fo->lower[i] <= fo->upper[i])) b.bad = "the intervals (a lower bound above its upper bound, or NaN)";
    uint64_t n_shap = r_u64(&b, "the SHAP rows");
    if (!b.bad && n_shap > n_eval) b.bad = "the SHAP rows";
    fo->n_shap = (size_t)n_shap;
    if (r_flag(&b, "the SHAP rows")) fo->shap_rows = r_sizes(&b, n_shap, n_eval, "the SHAP rows");
    for (size_t i = 1; fo->shap_rows && i < fo->n_shap && !b.bad; i++)
        if (fo->shap_rows[i] <= fo->shap_rows[i - 1]) b.bad = "the SHAP rows (not increasing)";
    if (!b.bad && !fo->shap_rows && n_shap) b.bad = "the SHAP rows";
    fo->shap = r_opt_reals(&b, n_shap * O * (F + 1), "the SHAP values");
    /* a run's writer reads SHAP values without rows as one per evaluated row: a fold always sends its rows */
    if (!b.bad && fo->shap && !fo->shap_rows) b.bad = "the SHAP values (without their rows)";
    fo->imp = r_opt_reals(&b, 3 * O * F, "the importance");
    uint64_t n_att = r_u64(&b, "the attention samples");
    if (!b.bad && n_att > s->n) b.bad = "the attention samples";
    fo->n_att = (size_t)n_att;
    if (r_flag(&b, "the attention samples")) fo->att_idx = r_sizes(&b, n_att, s->n, "the attention samples");
    if (!b.bad && !fo->att_idx && n_att) b.bad = "the attention samples";
    fo->att = r_opt_reals(&b, n_att * T * T, "the attention weights");
    /* the latent size heads latent.csv's columns even without samples: bounded by the bytes left then too */
    uint64_t lat_dim = r_u64(&b, "the latent size");
    if (!b.bad && lat_dim > b.left / sizeof(double) / (n_att ? n_att * T : 1)) b.bad = "the latent size";
    fo->lat_dim = (size_t)lat_dim;
    fo->lat = r_opt_reals(&b, n_att * T * lat_dim, "the latent trajectories");
    if (!b.bad && !fo->lat != !lat_dim) b.bad = "the latent trajectories (present exactly when the latent size is not 0)";
    fo->pre.impute = r_opt_reals(&b, F, "the imputation means");
    fo->pre.scaler.mean = r_opt_reals(&b, F, "the scaler");
    fo->pre.scaler.scale = r_opt_reals(&b, F, "the scaler");
    if (!b.bad && !fo->pre.scaler.mean != !fo->pre.scaler.scale) b.bad = "the scaler";
    fo->pre.scaler.n_features = fo->pre.scaler.mean ? F : 0;
    double times[4] = {0};
    r_get(&b, times, sizeof times, "the stage times");
    t->t_fit = times[0], t->t_predict = times[1], t->t_explain = times[2], t->t_backend = times[3];
    *log = r_opt_str(&b, "the log lines");
    fo->history_csv = r_opt_str(&b, "the history");
    fo->fit_info = r_opt_str(&b, "the fit information");
    uint64_t n_files = r_u64(&b, "the model's files");
    if (!b.bad && (n_files == 0 || n_files > b.left / 16)) b.bad = "the model's files";
    if (!b.bad && !(fo->files = bml__calloc((size_t)n_files, sizeof *fo->files))) b.bad = "out of memory";
    for (size_t i = 0; !b.bad && i < n_files; i++) {
        bml__track_file *f = &fo->files[i];
        fo->n_files++;
        f->name = r_text(&b, NULL, "a model file's name");
        uint64_t fl = r_u64(&b, "a model file");
        f->data = r_array(&b, fl, 1, "a model file");
        f->len = (size_t)fl;
    }
    if (!b.bad && b.left) b.bad = "bytes after the end";
    if (b.bad) return bml__fail(!strcmp(b.bad, "out of memory") ? BML_ERR_NOMEM : BML_ERR_PARSE, "malformed fold result: %s", b.bad);
    return check_model_file_names(fo->files, fo->n_files);
}

struct bml_fold_job {
    const bml__study *plan;
    const bml_samples *s;
    const size_t *flat_of;
    size_t n_flat;          /* rows of the flat samples */
    const bml_split *sp;
    uint64_t seed;
    const bml__explain_opts *fex; /* (n_folds) */
    const bml_run_opts *opts;
    bml__track_fold *folds;         /* (n_folds) filled by accept */
    bml_run_result *times;   /* (n_folds) */
    char **log, **error;     /* (n_folds) */
    unsigned char *state;    /* (n_folds) 0: nothing yet, 1: accepted, 2: failed */
    pthread_mutex_t mu;
    size_t lat_dim;          /* the latent size of the results accepted so far (0: none yet) */
};

size_t bml_fold_job_n_folds(const bml_fold_job *job) { return job->sp->n_folds; }

const char *bml_fold_job_fold_name(const bml_fold_job *job, size_t f) {
    return f < job->sp->n_folds ? job->sp->folds[f].name : NULL;
}

/* a log line appended to the text *user */
static void append_line(void *user, const char *line) {
    char **log = user;
    char *joined = *log ? bml__sprintf("%s\n%s", *log, line) : bml__strdup(line);
    if (joined) free(*log), *log = joined;
}

bml_status bml_fold_job_run(bml_fold_job *job, size_t f, char **bytes, size_t *len) {
    *bytes = NULL;
    *len = 0;
    if (f >= job->sp->n_folds) return bml__fail(BML_ERR_VALUE, "fold %zu: the study has %zu folds", f, job->sp->n_folds);
    char *log = NULL;
    bml_run_opts o = *job->opts;
    o.log = append_line; /* the lines go with the result: the process that writes the run prints them */
    o.log_user = &log;
    o.progress = NULL;
    bml__track_fold fo;
    bml_run_result t = {0};
    bml_status st = bml__run_fold(job->plan, job->s, job->flat_of, &job->sp->folds[f], job->seed, &job->fex[f], &o, &fo, &t);
    if (st == BML_OK) st = fold_pack(&fo, job->s, job->n_flat, &t, log, bytes, len);
    bml__track_fold_release(&fo);
    free(log);
    return st;
}

/* claim fold f for a result or a failure: BML_OK once, an error the second time. A result's latent size (0: none)
 * must be the one of the results accepted before: one model gives every fold the same. */
static bml_status claim(bml_fold_job *job, size_t f, unsigned char state, size_t lat_dim) {
    if (f >= job->sp->n_folds) return bml__fail(BML_ERR_VALUE, "fold %zu: the study has %zu folds", f, job->sp->n_folds);
    pthread_mutex_lock(&job->mu);
    int taken = job->state[f] != 0, other = lat_dim && job->lat_dim && lat_dim != job->lat_dim;
    size_t had = job->lat_dim;
    if (!taken && !other) {
        job->state[f] = state;
        if (lat_dim) job->lat_dim = lat_dim;
    }
    pthread_mutex_unlock(&job->mu);
    if (taken) return bml__fail(BML_ERR_STATE, "fold %s: a second result", job->sp->folds[f].name);
    if (other)
        return bml__fail(BML_ERR_PARSE, "malformed fold result: fold %s has latent size %zu, the folds before it %zu",
                         job->sp->folds[f].name, lat_dim, had);
    return BML_OK;
}

bml_status bml_fold_job_accept(bml_fold_job *job, size_t f, const char *bytes, size_t len) {
    if (f >= job->sp->n_folds) return bml__fail(BML_ERR_VALUE, "fold %zu: the study has %zu folds", f, job->sp->n_folds);
    bml__track_fold fo;
    memset(&fo, 0, sizeof fo);
    bml_run_result t = {0};
    char *log = NULL;
    bml_status st = fold_unpack(bytes, len, job->s, job->n_flat, &fo, &t, &log);
    if (st == BML_OK) st = claim(job, f, 1, fo.lat_dim);
    if (st != BML_OK) {
        bml__track_fold_release(&fo);
        free(log);
        return st;
    }
    fo.fold = &job->sp->folds[f];
    job->folds[f] = fo;
    job->times[f] = t;
    job->log[f] = log;
    return BML_OK;
}

bml_status bml_fold_job_fail(bml_fold_job *job, size_t f, const char *message) {
    char *m = bml__strdup(message ? message : "failed");
    if (!m) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = claim(job, f, 2, 0);
    if (st != BML_OK) {
        free(m);
        return st;
    }
    job->error[f] = m;
    return BML_OK;
}

/* The folds through the executor: in fold order afterwards, as the threads' results, the log lines, the
 * stage times and the first failure. *assemble: whether this process writes the run. */
bml_status bml__run_folds_exec(const bml__study *plan, const bml_samples *s, const size_t *flat_of, const bml_split *sp,
                                 uint64_t seed, const bml__explain_opts *fex, const bml_run_opts *opts, bml__track_fold *folds,
                                 bml_run_result *res, const bml_fold_executor *exec, int *assemble) {
    size_t F = sp->n_folds, T = s->seq_len ? s->seq_len : 1, n_flat = 0;
    for (size_t i = 0; i < s->n * T; i++) n_flat += flat_of[i] != (size_t)-1;
    bml_fold_job job = {plan, s, flat_of, n_flat, sp, seed, fex, opts, folds, bml__calloc(F, sizeof(bml_run_result)),
                        bml__calloc(F, sizeof(char *)), bml__calloc(F, sizeof(char *)), bml__calloc(F, 1), PTHREAD_MUTEX_INITIALIZER, 0};
    bml_status st = job.times && job.log && job.error && job.state ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    *assemble = 1;
    if (st == BML_OK) st = exec->run(exec->user, &job, assemble);
    /* in fold order: the log lines and stage times of the folds up to the first without a result */
    for (size_t f = 0; st == BML_OK && *assemble && f < F && job.state[f] == 1; f++) {
        bml__fold_replay(opts, job.log[f], &job.times[f], res);
    }
    /* the first failed fold, else the first without a result */
    int failed = 0;
    for (size_t f = 0; job.state && f < F && !failed; f++)
        if (job.state[f] == 2) st = bml__fail(BML_ERR_BACKEND, "fold %s: %s", sp->folds[f].name, job.error[f]), failed = 1;
    for (size_t f = 0; st == BML_OK && *assemble && f < F; f++)
        if (job.state[f] == 0) st = bml__fail(BML_ERR_STATE, "fold %s: no result came back", sp->folds[f].name);
    for (size_t f = 0; job.log && job.error && f < F; f++) free(job.log[f]), free(job.error[f]);
    free(job.times), free(job.log), free(job.error), free(job.state);
    pthread_mutex_destroy(&job.mu);
    return st;
}
