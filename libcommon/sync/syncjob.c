/* vcha - the filesync job's contract and its pushes. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/excludes.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/syncjob.h>

const char *const vcha_sync_mechanism_options[] = {"auto", "fanotify",
                                                   "inotify", NULL};

/* A target as vcha_sync_target_parse() takes it. */
static int
target_check(const char *value, char *why, size_t whylen)
{
    struct vcha_sync_target t;

    return vcha_sync_target_parse(value, &t, why, whylen);
}

/* An absolute path that can go into ssh's -i or -o as one word. */
static int
word_path_check(const char *value, char *why, size_t whylen)
{
    int rc = vcha_check_abspath(value, why, whylen);

    if (rc == 0 && strpbrk(value, " \t\n\"'\\") != NULL) {
        snprintf(why, whylen, "must not hold blanks, quotes or backslashes");
        rc = -EINVAL;
    }
    return rc;
}

static const struct vcha_param_def params[VCHA_SYNC_N_PARAMS] = {
    [VCHA_SYNC_SOURCE] = {.name = "source",
                          .type = VCHA_PT_STRING,
                          .required = true,
                          .check = vcha_check_abspath},
    [VCHA_SYNC_TARGET] = {.name = "target",
                          .type = VCHA_PT_STRING,
                          .required = true,
                          .check = target_check},
    [VCHA_SYNC_IDENTITY] = {.name = "identity",
                            .type = VCHA_PT_STRING,
                            .check = word_path_check},
    [VCHA_SYNC_KNOWN_HOSTS] = {.name = "known_hosts",
                               .type = VCHA_PT_STRING,
                               .check = word_path_check},
    [VCHA_SYNC_PASSWORD_FILE] = {.name = "password_file",
                                 .type = VCHA_PT_STRING,
                                 .check = vcha_check_abspath},
    [VCHA_SYNC_FILTER] = {.name = "filter",
                          .type = VCHA_PT_STRING,
                          .check = vcha_check_abspath},
    [VCHA_SYNC_UNNEEDED] = {.name = "unneeded", .type = VCHA_PT_STRING},
    [VCHA_SYNC_NEEDED] = {.name = "needed", .type = VCHA_PT_STRING},
    [VCHA_SYNC_EXCLUDE] = {.name = "exclude", .type = VCHA_PT_STRING},
    [VCHA_SYNC_INCLUDE] = {.name = "include", .type = VCHA_PT_STRING},
    [VCHA_SYNC_NO_DEFAULTS] = {.name = "no_defaults",
                               .type = VCHA_PT_BOOLEAN,
                               .dflt = "false"},
    [VCHA_SYNC_DELAY] = {.name = "delay",
                         .type = VCHA_PT_DURATION,
                         .dflt = "100ms",
                         .min = 0,
                         .max = 60000},
    [VCHA_SYNC_VERIFY] = {.name = "verify_interval",
                          .type = VCHA_PT_DURATION,
                          .dflt = "1h",
                          .min = 0,
                          .max = VCHA_JOB_MAX_INTERVAL_MS},
    [VCHA_SYNC_MECHANISM] = {.name = "mechanism",
                             .type = VCHA_PT_SELECT,
                             .dflt = "auto",
                             .options = vcha_sync_mechanism_options},
    [VCHA_SYNC_PUSH_TIMEOUT] = {.name = "push_timeout",
                                .type = VCHA_PT_DURATION,
                                .dflt = "10min",
                                .min = 1000,
                                .max = VCHA_JOB_MAX_TIMEOUT_MS},
};

/* What a transport needs besides the target: its secrets, checked. */
static int
contract_check(const struct vcha_params *p, char *why, size_t whylen)
{
    struct vcha_sync_target t;
    const char *id = vcha_param_str(p, VCHA_SYNC_IDENTITY);
    const char *kh = vcha_param_str(p, VCHA_SYNC_KNOWN_HOSTS);
    const char *pw = vcha_param_str(p, VCHA_SYNC_PASSWORD_FILE);
    int rc = vcha_sync_target_parse(vcha_param_str(p, VCHA_SYNC_TARGET), &t,
                                    why, whylen);

    if (rc < 0) {
        return rc;
    }
    if (t.kind == VCHA_SYNC_SSH && (id == NULL || kh == NULL)) {
        snprintf(why, whylen,
                 "identity and known_hosts are required for "
                 "an ssh:// target");
        return -EINVAL;
    }
    if (t.kind == VCHA_SYNC_DAEMON && pw == NULL) {
        snprintf(why, whylen,
                 "password_file is required for an rsync:// "
                 "target");
        return -EINVAL;
    }
    return 0;
}

const struct vcha_job_def vcha_sync_job = {
    .type = "filesync",
    .params = params,
    .n_params = VCHA_SYNC_N_PARAMS,
    .check = contract_check,
};

/* Whether @p s is one word for ssh and rsync: [A-Za-z0-9._:-]+. */
static bool
plain_word(const char *s, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
              c == ':')) {
            return false;
        }
    }
    return s[0] != '-';
}

/* Copy @p len bytes of @p s into @p dst (@p size) as a C string. */
static int
copy_part(char *dst, size_t size, const char *s, size_t len)
{
    if (len >= size) {
        return -EINVAL;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

/* Parse "[USER@]HOST[:PORT]" of @p len bytes at @p s into @p t. */
static int
authority_parse(const char *s, size_t len, struct vcha_sync_target *t)
{
    const char *at = memchr(s, '@', len), *host = s, *end = s + len;
    const char *colon = NULL;

    if (at != NULL) {
        if (!plain_word(s, (size_t) (at - s)) ||
            copy_part(t->user, sizeof(t->user), s, (size_t) (at - s)) < 0) {
            return -EINVAL;
        }
        host = at + 1;
    }
    if (host < end && *host == '[') { /* [v6addr]:port */
        const char *close = memchr(host, ']', (size_t) (end - host));

        if (close == NULL) {
            return -EINVAL;
        }
        colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
        if ((close + 1 != end && colon == NULL) ||
            !plain_word(host + 1, (size_t) (close - host - 1))) {
            return -EINVAL;
        }
        copy_part(t->host, sizeof(t->host), host + 1,
                  (size_t) (close - host - 1));
    } else {
        colon = memchr(host, ':', (size_t) (end - host));
        size_t hlen = (size_t) ((colon != NULL ? colon : end) - host);

        if (!plain_word(host, hlen) ||
            copy_part(t->host, sizeof(t->host), host, hlen) < 0) {
            return -EINVAL;
        }
    }
    if (colon != NULL) {
        char *stop = NULL;
        unsigned long port = strtoul(colon + 1, &stop, 10);

        if (stop != end || colon + 1 == end || port == 0 || port > 65535) {
            return -EINVAL;
        }
        t->port = (unsigned) port;
    }
    return 0;
}

int
vcha_sync_target_parse(const char *text, struct vcha_sync_target *t, char *why,
                       size_t whylen)
{
    const char *rest = NULL;
    size_t len;
    int rc = -EINVAL;

    memset(t, 0, sizeof(*t));
    if (text[0] == '/') {
        t->kind = VCHA_SYNC_LOCAL;
        rc = copy_part(t->path, sizeof(t->path), text, strlen(text));
    } else if (strncmp(text, "ssh://", 6) == 0) {
        t->kind = VCHA_SYNC_SSH;
        rest = text + 6;
        len = strlen(rest);
        len -= len > 0 && rest[len - 1] == '/'; /* ssh://host/ is fine */
        rc = authority_parse(rest, len, t);
    } else if (strncmp(text, "rsync://", 8) == 0) {
        const char *slash = strchr(text + 8, '/');

        t->kind = VCHA_SYNC_DAEMON;
        rest = text + 8;
        if (slash != NULL) {
            len = strlen(slash + 1);
            len -= len > 0 && slash[len] == '/';
            rc = authority_parse(rest, (size_t) (slash - rest), t);
            if (rc == 0 &&
                (!plain_word(slash + 1, len) ||
                 memchr(slash + 1, ':', len) != NULL ||
                 copy_part(t->path, sizeof(t->path), slash + 1, len) < 0)) {
                rc = -EINVAL;
            }
        }
    }
    if (rc < 0) {
        snprintf(why, whylen,
                 "is not an absolute directory, ssh://[USER@]HOST[:PORT] or "
                 "rsync://[USER@]HOST[:PORT]/MODULE");
    }
    return rc;
}

int
vcha_sync_secret_check(const char *path, char *why, size_t whylen)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        int rc = -errno;

        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "%s is not a regular file", path);
        return -EINVAL;
    }
    if (st.st_uid != geteuid()) {
        snprintf(why, whylen, "%s belongs to uid %u, not to uid %u", path,
                 (unsigned) st.st_uid, (unsigned) geteuid());
        return -EPERM;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(why, whylen,
                 "%s has mode %04o: a secret must be readable by its owner "
                 "only (chmod 600)",
                 path, (unsigned) (st.st_mode & 07777));
        return -EPERM;
    }
    return 0;
}

/* argv builder: entries point into a caller's buffer. */
struct argv_buf {
    const char **argv;
    size_t n, max;
    char *buf;
    size_t used, buflen;
    bool full;
};

static void
arg_add(struct argv_buf *a, const char *s)
{
    if (a->n + 1 >= a->max) {
        a->full = true;
        return;
    }
    a->argv[a->n++] = s;
    a->argv[a->n] = NULL;
}

static void __attribute__((format(printf, 2, 3)))
arg_addf(struct argv_buf *a, const char *fmt, ...)
{
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(a->buf + a->used, a->buflen - a->used, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t) len >= a->buflen - a->used) {
        a->full = true;
        return;
    }
    arg_add(a, a->buf + a->used);
    a->used += (size_t) len + 1;
}

/*
 * How long a push waits for the connection to the receiver: a standby
 * that does not answer (powered off behind a router) fails the push then,
 * not at its timeout.
 */
#define CONNECT_TIMEOUT_S 10

/* rsync's -e for an ssh target: rsync splits it on blanks itself. */
static void
ssh_command_add(struct argv_buf *a, const struct vcha_sync_push *p)
{
    char port[16] = "";

    if (p->target->port != 0) {
        snprintf(port, sizeof(port), " -p %u", p->target->port);
    }
    arg_addf(a,
             "--rsh=ssh -i %s -o IdentitiesOnly=yes -o BatchMode=yes "
             "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s "
             "-o ControlMaster=no -o ControlPath=%s -o ConnectTimeout=%d "
             "-o ServerAliveInterval=5 -o ServerAliveCountMax=3%s",
             p->identity, p->known_hosts,
             p->control_path != NULL ? p->control_path : "none",
             CONNECT_TIMEOUT_S, port);
}

/* The destination argument of the push. */
static void
destination_add(struct argv_buf *a, const struct vcha_sync_push *p)
{
    const struct vcha_sync_target *t = p->target;
    const char *user = t->user[0] != '\0' ? t->user : NULL;
    bool v6 = strchr(t->host, ':') != NULL;

    switch (t->kind) {
    case VCHA_SYNC_LOCAL:
        arg_addf(a, "%s/", t->path);
        break;
    case VCHA_SYNC_SSH: /* the receiver's forced command picks the place */
        arg_addf(a, "%s%s%s%s%s:.", user ? user : "", user ? "@" : "",
                 v6 ? "[" : "", t->host, v6 ? "]" : "");
        break;
    case VCHA_SYNC_DAEMON:
        if (t->port != 0) {
            arg_addf(a, "--port=%u", t->port);
        }
        arg_addf(a, "--contimeout=%d", CONNECT_TIMEOUT_S);
        arg_addf(a, "--password-file=%s", p->password_file);
        arg_addf(a, "rsync://%s%s%s%s%s/%s/", user ? user : "", user ? "@" : "",
                 v6 ? "[" : "", t->host, v6 ? "]" : "", t->path);
        break;
    }
}

int
vcha_sync_push_argv(const struct vcha_sync_push *p, const char **argv,
                    size_t max, char *buf, size_t buflen)
{
    /* --modify-window=-1: mtimes compared to the nanosecond; a file
       rewritten within the second of its last push, at the same size,
       would otherwise look unchanged to rsync and stay stale */
    static const char *const base[] = {
        "rsync",          "-aHAX",   "--numeric-ids",       "--delete",
        "--delete-delay", "--stats", "--modify-window=-1", "--from0",
    };
    struct argv_buf a = {
        .argv = argv, .max = max, .buf = buf, .buflen = buflen};

    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
        arg_add(&a, base[i]);
    }
    if (p->checksum) {
        arg_add(&a, "--checksum");
    }
    if (p->delete_excluded) {
        arg_add(&a, "--delete-excluded");
    }
    if (p->filter != NULL) {
        arg_addf(&a, "--filter=merge %s", p->filter);
    }
    if (p->list != NULL) {
        arg_add(&a, "-r");
        arg_addf(&a, "--files-from=%s", p->list);
        arg_add(&a, "--delete-missing-args");
    }
    if (p->target->kind == VCHA_SYNC_SSH) {
        ssh_command_add(&a, p);
    }
    if (p->pull) {
        destination_add(&a, p);
        arg_addf(&a, "%s/", p->source);
    } else {
        arg_addf(&a, "%s/", p->source);
        destination_add(&a, p);
    }
    return a.full ? -ENOSPC : (int) a.n;
}

/* The number after @p label in rsync's --stats output, or 0. */
static long long
stat_figure(const char *out, const char *label)
{
    const char *at = strstr(out, label);
    long long v = 0;

    if (at == NULL) {
        return 0;
    }
    for (at += strlen(label); *at == ' ' || *at == ':'; at++) {
    }
    for (; (*at >= '0' && *at <= '9') || *at == ','; at++) {
        if (*at != ',') {
            v = v * 10 + (*at - '0');
        }
    }
    return v;
}

/*
 * Why rsync failed, from its stderr @p err: the first line of a daemon's
 * "@ERROR" (auth failed, unknown module), of ssh's (connection refused,
 * host key) or of the receiver's (vcha-receive's refusal), which rsync's
 * own lines after it only echo; else the last
 * line that is not rsync's closing summary ("rsync error: ... (code N)");
 * else that summary.
 */
static void
last_line(const char *err, char *why, size_t whylen)
{
    const char *best = NULL, *summary = NULL;
    int best_len = 0, summary_len = 0;

    for (const char *line = err; *line != '\0';) {
        int len = (int) strcspn(line, "\n");

        if (len > 0 && (strncmp(line, "@ERROR", 6) == 0 ||
                        strncmp(line, "ssh: ", 5) == 0 ||
                        strncmp(line, "vcha-receive: ", 14) == 0)) {
            best = line;
            best_len = len;
            break;
        }
        if (len > 0 && strncmp(line, "rsync error:", 12) == 0) {
            summary = line;
            summary_len = len;
        } else if (len > 0) {
            best = line;
            best_len = len;
        }
        line += len + (line[len] == '\n');
    }
    if (best == NULL) {
        best = summary != NULL ? summary : "";
        best_len = summary_len;
    }
    snprintf(why, whylen, "%s%.*s",
             strncmp(best, "rsync", 5) == 0 ||
                     strncmp(best, "vcha-receive: ", 14) == 0
                 ? ""
                 : "rsync: ",
             best_len, best);
}

int
vcha_sync_push_run(const struct vcha_sync_push *p, struct vcha_sync_stats *st,
                   char *why, size_t whylen)
{
    const char *argv[32];
    char buf[8192];
    struct vcha_exec_result res = {0};
    long long t0 = vcha_now_ms();
    int rc = vcha_sync_push_argv(p, argv, 32, buf, sizeof(buf));

    memset(st, 0, sizeof(*st));
    st->exit_code = -1;
    if (rc < 0) {
        snprintf(why, whylen, "the rsync command is too long");
        return rc;
    }
    rc = vcha_exec(argv, NULL, 0, p->timeout_ms, &res);
    st->elapsed_ms = vcha_now_ms() - t0;
    if (rc < 0) {
        snprintf(why, whylen, "cannot run rsync: %s", strerror(-rc));
        return rc;
    }
    st->exit_code = res.exit_code;
    st->files = stat_figure(res.out, "Number of regular files transferred");
    st->deleted = stat_figure(res.out, "Number of deleted files");
    st->bytes = stat_figure(res.out, p->pull ? "Total bytes received"
                                             : "Total bytes sent");
    if (res.timed_out || res.cancelled) {
        snprintf(why, whylen, "rsync %s after %lld ms",
                 res.timed_out ? "timed out" : "was stopped", st->elapsed_ms);
        rc = res.timed_out ? -ETIME : -ECANCELED;
    } else if (res.exit_code == 5 && strstr(res.err, "max connections")) {
        last_line(res.err, why, whylen);
        rc = -EBUSY;
    } else if (res.exit_code == 24) {
        last_line(res.err, why, whylen);
        rc = -EAGAIN;
    } else if (!vcha_exec_ok(&res)) {
        last_line(res.err, why, whylen);
        if (strcmp(why, "rsync: ") == 0) { /* nothing on stderr */
            snprintf(why, whylen, "rsync exited with %d", res.exit_code);
        }
        rc = -EIO;
    }
    vcha_exec_result_clear(&res);
    return rc;
}

/* ------------------------------------------------------- the exclusions */

/* The largest filter file read. */
#define FILTER_MAX (64 << 20)

/* A tree without a dpkg database: the includes, the always-excluded
 * paths and the excludes. */
static int
plain_filter_print(FILE *f, const struct vcha_excludes_spec *spec)
{
    const char *const *always = vcha_excludes_always();

    for (size_t i = 0; spec->include != NULL && spec->include[i] != NULL;
         i++) {
        fprintf(f, "+ %s\n", spec->include[i]);
    }
    for (size_t i = 0; always[i] != NULL; i++) {
        fprintf(f, "- %s\n", always[i]);
    }
    for (size_t i = 0; spec->exclude != NULL && spec->exclude[i] != NULL;
         i++) {
        fprintf(f, "- %s\n", spec->exclude[i]);
    }
    return ferror(f) ? -EIO : 0;
}

int
vcha_sync_filter_text(const struct vcha_excludes_spec *spec,
                      const char *filter_file, char **text, size_t *len,
                      char *why, size_t whylen)
{
    struct vcha_excludes *ex = NULL;
    FILE *f;
    int rc;

    *text = NULL;
    *len = 0;
    if (filter_file != NULL) {
        rc = vcha_file_read(filter_file, text, len, FILTER_MAX);
        if (rc < 0) {
            snprintf(why, whylen, "%s: %s", filter_file, strerror(-rc));
        }
        return rc;
    }
    f = open_memstream(text, len);
    if (f == NULL) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -ENOMEM;
    }
    rc = vcha_excludes_build(spec, &ex, why, whylen);
    if (rc == 0) {
        rc = vcha_excludes_print(ex, f);
    } else if (rc == -ENOENT) { /* no dpkg database: no packages */
        rc = plain_filter_print(f, spec);
    }
    if (fclose(f) != 0 && rc == 0) {
        rc = -EIO;
    }
    if (rc < 0 && why[0] == '\0') {
        snprintf(why, whylen, "%s", strerror(-rc));
    }
    if (rc < 0) {
        free(*text);
        *text = NULL;
        *len = 0;
    }
    vcha_excludes_free(ex);
    return rc;
}

int
vcha_sync_filter_save(const char *path, const char *text, size_t len)
{
    char *buf = malloc(len + 1);
    size_t n = 0;
    int rc;

    if (buf == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < len; i++) {
        buf[n++] = text[i] == '\n' ? '\0' : text[i];
    }
    if (n > 0 && buf[n - 1] != '\0') {
        buf[n++] = '\0';
    }
    rc = vcha_file_write_atomic(path, buf, n, 0600);
    free(buf);
    return rc;
}
