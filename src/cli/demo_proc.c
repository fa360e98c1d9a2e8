/* skiff demo: the processes it runs, the files it prepares, and the result
 * lines every stage prints.
 *
 * Every command the demo runs is this same binary (/proc/self/exe), so the
 * demo shows exactly what a user would type, and each one's output goes to
 * a log in HOME/logs instead of the screen. Commands run in the demo's
 * process group: a Ctrl-C reaches them as it reaches the demo. The platform
 * (`skiff up`) gets its own group, so that the demo decides when it stops:
 * at the end, on a Ctrl-C, or never (--keep-running).
 */
#include "demo_int.h"

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/time.h"

#define DAY_US (86400LL * 1000000LL)

volatile sig_atomic_t demo__stop;

static void on_signal(int sig)
{
    (void)sig;
    demo__stop = 1;
}

void demo__signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* no SA_RESTART: waitpid and nanosleep return at once with EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits for pid; on a stop sends it SIGTERM once and keeps waiting. */
static int wait_child(pid_t pid, int *status)
{
    bool signalled = false;
    for (;;) {
        pid_t r = waitpid(pid, status, 0);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (demo__stop && !signalled) {
            kill(pid, SIGTERM);
            signalled = true;
        }
    }
}

int demo__run_self(const struct demo *d, const char *log, const char *out, char *const argv[],
                   struct skiff_err *err)
{
    char *full[64];
    size_t n = 0;
    int status, lfd, ofd = -1;
    pid_t pid;

    full[n++] = (char *)"skiff";
    for (size_t i = 0; argv[i] && n < 63; i++)
        full[n++] = argv[i];
    full[n] = NULL;
    if ((lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", log), -1;
    if (out && (ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        close(lfd);
        return skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", out), -1;
    }
    /* the command line first, so the log says what made it */
    {
        struct skiff_buf b = SKIFF_BUF_INIT;
        skiff_buf_puts(&b, "$");
        for (size_t i = 0; full[i]; i++)
            skiff_buf_appendf(&b, " %s", full[i]);
        skiff_buf_putc(&b, '\n');
        if (b.ptr && write(lfd, b.ptr, b.len) < 0) {
            /* a log line that cannot be written is not worth failing the stage */
        }
        skiff_buf_release(&b);
    }
    if ((pid = fork()) < 0) {
        close(lfd);
        if (ofd >= 0)
            close(ofd);
        return skiff_err_sys(err, SKIFF_EINTERNAL, "cannot start 'skiff %s'", argv[0]), -1;
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(ofd >= 0 ? ofd : lfd, 1) < 0 || dup2(lfd, 2) < 0)
            _exit(127);
        execv(d->self, full);
        _exit(127);
    }
    close(lfd);
    if (ofd >= 0)
        close(ofd);
    if (wait_child(pid, &status) != 0)
        return skiff_err_sys(err, SKIFF_EINTERNAL, "cannot wait for 'skiff %s'", argv[0]), -1;
    if (WIFSIGNALED(status) || demo__stop)
        return skiff_err_set(err, SKIFF_EINTERNAL, "'skiff %s' was %s (log: %s)", argv[0],
                             demo__stop ? "interrupted" : "killed by a signal", log), -1;
    return WEXITSTATUS(status);
}

int demo__command(const struct demo *d, const char *logname, const char *out,
                  char *const argv[], struct skiff_err *err)
{
    char log[DEMO_PATH_MAX + 64];
    int rc;

    demo__path_join(log, sizeof log, d->logs, logname);
    if ((rc = demo__run_self(d, log, out, argv, err)) != 0)
        return rc < 0 ? err->code
                      : skiff_err_set(err, SKIFF_EINTERNAL, "skiff %s failed (exit %d; log: %s)",
                                      argv[0], rc, log);
    return 0;
}

int demo__platform_start(struct demo *d, struct skiff_err *err)
{
    char log[DEMO_PATH_MAX + 16], endpoint[DEMO_PATH_MAX + 16];
    int64_t deadline = skiff_time_mono_us() + 30 * 1000000LL;
    pid_t parent = getpid();
    int lfd;

    snprintf(log, sizeof log, "%s/up.log", d->home);
    snprintf(endpoint, sizeof endpoint, "%s/endpoint", d->home);
    if ((lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", log);
    if ((d->up_pid = fork()) < 0) {
        close(lfd);
        return skiff_err_sys(err, SKIFF_EINTERNAL, "cannot start 'skiff up'");
    }
    if (d->up_pid == 0) {
        char *argv[] = {(char *)"skiff", (char *)"up", (char *)"--listen",
                        (char *)"127.0.0.1:0", NULL};
        int nul = open("/dev/null", O_RDONLY);
        /* its own group: a Ctrl-C is the demo's to handle, and with
         * --keep-running the platform outlives the demo's terminal session */
        setpgid(0, 0);
        if (!d->keep_running) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                _exit(1);
        }
        /* relative DataSource paths of applied definitions resolve here */
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(lfd, 1) < 0 || dup2(lfd, 2) < 0 ||
            chdir(d->repo) != 0)
            _exit(127);
        execv(d->self, argv);
        _exit(127);
    }
    close(lfd);
    while (skiff_time_mono_us() < deadline && !demo__stop) {
        struct skiff_err e = SKIFF_ERR_INIT;
        char *url;
        int status;

        if (waitpid(d->up_pid, &status, WNOHANG) == d->up_pid) {
            d->up_pid = 0;
            return skiff_err_set(err, SKIFF_EINTERNAL, "skiff up exited at start (log: %s)",
                                 log);
        }
        if ((url = demo__read_small(endpoint)) && *url &&
            cli_api("GET", "/healthz", NULL, NULL, NULL, &e) == 0) {
            snprintf(d->url, sizeof d->url, "%s", url);
            free(url);
            return 0;
        }
        free(url);
        sleep_ms(50);
    }
    demo__platform_stop(d);
    return skiff_err_set(err, demo__stop ? SKIFF_EINTERNAL : SKIFF_ETIMEDOUT,
                         "skiff up %s (log: %s)",
                         demo__stop ? "was interrupted" : "did not answer within 30 s", log);
}

int demo__platform_stop(struct demo *d)
{
    int64_t deadline;
    int status = 0;

    if (d->up_pid <= 0)
        return 0;
    kill(d->up_pid, SIGTERM);
    deadline = skiff_time_mono_us() + 20 * 1000000LL;
    for (;;) {
        pid_t r = waitpid(d->up_pid, &status, WNOHANG);
        if (r == d->up_pid || (r < 0 && errno != EINTR))
            break;
        if (skiff_time_mono_us() > deadline) {
            kill(d->up_pid, SIGKILL);
            waitpid(d->up_pid, &status, 0);
            break;
        }
        sleep_ms(50);
    }
    d->up_pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int copy_file(const char *from, const char *to, struct skiff_err *err)
{
    char buf[65536];
    ssize_t r;
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;

    if (in < 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot read '%s'", from);
    if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        close(in);
        return skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", to);
    }
    while ((r = read(in, buf, sizeof buf)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || write(out, buf, (size_t)r) != r) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot copy '%s' to '%s'", from, to);
            break;
        }
    }
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", to);
    return rc;
}

int demo__copy_folder(const char *from, const char *to, struct skiff_err *err)
{
    struct dirent *de;
    DIR *dir;
    int rc = 0;

    if (mkdir(to, 0755) != 0 && errno != EEXIST)
        return skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", to);
    if (!(dir = opendir(from)))
        return skiff_err_sys(err, SKIFF_EIO, "cannot read folder '%s'", from);
    while (rc == 0 && (de = readdir(dir))) {
        char src[DEMO_PATH_MAX + 256], dst[DEMO_PATH_MAX + 256];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(src, sizeof src, "%s/%s", from, de->d_name);
        snprintf(dst, sizeof dst, "%s/%s", to, de->d_name);
        if (stat(src, &st) == 0 && S_ISREG(st.st_mode))
            rc = copy_file(src, dst, err);
    }
    closedir(dir);
    return rc;
}

/* Index of column `name` in a CSV header line (no quoted names), or -1. */
static int column_of(const char *header, const char *name)
{
    size_t n = strlen(name);
    int col = 0;
    for (const char *p = header;; col++) {
        const char *end = p + strcspn(p, ",\r\n");
        if ((size_t)(end - p) == n && strncmp(p, name, n) == 0)
            return col;
        if (*end != ',')
            return -1;
        p = end + 1;
    }
}

int demo__labels_split(const char *in, const char *train, const char *holdout, int64_t day0_us,
                       int train_days, int holdout_days, uint64_t rows[2], struct skiff_err *err)
{
    FILE *fi = fopen(in, "r"), *fo[2] = {NULL, NULL};
    const char *outs[2] = {train, holdout};
    int64_t cut[2] = {INT64_MAX, INT64_MAX};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int col, rc = 0;

    rows[0] = rows[1] = 0;
    if (!fi)
        return skiff_err_sys(err, SKIFF_EIO, "cannot read '%s'", in);
    if ((len = getline(&line, &cap, fi)) <= 0 ||
        (col = column_of(line, "event_timestamp")) < 0) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "'%s': no event_timestamp column in the header",
                           in);
        goto out;
    }
    for (int k = 0; k < 2; k++) {
        if (!(fo[k] = fopen(outs[k], "w"))) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", outs[k]);
            goto out;
        }
        fputs(line, fo[k]);
    }
    for (uint64_t lineno = 2; (len = getline(&line, &cap, fi)) > 0; lineno++) {
        char ts[64];
        const char *p = line;
        size_t n;
        int64_t us;
        int k;
        for (int c = 0; c < col && p; c++)
            p = (p = strchr(p, ',')) ? p + 1 : NULL;
        n = p ? strcspn(p, ",\r\n") : 0;
        if (!p || n == 0 || n >= sizeof ts) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "%s:%llu: no event_timestamp", in,
                               (unsigned long long)lineno);
            goto out;
        }
        memcpy(ts, p, n);
        ts[n] = '\0';
        if (skiff_time_parse(ts, &us, err)) {
            rc = skiff_err_prefix(err, "%s:%llu", in, (unsigned long long)lineno);
            goto out;
        }
        /* the cuts: datagen's start plus whole days, as its drift-from counts */
        if (lineno == 2) {
            cut[0] = day0_us + train_days * DAY_US;
            cut[1] = cut[0] + holdout_days * DAY_US;
        }
        /* datagen writes rows in time order: the first one past the last cut ends it */
        if (us >= cut[1])
            break;
        k = us >= cut[0];
        fputs(line, fo[k]);
        rows[k]++;
    }
out:
    free(line);
    fclose(fi);
    for (int k = 0; k < 2; k++)
        if (fo[k] && fclose(fo[k]) != 0 && rc == 0)
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", outs[k]);
    return rc;
}

struct payer {
    int64_t last;   /* the user's last payment */
    unsigned user;
};

/* For qsort: latest payment first, then by index, so that the order
 * depends only on the data. */
static int by_last_desc(const void *a, const void *b)
{
    const struct payer *x = a, *y = b;
    if (x->last != y->last)
        return x->last < y->last ? 1 : -1;
    return x->user < y->user ? -1 : x->user > y->user;
}

int demo__recent_payers(const struct demo *d, int64_t window_us, size_t min, unsigned **out,
                        size_t *n, struct skiff_err *err)
{
    char path[DEMO_PATH_MAX + 32], *line = NULL;
    int64_t *last = calloc(d->users, sizeof *last);
    struct payer *pay = malloc(d->users * sizeof *pay);
    unsigned *users = malloc(d->users * sizeof *users);
    size_t cap = 0, k = 0, within = 0;
    int ucol, tcol, rc = 0;
    FILE *f;

    *out = NULL;
    *n = 0;
    demo__path_join(path, sizeof path, d->data, "transactions.csv");
    if (!last || !pay || !users || !(f = fopen(path, "r"))) {
        rc = !last || !pay || !users ? skiff_err_set(err, SKIFF_ENOMEM, "out of memory")
                                     : skiff_err_sys(err, SKIFF_EIO, "cannot read '%s'", path);
        free(last);
        free(pay);
        free(users);
        return rc;
    }
    if (getline(&line, &cap, f) <= 0 || (ucol = column_of(line, "user_id")) < 0 ||
        (tcol = column_of(line, "event_timestamp")) < 0) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "'%s': no user_id or event_timestamp column",
                           path);
        goto out;
    }
    /* one pass: each user's last payment (rows are in time order, but the
     * maximum does not rely on it) */
    while (getline(&line, &cap, f) > 0) {
        const char *u = NULL, *t = NULL, *p = line;
        char ts[40];
        size_t tn;
        unsigned long idx;
        int64_t us;
        for (int c = 0; p; c++) {
            if (c == ucol)
                u = p;
            if (c == tcol)
                t = p;
            p = (p = strchr(p, ',')) ? p + 1 : NULL;
        }
        if (!u || !t || u[0] != 'u' || (tn = strcspn(t, ",\r\n")) >= sizeof ts)
            continue;
        idx = strtoul(u + 1, NULL, 10);
        memcpy(ts, t, tn);
        ts[tn] = '\0';
        if (idx < d->users && skiff_time_parse(ts, &us, NULL) == 0 && us > last[idx])
            last[idx] = us;
    }
    for (unsigned i = 0; i < d->users; i++)
        if (last[i])
            pay[k++] = (struct payer){last[i], i};
    qsort(pay, k, sizeof *pay, by_last_desc);
    for (size_t i = 0; i < k; i++)
        users[i] = pay[i].user;
    while (within < k && pay[within].last > d->end_us - window_us)
        within++;
    *n = within >= min ? within : (min < k ? min : k);
    *out = users;
    users = NULL;
out:
    free(line);
    fclose(f);
    free(last);
    free(pay);
    free(users);
    return rc;
}

uint64_t demo__count_rows(const char *path)
{
    char buf[65536];
    uint64_t lines = 0;
    size_t r;
    FILE *f = fopen(path, "r");

    if (!f)
        return 0;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < r; i++)
            lines += buf[i] == '\n';
    fclose(f);
    return lines ? lines - 1 : 0;
}

char *demo__read_small(const char *path)
{
    struct skiff_buf b;
    char chunk[4096];
    size_t r;
    FILE *f = fopen(path, "r");

    if (!f)
        return NULL;
    skiff_buf_init(&b, 1 << 20);
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (skiff_buf_append(&b, chunk, r)) {
            fclose(f);
            skiff_buf_release(&b);
            return NULL;
        }
    fclose(f);
    /* an empty file detaches as "" (never NULL unless out of memory) */
    while (b.len && strchr(" \t\r\n", b.ptr[b.len - 1]))
        b.ptr[--b.len] = '\0';
    return skiff_buf_detach(&b);
}

/* ---- output and small helpers ---- */

void demo__result(const struct demo *d, const char *icon, int64_t us, const char *fmt, ...)
{
    va_list ap;
    if (d->tty)
        fputs("\r\033[K", stdout);
    printf("      %s ", icon);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (us >= 0)
        printf("  (%.1fs)", (double)us / 1e6);
    putchar('\n');
    fflush(stdout);
}

void demo__progress(const struct demo *d, const char *fmt, ...)
{
    va_list ap;
    if (!d->tty)
        return;
    fputs("\r\033[K    ● ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

const char *demo__str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

void demo__path_join(char *out, size_t n, const char *a, const char *b)
{
    int w = snprintf(out, n, "%s/%s", a, b);
    if (w < 0 || (size_t)w >= n)
        out[0] = '\0';
}
