/* vcha - the scheduler asked what a raised utilization would do. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vcha/attr.h>
#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/log.h>
#include <vcha/whatif.h>

/* The name of a call's private directory begins with this. */
#define WHATIF_PREFIX "vcha-whatif-"

/* Run a tool until @p deadline: 0 with its stdout in *@p out (may be NULL). */
static int
tool(const char *const argv[], long long deadline, char **out)
{
    struct vcha_exec_result res;
    long long left = deadline - vcha_now_ms();
    int rc = left > 0 ? vcha_exec(argv, NULL, 0, left, &res) : -ETIME;

    if (rc < 0) {
        return rc;
    }
    if (res.timed_out) {
        rc = -ETIME;
    } else if (!vcha_exec_ok(&res) || res.truncated) {
        vcha_warn("%s exited %d: %s", argv[0], res.exit_code, res.err);
        rc = -EIO;
    } else if (out != NULL) {
        *out = res.out;
        res.out = NULL;
    }
    vcha_exec_result_clear(&res);
    return rc;
}

/* Whether @p name is a word of @p list ("A B C "). */
static bool
listed(const char *list, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == list || p[-1] == ' ') && p[n] == ' ') {
            return true;
        }
    }
    return false;
}

/* cibadmin's exit status when its XPath matches nothing (CRM_EX_NOSUCH) */
#define CIBADMIN_NO_SUCH 105

/*
 * The primitives of @p cib whose agent is @p agent (CLASS:PROVIDER:TYPE),
 * each followed by a space, into *@p list (allocated; "" for none): 0,
 * or -errno (-EIO: cibadmin failed otherwise than finding none).
 */
static int
agent_ids(const char *cib, const char *agent, long long deadline,
          char **list)
{
    char env[4200], xpath[512], cls[64], prov[64], type[128];
    const char *argv[] = {"env",     env,   "cibadmin", "--query", "--xpath",
                          xpath, "--no-children", NULL};
    char *out = NULL, *save = NULL;
    struct vcha_exec_result res;
    size_t size = 0;
    long long left = deadline - vcha_now_ms();
    FILE *f;
    int rc;

    if (sscanf(agent, "%63[^:]:%63[^:]:%127s", cls, prov, type) != 3) {
        return -EINVAL;
    }
    if ((size_t) snprintf(env, sizeof(env), "CIB_file=%s", cib) >=
        sizeof(env)) {
        return -ENAMETOOLONG;
    }
    snprintf(xpath, sizeof(xpath),
             "//primitive[@class='%s' and @provider='%s' and @type='%s']",
             cls, prov, type);
    rc = left > 0 ? vcha_exec(argv, NULL, 0, left, &res) : -ETIME;
    if (rc < 0) {
        return rc;
    }
    f = open_memstream(list, &size);
    if (f == NULL) {
        vcha_exec_result_clear(&res);
        return -ENOMEM;
    }
    if (res.timed_out) {
        rc = -ETIME;
    } else if (vcha_exec_ok(&res)) {
        out = res.out;
    } else if (res.exit_code != CIBADMIN_NO_SUCH) { /* that is: none */
        rc = -EIO;
    }
    for (char *l = out != NULL ? strtok_r(out, "\n", &save) : NULL; l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        char id[256];
        const char *at = strstr(l, " id=\"");

        if (strstr(l, "<primitive") != NULL && at != NULL &&
            sscanf(at, " id=\"%255[^\"]\"", id) == 1) {
            fprintf(f, "%s ", id);
        }
    }
    if (fclose(f) != 0 && rc == 0) {
        rc = -ENOMEM;
    }
    vcha_exec_result_clear(&res);
    if (rc < 0) {
        free(*list);
        *list = NULL;
    }
    return rc;
}

/*
 * The resources the transition crm_simulate prints for @p cib stops, or
 * moves by a stop and a start when they are of @p movers ("* Stop NAME (
 * NODE )", "* Move NAME ( A -> B )" lines of its Transition Summary; a
 * Migrate is neither), each followed by a space, into *@p list
 * (allocated).
 */
static int
stops(const char *cib, const char *movers, long long deadline, char **list)
{
    const char *argv[] = {"crm_simulate", "--xml-file", cib, "--simulate",
                          NULL};
    char *out = NULL, *save = NULL, *name = NULL;
    bool summary = false;
    size_t size = 0;
    FILE *f = open_memstream(list, &size);
    int rc = f == NULL ? -ENOMEM : tool(argv, deadline, &out);

    for (char *l = rc == 0 ? strtok_r(out, "\n", &save) : NULL; l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "Transition Summary:", 19) == 0) {
            summary = true;
        } else if (summary && l[0] != ' ') {
            break; /* the next section */
        } else if (summary && (sscanf(l, " * Stop %ms", &name) == 1 ||
                               (sscanf(l, " * Move %ms", &name) == 1 &&
                                listed(movers, name)))) {
            fprintf(f, "%s ", name);
        }
        free(name); /* a name of any length is reported whole */
        name = NULL;
    }
    if (f != NULL && fclose(f) != 0 && rc == 0) {
        rc = -ENOMEM;
    }
    if (rc < 0 && f != NULL) {
        free(*list);
        *list = NULL;
    }
    free(out);
    return rc;
}

/* How old a copy left behind (its caller killed) may be before another
 * call removes it. */
#define WHATIF_STALE_S 3600

/* Remove the copies left in @p parent by calls that were killed. */
static void
sweep(const char *parent)
{
    DIR *d = opendir(parent);
    time_t now = time(NULL);
    struct dirent *e;
    struct stat st;
    char path[4096];

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, WHATIF_PREFIX, strlen(WHATIF_PREFIX)) != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
            st.st_uid == geteuid() && now - st.st_mtime > WHATIF_STALE_S) {
            vcha_file_remove_tree(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
}

int
vcha_whatif_utilization(const char *cib_file, const char *rsc,
                        const char *agent, const char *name,
                        const char *value, long long timeout_ms, char *stopped,
                        size_t len)
{
    const char *tmp = getenv("TMPDIR");
    long long deadline = vcha_now_ms() + timeout_ms;
    char dir[4096], copy[4200];
    char *text = NULL, *save = NULL, *before = NULL, *after = NULL;
    char *movers = NULL;
    size_t size = 0, used = 0;
    bool found = false;
    int rc = 0;

    stopped[0] = '\0';
    tmp = tmp != NULL && *tmp == '/' ? tmp : "/tmp";
    sweep(tmp);
    snprintf(dir, sizeof(dir), "%s/" WHATIF_PREFIX "XXXXXX", tmp);
    if (mkdtemp(dir) == NULL) {
        return -errno;
    }
    snprintf(copy, sizeof(copy), "%s/cib.xml", dir);
    if (cib_file != NULL) {
        rc = vcha_file_read(cib_file, &text, &size, VCHA_EXEC_MAX_OUTPUT);
    } else {
        const char *argv[] = {"cibadmin", "--query", NULL};

        rc = tool(argv, deadline, &text);
        size = text != NULL ? strlen(text) : 0;
    }
    rc = rc ? rc : vcha_file_write_atomic(copy, text, size, 0600);
    if (rc == 0 && agent != NULL) {
        rc = agent_ids(copy, agent, deadline, &movers);
    } else if (rc == 0) {
        movers = strdup("");
        rc = movers == NULL ? -ENOMEM : 0;
    }
    rc = rc ? rc : stops(copy, movers, deadline, &before);
    if (rc == 0) {
        long long left = deadline - vcha_now_ms();

        rc = left > 0 ? vcha_utilization_set_in(copy, rsc, name, value, left)
                      : -ETIME;
    }
    rc = rc ? rc : stops(copy, movers, deadline, &after);
    /* what the change stops that the cluster as it is does not (each
     * counted, though its name may not fit in @p stopped) */
    for (char *n = rc == 0 ? strtok_r(after, " ", &save) : NULL; n != NULL;
         n = strtok_r(NULL, " ", &save)) {
        if (listed(before, n)) {
            continue;
        }
        found = true;
        if (used + strlen(n) + 2 < len) {
            used += (size_t) snprintf(stopped + used, len - used, "%s%s",
                                      used ? " " : "", n);
        }
    }
    vcha_file_remove_tree(dir);
    free(before);
    free(after);
    free(movers);
    free(text);
    return rc < 0 ? rc : found;
}
