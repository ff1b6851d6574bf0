/* vcha - the scheduler asked what a raised utilization would do. */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/log.h>
#include <vcha/whatif.h>

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

/*
 * The resources the transition crm_simulate prints for @p cib stops
 * ("* Stop  NAME ( NODE )" lines of its Transition Summary), each followed
 * by a space, into @p buf.
 */
static int
stops(const char *cib, long long deadline, char *buf, size_t len)
{
    const char *argv[] = {"crm_simulate", "--xml-file", cib, "--simulate",
                          NULL};
    char *out = NULL, *save = NULL, name[256];
    bool summary = false;
    size_t used = 0;
    int rc = tool(argv, deadline, &out);

    buf[0] = '\0';
    for (char *l = rc == 0 ? strtok_r(out, "\n", &save) : NULL; l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "Transition Summary:", 19) == 0) {
            summary = true;
        } else if (summary && l[0] != ' ') {
            break; /* the next section */
        } else if (summary && sscanf(l, " * Stop %255s", name) == 1 &&
                   used + strlen(name) + 2 < len) {
            used += (size_t) snprintf(buf + used, len - used, "%s ", name);
        }
    }
    free(out);
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

int
vcha_whatif_utilization(const char *cib_file, const char *rsc,
                        const char *name, const char *value,
                        long long timeout_ms, char *stopped, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    long long deadline = vcha_now_ms() + timeout_ms;
    char dir[4096], copy[4200], env[4300], before[4096], after[4096];
    char *text = NULL, *save = NULL;
    size_t size = 0, used = 0;
    int rc = 0;

    stopped[0] = '\0';
    snprintf(dir, sizeof(dir), "%s/vcha-whatif-XXXXXX",
             tmp != NULL && *tmp == '/' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        return -errno;
    }
    snprintf(copy, sizeof(copy), "%s/cib.xml", dir);
    snprintf(env, sizeof(env), "CIB_file=%s", copy);
    if (cib_file != NULL) {
        rc = vcha_file_read(cib_file, &text, &size, VCHA_EXEC_MAX_OUTPUT);
    } else {
        const char *argv[] = {"cibadmin", "--query", NULL};

        rc = tool(argv, deadline, &text);
        size = text != NULL ? strlen(text) : 0;
    }
    rc = rc ? rc : vcha_file_write_atomic(copy, text, size, 0600);
    rc = rc ? rc : stops(copy, deadline, before, sizeof(before));
    if (rc == 0) {
        const char *argv[] = {"env",
                              env,
                              "crm_resource",
                              "--resource",
                              rsc,
                              "--utilization",
                              "--set-parameter",
                              name,
                              "--parameter-value",
                              value,
                              NULL};

        rc = tool(argv, deadline, NULL);
    }
    rc = rc ? rc : stops(copy, deadline, after, sizeof(after));
    /* what the change stops that the cluster as it is does not */
    for (char *n = rc == 0 ? strtok_r(after, " ", &save) : NULL; n != NULL;
         n = strtok_r(NULL, " ", &save)) {
        if (!listed(before, n) && used + strlen(n) + 2 < len) {
            used += (size_t) snprintf(stopped + used, len - used, "%s%s",
                                      used ? " " : "", n);
        }
    }
    vcha_file_remove_tree(dir);
    free(text);
    return rc < 0 ? rc : used > 0;
}
