/* `batteryml run -m`: the jobs of a sweep run by worker processes (fork, one job each, at most --jobs at
 * a time, each worker's backends limited to cores / workers threads), or, under mpirun, by the MPI ranks
 * with dynamic scheduling (rank 0 hands the next job to whichever rank asks). Every job is an ordinary
 * run written into the sweep directory; rank 0 (or the parent process) alone writes multirun.yaml and
 * sweep.csv. A job's numbers do not depend on where or beside what it ran.
 *
 * Ownership of the sweep directory: writing multirun.yaml (never over an existing one) claims it, and the
 * sweep holds an flock(2) on the directory while it runs (its workers inherit it), so that two sweeps never
 * share a directory and a --resume never runs beside the sweep it resumes. SIGINT, SIGTERM and SIGHUP stop
 * a sweep: no further job starts, the workers get SIGTERM (a second signal: SIGKILL), and once they are
 * gone sweep.csv records what finished, the rest "cancelled"; a worker whose parent dies is killed
 * (PR_SET_PDEATHSIG). */
#define _GNU_SOURCE
#include "cli/multirun.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
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
    int ok;   /* 1 ok, 0 failed, -1 cancelled */
    int done; /* finished (ok or failed), here or before a --resume */
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
    size_t *todo, n_todo; /* the jobs to run, in order (a --resume skips those done before) */
    size_t n_done, n_failed;
    double t0;
} sweep_t;

/* the first stop signal (SIGINT, SIGTERM, SIGHUP) the sweep received, and how many came */
static volatile sig_atomic_t g_stop, g_n_stops;

static void on_stop(int sig) {
    if (!g_stop) g_stop = sig;
    if (g_n_stops < 100) g_n_stops++;
}

static const int STOP_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};

/* Handle the stop signals (flag them); with `block`, keep them blocked outside ppoll (*old: the mask before). */
static void catch_stops(int block, sigset_t *old) {
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof STOP_SIGNALS / sizeof *STOP_SIGNALS; i++) sigaddset(&set, STOP_SIGNALS[i]);
    sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, old);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = block ? 0 : SA_RESTART; /* unblocked (MPI): system calls in MPI and the library go on */
    for (size_t i = 0; i < sizeof STOP_SIGNALS / sizeof *STOP_SIGNALS; i++) sigaction(STOP_SIGNALS[i], &sa, NULL);
}

static const char *signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal"; }

/* every job not finished: cancelled, saying why */
static void cancel_unfinished(sweep_t *sw, int sig) {
    char ran[96], not_run[96];
    snprintf(ran, sizeof ran, "the sweep was stopped by %s while the job ran", signal_name(sig));
    snprintf(not_run, sizeof not_run, "the sweep was stopped by %s before the job started", signal_name(sig));
    for (size_t j = 0; j < sw->n_jobs; j++) {
        job_result *r = &sw->res[j];
        if (r->done) continue;
        free(r->error);
        r->error = dup_str(r->seconds > 0 ? ran : not_run);
        if (!(r->seconds > 0)) r->seconds = NAN;
        r->ok = -1;
    }
}

/* Run job j in this process. The run lands in <sweep dir>/<job name>. */
static void run_job(const sweep_t *sw, size_t j, job_result *r) {
    memset(r, 0, sizeof *r);
    double t0 = now_s();
    bml_config *cfg = NULL; /* a copy: the composed ones stay as they are, read by rank 0's other thread too */
    bml_status st = bml_config_copy(sw->cfg[j], &cfg);
    if (st == BML_OK) st = bml_config_set(cfg, "output_dir", sw->dir);
    if (st == BML_OK) st = bml_config_set(cfg, "run_name", bml_sweep_job_name(sw->sweep, j));
    bml_run_opts ro = {.version = BML_RUN_OPTS_VERSION, .base_dir = sw->o->base_dir, .write_run_dir = 1};
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
    bml_config_free(cfg);
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
    if (r->ok == 0) sw->n_failed++;
    if (sw->o->quiet) return;
    const char *name = bml_sweep_job_name(sw->sweep, j);
    if (r->ok < 0) {
        printf("[%zu/%zu] %s  cancelled after %.2f s\n", sw->n_done, sw->n_jobs, name, r->seconds);
    } else if (!r->ok) {
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

/* the result as one message: "ok\t<seconds>\t<fit seconds>\t<run dir>" or "failed\t<seconds>\t0\t<message>".
 * The worker dies with its parent (SIGKILL when the parent is gone, even killed itself), and takes the stop
 * signals' default action (the parent forwards them). */
static void child_main(const sweep_t *sw, size_t j, int fd, int slot, int share, pid_t parent, const sigset_t *mask) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (size_t i = 0; i < sizeof STOP_SIGNALS / sizeof *STOP_SIGNALS; i++) sigaction(STOP_SIGNALS[i], &dfl, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(4); /* the parent died before prctl */
    sigprocmask(SIG_SETMASK, mask, NULL); /* a stop signal that came since the fork is delivered now */
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
    double t0;
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
    r->done = 1;
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
        r->seconds = now_s() - w->t0;
        if (g_stop) { /* stopped with the sweep */
            r->done = 0;
            r->ok = -1;
        } else {
            r->ok = 0;
            char why[96];
            if (WIFSIGNALED(status)) snprintf(why, sizeof why, "the job's process was killed by signal %d", WTERMSIG(status));
            else snprintf(why, sizeof why, "the job's process ended with status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            r->error = dup_str(why);
        }
    }
    free(w->buf);
    close(w->fd);
    memset(w, 0, sizeof *w);
    w->fd = -1;
    progress(sw, r - sw->res);
}

/* a stop signal came: the running workers get it too (SIGTERM; from the second signal on, SIGKILL) */
static void forward_stop(const worker *w, int n_workers, int *sent) {
    int sig = g_n_stops > 1 ? SIGKILL : SIGTERM;
    if (*sent == sig) return;
    for (int i = 0; i < n_workers; i++)
        if (w[i].fd >= 0) kill(w[i].pid, sig);
    *sent = sig;
}

static int run_local(sweep_t *sw) {
    /* --jobs is the budget of cores: one worker per job up to it, each with budget / workers of them */
    int budget = sw->o->jobs > 0 ? sw->o->jobs : bml_parallel_cores();
    int n_workers = budget;
    if ((size_t)n_workers > sw->n_todo) n_workers = (int)sw->n_todo;
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
    /* the stop signals stay blocked but while waiting in ppoll: none slips between a check and the wait */
    sigset_t old, wait_mask;
    catch_stops(1, &old);
    wait_mask = old;
    for (size_t i = 0; i < sizeof STOP_SIGNALS / sizeof *STOP_SIGNALS; i++) sigdelset(&wait_mask, STOP_SIGNALS[i]);
    pid_t self = getpid();
    size_t next = 0, running = 0;
    int rc = 0, sent = 0;
    while ((next < sw->n_todo && !g_stop) || running) {
        if (g_stop) forward_stop(w, n_workers, &sent);
        for (int i = 0; i < n_workers && next < sw->n_todo && !g_stop; i++) {
            if (w[i].fd >= 0) continue;
            int p[2];
            if (pipe(p) != 0) {
                fprintf(stderr, "batteryml: error: cannot start a worker: %s\n", strerror(errno));
                rc = 1;
                break;
            }
            size_t j = sw->todo[next];
            double t0 = now_s();
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
                child_main(sw, j, p[1], i, share, self, &old);
            }
            close(p[1]);
            w[i] = (worker){pid, p[0], j, NULL, 0, 0, t0};
            next++;
            running++;
        }
        if (rc) break;
        int np = 0;
        for (int i = 0; i < n_workers; i++)
            if (w[i].fd >= 0) pf[np++] = (struct pollfd){w[i].fd, POLLIN, 0};
        if (!np) continue;
        if (ppoll(pf, (nfds_t)np, NULL, &wait_mask) < 0) {
            if (errno == EINTR) continue; /* a stop signal: forwarded at the top of the loop */
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
    /* the jobs that never started */
    for (; next < sw->n_todo && !g_stop; next++) {
        job_result *r = &sw->res[sw->todo[next]];
        r->error = dup_str("not run: no worker could be started for it");
        r->done = 1;
    }
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
    const size_t *order; /* the jobs handed out, n_order of them (NULL: 0 .. n_jobs-1) */
    size_t n_order;
    /* rank 0, on a stop signal (NULL: none is caught): record what finished and end the process */
    void (*stop)(void *user, int sig);
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
    size_t n_order = p->order ? p->n_order : p->n_jobs;
    long long next = 0;
    int stopped = 0, stop = 0;
    while (stopped < a->n_workers) {
        if (g_stop && p->stop) p->stop(p->user, g_stop); /* does not return */
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
        long long give = -1;
        if (!stop && (size_t)next < n_order) give = p->order ? (long long)p->order[next++] : next++;
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
        for (size_t k = 0; k < (p->order ? p->n_order : p->n_jobs); k++) {
            if (g_stop && p->stop) p->stop(p->user, g_stop);
            size_t j = p->order ? p->order[k] : k;
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
    r->done = 1;
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

static int finish_sweep(sweep_t *sw, int rc);

/* rank 0 on a stop signal: the jobs the other ranks (mpirun stops them too) and this one still run are
 * cancelled; sweep.csv records the rest */
static void sweep_stop(void *user, int sig) {
    (void)sig;
    int rc = finish_sweep(user, 0);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
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

/* The sweep's directory, claimed: multirun/<date>/<time> or the given folder, else the first of <name>-1,
 * <name>-2, ... that holds no sweep. A folder is claimed by taking its lock (flock, kept in *lock_fd for as
 * long as the sweep and its workers live) and writing multirun.yaml where none is (bml_sweep_write_yaml
 * never replaces one): of several sweeps given one folder at once, exactly one gets it. An existing folder
 * that holds no sweep is used. NULL with the message printed on failure. */
static char *claim_sweep_dir(const char *given, const bml_sweep *sweep, const bml_sweep_opts *so, const char *const *ov, size_t n_ov,
                             int quiet, int *lock_fd) {
    char base[64];
    *lock_fd = -1;
    if (given && make_parents(given) != 0) {
        fprintf(stderr, "batteryml: error: cannot create the folders above %s: %s\n", given, strerror(errno));
        return NULL;
    }
    if (!given) {
        time_t t = time(NULL);
        struct tm tmv;
        localtime_r(&t, &tmv);
        strftime(base, sizeof base, "multirun/%Y-%m-%d/%H-%M-%S", &tmv);
        char day[32];
        strftime(day, sizeof day, "multirun/%Y-%m-%d", &tmv);
        if ((mkdir("multirun", 0777) != 0 && errno != EEXIST) || (mkdir(day, 0777) != 0 && errno != EEXIST)) {
            fprintf(stderr, "batteryml: error: cannot create %s: %s\n", day, strerror(errno));
            return NULL;
        }
    }
    char *b = dup_str(given ? given : base);
    if (!b) {
        fprintf(stderr, "batteryml: error: out of memory\n");
        return NULL;
    }
    for (size_t l = strlen(b); l > 1 && b[l - 1] == '/'; l--) b[l - 1] = 0; /* "dir/" suffixed is "dir-1" */
    for (int k = 0; k < 1000; k++) {
        char suffix[16] = "";
        if (k) snprintf(suffix, sizeof suffix, "-%d", k);
        char *d = fmt_str("%s%s", b, suffix);
        if (!d) {
            fprintf(stderr, "batteryml: error: out of memory\n");
            free(b);
            return NULL;
        }
        int fd = mkdir(d, 0777) == 0 || errno == EEXIST ? open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (fd < 0 && errno == ENOTDIR) { /* a file of that name: the next name */
            free(d);
            continue;
        }
        if (fd < 0) {
            fprintf(stderr, "batteryml: error: cannot create the sweep directory %s: %s\n", d, strerror(errno));
            free(d);
            free(b);
            return NULL;
        }
        /* a lock held: another sweep is claiming or running it. Where the file system has no locks, the
         * exclusive multirun.yaml alone decides. */
        int busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        bml_status st = busy ? BML_ERR_STATE : bml_sweep_write_yaml(sweep, so, ov, n_ov, d);
        if (st == BML_OK) {
            if (k && !quiet) printf("sweep: %s holds another sweep: this one goes to %s\n", b, d);
            *lock_fd = fd;
            free(b);
            return d;
        }
        close(fd);
        free(d);
        if (st != BML_ERR_STATE) {
            fprintf(stderr, "batteryml: error: %s\n", bml_last_error());
            free(b);
            return NULL;
        }
    }
    fprintf(stderr, "batteryml: error: cannot create the sweep directory: %s and %s-1 to %s-999 hold sweeps\n", b, b, b);
    free(b);
    return NULL;
}

/* the first difference between a job's configuration now and the one its run folder recorded (malloc'ed),
 * or NULL. The folder's output_dir is where the sweep was when it ran (the same folder, maybe spelled
 * otherwise); training.learning_rate=auto is recorded as the rate found. */
static char *config_difference(const bml_config *now, const bml_config *then) {
    for (size_t i = 0, n = bml_config_count(now); i < n; i++) {
        bml_kv kv = bml_config_entry(now, i);
        if (!strcmp(kv.key, "output_dir")) continue;
        const char *t = bml_config_get(then, kv.key);
        if (t && !strcmp(t, kv.value)) continue;
        if (t && !strcmp(kv.key, "training.learning_rate") && !strcmp(kv.value, "auto")) continue;
        size_t len = strlen(kv.key) + strlen(kv.value) + (t ? strlen(t) : 0) + 64;
        char *d = malloc(len);
        if (d) snprintf(d, len, "%s is %s%s%s there, '%s' now", kv.key, t ? "'" : "", t ? t : "missing", t ? "'" : "", kv.value);
        return d ? d : dup_str("out of memory");
    }
    for (size_t i = 0, n = bml_config_count(then); i < n; i++) {
        bml_kv kv = bml_config_entry(then, i);
        if (strcmp(kv.key, "output_dir") && !bml_config_get(now, kv.key)) return fmt_str("%s is set there ('%s'), not now", kv.key, kv.value);
    }
    return NULL;
}

/* Job j finished when <dir>/<name> holds its run (the library publishes a run folder only complete) made
 * from the configuration the job has now: before a --resume, or in a worker stopped after it published the
 * folder. 1: done (its result filled in), 0: no folder, -1: the folder is something else (message printed
 * unless quiet). */
static int job_done_before(sweep_t *sw, size_t j, int quiet) {
    const char *name = bml_sweep_job_name(sw->sweep, j);
    job_result *r = &sw->res[j];
    char *rd = fmt_str("%s/%s", sw->dir, name), *cy = rd ? fmt_str("%s/%s", rd, "config.yaml") : NULL;
    struct stat sb;
    int rc = -1;
    bml_config *then = NULL, *now = NULL; /* a copy: under MPI, rank 0 may be running this job beside */
    char *diff = NULL;
    if (!cy) {
        fprintf(stderr, "batteryml: error: out of memory\n");
    } else if (lstat(rd, &sb) != 0 && errno == ENOENT) {
        rc = 0;
    } else if (bml_config_load_resolved(cy, NULL, NULL, 0, &then) != BML_OK) {
        if (!quiet)
            fprintf(stderr, "batteryml: error: --resume: %s is not a complete run of job %zu (%s): %s\n", rd, j, bml_sweep_job_label(sw->sweep, j),
                bml_last_error());
    } else if (bml_config_copy(sw->cfg[j], &now) != BML_OK || bml_config_set(now, "output_dir", sw->dir) != BML_OK ||
               bml_config_set(now, "run_name", name) != BML_OK) {
        if (!quiet) fprintf(stderr, "batteryml: error: %s\n", bml_last_error());
    } else if ((diff = config_difference(now, then))) {
        if (!quiet)
            fprintf(stderr,
                "batteryml: error: --resume: %s is not job %zu (%s) as the sweep composes it now: %s (were the configs changed, or "
                "another --config-dir given?). Move the folder away to run the job again.\n",
                rd, j, bml_sweep_job_label(sw->sweep, j), diff);
    } else {
        r->run_dir = rd;
        rd = NULL;
        r->ok = 1;
        read_metrics(r); /* a run without a readable metrics.json is not complete */
        if (!r->ok) {
            if (!quiet) fprintf(stderr, "batteryml: error: --resume: %s is not a complete run of job %zu: %s\n", r->run_dir, j, r->error);
            job_result_release(r);
        } else {
            r->done = 1;
            r->seconds = r->fit_seconds = NAN; /* not timed by this run */
            rc = 1;
        }
    }
    bml_config_free(then);
    bml_config_free(now);
    free(diff);
    free(cy);
    free(rd);
    return rc;
}

/* --resume: the sweep of dir read back (the overrides and sweeper settings given, if any, must be its
 * own); returns the exit status (0 to go on) */
static int load_resumed(const bml_cli_multirun_opts *o, bml_sweep_opts *so, bml_sweep **sweep, int rank) {
    so->max_jobs = o->sweep.max_jobs;
    if (bml_sweep_load(o->resume, so, sweep) != BML_OK) {
        if (rank == 0) fprintf(stderr, "batteryml: error: --resume: %s\n", bml_last_error());
        return 2;
    }
    size_t n;
    const char *const *ov = bml_sweep_overrides(*sweep, &n);
    int same = o->n_overrides == n;
    for (size_t i = 0; same && i < n; i++) same = !strcmp(o->overrides[i], ov[i]);
    const char *what = NULL;
    if (o->n_overrides && !same) what = "overrides";
    else if (o->sweeper_given && o->sweep.sweeper != so->sweeper) what = "--sweeper";
    else if (o->trials_given && o->sweep.trials != so->trials) what = "--trials";
    else if (o->seed_given && o->sweep.seed != so->seed) what = "--seed";
    if (!what) return 0;
    if (rank == 0) {
        fprintf(stderr, "batteryml: error: --resume %s: the %s given differ from the sweep's (%s/multirun.yaml): a resumed sweep runs "
                        "the jobs it started with. Give no overrides (the stored ones are used) or the same; start a new sweep "
                        "for other jobs. The sweep's:", o->resume, what, o->resume);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " '%s'", ov[i]);
        if (so->sweeper == BML_SWEEPER_RANDOM) fprintf(stderr, " --sweeper random --trials %zu --seed %llu", so->trials, (unsigned long long)so->seed);
        fprintf(stderr, "\n");
    }
    return 2;
}

/* rank 0: sweep.csv of every job (those a stop signal cut short: cancelled), the partial run folders of
 * killed jobs removed, the summary line; returns the exit status */
static int finish_sweep(sweep_t *sw, int rc) {
    int sig = g_stop;
    /* a worker stopped between publishing its run folder and reporting it: the job finished */
    for (size_t j = 0; sig && j < sw->n_jobs; j++) {
        job_result *r = &sw->res[j];
        double seconds = r->seconds;
        if (r->done) continue;
        free(r->error);
        r->error = NULL;
        job_done_before(sw, j, 1);
        r->seconds = seconds;
    }
    if (sig) cancel_unfinished(sw, sig);
    bml_sweep_result *r = calloc(sw->n_jobs + 1, sizeof *r);
    for (size_t j = 0; r && j < sw->n_jobs; j++)
        r[j] = (bml_sweep_result){sw->res[j].ok, sw->res[j].error, sw->res[j].run_dir, sw->res[j].metrics_json, sw->res[j].seconds,
                                  sw->res[j].fit_seconds};
    if (!r || bml_sweep_write_csv(sw->sweep, r, sw->dir) != BML_OK) {
        fprintf(stderr, "batteryml: error: sweep.csv: %s\n", r ? bml_last_error() : "out of memory");
        if (!rc) rc = 1;
    }
    free(r);
    if (bml_sweep_clean(sw->dir, NULL) != BML_OK) fprintf(stderr, "batteryml: warning: %s\n", bml_last_error());
    size_t failed = 0, cancelled = 0;
    for (size_t j = 0; j < sw->n_jobs; j++) failed += sw->res[j].ok == 0, cancelled += sw->res[j].ok < 0;
    if (!sw->o->quiet) {
        printf("sweep: %zu jobs, %zu failed", sw->n_jobs, failed);
        if (cancelled) printf(", %zu cancelled", cancelled);
        printf(", in %.2f s: %s/sweep.csv\n", now_s() - sw->t0, sw->dir);
    } else {
        printf("%s\n", sw->dir);
    }
    fflush(stdout);
    if (sig) {
        fprintf(stderr, "batteryml: the sweep was stopped by %s: %zu of %zu jobs finished; batteryml run -m --resume %s runs the rest\n",
                signal_name(sig), sw->n_jobs - cancelled, sw->n_jobs, sw->dir);
        return 128 + sig;
    }
    if (!rc && failed) rc = failed > 100 ? 100 : (int)failed;
    return rc;
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
    sweep_t sw = {o, NULL, NULL, NULL, 0, NULL, NULL, 0, 0, 0, now_s()};
    bml_sweep_opts so = o->sweep;
    int rc = 0, lock_fd = -1;
    size_t n_before = 0;
    char *dir = NULL;
    if (o->resume) {
        if ((rc = load_resumed(o, &so, &sw.sweep, rank)) != 0) goto out;
    } else {
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
    }
    sw.n_jobs = bml_sweep_n_jobs(sw.sweep);
    sw.cfg = calloc(sw.n_jobs + 1, sizeof *sw.cfg);
    sw.res = calloc(sw.n_jobs + 1, sizeof *sw.res);
    sw.todo = calloc(sw.n_jobs + 1, sizeof *sw.todo);
    if (!sw.cfg || !sw.res || !sw.todo) {
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
    /* the sweep directory: claimed (or, resumed, locked) by rank 0, its name sent to the others */
    if (rank == 0 && o->resume) {
        dir = dup_str(o->resume);
        for (size_t l = dir ? strlen(dir) : 0; l > 1 && dir[l - 1] == '/'; l--) dir[l - 1] = 0; /* run_dir: DIR/<name> */
        lock_fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (lock_fd < 0 || (flock(lock_fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK)) {
            if (lock_fd < 0) fprintf(stderr, "batteryml: error: --resume %s: %s\n", o->resume, strerror(errno));
            else fprintf(stderr, "batteryml: error: --resume %s: the sweep is running (another batteryml process holds the folder); "
                                 "wait for it to end or stop it first\n", o->resume);
            free(dir);
            dir = NULL;
        }
        sw.dir = dir;
        for (size_t j = 0; dir && j < sw.n_jobs; j++) {
            int done = job_done_before(&sw, j, 0);
            if (done < 0) {
                free(dir);
                dir = NULL;
                rc = 2;
            } else if (done) {
                n_before++;
            }
        }
    } else if (rank == 0) {
        dir = claim_sweep_dir(o->sweep_dir, sw.sweep, &so, o->overrides, o->n_overrides, o->quiet, &lock_fd);
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
        if (!rc) rc = 1;
        goto out;
    }
    sw.dir = dir;
    for (size_t j = 0; j < sw.n_jobs; j++)
        if (!sw.res[j].done) sw.todo[sw.n_todo++] = j;
    sw.n_done = n_before;
    if (rank == 0 && !o->quiet) {
        if (o->resume)
            printf("sweep: resuming %s: %zu jobs (%s), %zu done before, %zu to run\n", dir, sw.n_jobs,
                   so.sweeper == BML_SWEEPER_RANDOM ? "random" : "grid", n_before, sw.n_todo);
        else
            printf("sweep: %zu jobs (%s) into %s\n", sw.n_jobs, so.sweeper == BML_SWEEPER_RANDOM ? "random" : "grid", dir);
        fflush(stdout);
    }
#ifdef BML_HAVE_MPI
    if (use_mpi) {
        const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
        int per_node = local ? atoi(local) : size;
        bml_parallel_set_threads(bml_parallel_cores() / (per_node > 0 ? per_node : 1));
        /* rank 0 records what finished when mpirun (or anyone) stops it; the other ranks just end */
        if (rank == 0) catch_stops(0, NULL);
        mpi_pool pool = {sw.n_jobs, sweep_run, sweep_done, &sw, sw.todo, sw.n_todo, sweep_stop};
        mpi_run_pool(&pool, rank, size, provided >= MPI_THREAD_MULTIPLE);
    } else
#endif
    {
        rc = run_local(&sw);
    }
    if (rank == 0) rc = finish_sweep(&sw, rc);
out:
#ifdef BML_HAVE_MPI
    if (use_mpi) {
        MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
        MPI_Finalize();
    }
#endif
    if (lock_fd >= 0) close(lock_fd);
    for (size_t j = 0; sw.res && j < sw.n_jobs; j++) job_result_release(&sw.res[j]);
    for (size_t j = 0; sw.cfg && j < sw.n_jobs; j++) bml_config_free(sw.cfg[j]);
    free(sw.res);
    free(sw.cfg);
    free(sw.todo);
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
    mpi_pool p = {bml_fold_job_n_folds(job), fold_run, fold_done, c, NULL, 0, NULL};
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
    bml_fold_executor ex = {.run = folds_exec, .user = &c};
    bml_run_opts o = *opts;
    if (rank != 0) o.log = NULL, o.progress = NULL, o.write_run_dir = 0; /* rank 0 alone prints and writes */
    bml_run_result *r = NULL;
    bml_status st = bml_run_experiment_exec(cfg, &o, &ex, &r);
    char *err = st != BML_OK ? dup_str(bml_last_error()) : NULL;
    if (!c.called) { /* stopped before the folds: the others must not wait for this rank */
        if (rank == 0) {
            mpi_pool none = {0, NULL, NULL, NULL, NULL, 0, NULL};
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
