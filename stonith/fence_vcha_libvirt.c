/*
 * fence_vcha_libvirt - powers libvirt domains (QEMU VMs, LXC domains) off and
 * on through the libvirt API, over any connection URI, and confirms the new
 * state before it reports success.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <vcha/clock.h>
#include <vcha/fence.h>
#include <vcha/file.h>
#include <vcha/log.h>
#include <vcha/virt.h>

#define AGENT "fence_vcha_libvirt"
#define POLL_MS 100

static int
check_uri(const char *v, char *why, size_t len)
{
    const char *colon = strchr(v, ':');

    if (colon == NULL || colon == v || strncmp(colon, "://", 3) != 0) {
        snprintf(why, len,
                 "is not a libvirt URI (driver[+transport]://"
                 "[host]/path, e.g. qemu:///system)");
        return -EINVAL;
    }
    return 0;
}

static const char *const methods[] = {"onoff", "cycle", NULL};

static const struct vcha_fence_opt opts[] = {
    {{.name = "uri",
      .dflt = "qemu:///system",
      .check = check_uri,
      .shortdesc = "libvirt connection URI (qemu:///system, "
                   "qemu+ssh://host/system, lxc:///, test:///default, ...)"},
     0,
     "[uri]",
     NULL},
    {{.name = "identity_file",
      .check = vcha_check_abspath,
      .shortdesc = "SSH private key for +ssh URIs (any file name: it is "
                   "encoded into the URI's keyfile parameter)"},
     'k',
     "[filename]",
     NULL},
    {{.name = "username",
      .shortdesc = "User name for URIs that authenticate (SASL)"},
     'l',
     "[name]",
     "login"},
    {{.name = "password_file",
      .check = vcha_check_abspath,
      .shortdesc = "File whose first line is the SASL password"},
     0,
     "[filename]",
     NULL},
    {{.name = "method",
      .type = VCHA_PT_SELECT,
      .dflt = "onoff",
      .options = methods,
      .shortdesc = "Reboot by off then on (onoff), or by a hard reset where "
                   "the hypervisor has one (cycle; a domain that is off is "
                   "started)"},
     'm',
     "[method]",
     NULL},
};

/* ------------------------------------------------------------ libvirt */

struct session {
    struct vcha_fence *f;
    virConnectPtr conn;
    char *password;
    const char *plug; /* as given: a domain name or UUID */
    char error[512];  /* libvirt's last error, copied at once */
};

/* libvirt's last error, copied right after the failure (see vcha/virt.h). */
static const char *
last_error(struct session *s)
{
    return vcha_virt_last_error(s->error, sizeof(s->error));
}

static int
password_load(struct session *s)
{
    const char *file = vcha_fence_str(s->f, "password_file");
    size_t len = 0;
    int rc;

    if (file == NULL) {
        return 0;
    }
    rc = vcha_file_read(file, &s->password, &len, 4096);
    if (rc < 0) {
        vcha_fence_fail(s->f, "cannot read password_file %s: %s", file,
                        strerror(-rc));
        return rc;
    }
    s->password[strcspn(s->password, "\r\n")] = '\0';
    return 0;
}

static enum vcha_fence_rc
session_open(struct session *s)
{
    char why[sizeof(s->f->reason)];

    if (password_load(s) < 0) {
        return VCHA_FENCE_FAILED;
    }
    if (vcha_virt_open(vcha_fence_str(s->f, "uri"),
                       vcha_fence_str(s->f, "identity_file"),
                       vcha_fence_str(s->f, "username"), s->password, &s->conn,
                       why, sizeof(why)) < 0) {
        return vcha_fence_fail(s->f, "%s", why);
    }
    return VCHA_FENCE_SUCCESS;
}

static void
session_close(struct session *s)
{
    vcha_virt_close(s->conn);
    if (s->password != NULL) {
        memset(s->password, 0, strlen(s->password));
        free(s->password);
    }
}

/* Wait until the domain is off (want_off) or on, or the phase ends. */
static enum vcha_fence_rc
wait_state(struct session *s, virDomainPtr dom, bool want_off,
           long long deadline)
{
    int off;

    vcha_sleep_ms(vcha_fence_num(s->f, "power_wait"));
    for (;;) {
        off = vcha_virt_domain_is_off(dom, s->error, sizeof(s->error));
        if (off == (want_off ? 1 : 0)) {
            return VCHA_FENCE_SUCCESS;
        }
        if (off < 0) {
            return vcha_fence_fail(s->f, "cannot read the state of %s: %s",
                                   s->plug, s->error);
        }
        if (vcha_now_ms() + POLL_MS >= deadline) {
            return vcha_fence_fail(s->f,
                                   "%s is still %s after %lld ms "
                                   "(power_timeout)",
                                   s->plug, want_off ? "on" : "off",
                                   vcha_fence_num(s->f, "power_timeout"));
        }
        vcha_sleep_ms(POLL_MS);
    }
}

/* End of one phase: power_timeout from now, within the worker's time. */
static long long
phase_deadline(struct session *s)
{
    long long end = vcha_now_ms() + vcha_fence_num(s->f, "power_timeout") +
                    vcha_fence_num(s->f, "power_wait");

    return end < s->f->deadline_ms - POLL_MS ? end
                                             : s->f->deadline_ms - POLL_MS;
}

static enum vcha_fence_rc
power_off(struct session *s, virDomainPtr dom)
{
    long long deadline = phase_deadline(s);

    /* a crashed domain is off, but only a destroy lets it start again */
    if (vcha_virt_domain_state(dom, NULL, 0) == VIR_DOMAIN_SHUTOFF) {
        vcha_info("%s is already off", s->plug);
        return VCHA_FENCE_SUCCESS;
    }
    if (virDomainDestroy(dom) < 0 &&
        vcha_virt_last_error_code() != VIR_ERR_OPERATION_INVALID &&
        vcha_virt_last_error_code() != VIR_ERR_NO_DOMAIN) {
        return vcha_fence_fail(s->f, "cannot power off %s: %s", s->plug,
                               last_error(s));
    }
    return wait_state(s, dom, true, deadline);
}

static enum vcha_fence_rc
power_on(struct session *s, virDomainPtr dom)
{
    long long deadline = phase_deadline(s);

    if (vcha_virt_domain_is_off(dom, NULL, 0) == 0) {
        vcha_info("%s is already on", s->plug);
        return VCHA_FENCE_SUCCESS;
    }
    if (virDomainCreate(dom) < 0 &&
        vcha_virt_last_error_code() != VIR_ERR_OPERATION_INVALID) {
        return vcha_fence_fail(s->f, "cannot power on %s: %s", s->plug,
                               last_error(s));
    }
    return wait_state(s, dom, false, deadline);
}

/*
 * method=cycle: a hard reset of a running domain.  Returns true when the
 * reset settled the reboot (*rc says how), false when off then on must do
 * instead: the domain is off (a reset needs a running one, and the node of
 * a crashed VM must still be fenced) or the hypervisor has no reset.
 */
static bool
reset(struct session *s, virDomainPtr dom, enum vcha_fence_rc *rc)
{
    int code;

    if (vcha_virt_domain_is_off(dom, NULL, 0) == 1) {
        vcha_notice("%s is off: starting it instead of a reset", s->plug);
        return false;
    }
    if (virDomainReset(dom, 0) == 0) {
        *rc = wait_state(s, dom, false, phase_deadline(s));
        return true;
    }
    code = vcha_virt_last_error_code();
    last_error(s); /* before the state is read, which resets it */
    if (code == VIR_ERR_NO_SUPPORT) {
        vcha_notice("no hard reset here; powering off and on instead");
        return false;
    }
    if (code == VIR_ERR_OPERATION_INVALID &&
        vcha_virt_domain_is_off(dom, NULL, 0) == 1) {
        vcha_notice("%s went off: starting it instead of a reset", s->plug);
        return false;
    }
    *rc = vcha_fence_fail(s->f, "cannot reset %s: %s", s->plug, s->error);
    return true;
}

static enum vcha_fence_rc
reboot(struct session *s, virDomainPtr dom)
{
    enum vcha_fence_rc rc;

    if (strcmp(vcha_fence_str(s->f, "method"), "cycle") == 0 &&
        reset(s, dom, &rc)) {
        return rc;
    }
    rc = power_off(s, dom);
    if (rc != VCHA_FENCE_SUCCESS) {
        return rc;
    }
    /* the off part is what fences; a failed on is only reported */
    if (power_on(s, dom) != VCHA_FENCE_SUCCESS) {
        vcha_warn("%s is off but did not come back on: %s", s->plug,
                  s->f->reason);
        s->f->reason[0] = '\0';
    }
    return VCHA_FENCE_SUCCESS;
}

static enum vcha_fence_rc
status(struct session *s, virDomainPtr dom)
{
    int off = vcha_virt_domain_is_off(dom, s->error, sizeof(s->error));

    if (off < 0) {
        return vcha_fence_fail(s->f, "cannot read the state of %s: %s", s->plug,
                               s->error);
    }
    printf("Status: %s\n", off ? "OFF" : "ON");
    return off ? VCHA_FENCE_IS_OFF : VCHA_FENCE_SUCCESS;
}

/* off, on, reboot, status: the actions on one domain. */
static enum vcha_fence_rc
plug_action(struct session *s)
{
    enum vcha_fence_action action = s->f->action;
    virDomainPtr dom = NULL;
    int found = vcha_virt_domain_lookup(s->conn, s->plug, &dom, s->error,
                                        sizeof(s->error));
    enum vcha_fence_rc rc;

    if (found < 0) {
        bool as_off = vcha_fence_num(s->f, "missing_as_off") &&
                      found == -ENOENT && action != VCHA_FENCE_ON;

        if (as_off) {
            vcha_notice("no domain %s: counted as off (missing_as_off)",
                        vcha_fence_str(s->f, "plug"));
            return action == VCHA_FENCE_STATUS ? VCHA_FENCE_IS_OFF
                                               : VCHA_FENCE_SUCCESS;
        }
        return vcha_fence_fail(s->f, "no domain %s at %s: %s",
                               vcha_fence_str(s->f, "plug"),
                               vcha_fence_str(s->f, "uri"), s->error);
    }
    switch (action) {
    case VCHA_FENCE_OFF:
        rc = power_off(s, dom);
        break;
    case VCHA_FENCE_ON:
        rc = power_on(s, dom);
        break;
    case VCHA_FENCE_REBOOT:
        rc = reboot(s, dom);
        break;
    default:
        rc = status(s, dom);
        break;
    }
    virDomainFree(dom);
    return rc;
}

static int
domain_cmp(const void *a, const void *b)
{
    return strcmp(virDomainGetName(*(virDomainPtr const *) a),
                  virDomainGetName(*(virDomainPtr const *) b));
}

/* list and list-status: "name,uuid[,on|off]" per domain, sorted by name. */
static enum vcha_fence_rc
list(struct session *s, bool with_status)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(s->conn, &doms, 0);

    if (n < 0) {
        return vcha_fence_fail(s->f, "cannot list the domains at %s: %s",
                               vcha_fence_str(s->f, "uri"), last_error(s));
    }
    qsort(doms, (size_t) n, sizeof(*doms), domain_cmp);
    for (int i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN] = "";

        virDomainGetUUIDString(doms[i], uuid);
        printf("%s,%s", virDomainGetName(doms[i]), uuid);
        if (with_status) {
            printf(",%s", vcha_virt_domain_is_off(doms[i], NULL, 0) == 0
                              ? "on"
                              : "off");
        }
        printf("\n");
        virDomainFree(doms[i]);
    }
    free(doms);
    return VCHA_FENCE_SUCCESS;
}

/* The connection really works: it is alive and answers a question. */
static enum vcha_fence_rc
monitor(struct session *s)
{
    unsigned long version = 0;

    if (virConnectIsAlive(s->conn) != 1 ||
        virConnectGetLibVersion(s->conn, &version) < 0 ||
        virConnectNumOfDomains(s->conn) < 0) {
        return vcha_fence_fail(s->f, "%s does not answer: %s",
                               vcha_fence_str(s->f, "uri"), last_error(s));
    }
    return VCHA_FENCE_SUCCESS;
}

static enum vcha_fence_rc
libvirt_run(struct vcha_fence *f)
{
    struct session s = {.f = f, .plug = vcha_fence_str(f, "plug")};
    enum vcha_fence_rc rc = session_open(&s);

    if (rc == VCHA_FENCE_SUCCESS) {
        switch (f->action) {
        case VCHA_FENCE_LIST:
        case VCHA_FENCE_LIST_STATUS:
            rc = list(&s, f->action == VCHA_FENCE_LIST_STATUS);
            break;
        case VCHA_FENCE_MONITOR:
            rc = monitor(&s);
            break;
        default:
            rc = plug_action(&s);
            break;
        }
    }
    session_close(&s);
    return rc;
}

static const struct vcha_fence_agent agent = {
    .name = AGENT,
    .shortdesc = "Fence agent for libvirt domains (QEMU VMs, LXC domains)",
    .longdesc =
        "fence_vcha_libvirt powers libvirt domains off and on through the "
        "libvirt API, over any connection URI: the local system, a remote "
        "host over ssh or TLS, the LXC driver or libvirt's test driver.  Off "
        "is a hard power-off (destroy), confirmed by reading the domain's "
        "state until it is off or power_timeout runs out; on starts the "
        "domain and confirms it runs; reboot is off then on, and succeeds "
        "once the off part is confirmed.  With method=cycle reboot is a hard "
        "reset of a running domain; a domain that is off (or crashed) is "
        "started instead, and a hypervisor without a reset gets off then "
        "on.  The plug is a domain name or UUID.  With missing_as_off only "
        "libvirt's definite answer that no such domain exists counts as "
        "off; any other error fails the action.  A connection that hangs "
        "fails the action after power_timeout instead of hanging it, and "
        "the agent's worker never outlives the agent.  Passwords are read "
        "from a file, never taken on the command line, and never logged.",
    .vendor_url = "https://libvirt.org",
    .opts = opts,
    .n_opts = sizeof(opts) / sizeof(opts[0]),
    .run = libvirt_run,
};

int
main(int argc, char **argv)
{
    return vcha_fence_main(&agent, argc, argv);
}
