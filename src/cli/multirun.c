/* `batteryml run -m`: the jobs of a sweep run by worker processes (fork, one job each, at most --jobs at
 * a time, each worker's backends limited to cores / workers threads), or, under mpirun, by the MPI ranks
 * with dynamic scheduling (rank 0 hands the next job to whichever rank asks). Every job is an ordinary
 * run written into the sweep directory; rank 0 (or the parent process) alone writes multirun.yaml and
 * sweep.csv. A job's numbers do not depend on where or beside what it ran. */
#define _GNU_SOURCE
#include "cli/multirun.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef BML_HAVE_MPI
#include <mpi.h>
#include <pthread.h>
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *fmt_str(const char *fmt, const char *a, const char *b) {
    size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, fmt, a, b ? b : "");
    return s;
}

/* ------------------------------------------------------------------ one job */

typedef struct {
    int ok;
    char *error, *run_dir, *metrics_json;
    double seconds, fit_seconds;
} job_result;

static void job_result_release(job_result *r) {
    free(r->error);
    free(r->run_dir);
    free(r->metrics_json);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const bml_cli_multirun_opts *o;
    bml_sweep *sweep;
    bml_config **cfg;    /* (n_jobs) composed before anything runs */
    const char *dir;     /* the sweep directory */
    size_t n_jobs;
    job_result *res;     /* (n_jobs) */
    size_t n_done, n_failed;
    double t0;
} sweep_t;

/* Run job j in this process. The run lands in <sweep dir>/<job name>. */
static void run_job(const sweep_t *sw, size_t j, job_result *r) {
    memset(r, 0, sizeof *r);
    double t0 = now_s();
    bml_config *cfg = sw->cfg[j];
    bml_status st = bml_config_set(cfg, "output_dir", sw->dir);
    if (st == BML_OK) st = bml_config_set(cfg, "run_name", bml_sweep_job_name(sw->sweep, j));
    bml_run_opts ro = {sw->o->base_dir, NULL, NULL, 1, NULL, NULL};
    bml_run_result *rr = NULL;
    if (st == BML_OK) st = bml_run_experiment(cfg, &ro, &rr);
    r->seconds = now_s() - t0;
    if (st == BML_OK) {
        r->ok = 1;
        r->fit_seconds = rr->t_fit;
        r->run_dir = dup_str(rr->run_dir);
        r->metrics_json = dup_str(rr->metrics_json);
    } else {
        r->error = dup_str(bml_last_error());
    }
    bml_run_result_free(rr);
}

/* a finished job's metrics.json, read from its run directory (a worker process or another rank wrote it);
 * a job whose file cannot be read counts as failed */
static void read_metrics(job_result *r) {
    char *path = r->run_dir ? fmt_str("%s/metrics.json", r->run_dir, NULL) : NULL;
    errno = path ? 0 : ENOMEM;
    FILE *f = path ? fopen(path, "rb") : NULL;
    struct stat sb;
    if (f && fstat(fileno(f), &sb) == 0 && (r->metrics_json = malloc((size_t)sb.st_size + 1))) {
        size_t n = fread(r->metrics_json, 1, (size_t)sb.st_size, f);
        r->metrics_json[n] = 0;
    }
    int e = errno;
    if (f) fclose(f);
    if (!r->metrics_json) {
        r->ok = 0;
        r->error = fmt_str("the job finished but %s cannot be read: %s", path ? path : "metrics.json", e ? strerror(e) : "unknown reason");
    }
    free(path);
}

/* the first target's RMSE of a finished job, for the progress line */
static void progress(sweep_t *sw, size_t j) {
    const job_result *r = &sw->res[j];
    sw->n_done++;
    if (!r->ok) sw->n_failed++;
    if (sw->o->quiet) return;
    const char *name = bml_sweep_job_name(sw->sweep, j);
    if (!r->ok) {
        printf("[%zu/%zu] %s  FAILED after %.2f s: %s\n", sw->n_done, sw->n_jobs, name, r->seconds, r->error ? r->error : "?");
    } else {
        const char *m = r->metrics_json ? strstr(r->metrics_json, "\"rmse\"") : NULL;
        double rmse = 0;
        int have = m && sscanf(m, "\"rmse\": %lf", &rmse) == 1;
        if (have) printf("[%zu/%zu] %s  ok  %.2f s  RMSE %.5g\n", sw->n_done, sw->n_jobs, name, r->seconds, rmse);
        else printf("[%zu/%zu] %s  ok  %.2f s\n", sw->n_done, sw->n_jobs, name, r->seconds);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------ worker processes */

/* Worker `slot` keeps to its own `share` of the cores this process may use (the budget --jobs is split
 * among the workers), so that workers x threads never exceeds it: the library sizes its threads (folds,
 * XGBoost) from that share. A budget above the cores wraps around them. */
static void pin_worker(int slot, int share) {
    cpu_set_t all, mine;
    if (sched_getaffinity(0, sizeof all, &all) != 0) return;
    int n = CPU_COUNT(&all), k = 0;
    if (share > n) share = n;
    int first = (slot * share) % n;
    CPU_ZERO(&mine);
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &all)) continue;
        int rel = (k - first + n) % n; /* position after the worker's first core, wrapping */
        if (rel < share) CPU_SET(c, &mine);
        k++;
    }
    if (CPU_COUNT(&mine) > 0) sched_setaffinity(0, sizeof mine, &mine);
}

void bml_cli_limit_cores(int n) {
    pin_worker(0, n);
    bml_parallel_set_threads(bml_parallel_cores());
}

/* the result as one message: "ok\t<seconds>\t<fit seconds>\t<run dir>" or "failed\t<seconds>\t0\t<message>" */
static void child_main(const sweep_t *sw, size_t j, int fd, int slot, int share) {
    pin_worker(slot, share);
    bml_parallel_set_threads(bml_parallel_cores());
    job_result r;
    run_job(sw, j, &r);
    char head[64];
    snprintf(head, sizeof head, "%s\t%.6f\t%.6f\t", r.ok ? "ok" : "failed", r.seconds, r.fit_seconds);
    const char *body = r.ok ? (r.run_dir ? r.run_dir : "") : (r.error ? r.error : "");
    size_t lh = strlen(head), lb = strlen(body);
    int bad = write(fd, head, lh) != (ssize_t)lh;
    for (size_t off = 0; !bad && off < lb;) {
        ssize_t w = write(fd, body + off, lb - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) bad = 1;
        else off += (size_t)w;
    }
    close(fd);
    _exit(bad ? 3 : 0);
}

typedef struct {
    pid_t pid;
    int fd;
    size_t job;
    char *buf;
    size_t len, cap;
} worker;

/* a finished worker: its message, or how it ended */
static void collect(sweep_t *sw, worker *w) {
    int status = 0;
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR) {
    }
    job_result *r = &sw->res[w->job];
    memset(r, 0, sizeof *r);
    char *t1 = w->buf ? strchr(w->buf, '\t') : NULL, *t0 = t1 ? strchr(t1 + 1, '\t') : NULL;
    char *t2 = t0 ? strchr(t0 + 1, '\t') : NULL;
    int told = WIFEXITED(status) && WEXITSTATUS(status) == 0 && t1 && t2;
    if (told) {
        *t1 = *t0 = *t2 = 0;
        r->ok = !strcmp(w->buf, "ok");
        r->seconds = strtod(t1 + 1, NULL);
        r->fit_seconds = strtod(t0 + 1, NULL);
        if (!r->ok) r->error = dup_str(t2 + 1);
        else if (!t2[1]) told = 0; /* "ok" without the run directory: the worker ran out of memory naming it */
        else {
            r->run_dir = dup_str(t2 + 1);
            read_metrics(r);
        }
    }
    /* the worker's report is lost (it could not write it, or ended after publishing its run): the job's run
     * directory, which appears only when complete, is its result where it is there */
    char *dir = told ? NULL : fmt_str("%s/%s", sw->dir, bml_sweep_job_name(sw->sweep, w->job));
    struct stat sb;
    if (dir && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        r->ok = 1;
        r->run_dir = dir;
        read_metrics(r);
    } else if (!told) {
        free(dir);
        r->ok = 0;
        char why[96];
        if (WIFSIGNALED(status)) snprintf(why, sizeof why, "the job's process was killed by signal %d", WTERMSIG(status));
        else snprintf(why, sizeof why, "the job's process ended with status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        r->error = dup_str(why);
    }
    free(w->buf);
    close(w->fd);
    memset(w, 0, sizeof *w);
    w->fd = -1;
    progress(sw, r - sw->res);
}

static int run_local(sweep_t *sw) {
    /* --jobs is the budget of cores: one worker per job up to it, each with budget / workers of them */
    int budget = sw->o->jobs > 0 ? sw->o->jobs : bml_parallel_cores();
    int n_workers = budget;
    if ((size_t)n_workers > sw->n_jobs) n_workers = (int)sw->n_jobs;
    if (n_workers < 1) n_workers = 1;
    int share = budget / n_workers > 0 ? budget / n_workers : 1;
    worker *w = calloc((size_t)n_workers, sizeof *w);
    struct pollfd *pf = calloc((size_t)n_workers, sizeof *pf);
    if (!w || !pf) {
        free(w);
        free(pf);
        fprintf(stderr, "batteryml: error: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n_workers; i++) w[i].fd = -1;
    fflush(stdout);
    fflush(stderr);
    size_t next = 0, running = 0;
    int rc = 0;
    while (next < sw->n_jobs || running) {
        for (int i = 0; i < n_workers && next < sw->n_jobs; i++) {
            if (w[i].fd >= 0) continue;
            int p[2];
            if (pipe(p) != 0) {
                fprintf(stderr, "batteryml: error: cannot start a worker: %s\n", strerror(errno));
                rc = 1;
                break;
            }
            pid_t pid = fork();
            if (pid < 0) {
                fprintf(stderr, "batteryml: error: cannot start a worker: %s\n", strerror(errno));
                close(p[0]);
                close(p[1]);
                rc = 1;
                break;
            }
            if (pid == 0) {
                close(p[0]);
                for (int k = 0; k < n_workers; k++)
                    if (w[k].fd >= 0) close(w[k].fd);
                child_main(sw, next, p[1], i, share);
            }
            close(p[1]);
            w[i] = (worker){pid, p[0], next, NULL, 0, 0};
            next++;
            running++;
        }
        if (rc) break;
        int np = 0;
        for (int i = 0; i < n_workers; i++)
            if (w[i].fd >= 0) pf[np++] = (struct pollfd){w[i].fd, POLLIN, 0};
        if (!np) continue;
        if (poll(pf, (nfds_t)np, -1) < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "batteryml: error: poll: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        for (int k = 0; k < np; k++) {
            if (!pf[k].revents) continue;
            worker *x = NULL;
            for (int i = 0; i < n_workers; i++)
                if (w[i].fd == pf[k].fd) x = &w[i];
            if (!x) continue;
            if (x->len + 4097 > x->cap) {
                size_t cap = 2 * x->cap + 4097;
                char *nb = realloc(x->buf, cap);
                if (!nb) {
                    rc = 1;
                    break;
                }
                x->buf = nb, x->cap = cap;
            }
            ssize_t got = read(x->fd, x->buf + x->len, x->cap - x->len - 1);
            if (got < 0 && errno == EINTR) continue;
            if (got > 0) {
                x->len += (size_t)got;
                x->buf[x->len] = 0;
                continue;
            }
            collect(sw, x); /* end of the message: the worker is done */
            running--;
        }
        if (rc) break;
    }
    /* on a failure to start workers: wait for those still running */
    for (int i = 0; i < n_workers; i++)
        if (w[i].fd >= 0) collect(sw, &w[i]);
    free(w);
    free(pf);
    return rc;
}

/* ------------------------------------------------------------------ MPI ranks */
#ifdef BML_HAVE_MPI
/* One scheduler for the jobs of a sweep and the folds of a study: rank 0 hands out job indices in order to
 * whichever rank asks (a scheduler thread beside rank 0's own work); each request carries the result of
 * the asking rank's previous job: an int64 index (-1: none, -2: this rank leaves without work) and the
 * result's bytes. */
enum { TAG_ASK = 1, TAG_JOB = 2 };

typedef struct {
    size_t n_jobs;
    /* a rank's job j: *msg (malloc'ed, *len bytes; NULL on no memory) goes back to rank 0 */
    void (*run)(void *user, size_t j, char **msg, size_t *len);
    /* rank 0 (the scheduler thread): job j's result; returns 1 to hand out no further jobs */
    int (*done)(void *user, size_t j, const char *msg, size_t len);
    void *user;
} mpi_pool;

static void ask(long long job, const char *msg, size_t len) {
    char *m = malloc(sizeof job + len);
    if (!m) { /* the result is lost: rank 0 reports the job without a result */
        job = job >= 0 ? -1 : job;
        len = 0;
        m = (char *)&job;
        MPI_Send(m, (int)sizeof job, MPI_BYTE, 0, TAG_ASK, MPI_COMM_WORLD);
        return;
    }
    memcpy(m, &job, sizeof job);
    if (len) memcpy(m + sizeof job, msg, len);
    MPI_Send(m, (int)(sizeof job + len), MPI_BYTE, 0, TAG_ASK, MPI_COMM_WORLD);
    free(m);
}

/* every rank's main thread: ask rank 0 for a job, run it, report it with the next request */
static void mpi_worker(const mpi_pool *p) {
    long long job = -1;
    char *msg = NULL;
    size_t len = 0;
    for (;;) {
        ask(job, msg, len);
        free(msg);
        msg = NULL;
        len = 0;
        long long next;
        MPI_Recv(&next, 1, MPI_LONG_LONG, 0, TAG_JOB, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (next < 0) break;
        p->run(p->user, (size_t)next, &msg, &len);
        job = next;
    }
}

/* a rank with no work to do (its study stopped before the jobs): rank 0 counts it out */
static void mpi_leave(void) { ask(-2, NULL, 0); }

typedef struct {
    const mpi_pool *pool;
    int n_workers; /* ranks whose main thread asks for jobs */
} sched_arg;

/* rank 0: hand out jobs in order to whichever rank asks, give what comes back to pool->done; polls with a
 * short sleep so that rank 0's own worker keeps its core */
static void *mpi_scheduler(void *arg) {
    const sched_arg *a = arg;
    const mpi_pool *p = a->pool;
    long long next = 0;
    int stopped = 0, stop = 0;
    while (stopped < a->n_workers) {
        int flag = 0;
        MPI_Status stt;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_ASK, MPI_COMM_WORLD, &flag, &stt);
        if (!flag) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        int count = 0;
        MPI_Get_count(&stt, MPI_BYTE, &count);
        char *m = malloc((size_t)count + 1);
        if (!m) { /* the message cannot be received, and the rank that sent it waits for an answer */
            fprintf(stderr, "batteryml: error: out of memory for a result of %d bytes: stopping every rank\n", count);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        MPI_Recv(m, count, MPI_BYTE, stt.MPI_SOURCE, TAG_ASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        long long done = -1;
        if ((size_t)count >= sizeof done) memcpy(&done, m, sizeof done);
        if (done >= 0 && (unsigned long long)done < p->n_jobs)
            stop |= p->done(p->user, (size_t)done, m + sizeof done, (size_t)count - sizeof done);
        free(m);
        if (done == -2) { /* left without asking for work */
            stopped++;
            continue;
        }
        long long give = !stop && (size_t)next < p->n_jobs ? next++ : -1;
        if (give < 0) stopped++;
        MPI_Send(&give, 1, MPI_LONG_LONG, stt.MPI_SOURCE, TAG_JOB, MPI_COMM_WORLD);
    }
    return NULL;
}

/* The pool's jobs over every rank; rank 0 also receives and records the results. threaded: MPI gave
 * MPI_THREAD_MULTIPLE (rank 0 then works too, beside its scheduler thread). */
static void mpi_run_pool(const mpi_pool *p, int rank, int size, int threaded) {
    if (rank != 0) {
        mpi_worker(p);
        return;
    }
    sched_arg a = {p, threaded ? size : size - 1};
    pthread_t th;
    if (threaded && pthread_create(&th, NULL, mpi_scheduler, &a) == 0) {
        mpi_worker(p);
        pthread_join(th, NULL);
    } else if (size == 1) { /* no other rank and no thread: the jobs here */
        for (size_t j = 0; j < p->n_jobs; j++) {
            char *msg = NULL;
            size_t len = 0;
            p->run(p->user, j, &msg, &len);
            int stop = p->done(p->user, j, msg ? msg : "", msg ? len : 0);
            free(msg);
            if (stop) break;
        }
    } else {
        a.n_workers = size - 1;
        mpi_scheduler(&a);
    }
}

/* the sweep's jobs as a pool: a job's result is "<ok>\t<seconds>\t<fit seconds>\t<run dir or error>" */
static void sweep_run(void *user, size_t j, char **msg, size_t *len) {
    sweep_t *sw = user;
    job_result r;
    run_job(sw, j, &r);
    const char *text = r.ok ? (r.run_dir ? r.run_dir : "") : (r.error ? r.error : "");
    size_t n = strlen(text) + 64;
    *msg = malloc(n);
    *len = *msg ? (size_t)snprintf(*msg, n, "%d\t%.6f\t%.6f\t%s", r.ok, r.seconds, r.fit_seconds, text) + 1 : 0;
    job_result_release(&r);
}

static int sweep_done(void *user, size_t j, const char *msg, size_t len) {
    sweep_t *sw = user;
    job_result *r = &sw->res[j];
    char *m = calloc(len + 1, 1);
    if (m) memcpy(m, msg, len);
    char *t1 = m ? strchr(m, '\t') : NULL, *t2 = t1 ? strchr(t1 + 1, '\t') : NULL, *t3 = t2 ? strchr(t2 + 1, '\t') : NULL;
    if (t3) {
        r->ok = atoi(m) == 1;
        r->seconds = strtod(t1 + 1, NULL);
        r->fit_seconds = strtod(t2 + 1, NULL);
        if (r->ok) {
            r->run_dir = dup_str(t3 + 1);
            read_metrics(r);
        } else {
            r->error = dup_str(t3 + 1);
        }
    } else {
        r->error = dup_str("the job's result was lost");
    }
    free(m);
    progress(sw, j);
    return 0;
}

static int in_mpi_launch(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}
#endif

/* ------------------------------------------------------------------ the sweep */

/* mkdir -p of the folders above path */
static int make_parents(const char *path) {
    char *p = dup_str(path);
    if (!p) return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    free(p);
    return 0;
}

/* multirun/<date>/<time>, or the given folder; a new folder either way (a suffix on a name taken) */
static char *make_sweep_dir(const char *given) {
    char base[64];
    if (given && make_parents(given) != 0) return NULL;
    if (!given) {
        time_t t = time(NULL);
        struct tm tmv;
        localtime_r(&t, &tmv);
        strftime(base, sizeof base, "multirun/%Y-%m-%d/%H-%M-%S", &tmv);
        if (mkdir("multirun", 0777) != 0 && errno != EEXIST) return NULL;
        char day[32];
        strftime(day, sizeof day, "multirun/%Y-%m-%d", &tmv);
        if (mkdir(day, 0777) != 0 && errno != EEXIST) return NULL;
    }
    const char *b = given ? given : base;
    for (int k = 0; k < 1000; k++) {
        char suffix[16] = "";
        if (k) snprintf(suffix, sizeof suffix, "-%d", k);
        char *d = fmt_str("%s%s", b, suffix);
        if (!d) return NULL;
        if (mkdir(d, 0777) == 0) return d;
        int e = errno;
        free(d);
        if (e != EEXIST) {
            errno = e;
            return NULL;
        }
        if (given) { /* a given folder may exist if it holds no sweep yet */
            char *y = fmt_str("%s/%s", given, "multirun.yaml");
            int taken = y && access(y, F_OK) == 0;
            free(y);
            if (!taken) return dup_str(given);
        }
    }
    errno = EEXIST;
    return NULL;
}

int bml_cli_multirun(const bml_cli_multirun_opts *o, int *argc, char ***argv) {
    int rank = 0, size = 1;
#ifdef BML_HAVE_MPI
    int use_mpi = in_mpi_launch(), provided = 0;
    if (use_mpi) {
        MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
    }
#else
    (void)argc, (void)argv, (void)size;
#endif
    sweep_t sw = {o, NULL, NULL, NULL, 0, NULL, 0, 0, now_s()};
    bml_sweep_opts so = o->sweep;
    int rc = 0;
    char *dir = NULL;
    /* the random sweeper draws from the configuration's seed unless --seed was given */
    if (so.sweeper == BML_SWEEPER_RANDOM && !o->seed_given) {
        bml_config *base = NULL;
        const char **plain = calloc(o->n_overrides + 1, sizeof *plain);
        size_t np = 0;
        for (size_t i = 0; plain && i < o->n_overrides; i++)
            if (!strncmp(o->overrides[i], "seed=", 5)) plain[np++] = o->overrides[i];
        if (plain && o->compose(o->compose_user, plain, np, &base) == BML_OK) {
            const char *sv = bml_config_get(base, "seed");
            so.seed = sv ? strtoull(sv, NULL, 10) : 42;
        }
        bml_config_free(base);
        free(plain);
    }
    if (bml_sweep_expand(o->overrides, o->n_overrides, &so, &sw.sweep) != BML_OK) {
        if (rank == 0) fprintf(stderr, "batteryml: error: %s\n", bml_last_error());
        rc = 2;
        goto out;
    }
    sw.n_jobs = bml_sweep_n_jobs(sw.sweep);
    sw.cfg = calloc(sw.n_jobs + 1, sizeof *sw.cfg);
    sw.res = calloc(sw.n_jobs + 1, sizeof *sw.res);
    if (!sw.cfg || !sw.res) {
        fprintf(stderr, "batteryml: error: out of memory\n");
        rc = 1;
        goto out;
    }
    /* every job's configuration, before anything runs: an unknown key or option in a list stops here */
    for (size_t j = 0; j < sw.n_jobs; j++) {
        size_t n;
        const char *const *ov = bml_sweep_job_overrides(sw.sweep, j, &n);
        if (o->compose(o->compose_user, ov, n, &sw.cfg[j]) != BML_OK) {
            if (rank == 0)
                fprintf(stderr, "batteryml: error: job %zu (%s): %s\n", j, bml_sweep_job_label(sw.sweep, j), bml_last_error());
            rc = 2;
            goto out;
        }
    }
    /* the sweep directory: made by rank 0, its name sent to the others */
    if (rank == 0) {
        dir = make_sweep_dir(o->sweep_dir);
        if (!dir) fprintf(stderr, "batteryml: error: cannot create the sweep directory: %s\n", strerror(errno));
        else if (bml_sweep_write_yaml(sw.sweep, &so, o->overrides, o->n_overrides, dir) != BML_OK) {
            fprintf(stderr, "batteryml: error: %s\n", bml_last_error());
            free(dir);
            dir = NULL;
        }
    }
#ifdef BML_HAVE_MPI
    if (use_mpi) {
        long len = dir ? (long)strlen(dir) + 1 : 0;
        MPI_Bcast(&len, 1, MPI_LONG, 0, MPI_COMM_WORLD);
        if (rank != 0 && len > 0) dir = calloc((size_t)len, 1);
        if (len > 0) MPI_Bcast(dir, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD);
    }
#endif
    if (!dir) {
        rc = 1;
        goto out;
    }
    sw.dir = dir;
    if (rank == 0 && !o->quiet) {
        printf("sweep: %zu jobs (%s) into %s\n", sw.n_jobs, so.sweeper == BML_SWEEPER_RANDOM ? "random" : "grid", dir);
        fflush(stdout);
    }
#ifdef BML_HAVE_MPI
    if (use_mpi) {
        const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
        int per_node = local ? atoi(local) : size;
        bml_parallel_set_threads(bml_parallel_cores() / (per_node > 0 ? per_node : 1));
        mpi_pool pool = {sw.n_jobs, sweep_run, sweep_done, &sw};
        mpi_run_pool(&pool, rank, size, provided >= MPI_THREAD_MULTIPLE);
    } else
#endif
    {
        rc = run_local(&sw);
    }
    if (rank == 0) {
        bml_sweep_result *r = calloc(sw.n_jobs + 1, sizeof *r);
        for (size_t j = 0; r && j < sw.n_jobs; j++)
            r[j] = (bml_sweep_result){sw.res[j].ok, sw.res[j].error, sw.res[j].run_dir, sw.res[j].metrics_json, sw.res[j].seconds,
                                      sw.res[j].fit_seconds};
        if (!r || bml_sweep_write_csv(sw.sweep, r, dir) != BML_OK) {
            fprintf(stderr, "batteryml: error: sweep.csv: %s\n", r ? bml_last_error() : "out of memory");
            if (!rc) rc = 1;
        }
        free(r);
        size_t failed = 0;
        for (size_t j = 0; j < sw.n_jobs; j++) failed += !sw.res[j].ok;
        if (!o->quiet)
            printf("sweep: %zu jobs, %zu failed, in %.2f s: %s/sweep.csv\n", sw.n_jobs, failed, now_s() - sw.t0, dir);
        else
            printf("%s\n", dir);
        if (!rc && failed) rc = failed > 100 ? 100 : (int)failed;
    }
out:
#ifdef BML_HAVE_MPI
    if (use_mpi) {
        MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
        MPI_Finalize();
    }
#endif
    for (size_t j = 0; sw.res && j < sw.n_jobs; j++) job_result_release(&sw.res[j]);
    for (size_t j = 0; sw.cfg && j < sw.n_jobs; j++) bml_config_free(sw.cfg[j]);
    free(sw.res);
    free(sw.cfg);
    bml_sweep_free(sw.sweep);
    free(dir);
    return rc;
}

/* ------------------------------------------------------------------ one study's folds over the ranks */
#ifdef BML_HAVE_MPI
typedef struct {
    bml_fold_job *job;
    int rank, size, threaded;
    int called; /* the study reached its folds in this process */
} folds_t;

/* a fold's result: byte 1 and bml_fold_job_run's bytes, or byte 0 and the error message */
static void fold_run(void *user, size_t f, char **msg, size_t *len) {
    folds_t *c = user;
    char *bytes = NULL, *err = NULL;
    size_t n = 0;
    bml_status st = bml_fold_job_run(c->job, f, &bytes, &n);
    if (st == BML_OK && n > (size_t)INT32_MAX - 64) {
        free(bytes);
        bytes = NULL;
        err = dup_str("the fold's result is larger than one MPI message holds (2 GB)");
    } else if (st != BML_OK) {
        char where[32];
        snprintf(where, sizeof where, " (rank %d)", c->rank);
        err = fmt_str("%s%s", bml_last_error(), where);
    }
    const char *body = err ? err : bytes;
    size_t bl = err ? strlen(err) + 1 : n;
    *msg = body ? malloc(bl + 1) : NULL;
    *len = *msg ? bl + 1 : 0;
    if (*msg) {
        (*msg)[0] = err ? 0 : 1;
        memcpy(*msg + 1, body, bl);
    }
    free(bytes);
    free(err);
}

/* rank 0: a fold's result taken in, or its failure recorded; a failure hands out no further folds */
static int fold_done(void *user, size_t f, const char *msg, size_t len) {
    folds_t *c = user;
    if (len >= 1 && msg[0] == 1) {
        if (bml_fold_job_accept(c->job, f, msg + 1, len - 1) == BML_OK) return 0;
        bml_fold_job_fail(c->job, f, bml_last_error());
        return 1;
    }
    char *text = len > 1 ? calloc(len, 1) : NULL;
    if (text) memcpy(text, msg + 1, len - 1);
    bml_fold_job_fail(c->job, f, text ? text : "failed (its message was lost)");
    free(text);
    return 1;
}

static bml_status folds_exec(void *user, bml_fold_job *job, int *assemble) {
    folds_t *c = user;
    c->job = job;
    c->called = 1;
    mpi_pool p = {bml_fold_job_n_folds(job), fold_run, fold_done, c};
    mpi_run_pool(&p, c->rank, c->size, c->threaded);
    *assemble = c->rank == 0;
    return BML_OK;
}
#endif

int bml_cli_run_ranks(const bml_config *cfg, const bml_run_opts *opts, int quiet, int *argc, char ***argv) {
#ifndef BML_HAVE_MPI
    (void)cfg, (void)opts, (void)quiet, (void)argc, (void)argv;
    fprintf(stderr, "batteryml: error: this program was built without MPI: under mpirun it cannot spread a study's folds over "
                    "the ranks (install libopenmpi-dev and rebuild, or run without mpirun: --jobs N)\n");
    return 2;
#else
    int provided = 0, rank = 0, size = 1;
    MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int per_node = local ? atoi(local) : size;
    bml_parallel_set_threads(bml_parallel_cores() / (per_node > 0 ? per_node : 1));
    folds_t c = {NULL, rank, size, provided >= MPI_THREAD_MULTIPLE, 0};
    bml_fold_executor ex = {folds_exec, &c};
    bml_run_opts o = *opts;
    if (rank != 0) o.log = NULL, o.progress = NULL, o.write_run_dir = 0; /* rank 0 alone prints and writes */
    bml_run_result *r = NULL;
    bml_status st = bml_run_experiment_exec(cfg, &o, &ex, &r);
    char *err = st != BML_OK ? dup_str(bml_last_error()) : NULL;
    if (!c.called) { /* stopped before the folds: the others must not wait for this rank */
        if (rank == 0) {
            mpi_pool none = {0, NULL, NULL, NULL};
            sched_arg a = {&none, size - 1};
            mpi_scheduler(&a);
        } else {
            mpi_leave();
        }
    }
    int rc = st == BML_OK ? 0 : 1;
    if (rank == 0) {
        if (st != BML_OK) fprintf(stderr, "batteryml: error: %s\n", err ? err : "out of memory");
        else if (quiet) printf("%s\n", r->run_dir);
        fflush(stdout);
    }
    int rc0 = rc;
    MPI_Bcast(&rc0, 1, MPI_INT, 0, MPI_COMM_WORLD);
    /* a failure of this rank alone (rank 0 reports the study's own): the others fitted the folds */
    if (rank != 0 && rc && !rc0) fprintf(stderr, "batteryml: rank %d: error: %s\n", rank, err ? err : "out of memory");
    MPI_Finalize();
    free(err);
    bml_run_result_free(r);
    return rc0;
#endif
}
