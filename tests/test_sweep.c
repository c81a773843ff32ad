/* Sweeps: Hydra's multirun syntax expanded into jobs (every form and the bad ones), the job order,
 * random search reproducibility, multirun.yaml and sweep.csv. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "test.h"

static char tmp[64];

static bml_sweep *expand(const char *const *ov, size_t n, bml_sweeper sweeper, size_t trials, uint64_t seed) {
    bml_sweep_opts o = {.version = BML_SWEEP_OPTS_VERSION, .sweeper = sweeper, .trials = trials, .seed = seed, .max_jobs = 0};
    bml_sweep *s = NULL;
    CHECK_OK(bml_sweep_expand(ov, n, &o, &s));
    return s;
}

/* the job's overrides joined with ' ' */
static char *job_line(const bml_sweep *s, size_t j) {
    size_t n;
    const char *const *ov = bml_sweep_job_overrides(s, j, &n);
    return bml__join((char *const *)ov, n, " ");
}

static void check_job(const bml_sweep *s, size_t j, const char *want) {
    char *l = job_line(s, j);
    CHECK_STR(l, want);
    free(l);
}

static void test_grid_order_is_hydras(void) {
    /* itertools.product over the swept keys in the order given: the last varies fastest; plain overrides
     * keep their place in every job */
    const char *ov[] = {"model=lgbm,mlp", "seed=7", "model.learning_rate=0.01,0.1"};
    bml_sweep *s = expand(ov, 3, BML_SWEEPER_GRID, 0, 0);
    if (!s) return;
    CHECK_INT(bml_sweep_n_jobs(s), 4);
    CHECK_INT(bml_sweep_n_params(s), 2);
    CHECK_STR(bml_sweep_param(s, 0), "model");
    CHECK_STR(bml_sweep_param(s, 1), "model.learning_rate");
    check_job(s, 0, "model=lgbm seed=7 model.learning_rate=0.01");
    check_job(s, 1, "model=lgbm seed=7 model.learning_rate=0.1");
    check_job(s, 2, "model=mlp seed=7 model.learning_rate=0.01");
    check_job(s, 3, "model=mlp seed=7 model.learning_rate=0.1");
    CHECK_STR(bml_sweep_job_label(s, 2), "model=mlp model.learning_rate=0.01");
    CHECK_STR(bml_sweep_job_name(s, 3), "3-mlp_0.1");
    CHECK_STR(bml_sweep_job_value(s, 1, 1), "0.1");
    bml_sweep_free(s);
}

static void test_every_value_form(void) {
    /* range: stop excluded, integers stay integers, reals by steps, negative steps, range(stop) */
    const char *r1[] = {"a=range(1,5)"}, *r2[] = {"a=range(0,1,0.25)"}, *r3[] = {"a=range(5,0,-2)"}, *r4[] = {"a=range(3)"};
    const char *want1[] = {"a=1", "a=2", "a=3", "a=4"}, *want2[] = {"a=0", "a=0.25", "a=0.5", "a=0.75"};
    const char *want3[] = {"a=5", "a=3", "a=1"}, *want4[] = {"a=0", "a=1", "a=2"};
    struct {
        const char *const *ov;
        const char *const *want;
        size_t n;
    } cases[] = {{r1, want1, 4}, {r2, want2, 4}, {r3, want3, 3}, {r4, want4, 3}};
    for (size_t c = 0; c < 4; c++) {
        bml_sweep *s = expand(cases[c].ov, 1, BML_SWEEPER_GRID, 0, 0);
        if (!s) continue;
        CHECK_INT(bml_sweep_n_jobs(s), cases[c].n);
        for (size_t j = 0; j < cases[c].n && j < bml_sweep_n_jobs(s); j++) check_job(s, j, cases[c].want[j]);
        bml_sweep_free(s);
    }
    /* quoted values keep their commas; brackets are one list value; choice() is a list; spaces trimmed */
    const char *q[] = {"run_name='a,b'", "x=\"c,d\",e", "data.experiment=[1,2],[3, 5]", "y=choice(u, 'v,w')", "z = 1 , 2"};
    bml_sweep *s = expand(q, 5, BML_SWEEPER_GRID, 0, 0);
    if (s) {
        CHECK_INT(bml_sweep_n_jobs(s), 16);
        check_job(s, 0, "run_name=a,b x=c,d data.experiment=[1,2] y=u z=1");
        check_job(s, 15, "run_name=a,b x=e data.experiment=[3, 5] y=v,w z=2");
        CHECK_INT(bml_sweep_n_params(s), 4);
        bml_sweep_free(s);
    }
    /* no list at all: one job; a key given twice keeps its first place and its last value */
    const char *one[] = {"seed=1", "model=mlp", "seed=3"};
    s = expand(one, 3, BML_SWEEPER_GRID, 0, 0);
    if (s) {
        CHECK_INT(bml_sweep_n_jobs(s), 1);
        check_job(s, 0, "seed=3 model=mlp");
        bml_sweep_free(s);
    }
    s = expand(NULL, 0, BML_SWEEPER_GRID, 0, 0);
    if (s) CHECK_INT(bml_sweep_n_jobs(s), 1);
    bml_sweep_free(s);
}

static void test_bad_forms_name_the_override(void) {
    struct {
        const char *ov, *needle;
        bml_sweeper sw;
    } bad[] = {
        {"a=range(5,5)", "override 'a=range(5,5)': the range is empty", BML_SWEEPER_GRID},
        {"a=range(0,5,-1)", "the range is empty", BML_SWEEPER_GRID},
        {"a=range(0,5,0)", "step must not be 0", BML_SWEEPER_GRID},
        {"a=range(x,5)", "'x' is not a number", BML_SWEEPER_GRID},
        {"a=range(1,2,3,4)", "range() takes 1 to 3 arguments", BML_SWEEPER_GRID},
        {"a=1,,2", "override 'a=1,,2': an empty value in the list", BML_SWEEPER_GRID},
        {"a=1,", "an empty value", BML_SWEEPER_GRID},
        {"a='1,2", "unbalanced quote", BML_SWEEPER_GRID},
        {"a=[1,2", "unbalanced brackets", BML_SWEEPER_GRID},
        {"a=1],2", "unbalanced brackets", BML_SWEEPER_GRID},
        {"novalue", "override 'novalue': expected key=value", BML_SWEEPER_GRID},
        {"=3", "expected key=value", BML_SWEEPER_GRID},
        {"a=interval(0,1)", "interval() draws values: use --sweeper random", BML_SWEEPER_GRID},
        {"a=interval(1,0)", "interval() needs low < high", BML_SWEEPER_RANDOM},
        {"a=log_interval(0,1)", "needs a positive low end", BML_SWEEPER_RANDOM},
        {"a=int_interval(1.5,3)", "int_interval() takes integers", BML_SWEEPER_RANDOM},
        {"a=tag(lin, interval(1,2))", "tag(lin, ...) is not supported", BML_SWEEPER_RANDOM},
        {"a=choice()", "an empty value", BML_SWEEPER_GRID},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bml_sweep_opts o = {.version = BML_SWEEP_OPTS_VERSION, .sweeper = bad[i].sw, .trials = 3, .seed = 0, .max_jobs = 0};
        bml_sweep *s = NULL;
        const char *ov[] = {bad[i].ov};
        CHECK_ERR(bml_sweep_expand(ov, 1, &o, &s), BML_ERR_VALUE, bad[i].needle);
        CHECK(s == NULL);
    }
    /* too many jobs, before anything is built */
    const char *big[] = {"a=range(0,100)", "b=range(0,101)"};
    bml_sweep_opts o = {.version = BML_SWEEP_OPTS_VERSION, .sweeper = BML_SWEEPER_GRID, .trials = 0, .seed = 0, .max_jobs = 0};
    bml_sweep *s = NULL;
    CHECK_ERR(bml_sweep_expand(big, 2, &o, &s), BML_ERR_VALUE, "the sweep has 10100 jobs, more than --max-jobs 10000");
    o.max_jobs = 5;
    const char *six[] = {"a=1,2,3", "b=1,2"};
    CHECK_ERR(bml_sweep_expand(six, 2, &o, &s), BML_ERR_VALUE, "6 jobs, more than --max-jobs 5");
    o = (bml_sweep_opts){.version = BML_SWEEP_OPTS_VERSION, .sweeper = BML_SWEEPER_RANDOM, .trials = 0, .seed = 0, .max_jobs = 0};
    CHECK_ERR(bml_sweep_expand(six, 2, &o, &s), BML_ERR_VALUE, "needs --trials N");
}

static void test_random_search(void) {
    const char *ov[] = {"a=interval(-1,1)", "b=log_interval(1e-4,1e-1)", "c=int_interval(3,5)", "d=x,y,z",
                        "e=tag(log, interval(1,100))", "f=int(interval(0,1))", "g=range(0,3)", "plain=7"};
    bml_sweep *s1 = expand(ov, 8, BML_SWEEPER_RANDOM, 200, 11), *s2 = expand(ov, 8, BML_SWEEPER_RANDOM, 200, 11);
    bml_sweep *s3 = expand(ov, 8, BML_SWEEPER_RANDOM, 200, 12);
    if (!s1 || !s2 || !s3) goto out;
    CHECK_INT(bml_sweep_n_jobs(s1), 200);
    CHECK_INT(bml_sweep_n_params(s1), 7);
    int differs = 0, seen_c[3] = {0}, seen_d[3] = {0}, seen_f[2] = {0};
    for (size_t j = 0; j < 200; j++) {
        char *l1 = job_line(s1, j), *l2 = job_line(s2, j), *l3 = job_line(s3, j);
        CHECK_STR(l1, l2); /* the same seed draws the same trials */
        differs |= strcmp(l1, l3) != 0;
        free(l1), free(l2), free(l3);
        double a = atof(bml_sweep_job_value(s1, j, 0)), b = atof(bml_sweep_job_value(s1, j, 1));
        double e = atof(bml_sweep_job_value(s1, j, 4));
        long c = atol(bml_sweep_job_value(s1, j, 2)), f = atol(bml_sweep_job_value(s1, j, 5));
        CHECK(a >= -1 && a <= 1);
        CHECK(b >= 1e-4 && b <= 1e-1);
        CHECK(e >= 1 && e <= 100);
        CHECK(c >= 3 && c <= 5);
        CHECK(f == 0 || f == 1);
        if (c >= 3 && c <= 5) seen_c[c - 3] = 1;
        if (f == 0 || f == 1) seen_f[f] = 1;
        const char *d = bml_sweep_job_value(s1, j, 3);
        CHECK(d && strlen(d) == 1 && d[0] >= 'x' && d[0] <= 'z');
        if (d && d[0] >= 'x' && d[0] <= 'z') seen_d[d[0] - 'x'] = 1;
        const char *g = bml_sweep_job_value(s1, j, 6);
        CHECK(g && (!strcmp(g, "0") || !strcmp(g, "1") || !strcmp(g, "2")));
    }
    CHECK(differs); /* another seed, other trials */
    CHECK(seen_c[0] && seen_c[1] && seen_c[2]); /* both ends of int_interval are reached */
    CHECK(seen_d[0] && seen_d[1] && seen_d[2]);
    CHECK(seen_f[0] && seen_f[1]);
    /* log-uniform: about half the draws below the geometric middle (1e-2.5) */
    int below = 0;
    for (size_t j = 0; j < 200; j++) below += atof(bml_sweep_job_value(s1, j, 1)) < pow(10, -2.5);
    CHECK(below > 70 && below < 130);
out:
    bml_sweep_free(s1);
    bml_sweep_free(s2);
    bml_sweep_free(s3);
}

static void test_sweep_files(void) {
    const char *ov[] = {"model.learning_rate=0.01,0.1", "run_name=x"};
    bml_sweep *s = expand(ov, 2, BML_SWEEPER_GRID, 0, 0);
    if (!s) return;
    bml_sweep_opts o = {.version = BML_SWEEP_OPTS_VERSION, .sweeper = BML_SWEEPER_GRID, .trials = 0, .seed = 0, .max_jobs = 0};
    CHECK_OK(bml_sweep_write_yaml(s, &o, ov, 2, tmp));
    const char *m0 = "{\"overall\":{\"soh\":{\"n\":3,\"rmse\":0.5,\"mae\":0.25,\"mape\":1,\"r2\":0.75,\"max_abs_error\":null}},"
                     "\"fold_summary\":{\"soh\":{\"rmse_mean\":0.4,\"rmse_std\":0.1}}}";
    bml_sweep_result r[2] = {{1, NULL, "sw/0-0.01", m0, 1.5, 1.25}, {0, "model lgbm: bad, \"quoted\"\nsecond line", NULL, NULL, 0.25, NAN}};
    CHECK_OK(bml_sweep_write_csv(s, r, tmp));
    char *p = bml__path_join(tmp, "sweep.csv"), *txt = NULL;
    CHECK_OK(bml__read_file(p, &txt, NULL));
    CHECK_STR(txt, "index,name,overrides,model.learning_rate,status,error,seconds,fit_s,run_dir,soh.rmse,soh.mae,soh.mape,soh.r2,"
                   "soh.max_abs_error,soh.fold_rmse_mean,soh.fold_rmse_std\n"
                   "0,0-0.01,model.learning_rate=0.01,0.01,ok,,1.500,1.250,sw/0-0.01,0.5,0.25,1,0.75,,0.4,0.1\n"
                   "1,1-0.1,model.learning_rate=0.1,0.1,failed,\"model lgbm: bad, \"\"quoted\"\"\nsecond line\",0.250,,,,,,,,,\n");
    free(txt);
    /* the sweep's table, ranked; the failed job last */
    char *table = NULL;
    CHECK_OK(bml_sweep_compare(tmp, NULL, &table));
    CHECK(table && strstr(table, "sorted by soh.rmse (ascending)"));
    CHECK(table && strstr(table, "   1  0-0.01") && strstr(table, "   2  1-0.1 ") && strstr(table, "failed"));
    free(table);
    CHECK_ERR(bml_sweep_compare(tmp, "soh.nope", &table), BML_ERR_NOT_FOUND, "no column 'soh.nope'");
    /* a damaged sweep.csv is an error with its line */
    write_text(p, "index,name,overrides,status,error\n0,a,b\n");
    CHECK_ERR(bml_sweep_compare(tmp, NULL, &table), BML_ERR_PARSE, "sweep.csv:2: 3 fields, the header has 5");
    write_text(p, "index,name\n");
    CHECK_ERR(bml_sweep_compare(tmp, NULL, &table), BML_ERR_PARSE, "needs the columns name, overrides, status and error");
    free(p);
    /* a job whose metrics.json text is damaged makes sweep.csv an error, not a silent empty row */
    bml_sweep_result bad[2] = {{1, NULL, "sw/0", "{\"overall\":[1]}", 1, 1}, {1, NULL, "sw/1", "not json", 1, 1}};
    CHECK_ERR(bml_sweep_write_csv(s, bad, tmp), BML_ERR_PARSE, "sw/0: metrics.json has no 'overall' object");
    p = bml__path_join(tmp, "multirun.yaml");
    CHECK_OK(bml__read_file(p, &txt, NULL));
    CHECK(txt && strstr(txt, "sweeper: grid\n") && strstr(txt, "  - \"model.learning_rate=0.01,0.1\"\n") &&
          strstr(txt, "n_jobs: 2\n") && strstr(txt, "    name: \"1-0.1\"\n"));
    free(txt);
    free(p);
    bml_sweep_free(s);
}

/* multirun.yaml: written once (a second writer is refused and changes nothing), read back into the same
 * sweep (quotes, commas, escapes, random draws), and an edited or damaged one refused with its place */
static void test_sweep_yaml_claim_and_load(void) {
    char *dir = bml__path_join(tmp, "claim"), *p = dir ? bml__path_join(dir, "multirun.yaml") : NULL, *txt = NULL;
    if (!p || bml__mkdir_p(dir) != BML_OK) goto out;
    const char *ov[] = {"model=lgbm,mlp", "name='a,b'", "t=\"x\\\"y\"", "s=1e-3,0.5", "u=plain \\ back"};
    bml_sweep_opts o = {.version = BML_SWEEP_OPTS_VERSION, .sweeper = BML_SWEEPER_GRID, .trials = 0, .seed = 0, .max_jobs = 0};
    bml_sweep *s = expand(ov, 5, BML_SWEEPER_GRID, 0, 0), *r = NULL, *other = expand(ov, 1, BML_SWEEPER_GRID, 0, 0);
    if (!s || !other) goto out2;
    CHECK_OK(bml_sweep_write_yaml(s, &o, ov, 5, dir));
    CHECK_OK(bml__read_file(p, &txt, NULL));
    CHECK_ERR(bml_sweep_write_yaml(other, &o, ov, 1, dir), BML_ERR_STATE, "already holds a sweep (its multirun.yaml)");
    char *again = NULL;
    CHECK_OK(bml__read_file(p, &again, NULL));
    CHECK(txt && again && !strcmp(txt, again)); /* the first sweep's, untouched */
    free(again);
    bml_sweep_opts lo = {.version = BML_SWEEP_OPTS_VERSION, .sweeper = BML_SWEEPER_RANDOM, .trials = 3, .seed = 3, .max_jobs = 0};
    CHECK_OK(bml_sweep_load(dir, &lo, &r));
    if (r) {
        CHECK_INT(lo.sweeper, BML_SWEEPER_GRID);
        CHECK_INT(bml_sweep_n_jobs(r), 4);
        size_t n = 0;
        const char *const *given = bml_sweep_overrides(r, &n);
        CHECK_INT(n, 5);
        for (size_t i = 0; i < n && i < 5; i++) CHECK_STR(given[i], ov[i]);
        for (size_t j = 0; j < 4; j++) {
            char *a = job_line(s, j), *b = job_line(r, j);
            CHECK_STR(a, b);
            free(a), free(b);
            CHECK_STR(bml_sweep_job_name(r, j), bml_sweep_job_name(s, j));
        }
        bml_sweep_free(r);
        r = NULL;
    }
    /* random: the draws come back from the stored seed */
    char *rdir = bml__path_join(tmp, "claim-random");
    const char *rov[] = {"a=interval(0,1)", "b=int_interval(1,9)", "c=x,y"};
    bml_sweep *rs = expand(rov, 3, BML_SWEEPER_RANDOM, 7, 12345);
    bml_sweep_opts ro = {.version = BML_SWEEP_OPTS_VERSION, .sweeper = BML_SWEEPER_RANDOM, .trials = 7, .seed = 12345, .max_jobs = 0};
    if (rdir && rs && bml__mkdir_p(rdir) == BML_OK) {
        CHECK_OK(bml_sweep_write_yaml(rs, &ro, rov, 3, rdir));
        bml_sweep_opts lo2 = BML_SWEEP_OPTS_INIT;
        CHECK_OK(bml_sweep_load(rdir, &lo2, &r));
        CHECK_INT(lo2.sweeper, BML_SWEEPER_RANDOM);
        CHECK_INT(lo2.trials, 7);
        CHECK(lo2.seed == 12345);
        for (size_t j = 0; r && j < 7; j++) {
            char *a = job_line(rs, j), *b = job_line(r, j);
            CHECK_STR(a, b);
            free(a), free(b);
        }
        bml_sweep_free(r);
        r = NULL;
    }
    bml_sweep_free(rs);
    free(rdir);
    /* edited or damaged files: refused, naming the place */
    struct {
        const char *from, *to, *needle;
    } bad[] = {
        {"\"model=lgbm\"", "\"model=rnn\"", "multirun.yaml:16:7: job 0 lists the overrides 'model=rnn name=a,b"},
        {"name: \"1-lgbm", "name: \"1-lgbX", "multirun.yaml:22:11: job 1 is named '1-lgbX_0.5', but the sweep names it '1-lgbm_0.5'"},
        {"n_jobs: 4", "n_jobs: 5", "multirun.yaml:13:3: 4 jobs listed, n_jobs says 5"},
        {"sweeper: grid", "sweeper: grid\nseed: 3", "trials and seed belong to a random sweep"},
        {"sweeper: grid", "sweeper: bayes", "multirun.yaml:1:10: sweeper must be grid or random, not 'bayes'"},
        {"index: 2", "index: 7", "job 2 has index 7"},
        {"params:", "extra: 1\nparams:", "multirun.yaml:8:1: unknown key 'extra'"},
        {"  - \"s=1e-3,0.5\"", "  - \"s=1e-3,0.5", "multirun.yaml:"},
        {"  - \"s=1e-3,0.5\"", "  - \"s=1e-3,0.5\\0\"", "holds a NUL character"},
        {"  - \"s=1e-3,0.5\"", "  - \"s=range(5,5)\"", "the sweep's overrides: override 's=range(5,5)': the range is empty"},
    };
    for (size_t i = 0; txt && i < sizeof bad / sizeof *bad; i++) {
        const char *at = strstr(txt, bad[i].from);
        CHECK(at != NULL);
        if (!at) continue;
        char *t = bml__sprintf("%.*s%s%s", (int)(at - txt), txt, bad[i].to, at + strlen(bad[i].from));
        unlink(p);
        write_text(p, t);
        free(t);
        CHECK_ERR(bml_sweep_load(dir, NULL, &r), i < 2 || i == 9 ? BML_ERR_VALUE : BML_ERR_PARSE, bad[i].needle);
        CHECK(r == NULL);
    }
    unlink(p);
    CHECK_ERR(bml_sweep_load(dir, NULL, &r), BML_ERR_IO, "multirun.yaml");
out2:
    bml_sweep_free(s);
    bml_sweep_free(other);
out:
    free(txt);
    free(p);
    free(dir);
}

/* sweep.csv: a cancelled job and one without timing; bml_sweep_clean takes what killed writers left */
static void test_sweep_cancelled_and_clean(void) {
    const char *ov[] = {"a=1,2,3"};
    bml_sweep *s = expand(ov, 1, BML_SWEEPER_GRID, 0, 0);
    char *dir = bml__path_join(tmp, "cancel");
    if (!s || !dir || bml__mkdir_p(dir) != BML_OK) goto out;
    const char *m = "{\"overall\":{\"soh\":{\"rmse\":0.5}}}";
    bml_sweep_result r[3] = {{1, NULL, "x/0-1", m, NAN, NAN},
                             {-1, "the sweep was stopped by SIGTERM while the job ran", NULL, NULL, 2.5, NAN},
                             {-1, NULL, NULL, NULL, NAN, NAN}};
    CHECK_OK(bml_sweep_write_csv(s, r, dir));
    char *p = bml__path_join(dir, "sweep.csv"), *txt = NULL;
    CHECK_OK(bml__read_file(p, &txt, NULL));
    CHECK_STR(txt, "index,name,overrides,a,status,error,seconds,fit_s,run_dir,soh.rmse,soh.mae,soh.mape,soh.r2,soh.max_abs_error\n"
                   "0,0-1,a=1,1,ok,,,,x/0-1,0.5,,,,\n"
                   "1,1-2,a=2,2,cancelled,the sweep was stopped by SIGTERM while the job ran,2.500,,,,,,,\n"
                   "2,2-3,a=3,3,cancelled,not run,,,,,,,,\n");
    free(txt);
    /* compare ranks the cancelled jobs last, as failed ones */
    char *table = NULL;
    CHECK_OK(bml_sweep_compare(dir, NULL, &table));
    CHECK(table && strstr(table, "   1  0-1") && strstr(table, "   2  1-2") && strstr(table, "   3  2-3") && strstr(table, "cancelled "));
    free(table);
    /* a partial run folder whose writer is gone, one whose writer lives (a lock held), a sweep.csv write cut short */
    bml__stage live = {NULL, -1};
    CHECK_OK(bml__stage_open(&live, dir, "live"));
    char *dead = bml__path_join(dir, ".partial-dead-abcdef"), *deadf = dead ? bml__path_join(dead, "config.yaml") : NULL;
    char *tmpf = bml__path_join(dir, ".sweep.csv.tmp-XyZ123");
    if (dead && deadf && tmpf && bml__mkdir_p(dead) == BML_OK) {
        write_text(deadf, "x");
        write_text(tmpf, "half");
        size_t n = 0;
        CHECK_OK(bml_sweep_clean(dir, &n));
        CHECK_INT(n, 2);
        CHECK(!bml__is_dir(dead) && !bml__is_file(tmpf) && bml__is_dir(live.path) && bml__is_file(p));
    }
    bml__stage_discard(&live);
    free(dead);
    free(deadf);
    free(tmpf);
    free(p);
out:
    free(dir);
    bml_sweep_free(s);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/bml-test-sweep-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    static const test_case tests[] = {T(test_grid_order_is_hydras), T(test_every_value_form), T(test_bad_forms_name_the_override),
                                      T(test_random_search), T(test_sweep_files),
                                      T(test_sweep_yaml_claim_and_load), T(test_sweep_cancelled_and_clean)};
    int rc = run_tests("sweep", tests, sizeof tests / sizeof *tests);
    bml__rm_rf(tmp);
    return rc;
}
