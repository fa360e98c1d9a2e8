/* Step processes: fork/exec under a cgroup, in a private mount namespace.
 *
 * Lifecycle of one step process (each arrow names the function):
 *
 *   (none) --workflow__spawn--> running --waitpid (exec.c)--> exited
 *          --workflow__proc_finish--> cgroups read and removed
 *
 * The child reports its setup through a close-on-exec pipe before exec:
 * lines "N" (private /tmp), "T<errno>" (fallback to TMPDIR), "C" (could
 * not enter the memory cgroup), "W" (working folder not re-entered by path;
 * ignored) and "E<errno>" (setup or exec failed). The parent reads it to EOF in proc_finish, so
 * the report is complete once the child is gone.
 *
 * cgroups: v2 when /sys/fs/cgroup/cgroup.controllers lists "memory" (steps
 * go under /sys/fs/cgroup/skiff/, whose controllers are enabled from the
 * root); else v1 when /sys/fs/cgroup/memory is a writable hierarchy (steps
 * under memory/skiff/ and cpu/skiff/). The child joins its cgroups itself,
 * before exec, so no instruction of the step runs outside them. When no
 * cgroup can be made, the memory limit becomes RLIMIT_AS and the step's
 * message says so.
 */
#include "workflow_int.h"

#include "skiff/err.h"

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CG_ROOT "/sys/fs/cgroup"

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;
    if (fd < 0)
        return -1;
    n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int64_t read_key(const char *path, const char *key)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    char *p;

    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    if (!key)
        return strtoll(buf, NULL, 10);
    for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        size_t k = strlen(key);
        if (strncmp(p, key, k) == 0 && p[k] == ' ')
            return strtoll(p + k + 1, NULL, 10);
    }
    return -1;
}

static bool cg_v2_available(void)
{
    char buf[512];
    int fd = open(CG_ROOT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
    ssize_t n;
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return strstr(buf, "memory") != NULL;
}

static void cg_remove(char *dir);

static void cg_set(const char *dir, const char *file, const char *value)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    write_file(path, value);
}

/* Makes the step's cgroups (parent side). Leaves p->cg_* empty when not
 * possible. */
static void cg_create(const struct workflow__spawn *s, struct workflow__proc *p)
{
    char v[64];

    if (cg_v2_available()) {
        /* the root cgroup may hold processes and still delegate controllers */
        mkdir(CG_ROOT "/skiff", 0755);
        write_file(CG_ROOT "/cgroup.subtree_control", "+memory +cpu");
        write_file(CG_ROOT "/skiff/cgroup.subtree_control", "+memory +cpu");
        snprintf(p->cg_mem, sizeof p->cg_mem, CG_ROOT "/skiff/%s", s->cg_name);
        if (mkdir(p->cg_mem, 0755) != 0) {
            p->cg_mem[0] = '\0';
            return;
        }
        p->cg_v2 = true;
        if (s->limits.memory > 0) {
            snprintf(v, sizeof v, "%lld", (long long)s->limits.memory);
            cg_set(p->cg_mem, "memory.max", v);
            cg_set(p->cg_mem, "memory.swap.max", "0");
        }
        if (s->limits.cpu > 0) {
            snprintf(v, sizeof v, "%lld 100000", (long long)(s->limits.cpu * 100000));
            cg_set(p->cg_mem, "cpu.max", v);
        }
        return;
    }
    if (access(CG_ROOT "/memory/cgroup.procs", W_OK) != 0)
        return;
    mkdir(CG_ROOT "/memory/skiff", 0755);
    snprintf(p->cg_mem, sizeof p->cg_mem, CG_ROOT "/memory/skiff/%s", s->cg_name);
    if (mkdir(p->cg_mem, 0755) != 0) {
        p->cg_mem[0] = '\0';
        return;
    }
    if (s->limits.memory > 0) {
        snprintf(v, sizeof v, "%lld", (long long)s->limits.memory);
        cg_set(p->cg_mem, "memory.limit_in_bytes", v);
        /* no swap either, or the limit only slows the step down */
        cg_set(p->cg_mem, "memory.memsw.limit_in_bytes", v);
        cg_set(p->cg_mem, "memory.swappiness", "0");
    }
    if (s->limits.cpu > 0 && access(CG_ROOT "/cpu/cgroup.procs", W_OK) == 0) {
        mkdir(CG_ROOT "/cpu/skiff", 0755);
        snprintf(p->cg_cpu, sizeof p->cg_cpu, CG_ROOT "/cpu/skiff/%s", s->cg_name);
        if (mkdir(p->cg_cpu, 0755) != 0) {
            p->cg_cpu[0] = '\0';
            return;
        }
        cg_set(p->cg_cpu, "cpu.cfs_period_us", "100000");
        snprintf(v, sizeof v, "%lld", (long long)(s->limits.cpu * 100000));
        cg_set(p->cg_cpu, "cpu.cfs_quota_us", v);
    }
}

static void report(int fd, const char *line)
{
    ssize_t r = write(fd, line, strlen(line));
    (void)r;
}

/* In the child, between fork and exec: no allocation and no stdio
 * streams (stack buffers and system calls only), so that a parent with
 * other threads cannot leave a lock held in the child. */
static void child(const struct workflow__spawn *s, const struct workflow__proc *p, int fd,
                  char *const *argv, const char *script_in_tmp)
{
    char pid[24], path[700];
    int in, o, e, cwd_fd, prog_fd = -1;

    setpgid(0, 0);
    /* a step does not outlive the engine that supervises it (kill -9 of
     * skiff run); its cgroup is swept by the next run */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != s->parent)
        _exit(127);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    if (p->cg_mem[0]) {
        snprintf(path, sizeof path, "%s/cgroup.procs", p->cg_mem);
        if (write_file(path, pid) != 0)
            report(fd, "C\n");
    }
    if (p->cg_cpu[0]) {
        snprintf(path, sizeof path, "%s/cgroup.procs", p->cg_cpu);
        write_file(path, pid);
    }
    if (p->rlimit_only) {
        struct rlimit rl = {(rlim_t)s->limits.memory, (rlim_t)s->limits.memory};
        setrlimit(RLIMIT_AS, &rl);
    }
    in = open("/dev/null", O_RDONLY);
    o = open(s->stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    e = open(s->stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 ||
        chdir(s->workdir) != 0) {
        snprintf(path, sizeof path, "E%d\n", errno);
        report(fd, path);
        _exit(127);
    }
    /* the step inherits only 0, 1 and 2 */
    if (in > 2)
        close(in);
    if (o > 2)
        close(o);
    if (e > 2)
        close(e);
    /* the cwd and the log files are open before /tmp is replaced, so a run
     * folder under /tmp stays reachable */
    cwd_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    /* A program under /tmp (skiff itself, built or unpacked there, which a
     * step's `skiff` command means) is hidden by the private /tmp too: hold
     * it open and exec it by descriptor. Close-on-exec, except for a "#!"
     * script, whose interpreter must still open it by /dev/fd/N. */
    if (strncmp(argv[0], "/tmp/", 5) == 0) {
        char magic[2] = {0};
        prog_fd = open(argv[0], O_RDONLY | O_CLOEXEC);
        if (prog_fd >= 0 && pread(prog_fd, magic, 2, 0) == 2 && magic[0] == '#' &&
            magic[1] == '!')
            fcntl(prog_fd, F_SETFD, 0);
    }
    if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == 0 &&
        mount(s->tmpdir, "/tmp", NULL, MS_BIND, NULL) == 0) {
        /* a run folder under /tmp is hidden now; tools that cd to $PWD
         * (pyenv shims, shells) need the working folder's path to resolve,
         * so the same path is made inside the new /tmp and bound to it */
        if (strncmp(s->workdir, "/tmp/", 5) == 0) {
            char src[64];
            snprintf(src, sizeof src, "/proc/self/fd/%d", cwd_fd);
            snprintf(path, sizeof path, "%s", s->workdir);
            for (char *c = path + 5; *c; c++) {
                if (*c != '/')
                    continue;
                *c = '\0';
                mkdir(path, 0755);
                *c = '/';
            }
            mkdir(path, 0755);
            /* on failure the cwd still works through its descriptor; only
             * `cd "$PWD"` would fail, which is not worth failing the step */
            if (mount(src, s->workdir, NULL, MS_BIND, NULL) == 0 && chdir(s->workdir) != 0)
                report(fd, "W\n");
        }
        report(fd, "N\n");
        /* TMPDIR (set by the parent to the tmp folder) is /tmp itself now */
        for (size_t i = 0; s->envp[i]; i++)
            if (strncmp(s->envp[i], "TMPDIR=", 7) == 0)
                ((char **)s->envp)[i] = (char *)"TMPDIR=/tmp";
        /* likewise a token file kept in the tmp folder (exec.c) */
        for (size_t i = 0, tl = strlen(s->tmpdir); s->envp[i]; i++) {
            static char tokenv[PATH_MAX + 32];
            const char *v = s->envp[i] + 17;
            if (strncmp(s->envp[i], "SKIFF_TOKEN_FILE=", 17) == 0 &&
                strncmp(v, s->tmpdir, tl) == 0 && v[tl] == '/') {
                snprintf(tokenv, sizeof tokenv, "SKIFF_TOKEN_FILE=/tmp%s", v + tl);
                ((char **)s->envp)[i] = tokenv;
            }
        }
        if (script_in_tmp) {
            /* the script lies in the step's tmp folder, now /tmp */
            for (size_t i = 0; argv[i]; i++)
                if (strcmp(argv[i], s->script_name) == 0)
                    ((char **)argv)[i] = (char *)script_in_tmp;
        }
    } else {
        /* TMPDIR stays the step's tmp folder, set by the parent */
        snprintf(path, sizeof path, "T%d\n", errno);
        report(fd, path);
    }
    if (prog_fd >= 0)
        fexecve(prog_fd, argv, (char *const *)s->envp);
    else
        execvpe(argv[0], argv, s->envp);
    snprintf(path, sizeof path, "E%d\n", errno);
    report(fd, path);
    _exit(127);
}

/* Removes the step cgroups of engines that are gone: their names end in
 * "-<pid of the engine>" (exec.c), and a dead pid cannot use them again. */
static void sweep(const char *parent)
{
    DIR *d = opendir(parent);
    struct dirent *de;
    char dir[512];

    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        const char *dash = strrchr(de->d_name, '-');
        char *end;
        long pid;
        if (de->d_type != DT_DIR || !dash)
            continue;
        pid = strtol(dash + 1, &end, 10);
        if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(dir, sizeof dir, "%s/%s", parent, de->d_name);
        cg_remove(dir);
    }
    closedir(d);
}

void workflow__cg_sweep(void)
{
    sweep(CG_ROOT "/skiff");
    sweep(CG_ROOT "/memory/skiff");
    sweep(CG_ROOT "/cpu/skiff");
}

int workflow__spawn(const struct workflow__spawn *s, struct workflow__proc *p,
                    struct skiff_err *err)
{
    int fds[2];
    pid_t pid;
    char script_in_tmp[300] = "";
    const char *base;

    memset(p, 0, sizeof *p);
    p->status_fd = -1;
    cg_create(s, p);
    if (s->limits.memory > 0 && !p->cg_mem[0])
        p->rlimit_only = true;
    if (s->script_name && (base = strrchr(s->script_name, '/')))
        snprintf(script_in_tmp, sizeof script_in_tmp, "/tmp%s", base);
    if (pipe2(fds, O_CLOEXEC) != 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot make a pipe");
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return skiff_err_sys(err, SKIFF_EIO, "cannot fork");
    }
    if (pid == 0) {
        close(fds[0]);
        child(s, p, fds[1], s->argv, script_in_tmp[0] ? script_in_tmp : NULL);
    }
    close(fds[1]);
    /* also from here, so that the group exists even before the child runs */
    setpgid(pid, pid);
    p->pid = pid;
    p->status_fd = fds[0];
    return 0;
}

static void cg_remove(char *dir)
{
    char path[700];
    if (!dir[0])
        return;
    /* whatever the step left behind (daemons, orphans) goes with it */
    for (int tries = 0; tries < 50 && rmdir(dir) != 0 && errno == EBUSY; tries++) {
        FILE *f;
        int pid;
        snprintf(path, sizeof path, "%s/cgroup.procs", dir);
        if ((f = fopen(path, "re"))) {
            while (fscanf(f, "%d", &pid) == 1)
                kill(pid, SIGKILL);
            fclose(f);
        }
        usleep(2000);
    }
    dir[0] = '\0';
}

void workflow__proc_finish(struct workflow__proc *p, int wstatus, const struct rusage *ru,
                           struct workflow__exit *out)
{
    char buf[512], path[700];
    ssize_t n;
    size_t len = 0;

    memset(out, 0, sizeof *out);
    out->exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    out->signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    out->cpu_seconds = (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
                       (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
    out->peak_memory = (int64_t)ru->ru_maxrss * 1024;
    if (p->status_fd >= 0) {
        while (len + 1 < sizeof buf &&
               (n = read(p->status_fd, buf + len, sizeof buf - 1 - len)) > 0)
            len += (size_t)n;
        buf[len] = '\0';
        close(p->status_fd);
        p->status_fd = -1;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            if (line[0] == 'N')
                p->private_tmp = true;
            else if (line[0] == 'T')
                snprintf(p->setup_msg, sizeof p->setup_msg,
                         "no private /tmp (mount namespace: %s): TMPDIR set to the step's own "
                         "folder", strerror(atoi(line + 1)));
            else if (line[0] == 'C')
                p->cg_join_failed = true;
            else if (line[0] == 'E') {
                p->exec_failed = true;
                snprintf(p->setup_msg, sizeof p->setup_msg, "%s", strerror(atoi(line + 1)));
            }
        }
    }
    if (p->cg_mem[0]) {
        int64_t v;
        if (p->cg_v2) {
            snprintf(path, sizeof path, "%s/memory.events", p->cg_mem);
            out->oom = read_key(path, "oom_kill") > 0;
            snprintf(path, sizeof path, "%s/memory.peak", p->cg_mem);
        } else {
            snprintf(path, sizeof path, "%s/memory.oom_control", p->cg_mem);
            v = read_key(path, "oom_kill");
            if (v < 0) {
                /* older kernels: a hit limit and a SIGKILL say the same */
                snprintf(path, sizeof path, "%s/memory.failcnt", p->cg_mem);
                v = out->signal == SIGKILL ? read_key(path, NULL) : 0;
            }
            out->oom = v > 0;
            snprintf(path, sizeof path, "%s/memory.max_usage_in_bytes", p->cg_mem);
        }
        if ((v = read_key(path, NULL)) > 0)
            out->peak_memory = v;
    }
    cg_remove(p->cg_mem);
    cg_remove(p->cg_cpu);
}

/* ---- what this machine allows, read once ---- */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool probe_private_tmp;

/* The child makes the same calls a step's child makes first (system calls
 * only: the parent may have other threads). */
static void probe(void)
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == 0)
            _exit(0);
        _exit(1);
    }
    if (pid < 0)
        return;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    probe_private_tmp = WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool workflow__private_tmp_works(void)
{
    pthread_once(&probe_once, probe);
    return probe_private_tmp;
}

static pthread_once_t self_once = PTHREAD_ONCE_INIT;
static char self_path[PATH_MAX];

static void read_self(void)
{
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    /* a binary replaced on disk reads "path (deleted)": not runnable by path */
    self_path[n > 0 ? n : 0] = '\0';
    if (strstr(self_path, " (deleted)"))
        self_path[0] = '\0';
}

const char *workflow__self_exe(void)
{
    pthread_once(&self_once, read_self);
    return self_path[0] ? self_path : NULL;
}
