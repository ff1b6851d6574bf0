/* vcha - node attributes via attrd_updater and crm_attribute. */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/attr.h>
#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/log.h>

/* Pacemaker's exit codes (crm_exit_t) that mean something here. */
#define CRM_EX_CONFIG 78
#define CRM_EX_DISCONNECT 102
#define CRM_EX_NOSUCH 105

/*
 * errno for a failed Pacemaker tool: no such attribute, no cluster, other.
 * attrd_updater -Q of an unknown name exits CRM_EX_CONFIG (78) in Pacemaker
 * 2.1 and 3.0; crm_attribute -G exits CRM_EX_NOSUCH (105).  Both exit
 * CRM_EX_DISCONNECT (102) when the daemon cannot be reached.
 */
static int
tool_errno(const struct vcha_exec_result *res, bool query)
{
    switch (res->exit_code) {
    case CRM_EX_CONFIG:
        return query ? -ENODATA : -EIO;
    case CRM_EX_NOSUCH:
        return -ENODATA;
    case CRM_EX_DISCONNECT:
        return -ENOTCONN;
    default:
        return -EIO;
    }
}

/* Run a tool; its stdout goes to *out when out is not NULL (a query). */
static int
run_tool(const char *const argv[], long long timeout_ms, char **out)
{
    struct vcha_exec_result res;
    int rc = vcha_exec(argv, NULL, 0, timeout_ms, &res);

    if (rc < 0) {
        return rc;
    }
    if (res.timed_out) {
        rc = -ETIME;
    } else if (!vcha_exec_ok(&res)) {
        vcha_debug("%s exited %d: %s", argv[0], res.exit_code, res.err);
        rc = tool_errno(&res, out != NULL);
    } else if (out != NULL) {
        *out = res.out;
        res.out = NULL;
    }
    vcha_exec_result_clear(&res);
    return rc;
}

/*
 * The value crm_attribute -G -q printed (@p out, taken): its first line,
 * into *@p value; -ENODATA for none.
 */
static int
quiet_value(char *out, char **value)
{
    out[strcspn(out, "\n")] = '\0';
    if (out[0] == '\0') {
        free(out);
        return -ENODATA;
    }
    *value = out;
    return 0;
}

int
vcha_attr_parse_query(const char *output, char **value)
{
    const char *p = output ? strstr(output, "value=\"") : NULL;
    const char *end;

    *value = NULL;
    if (p == NULL) {
        return -ENODATA;
    }
    p += strlen("value=\"");
    end = strchr(p, '"');
    if (end == NULL || end == p) {
        return -ENODATA;
    }
    *value = strndup(p, (size_t) (end - p));
    return *value ? 0 : -ENOMEM;
}

int
vcha_attr_get(const char *name, const char *node, char **value,
              long long timeout_ms)
{
    const char *argv[] = {"attrd_updater", "-Q", "-n", name, NULL, NULL, NULL};
    char *out = NULL;
    int rc;

    *value = NULL;
    if (node != NULL) {
        argv[4] = "-N";
        argv[5] = node;
    }
    rc = run_tool(argv, timeout_ms, &out);
    if (rc == 0) {
        rc = vcha_attr_parse_query(out, value);
    }
    free(out);
    return rc;
}

int
vcha_node_attr_get(const char *name, const char *node, char **value,
                   long long timeout_ms)
{
    const char *argv[] = {"crm_attribute",
                          "-G",
                          "-q",
                          "-l",
                          "forever",
                          "-n",
                          name,
                          NULL,
                          NULL,
                          NULL};
    long long deadline = vcha_now_ms() + timeout_ms;
    char *out = NULL;
    int rc = vcha_attr_get(name, node, value, timeout_ms);

    if (rc != -ENODATA) {
        return rc;
    }
    if (node != NULL) {
        argv[7] = "-N";
        argv[8] = node;
    }
    rc = run_tool(argv, deadline - vcha_now_ms(), &out);
    return rc == 0 ? quiet_value(out, value) : rc;
}

int
vcha_attr_set(const char *name, const char *value, long long timeout_ms)
{
    const char *argv[] = {"attrd_updater", "-n", name, "-U", value, NULL};

    return run_tool(argv, timeout_ms, NULL);
}

int
vcha_attr_delete(const char *name, long long timeout_ms)
{
    const char *argv[] = {"attrd_updater", "-n", name, "-D", NULL};

    return run_tool(argv, timeout_ms, NULL);
}

int
vcha_promotion_set(int score, long long timeout_ms)
{
    char buf[16];
    const char *argv[] = {"crm_attribute", "--promotion", "-v", buf, NULL};

    snprintf(buf, sizeof(buf), "%d", score);
    return run_tool(argv, timeout_ms, NULL);
}

int
vcha_promotion_delete(long long timeout_ms)
{
    const char *argv[] = {"crm_attribute", "--promotion", "-D", NULL};

    return run_tool(argv, timeout_ms, NULL);
}

int
vcha_utilization_set_in(const char *cib_file, const char *rsc,
                        const char *name, const char *value,
                        long long timeout_ms)
{
    char env[4200];
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

    if (rsc == NULL || *rsc == '\0') {
        return -EINVAL;
    }
    if (cib_file == NULL) {
        return run_tool(argv + 2, timeout_ms, NULL);
    }
    if ((size_t) snprintf(env, sizeof(env), "CIB_file=%s", cib_file) >=
        sizeof(env)) {
        return -ENAMETOOLONG;
    }
    return run_tool(argv, timeout_ms, NULL);
}

int
vcha_utilization_set(const char *name, const char *value, long long timeout_ms)
{
    return vcha_utilization_set_in(NULL, getenv("OCF_RESOURCE_INSTANCE"),
                                   name, value, timeout_ms);
}

int
vcha_utilization_get(const char *name, char **value, long long timeout_ms)
{
    const char *res = getenv("OCF_RESOURCE_INSTANCE");
    const char *argv[] = {"crm_resource",    "--resource", res,     "--utilization",
                          "--get-parameter", name,         "--quiet", NULL};
    char *out = NULL;
    int rc;

    *value = NULL;
    if (res == NULL || *res == '\0') {
        return -EINVAL;
    }
    /* a name the resource does not have: nothing on stdout, exit 0 */
    rc = run_tool(argv, timeout_ms, &out);
    return rc == 0 ? quiet_value(out, value) : rc;
}

int
vcha_cluster_prop_get(const char *set, const char *name, char **value,
                      long long timeout_ms)
{
    const char *argv[] = {"crm_attribute", "-t", "crm_config", "-s", set,
                          "-n",          name, "-G",         "-q", NULL};
    char *out = NULL;
    int rc = run_tool(argv, timeout_ms, &out);

    *value = NULL;
    return rc == 0 ? quiet_value(out, value) : rc;
}

int
vcha_cluster_prop_set(const char *set, const char *name, const char *value,
                      long long timeout_ms)
{
    const char *argv[] = {"crm_attribute", "-t", "crm_config", "-s",  set,
                          "-n",          name, "-v",         value, NULL};

    return run_tool(argv, timeout_ms, NULL);
}

int
vcha_cluster_prop_delete(const char *set, const char *name,
                         long long timeout_ms)
{
    const char *argv[] = {"crm_attribute", "-t", "crm_config", "-s", set,
                          "-n",          name, "-D",         NULL};

    return run_tool(argv, timeout_ms, NULL);
}
