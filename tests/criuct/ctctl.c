/*
 * ctctl - drive an LXC container through vcha's container calls (ct.h),
 * for tests/criuct/download-ct.sh and tests/bench/ct-monitor:
 *
 *   ctctl LXCPATH NAME check           vcha_ct_open + vcha_ct_criu_check
 *   ctctl LXCPATH NAME boot            vcha_ct_boot (CRIU's settings)
 *   ctctl LXCPATH NAME kill            vcha_ct_kill
 *   ctctl LXCPATH NAME running [N]     vcha_ct_running N times (1):
 *                                      "RUNNING PID" of the last, and with
 *                                      N > 1 "ms_per_call X" on stderr
 *   ctctl LXCPATH NAME running-config KEY...
 *                                      the running container's items, as
 *                                      its monitor reports them, "KEY=V"
 *
 * Exit 0, or 1 with the reason on stderr.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lxc/lxccontainer.h>

#include <vcha/clock.h>
#include <vcha/ct.h>

static int
running(struct vcha_ct *ct, long n)
{
    long long t0 = vcha_now_ms();
    pid_t pid = 0;
    int rc = 0;

    for (long i = 0; i < n && rc >= 0; i++) {
        rc = vcha_ct_running(ct, vcha_now_ms() + 10000, &pid);
    }
    if (rc < 0) {
        fprintf(stderr, "ctctl: running: %s\n", strerror(-rc));
        return 1;
    }
    printf("%d %d\n", rc, (int) pid);
    if (n > 1) {
        fprintf(stderr, "ms_per_call %.3f\n",
                (double) (vcha_now_ms() - t0) / (double) n);
    }
    return 0;
}

/* The running configuration, from the container's monitor. */
static int
running_config(const char *lxcpath, const char *name, char **keys, int n)
{
    struct lxc_container *c = lxc_container_new(name, lxcpath);
    int rc = c != NULL ? 0 : 1;

    for (int i = 0; rc == 0 && i < n; i++) {
        char *v = c->get_running_config_item(c, keys[i]);

        printf("%s=%s\n", keys[i], v != NULL ? v : "");
        free(v);
    }
    lxc_container_put(c);
    return rc;
}

int
main(int argc, char **argv)
{
    struct vcha_ct *ct = NULL;
    char why[1024] = "";
    const char *cmd = argc > 3 ? argv[3] : "";
    long long deadline = vcha_now_ms() + 60000;
    int rc;

    if (argc < 4) {
        fprintf(stderr, "usage: ctctl LXCPATH NAME "
                        "check|boot|kill|running [N]|running-config KEY...\n");
        return 2;
    }
    if (strcmp(cmd, "running-config") == 0) {
        return running_config(argv[1], argv[2], argv + 4, argc - 4);
    }
    rc = vcha_ct_open(argv[2], argv[1], &ct, why, sizeof(why));
    if (rc == 0 && strcmp(cmd, "check") == 0) {
        rc = vcha_ct_criu_check(ct, why, sizeof(why));
    } else if (rc == 0 && strcmp(cmd, "boot") == 0) {
        rc = vcha_ct_boot(ct, deadline, why, sizeof(why));
    } else if (rc == 0 && strcmp(cmd, "kill") == 0) {
        rc = vcha_ct_kill(ct, deadline, why, sizeof(why));
    } else if (rc == 0 && strcmp(cmd, "running") == 0) {
        rc = running(ct, argc > 4 ? atol(argv[4]) : 1) == 0 ? 0 : -EIO;
        why[0] = '\0';
    } else if (rc == 0) {
        snprintf(why, sizeof(why), "unknown command %s", cmd);
        rc = -EINVAL;
    }
    if (rc < 0 && why[0] != '\0') {
        fprintf(stderr, "ctctl: %s: %s\n", cmd, why);
    }
    vcha_ct_free(ct);
    return rc < 0 ? 1 : 0;
}
