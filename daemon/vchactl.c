/*
 * vchactl - ask vchad, the vcha node daemon, how its jobs are doing; see
 * vchactl(8).
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/excludes.h>
#include <vcha/log.h>
#include <vcha/vchad.h>

/* Exit codes. */
#define EXIT_OK 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2
#define EXIT_NOT_RUNNING 3

#define DEFAULT_TIMEOUT_S 30

struct ctl {
    const char *sock;
    long long deadline;
    int argc;
    char **argv;
};

struct command {
    const char *name;
    int n_args; /* arguments; -1: at least two */
    int n_opt;  /* optional arguments after them; -1: any number */
    int (*fn)(struct ctl *ctl);
    const char *args;
    const char *help;
};

/* ------------------------------------------------------------ talking */

/* Print why a request failed; returns the exit code for it. */
static int
report(const struct ctl *ctl, const char *what, int rc,
       const struct vcha_kv *resp)
{
    const char *error = vcha_kv_get(resp, "error");

    if (rc == -ECONNREFUSED) {
        fprintf(stderr, "vchactl: vchad is not running (no answer on %s)\n",
                ctl->sock);
        return EXIT_NOT_RUNNING;
    }
    fprintf(stderr, "vchactl: %s: %s\n", what, error ? error : strerror(-rc));
    return EXIT_ERROR;
}

/* Add "KEY=VALUE" as typed (the value is taken as it is). */
static int
pair_add(struct vcha_kv *req, const char *pair)
{
    const char *eq = strchr(pair, '=');
    char *key = eq ? strndup(pair, (size_t) (eq - pair)) : NULL;
    int rc = key ? vcha_kv_set(req, key, eq + 1) : -EINVAL;

    if (rc == -EINVAL) {
        fprintf(stderr, "vchactl: not a KEY=VALUE pair: %s\n", pair);
    }
    free(key);
    return rc;
}

/* Send command @p cmd with the given KEY=VALUE pairs (NULL-terminated). */
static int
call(const struct ctl *ctl, const char *cmd, const char *const *pairs,
     struct vcha_kv **resp)
{
    struct vcha_kv *req = vcha_vchad_request_new(cmd);
    int rc = req ? 0 : -ENOMEM;

    *resp = NULL;
    for (size_t i = 0; rc == 0 && pairs != NULL && pairs[i] != NULL; i++) {
        rc = pair_add(req, pairs[i]);
    }
    if (rc == 0) {
        rc = vcha_vchad_call(ctl->sock, req, resp, ctl->deadline);
    }
    vcha_kv_free(req);
    return rc;
}

/* Print every pair but status as key=value (values escaped). */
static void
print_pairs(const struct vcha_kv *kv)
{
    for (size_t i = 0; i < vcha_kv_count(kv); i++) {
        char *value = vcha_kv_escape(vcha_kv_value(kv, i));

        if (strcmp(vcha_kv_key(kv, i), "status") != 0 && value != NULL) {
            printf("%s=%s\n", vcha_kv_key(kv, i), value);
        }
        free(value);
    }
}

/* ------------------------------------------------------------ status */

/* Value of "job.I.KEY" in a status response, or "". */
static const char *
job_value(const struct vcha_kv *st, long long i, const char *key)
{
    char name[160];
    const char *v;

    snprintf(name, sizeof(name), "job.%lld.%s", i, key);
    v = vcha_kv_get(st, name);
    return v ? v : "";
}

/* "3s ago" for a CLOCK_REALTIME ms time, "never" for 0. */
static void
age_format(const char *when, char *buf, size_t len)
{
    struct timespec now;
    long long t = atoll(when), age;

    if (t <= 0) {
        snprintf(buf, len, "never");
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    age = ((long long) now.tv_sec * 1000 + now.tv_nsec / 1000000 - t) / 1000;
    if (age < 0) {
        age = 0;
    }
    if (age < 120) {
        snprintf(buf, len, "%llds ago", age);
    } else if (age < 120 * 60) {
        snprintf(buf, len, "%lldm ago", age / 60);
    } else if (age < 48 * 3600) {
        snprintf(buf, len, "%lldh ago", age / 3600);
    } else {
        snprintf(buf, len, "%lldd ago", age / 86400);
    }
}

/* The last figures of job @p i as "name=value ...". */
static void
figures_format(const struct vcha_kv *st, long long i, char *buf, size_t len)
{
    char prefix[64];
    size_t plen, used = 0;

    snprintf(prefix, sizeof(prefix), "job.%lld.fig.", i);
    plen = strlen(prefix);
    buf[0] = '\0';
    for (size_t k = 0; k < vcha_kv_count(st) && used < len; k++) {
        const char *key = vcha_kv_key(st, k);

        if (strncmp(key, prefix, plen) == 0) {
            int n = snprintf(buf + used, len - used, "%s%s=%s", used ? " " : "",
                             key + plen, vcha_kv_value(st, k));

            used += n > 0 ? (size_t) n : 0;
        }
    }
}

enum { COL_ID, COL_TYPE, COL_STATE, COL_OK, COL_RUNS, COL_FAILS, N_COLS };

static const char *const col_names[N_COLS] = {"ID",      "TYPE", "STATE",
                                              "LAST OK", "RUNS", "FAILS"};

static void
row_fill(const struct vcha_kv *st, long long i, char cells[N_COLS][64])
{
    snprintf(cells[COL_ID], 64, "%s", job_value(st, i, "id"));
    snprintf(cells[COL_TYPE], 64, "%s", job_value(st, i, "type"));
    snprintf(cells[COL_STATE], 64, "%s%s", job_value(st, i, "state"),
             strcmp(job_value(st, i, "running"), "1") == 0 ? "*" : "");
    age_format(job_value(st, i, "last_success"), cells[COL_OK], 64);
    snprintf(cells[COL_RUNS], 64, "%s", job_value(st, i, "runs"));
    snprintf(cells[COL_FAILS], 64, "%s", job_value(st, i, "failures"));
}

static void
table_print(const struct vcha_kv *st, long long n)
{
    char cells[N_COLS][64], figures[1024];
    int width[N_COLS];

    for (int c = 0; c < N_COLS; c++) {
        width[c] = (int) strlen(col_names[c]);
    }
    for (long long i = 0; i < n; i++) {
        row_fill(st, i, cells);
        for (int c = 0; c < N_COLS; c++) {
            int w = (int) strlen(cells[c]);

            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (int c = 0; c < N_COLS; c++) {
        printf("%-*s  ", width[c], col_names[c]);
    }
    printf("FIGURES\n");
    for (long long i = 0; i < n; i++) {
        row_fill(st, i, cells);
        figures_format(st, i, figures, sizeof(figures));
        for (int c = 0; c < N_COLS; c++) {
            printf("%-*s  ", width[c], cells[c]);
        }
        printf("%s\n", figures);
        if (strcmp(job_value(st, i, "state"), "failing") == 0) {
            printf("  %s: %s\n", job_value(st, i, "id"),
                   job_value(st, i, "last_error"));
        }
    }
}

static int
cmd_status(struct ctl *ctl)
{
    struct vcha_kv *resp = NULL;
    int rc = call(ctl, "status", NULL, &resp);
    long long n = 0;

    if (rc < 0) {
        rc = report(ctl, "status", rc, resp);
        vcha_kv_free(resp);
        return rc;
    }
    vcha_kv_get_ll(resp, "jobs", &n);
    printf("vchad %s, pid %s, on %s: %lld job%s\n",
           vcha_kv_get(resp, "version"), vcha_kv_get(resp, "pid"), ctl->sock, n,
           n == 1 ? "" : "s");
    if (n > 0) {
        printf("\n");
        table_print(resp, n);
    }
    vcha_kv_free(resp);
    return EXIT_OK;
}

/* ------------------------------------------------------------ the rest */

static int
cmd_ping(struct ctl *ctl)
{
    struct vcha_kv *resp = NULL;
    int rc = call(ctl, "ping", NULL, &resp);

    if (rc == 0) {
        printf("vchad %s answers on %s (pid %s, %s jobs)\n",
               vcha_kv_get(resp, "version"), ctl->sock,
               vcha_kv_get(resp, "pid"), vcha_kv_get(resp, "jobs"));
    } else {
        rc = report(ctl, "ping", rc, resp);
    }
    vcha_kv_free(resp);
    return rc;
}

static int
cmd_start(struct ctl *ctl)
{
    int rc = vcha_vchad_ensure(ctl->sock, ctl->deadline);

    if (rc < 0) {
        fprintf(stderr, "vchactl: cannot start vchad on %s: %s\n", ctl->sock,
                strerror(-rc));
        return EXIT_ERROR;
    }
    return cmd_ping(ctl);
}

/* A command about one job: "id=ID" plus the KEY=VALUE arguments after it. */
static int
call_job(struct ctl *ctl, const char *cmd, struct vcha_kv **resp)
{
    const char *pairs[3] = {NULL, ctl->argc > 1 ? ctl->argv[1] : NULL, NULL};
    char *id = NULL;
    int rc;

    if (asprintf(&id, "id=%s", ctl->argv[0]) < 0) {
        return -ENOMEM;
    }
    pairs[0] = id;
    rc = call(ctl, cmd, pairs, resp);
    free(id);
    return rc;
}

static int
cmd_health(struct ctl *ctl)
{
    struct vcha_kv *resp = NULL;
    int rc = call_job(ctl, "job-health", &resp);

    if (rc == 0) {
        const char *state = vcha_kv_get(resp, "state");

        print_pairs(resp);
        rc = (state && strcmp(state, "failing") == 0) ? EXIT_ERROR : EXIT_OK;
    } else {
        rc = report(ctl, ctl->argv[0], rc, resp);
    }
    vcha_kv_free(resp);
    return rc;
}

static int
cmd_run(struct ctl *ctl)
{
    struct vcha_kv *resp = NULL;
    int rc = call_job(ctl, "job-run", &resp);

    print_pairs(resp);
    rc = rc == 0 ? EXIT_OK : report(ctl, ctl->argv[0], rc, resp);
    vcha_kv_free(resp);
    return rc;
}

static int
cmd_remove(struct ctl *ctl)
{
    struct vcha_kv *resp = NULL;
    int rc;

    if (ctl->argc > 1 && strncmp(ctl->argv[1], "grace_ms=", 9) != 0) {
        fprintf(stderr,
                "vchactl: remove takes grace_ms=MS after the id, "
                "not %s\n",
                ctl->argv[1]);
        return EXIT_USAGE;
    }
    rc = call_job(ctl, "job-remove", &resp);

    rc = rc == 0 ? EXIT_OK : report(ctl, ctl->argv[0], rc, resp);
    vcha_kv_free(resp);
    return rc;
}

static int
cmd_add(struct ctl *ctl)
{
    struct vcha_kv *resp = NULL;
    char **pairs = calloc((size_t) ctl->argc + 1, sizeof(*pairs));
    int rc = pairs ? 0 : -ENOMEM;

    if (rc == 0 && (asprintf(&pairs[0], "type=%s", ctl->argv[0]) < 0 ||
                    asprintf(&pairs[1], "id=%s", ctl->argv[1]) < 0)) {
        rc = -ENOMEM;
    }
    for (int i = 2; rc == 0 && i < ctl->argc; i++) {
        pairs[i] = ctl->argv[i];
    }
    if (rc == 0) {
        rc = call(ctl, "job-add", (const char *const *) pairs, &resp);
    }
    if (rc == 0) {
        printf("%s %s\n", ctl->argv[1], vcha_kv_get(resp, "result"));
    } else {
        rc = rc == -EINVAL && resp == NULL
                 ? EXIT_USAGE
                 : report(ctl, ctl->argv[1], rc, resp);
    }
    if (pairs != NULL) {
        free(pairs[0]);
        free(pairs[1]);
    }
    free(pairs);
    vcha_kv_free(resp);
    return rc;
}

/* ------------------------------------------------------------ excludes */

/* The options of excludes, gathered into a spec over @p lists. */
struct excludes_args {
    struct vcha_excludes_spec spec;
    const char **lists[4]; /* unneeded, needed, exclude, include */
    size_t n[4];
    const char *output;
};

static int
excludes_parse(struct ctl *ctl, struct excludes_args *a)
{
    static const struct option opts[] = {
        {"unneeded", required_argument, NULL, 0},
        {"needed", required_argument, NULL, 1},
        {"exclude", required_argument, NULL, 2},
        {"include", required_argument, NULL, 3},
        {"no-defaults", no_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    int c;

    for (int i = 0; i < 4; i++) {
        a->lists[i] = calloc((size_t) ctl->argc + 1, sizeof(char *));
        if (a->lists[i] == NULL) {
            return -ENOMEM;
        }
    }
    /* the command's arguments, with its name where getopt wants argv[0] */
    optind = 0;
    while ((c = getopt_long(ctl->argc + 1, ctl->argv - 1, "o:", opts, NULL)) !=
           -1) {
        if (c >= 0 && c < 4) {
            a->lists[c][a->n[c]++] = optarg;
        } else if (c == 'n') {
            a->spec.no_defaults = true;
        } else if (c == 'o') {
            a->output = optarg;
        } else {
            return -EINVAL;
        }
    }
    if (optind != ctl->argc) {
        fprintf(stderr, "vchactl: excludes takes one ROOT\n");
        return -EINVAL;
    }
    a->spec.root = ctl->argv[optind - 1];
    a->spec.unneeded = a->lists[0];
    a->spec.needed = a->lists[1];
    a->spec.exclude = a->lists[2];
    a->spec.include = a->lists[3];
    return 0;
}

/* Print (or save) the filter, then a comment line with its figures. */
static int
excludes_output(const struct excludes_args *a, const struct vcha_excludes *ex)
{
    int rc = a->output ? vcha_excludes_save(ex, a->output)
                       : vcha_excludes_print(ex, stdout);

    if (rc < 0) {
        fprintf(stderr, "vchactl: %s: %s\n", a->output ? a->output : "stdout",
                strerror(-rc));
        return EXIT_ERROR;
    }
    printf("# %zu exclusions from %zu paths of %zu unneeded packages"
           " (of %zu), %lld ms\n",
           ex->n_excluded, ex->n_paths, ex->n_unneeded, ex->n_packages,
           ex->elapsed_ms);
    return EXIT_OK;
}

static int
cmd_excludes(struct ctl *ctl)
{
    struct excludes_args a = {.output = NULL};
    struct vcha_excludes *ex = NULL;
    char why[512];
    int rc = excludes_parse(ctl, &a);

    if (rc < 0) {
        rc = rc == -EINVAL ? EXIT_USAGE : EXIT_ERROR;
    } else if ((rc = vcha_excludes_build(&a.spec, &ex, why, sizeof(why))) < 0) {
        fprintf(stderr, "vchactl: excludes: %s\n", why);
        rc = rc == -EINVAL ? EXIT_USAGE : EXIT_ERROR;
    } else {
        rc = excludes_output(&a, ex);
    }
    vcha_excludes_free(ex);
    for (int i = 0; i < 4; i++) {
        free(a.lists[i]);
    }
    return rc;
}

static const struct command commands[] = {
    {"status", 0, 0, cmd_status, "", "the jobs and their health, as a table"},
    {"ping", 0, 0, cmd_ping, "", "whether vchad answers"},
    {"start", 0, 0, cmd_start, "", "start vchad unless it runs"},
    {"health", 1, 0, cmd_health, " ID", "the health of job ID, as KEY=VALUE"},
    {"run", 1, 0, cmd_run, " ID", "run job ID now and wait for the run"},
    {"remove", 1, 1, cmd_remove, " ID [grace_ms=MS]",
     "remove job ID; a run under way is killed after MS (10000)"},
    {"add", -1, 0, cmd_add, " TYPE ID [KEY=VALUE...]",
     "add job ID of type TYPE, or update its parameters"},
    {"excludes", 1, -1, cmd_excludes, " ROOT [OPTION]...",
     "the file sync's rsync filter for the tree at ROOT"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *out)
{
    fprintf(out, "Usage: vchactl [-s SOCKET] [-t SECONDS] COMMAND [ARGS]\n"
                 "Ask vchad, the vcha node daemon.\n\nCommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char left[64];

        snprintf(left, sizeof(left), "%s%s", commands[i].name,
                 commands[i].args);
        fprintf(out, "  %-30s %s\n", left, commands[i].help);
    }
    fprintf(out,
            "\nOptions:\n"
            "  -s SOCKET   vchad's socket (default: $VCHA_SOCKET, or %s)\n"
            "  -t SECONDS  give up after SECONDS (default %d)\n"
            "  -h          show this help\n\n"
            "Options of excludes (each but the last two may repeat):\n"
            "  --unneeded GLOB  packages the container does not need, too\n"
            "  --needed GLOB    packages it needs whatever a default says\n"
            "  --exclude PATH   a path (or rsync pattern) not to sync\n"
            "  --include PATH   a path to sync whatever excludes it\n"
            "  --no-defaults    none of the default unneeded packages\n"
            "  -o FILE          write the filter to FILE, atomically\n\n"
            "Exit status: 0 done, 1 failed, 2 usage, 3 vchad not running.\n",
            VCHA_VCHAD_SOCKET, DEFAULT_TIMEOUT_S);
}

static const struct command *
command_find(const char *name, int n_args)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const struct command *c = &commands[i];

        if (strcmp(c->name, name) == 0 &&
            ((n_args >= c->n_args &&
              (c->n_opt < 0 || n_args <= c->n_args + c->n_opt)) ||
             (c->n_args < 0 && n_args >= 2))) {
            return c;
        }
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    struct ctl ctl = {.sock = vcha_vchad_socket()};
    const struct command *cmd;
    long long timeout_s = DEFAULT_TIMEOUT_S;
    int c, rc;

    while ((c = getopt(argc, argv, "+s:t:h")) != -1) {
        switch (c) {
        case 's':
            ctl.sock = optarg;
            break;
        case 't':
            timeout_s = atoll(optarg);
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    cmd = optind < argc ? command_find(argv[optind], argc - optind - 1) : NULL;
    if (cmd == NULL || timeout_s <= 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* messages of the library go to stderr, and only the serious ones */
    vcha_log_init("vchactl", NULL);
    vcha_log_stderr_priority(LOG_WARNING);
    ctl.argc = argc - optind - 1;
    ctl.argv = argv + optind + 1;
    ctl.deadline = vcha_now_ms() + timeout_s * 1000;
    rc = cmd->fn(&ctl);
    vcha_log_fini();
    return rc;
}
