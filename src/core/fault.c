/* Failure injection, compiled only into the BML_FAULT_INJECT build (tests/fault_inject.sh drives it), as
 * SQLite tests its allocator and its I/O: the library and the program are linked with
 * -Wl,--wrap=<function> for the functions below, so that OUR calls to them (and only ours: XGBoost, PLplot,
 * libyaml, libc's own calls are shared libraries, which the static link does not rewrite) go through these
 * counters first. Two kinds of call are counted, each on its own:
 *   allocation: malloc, calloc, realloc, strdup, strndup, realpath(p, NULL), the first getline of a buffer,
 *               open_memstream and every write into a memory stream (it may grow the buffer);
 *   I/O:        what writes output: open/openat for writing, fopen "w"/"a"/"+", mkostemp, mkdtemp, mkdir,
 *               fchmod, write (not to fds 0-2), fwrite/fputs/fputc/fprintf/vfprintf/fflush/fclose on a file
 *               opened for writing, fsync, fdatasync, rename, renameat2.
 * Environment:
 *   BML_FAULT_ALLOC=N  the Nth allocation fails (NULL, errno ENOMEM); BML_FAULT_IO=N the Nth I/O call
 *                      fails (-1/NULL/EOF, errno ENOSPC for creating and writing, EIO for the others)
 *   BML_FAULT_PERSIST=1 every call from the Nth on fails, not the Nth alone
 *   BML_FAULT_COUNT=1  at exit the first process prints "bml-fault: alloc A io B" (the calls counted)
 *   BML_FAULT_TRACE=1  a stack trace at the failing call (sanitizer builds)
 * When a failure is injected, "bml-fault: failing <function> (<kind> call N)" goes to stderr. The counters
 * live in a shared anonymous mapping made before main, so that the worker processes a sweep forks count on
 * the same counters as their parent: N is the Nth call of the whole process tree. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { K_ALLOC, K_IO };

typedef struct {
    unsigned long calls[2];
    unsigned long fail_at[2]; /* 0: never */
    int persist, trace, quiet;
} fault_state;

static fault_state *S; /* NULL: injection off (the environment named none of it) */
static pid_t owner;
static int print_count;

void __sanitizer_print_stack_trace(void) __attribute__((weak));

/* the real functions (the linker's --wrap names them __real_<f>) */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
char *__real_realpath(const char *path, char *resolved);
ssize_t __real_getline(char **line, size_t *cap, FILE *f);
FILE *__real_open_memstream(char **buf, size_t *len);
int __real_open(const char *path, int flags, ...);
int __real_openat(int dirfd, const char *path, int flags, ...);
FILE *__real_fopen(const char *path, const char *mode);
int __real_mkostemp(char *tmpl, int flags);
char *__real_mkdtemp(char *tmpl);
int __real_mkdir(const char *path, mode_t mode);
int __real_fchmod(int fd, mode_t mode);
ssize_t __real_write(int fd, const void *buf, size_t n);
size_t __real_fwrite(const void *p, size_t size, size_t n, FILE *f);
int __real_fputs(const char *s, FILE *f);
int __real_fputc(int c, FILE *f);
int __real_vfprintf(FILE *f, const char *fmt, va_list ap);
int __real_fflush(FILE *f);
int __real_fclose(FILE *f);
int __real_fsync(int fd);
int __real_fdatasync(int fd);
int __real_rename(const char *from, const char *to);
int __real_renameat2(int fd1, const char *from, int fd2, const char *to, unsigned flags);

static unsigned long env_count(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    return *end ? 0 : n;
}

static void say(const char *msg) {
    size_t n = strlen(msg);
    while (n > 0) {
        ssize_t w = __real_write(2, msg, n);
        if (w <= 0) return;
        msg += w;
        n -= (size_t)w;
    }
}

static void print_counts(void) {
    if (!S || getpid() != owner) return;
    char line[96];
    snprintf(line, sizeof line, "bml-fault: alloc %lu io %lu\n", __atomic_load_n(&S->calls[K_ALLOC], __ATOMIC_SEQ_CST),
             __atomic_load_n(&S->calls[K_IO], __ATOMIC_SEQ_CST));
    say(line);
}

static fault_state *state_map(void) {
    fault_state *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
        say("bml-fault: cannot map the shared counters\n");
        abort();
    }
    memset(s, 0, sizeof *s);
    return s;
}

__attribute__((constructor)) static void fault_init(void) {
    unsigned long a = env_count("BML_FAULT_ALLOC"), io = env_count("BML_FAULT_IO");
    print_count = env_count("BML_FAULT_COUNT") != 0;
    if (!a && !io && !print_count) return;
    fault_state *s = state_map();
    s->fail_at[K_ALLOC] = a;
    s->fail_at[K_IO] = io;
    s->persist = env_count("BML_FAULT_PERSIST") != 0;
    s->trace = env_count("BML_FAULT_TRACE") != 0;
    owner = getpid();
    S = s;
    if (print_count) atexit(print_counts);
}

/* For the unit tests (tests/test.h's fault loop; one thread): restart the counters and fail the nth call of
 * kind from now on (io: 0 allocation, 1 I/O; n 0: none); the calls counted since the last arm. */
unsigned long bml__fault_arm(int io, unsigned long n) {
    if (!S) {
        owner = getpid();
        S = state_map();
    }
    unsigned long was = S->calls[io ? K_IO : K_ALLOC];
    S->calls[K_ALLOC] = S->calls[K_IO] = 0;
    S->fail_at[K_ALLOC] = S->fail_at[K_IO] = 0;
    S->fail_at[io ? K_IO : K_ALLOC] = n;
    S->quiet = 1; /* a unit test's loop fails thousands of calls */
    return was;
}

/* count one call of kind k; 1: this one fails */
static int hit(int k, const char *fn) {
    if (!S) return 0;
    unsigned long n = __atomic_add_fetch(&S->calls[k], 1, __ATOMIC_SEQ_CST), at = S->fail_at[k];
    if (!at || n < at || (n > at && !S->persist)) return 0;
    if (n == at && !S->quiet) {
        char line[160];
        snprintf(line, sizeof line, "bml-fault: failing %s (%s call %lu, pid %ld)\n", fn, k == K_ALLOC ? "alloc" : "io", n,
                 (long)getpid());
        say(line);
        if (S->trace && __sanitizer_print_stack_trace) __sanitizer_print_stack_trace();
    }
    return 1;
}

/* ------------------------------------------------------------------ streams we opened for writing */
enum { ST_FILE = 1, ST_MEM = 2 };
typedef struct {
    FILE *f;
    int kind;
} stream;
static pthread_mutex_t streams_mu = PTHREAD_MUTEX_INITIALIZER;
static stream *streams;
static size_t n_streams, cap_streams;

static void stream_add(FILE *f, int kind) {
    if (!f || !S) return;
    pthread_mutex_lock(&streams_mu);
    if (n_streams == cap_streams) {
        size_t cap = cap_streams ? 2 * cap_streams : 16;
        stream *ns = __real_realloc(streams, cap * sizeof *ns);
        if (!ns) {
            say("bml-fault: out of memory for the stream table\n");
            abort();
        }
        streams = ns;
        cap_streams = cap;
    }
    streams[n_streams++] = (stream){f, kind};
    pthread_mutex_unlock(&streams_mu);
}

/* the kind of f (0: not ours, stdin/stdout/stderr and reading streams); remove: forget it */
static int stream_kind(FILE *f, int remove) {
    if (!S || !f) return 0;
    int kind = 0;
    pthread_mutex_lock(&streams_mu);
    for (size_t i = 0; i < n_streams; i++)
        if (streams[i].f == f) {
            kind = streams[i].kind;
            if (remove) streams[i] = streams[--n_streams];
            break;
        }
    pthread_mutex_unlock(&streams_mu);
    return kind;
}

/* a write into stream f: 1 when it is to fail (the stream's error flag set, errno as the kind's) */
static int stream_hit(FILE *f, const char *fn) {
    int kind = stream_kind(f, 0);
    if (!kind || !hit(kind == ST_MEM ? K_ALLOC : K_IO, fn)) return 0;
    errno = kind == ST_MEM ? ENOMEM : ENOSPC;
    /* what a failed write leaves: the error flag set, so that a later ferror or fclose reports it */
    f->_flags |= _IO_ERR_SEEN; /* glibc's error flag (bits/types/struct_FILE.h) */
    return 1;
}

/* ------------------------------------------------------------------ allocation */
void *__wrap_malloc(size_t n) {
    if (hit(K_ALLOC, "malloc")) return errno = ENOMEM, NULL;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
    if (hit(K_ALLOC, "calloc")) return errno = ENOMEM, NULL;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
    if (hit(K_ALLOC, "realloc")) return errno = ENOMEM, NULL;
    return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s) {
    if (hit(K_ALLOC, "strdup")) return errno = ENOMEM, NULL;
    return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n) {
    if (hit(K_ALLOC, "strndup")) return errno = ENOMEM, NULL;
    return __real_strndup(s, n);
}

char *__wrap_realpath(const char *path, char *resolved) {
    if (!resolved && hit(K_ALLOC, "realpath")) return errno = ENOMEM, NULL;
    return __real_realpath(path, resolved);
}

ssize_t __wrap_getline(char **line, size_t *cap, FILE *f) {
    if ((!*line || !*cap) && hit(K_ALLOC, "getline")) return errno = ENOMEM, -1;
    return __real_getline(line, cap, f);
}

FILE *__wrap_open_memstream(char **buf, size_t *len) {
    if (hit(K_ALLOC, "open_memstream")) return errno = ENOMEM, NULL;
    FILE *f = __real_open_memstream(buf, len);
    stream_add(f, ST_MEM);
    return f;
}

/* ------------------------------------------------------------------ creating files and directories */
static int writes(int flags) { return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)) != 0; }

int __wrap_open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (writes(flags) && hit(K_IO, "open")) return errno = ENOSPC, -1;
    return __real_open(path, flags, mode);
}

int __wrap_openat(int dirfd, const char *path, int flags, ...) {
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (writes(flags) && hit(K_IO, "openat")) return errno = ENOSPC, -1;
    return __real_openat(dirfd, path, flags, mode);
}

FILE *__wrap_fopen(const char *path, const char *mode) {
    int w = strpbrk(mode, "wa+") != NULL;
    if (w && hit(K_IO, "fopen")) return errno = ENOSPC, NULL;
    FILE *f = __real_fopen(path, mode);
    if (w) stream_add(f, ST_FILE);
    return f;
}

int __wrap_mkostemp(char *tmpl, int flags) {
    if (hit(K_IO, "mkostemp")) return errno = ENOSPC, -1;
    return __real_mkostemp(tmpl, flags);
}

char *__wrap_mkdtemp(char *tmpl) {
    if (hit(K_IO, "mkdtemp")) return errno = ENOSPC, NULL;
    return __real_mkdtemp(tmpl);
}

int __wrap_mkdir(const char *path, mode_t mode) {
    if (hit(K_IO, "mkdir")) return errno = ENOSPC, -1;
    return __real_mkdir(path, mode);
}

int __wrap_fchmod(int fd, mode_t mode) {
    if (hit(K_IO, "fchmod")) return errno = EIO, -1;
    return __real_fchmod(fd, mode);
}

/* ------------------------------------------------------------------ writing */
ssize_t __wrap_write(int fd, const void *buf, size_t n) {
    if (fd > 2 && hit(K_IO, "write")) return errno = ENOSPC, -1;
    return __real_write(fd, buf, n);
}

size_t __wrap_fwrite(const void *p, size_t size, size_t n, FILE *f) {
    if (stream_hit(f, "fwrite")) return 0;
    return __real_fwrite(p, size, n, f);
}

int __wrap_fputs(const char *s, FILE *f) {
    if (stream_hit(f, "fputs")) return EOF;
    return __real_fputs(s, f);
}

int __wrap_fputc(int c, FILE *f) {
    if (stream_hit(f, "fputc")) return EOF;
    return __real_fputc(c, f);
}

int __wrap_vfprintf(FILE *f, const char *fmt, va_list ap) {
    if (stream_hit(f, "vfprintf")) return -1;
    return __real_vfprintf(f, fmt, ap);
}

int __wrap_fprintf(FILE *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = stream_hit(f, "fprintf") ? -1 : __real_vfprintf(f, fmt, ap);
    va_end(ap);
    return r;
}

int __wrap_fflush(FILE *f) {
    if (f && stream_hit(f, "fflush")) return EOF;
    return __real_fflush(f);
}

/* a failing fclose of a file still closes it, as the real one does when its last flush fails; a memory
 * stream's fclose fails only when a write into it did (the error flag), as glibc's does */
int __wrap_fclose(FILE *f) {
    int fail = stream_kind(f, 1) == ST_FILE && hit(K_IO, "fclose");
    int r = __real_fclose(f);
    if (fail) return errno = ENOSPC, EOF;
    return r;
}

int __wrap_fsync(int fd) {
    if (hit(K_IO, "fsync")) return errno = EIO, -1;
    return __real_fsync(fd);
}

int __wrap_fdatasync(int fd) {
    if (hit(K_IO, "fdatasync")) return errno = EIO, -1;
    return __real_fdatasync(fd);
}

int __wrap_rename(const char *from, const char *to) {
    if (hit(K_IO, "rename")) return errno = EIO, -1;
    return __real_rename(from, to);
}

int __wrap_renameat2(int fd1, const char *from, int fd2, const char *to, unsigned flags) {
    if (hit(K_IO, "renameat2")) return errno = EIO, -1;
    return __real_renameat2(fd1, from, fd2, to, flags);
}
