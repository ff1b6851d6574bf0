/*
 * ocf:vcha:vm - a libvirt domain: started, stopped, monitored and live
 * migrated through the libvirt C API, each action in a worker process
 * killed at the operation's deadline, so that a hung libvirtd makes an
 * action fail with its reason in time instead of running into Pacemaker's
 * timeout (and a fence).
 *
 * Health from outside the guest: start and migrate_from register a
 * vmwatch job with vchad (vcha/vmwatchjob.h), which reads the domain's
 * statistics every second and judges it normal, hung, spinning,
 * panicked or paused; stop and migrate_to remove it, and a monitor at
 * OCF_CHECK_LEVEL 10 or more fails on a bad verdict that has held
 * longer than health_grace.
 */
#include <config.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vcha/agent.h>
#include <vcha/attr.h>
#include <vcha/clock.h>
#include <vcha/file.h>
#include <vcha/job.h>
#include <vcha/log.h>
#include <vcha/port.h>
#include <vcha/proc.h>
#include <vcha/vchad.h>
#include <vcha/virt.h>
#include <vcha/vmwatchjob.h>
#include <vcha/worker.h>

#define AGENT "vm"

/* Longest domain XML read from config. */
#define CONFIG_MAX (4 << 20)
/* How often a state is polled while waiting for it. */
#define POLL_MS 200
/* Kept back from a stop's time for the destroy after a shutdown. */
#define DESTROY_MS 15000
/* Kept back of a monitor for /proc when libvirtd cannot answer. */
#define PROC_SCAN_MS 2000
/* Kept back of a stop to kill the domain's process without libvirtd. */
#define PROC_KILL_MS 6000
/* The health job's liveness: it reports every second. */
#define HEALTH_TIMEOUT_MS 15000

enum {
    P_CONFIG,
    P_DOMAIN,
    P_HYPERVISOR,
    P_FORCE_STOP,
    P_SHUTDOWN_MODE,
    P_SHUTDOWN_TIMEOUT,
    P_MIG_TRANSPORT,
    P_MIG_USER,
    P_MIG_SUFFIX,
    P_MIGRATEURI,
    P_REMOTEURI,
    P_MIG_DOWNTIME,
    P_MIG_SPEED,
    P_UTIL_CPU,
    P_UTIL_HV_MEMORY,
    P_UTIL_HOST_MEMORY,
    P_HEALTH_CHECK,
    P_HUNG_AFTER,
    P_SPIN_AFTER,
    P_SPIN_CPU_PCT,
    P_HEALTH_GRACE,
    P_PROBE_TCP,
    N_PARAMS
};

static const char *const shutdown_modes[] = {
    "default", "acpi", "agent", "initctl", "signal", "paravirt", NULL};

static int
check_name(const char *v, char *why, size_t len)
{
    if (strchr(v, '/') != NULL || strlen(v) > 200) {
        snprintf(why, len,
                 "must be a domain name or UUID (no '/', at most "
                 "200 characters)");
        return -EINVAL;
    }
    return 0;
}

/* Whether every character of @p v is a letter, a digit or one of @p more. */
static bool
chars_only(const char *v, const char *more)
{
    for (const char *c = v; *c != '\0'; c++) {
        if (!isalnum((unsigned char) *c) && strchr(more, *c) == NULL) {
            return false;
        }
    }
    return true;
}

/* libvirt's remote transports (virt's URI syntax: driver+transport://). */
static int
check_transport(const char *v, char *why, size_t len)
{
    static const char *const known[] = {"ssh", "libssh", "libssh2", "tcp",
                                        "tls", "unix",   "ext",     NULL};

    for (size_t i = 0; known[i] != NULL; i++) {
        if (strcmp(v, known[i]) == 0) {
            return 0;
        }
    }
    snprintf(why, len,
             "must be a libvirt transport: ssh, libssh, libssh2, tcp, tls, "
             "unix or ext");
    return -EINVAL;
}

/* A part of a host name: put after the target node's first label. */
static int
check_host_part(const char *v, char *why, size_t len)
{
    if (strlen(v) > 63 || !chars_only(v, "-.")) {
        snprintf(why, len,
                 "must be letters, digits, '-' and '.' (a part of a host "
                 "name), at most 63 of them");
        return -EINVAL;
    }
    return 0;
}

static int
check_user(const char *v, char *why, size_t len)
{
    if (strlen(v) > 64 || !chars_only(v, "._-")) {
        snprintf(why, len,
                 "must be a user name (letters, digits, '.', '_', "
                 "'-')");
        return -EINVAL;
    }
    return 0;
}

/*
 * A URI template: SCHEME followed by @p sep and something, no white space
 * or control character, and '%' only in %n (the target node's name).
 */
static int
check_uri_template(const char *v, const char *sep, const char *example,
                   char *why, size_t len)
{
    size_t scheme = strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
    bool ok = scheme > 0 && isalpha((unsigned char) v[0]) &&
              strncmp(v + scheme, sep, strlen(sep)) == 0 &&
              v[scheme + strlen(sep)] != '\0';

    for (const char *c = v; ok && *c != '\0'; c++) {
        ok = !isspace((unsigned char) *c) && !iscntrl((unsigned char) *c) &&
             (*c != '%' || c[1] == 'n');
    }
    if (!ok) {
        snprintf(why, len,
                 "must be a URI such as %s (no spaces; %%n for the target "
                 "node's name is the only %%)",
                 example);
        return -EINVAL;
    }
    return 0;
}

static int
check_migrateuri(const char *v, char *why, size_t len)
{
    return check_uri_template(v, ":", "tcp:%n-mig:49152", why, len);
}

static int
check_remoteuri(const char *v, char *why, size_t len)
{
    return check_uri_template(v, "://", "qemu+ssh://%n/system", why, len);
}

/*
 * probe_tcp's address (into @p host, @p hlen bytes) and port: 0, or
 * -EINVAL with why.  Numeric addresses only: a monitor resolves no name.
 */
static int
tcp_target_parse(const char *v, char *host, size_t hlen, unsigned *port,
                 char *why, size_t len)
{
    unsigned char addr[sizeof(struct in6_addr)];
    bool v6 = v[0] == '[';
    const char *end = v6 ? strchr(v, ']') : strrchr(v, ':');
    const char *colon = v6 && end != NULL ? end + 1 : end;
    size_t n = end != NULL ? (size_t) (end - v) - (v6 ? 1 : 0) : 0;
    long long p = 0;

    if (colon != NULL && *colon == ':' && n > 0 && n < hlen) {
        snprintf(host, hlen, "%.*s", (int) n, v + (v6 ? 1 : 0));
    } else {
        n = 0;
    }
    if (n == 0 || inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) != 1 ||
        vcha_integer_parse(colon + 1, &p) < 0 || p < 1 || p > 65535) {
        snprintf(why, len,
                 "must be ADDRESS:PORT (a numeric IPv4 address, or an "
                 "IPv6 one in brackets, and a port from 1 to 65535)");
        return -EINVAL;
    }
    *port = (unsigned) p;
    return 0;
}

static int
check_tcp(const char *v, char *why, size_t len)
{
    char host[64];
    unsigned port;

    return tcp_target_parse(v, host, sizeof(host), &port, why, len);
}

static const struct vcha_param_def params[N_PARAMS] = {
    [P_CONFIG] =
        {
            .name = "config",
            .type = VCHA_PT_STRING,
            .unique = true,
            .check = vcha_check_abspath,
            .shortdesc = "Domain XML file",
            .longdesc = "The libvirt domain XML of the VM, as virsh dumpxml "
                        "prints it, on every node that may run it.  Start "
                        "creates the domain from it when libvirt does not "
                        "know the domain (a transient domain, as "
                        "VirtualDomain does), and starts the defined one "
                        "otherwise.  Give domain too: then monitor and "
                        "stop never need this file.",
        },
    [P_DOMAIN] =
        {
            .name = "domain",
            .type = VCHA_PT_STRING,
            .unique = true,
            .check = check_name,
            .shortdesc = "Domain name or UUID",
            .longdesc = "The domain, by name or UUID.  Either domain or "
                        "config must be given; without domain, its name "
                        "is read from config.",
        },
    [P_HYPERVISOR] =
        {
            .name = "hypervisor",
            .type = VCHA_PT_STRING,
            .dflt = "qemu:///system",
            .shortdesc = "Hypervisor URI",
            .longdesc = "The libvirt URI of this node's hypervisor.",
        },
    [P_FORCE_STOP] =
        {
            .name = "force_stop",
            .type = VCHA_PT_BOOLEAN,
            .dflt = "false",
            .shortdesc = "Destroy at once on stop",
            .longdesc = "Stop destroys the domain (power off) without "
                        "asking the guest to shut down first.",
        },
    [P_SHUTDOWN_MODE] =
        {
            .name = "shutdown_mode",
            .type = VCHA_PT_SELECT,
            .dflt = "default",
            .options = shutdown_modes,
            .shortdesc = "How stop asks the guest to shut down",
            .longdesc = "The libvirt shutdown mode of a graceful stop: "
                        "acpi (a power button press), agent (the QEMU "
                        "guest agent), initctl, signal, paravirt, or "
                        "default (the hypervisor's choice).",
        },
    [P_SHUTDOWN_TIMEOUT] =
        {
            .name = "shutdown_timeout",
            .type = VCHA_PT_DURATION,
            .dflt = "0",
            .max = 86400000,
            .shortdesc = "Time a graceful shutdown may take",
            .longdesc = "How long stop waits for the guest to shut down "
                        "before it destroys the domain.  0: the stop "
                        "operation's timeout less 15 s (the destroy's "
                        "time); a longer one is cut to that as well.",
        },
    [P_MIG_TRANSPORT] =
        {
            .name = "migration_transport",
            .type = VCHA_PT_STRING,
            .check = check_transport,
            .shortdesc = "Transport of a live migration",
            .longdesc = "The libvirt transport to the target node's "
                        "libvirtd (ssh, tcp, tls, libssh...): the target's "
                        "URI is the hypervisor URI with this transport and "
                        "the target node's name as host.  Empty: the "
                        "hypervisor URI's own transport, or ssh when it "
                        "names none.",
        },
    [P_MIG_USER] =
        {
            .name = "migration_user",
            .type = VCHA_PT_STRING,
            .check = check_user,
            .shortdesc = "User on the target node",
            .longdesc = "The user of the connection to the target node's "
                        "libvirtd, for transports that have one (ssh).",
        },
    [P_MIG_SUFFIX] =
        {
            .name = "migration_network_suffix",
            .type = VCHA_PT_STRING,
            .check = check_host_part,
            .shortdesc = "Suffix of the migration network's host names",
            .longdesc = "Added to the target node's name to reach it on a "
                        "dedicated migration network: node2 with suffix "
                        "-mig migrates to node2-mig, node2.example.com to "
                        "node2-mig.example.com (before the first dot).",
        },
    [P_MIGRATEURI] =
        {
            .name = "migrateuri",
            .type = VCHA_PT_STRING,
            .check = check_migrateuri,
            .shortdesc = "Migration data URI",
            .longdesc = "Where QEMU sends the migration data (tcp:HOST:PORT "
                        "...); %n in it is replaced by the target node's "
                        "name.  Empty: libvirt's choice.",
        },
    [P_REMOTEURI] =
        {
            .name = "remoteuri",
            .type = VCHA_PT_STRING,
            .check = check_remoteuri,
            .shortdesc = "Target node's libvirt URI",
            .longdesc = "The libvirt URI of the target node's libvirtd, "
                        "when the one made from hypervisor, "
                        "migration_transport, migration_user and "
                        "migration_network_suffix does not fit; %n in it "
                        "is replaced by the target node's name (and those "
                        "three are then not used).",
        },
    [P_MIG_DOWNTIME] =
        {
            .name = "migration_downtime",
            .type = VCHA_PT_INTEGER,
            .dflt = "0",
            .max = 3600000,
            .shortdesc = "Longest pause of a live migration, ms",
            .longdesc = "The longest time the guest may be paused at the "
                        "end of a live migration, in milliseconds "
                        "(libvirt's max downtime); 0: the hypervisor's "
                        "default.",
        },
    [P_MIG_SPEED] =
        {
            .name = "migration_speed",
            .type = VCHA_PT_INTEGER,
            .dflt = "0",
            .max = 1000000,
            .shortdesc = "Bandwidth of a live migration, MiB/s",
            .longdesc = "The most a live migration may send, in MiB/s; 0: "
                        "no limit.",
        },
    [P_UTIL_CPU] =
        {
            .name = "autoset_utilization_cpu",
            .type = VCHA_PT_BOOLEAN,
            .dflt = "true",
            .reloadable = true,
            .shortdesc = "Utilization cpu from the domain's vCPUs",
            .longdesc = "Monitor sets the resource's cpu utilization to "
                        "the domain's number of vCPUs, so that Pacemaker's "
                        "placement-strategy counts it.",
        },
    [P_UTIL_HV_MEMORY] =
        {
            .name = "autoset_utilization_hv_memory",
            .type = VCHA_PT_BOOLEAN,
            .dflt = "true",
            .reloadable = true,
            .shortdesc = "Utilization hv_memory from the domain",
            .longdesc = "Monitor sets the resource's hv_memory utilization "
                        "to the domain's maximum memory, in MiB.",
        },
    [P_UTIL_HOST_MEMORY] =
        {
            .name = "autoset_utilization_host_memory",
            .type = VCHA_PT_BOOLEAN,
            .dflt = "true",
            .reloadable = true,
            .shortdesc = "Utilization host_memory from the domain",
            .longdesc = "Monitor sets the resource's host_memory "
                        "utilization to the domain's maximum memory, in "
                        "MiB.",
        },
    [P_HEALTH_CHECK] =
        {
            .name = "health_check",
            .type = VCHA_PT_BOOLEAN,
            .dflt = "true",
            .shortdesc = "Judge the guest's health from outside",
            .longdesc = "Start registers a vmwatch job with the node "
                        "daemon vchad, which reads the domain's libvirt "
                        "statistics every second and judges the guest "
                        "normal, hung, spinning, panicked or paused, "
                        "with nothing inside the guest; a monitor at "
                        "OCF_CHECK_LEVEL 10 or more fails when a bad "
                        "verdict has held longer than health_grace.",
        },
    [P_HUNG_AFTER] =
        {
            .name = "hung_after",
            .type = VCHA_PT_DURATION,
            .dflt = "5s",
            .min = 1000,
            .max = 3600000,
            .shortdesc = "No CPU progress this long: hung",
            .longdesc = "The guest is hung when it runs but its CPU time "
                        "advances by less than 0.5 % of one CPU for this "
                        "long while its QEMU does not answer its monitor "
                        "either (QEMU stopped or deadlocked; an idle guest "
                        "answers).  For LXC, which has no monitor, the CPU "
                        "time alone decides.",
        },
    [P_SPIN_AFTER] =
        {
            .name = "spin_after",
            .type = VCHA_PT_DURATION,
            .dflt = "30s",
            .min = 1000,
            .max = 3600000,
            .shortdesc = "Busy without I/O this long: spinning",
            .longdesc = "The guest spins when it uses at least "
                        "spin_cpu_pct of its vCPUs with no block and no "
                        "network I/O at all for this long (judged only "
                        "where libvirt counts the domain's I/O: QEMU).",
        },
    [P_SPIN_CPU_PCT] =
        {
            .name = "spin_cpu_pct",
            .type = VCHA_PT_INTEGER,
            .dflt = "90",
            .min = 1,
            .max = 100,
            .shortdesc = "CPU use, % of all vCPUs, that counts as busy",
            .longdesc = "See spin_after.",
        },
    [P_HEALTH_GRACE] =
        {
            .name = "health_grace",
            .type = VCHA_PT_DURATION,
            .dflt = "10s",
            .max = 3600000,
            .shortdesc = "How long a bad verdict may hold",
            .longdesc = "A monitor at OCF_CHECK_LEVEL 10 or more fails "
                        "once the verdict hung, spinning, panicked or "
                        "paused has held this long.",
        },
    [P_PROBE_TCP] =
        {
            .name = "probe_tcp",
            .type = VCHA_PT_STRING,
            .reloadable = true,
            .check = check_tcp,
            .shortdesc = "TCP address a depth-20 monitor connects to",
            .longdesc = "ADDRESS:PORT of a TCP service of the guest (a "
                        "numeric IPv4 address, or an IPv6 one in "
                        "brackets: [2001:db8::5]:22).  A monitor at "
                        "OCF_CHECK_LEVEL 20 or more (not a probe) "
                        "connects there and fails, naming the address, "
                        "when the connection is refused or not accepted "
                        "before the operation's deadline.  Empty: no "
                        "such check.",
        },
};

/* ------------------------------------------------------------ the domain */

/* One action's view of the domain. */
struct vm {
    struct vcha_agent *a;
    char name[256]; /* domain param, or the config's <name> */
    char *xml;      /* config's text, when read */
    size_t xml_len;
    virConnectPtr conn;
    virDomainPtr dom; /* NULL: libvirt knows no such domain */
    bool unreachable; /* the connection to libvirtd failed */
    enum vcha_result (*body)(struct vm *vm);
};

/* This node's record @p what ("name", "util") of the resource, or NULL. */
static char *
record_path(const struct vcha_agent *a, const char *what)
{
    char *path = NULL;

    if (a->instance == NULL ||
        asprintf(&path, "%s/vcha-vm-%s.%s", vcha_state_dir(), a->instance,
                 what) < 0) {
        return NULL;
    }
    return path;
}

/* Record the name for a stop or monitor that cannot read config. */
static void
record_write(const struct vcha_agent *a, const char *name)
{
    char *path = record_path(a, "name");

    if (path != NULL &&
        vcha_file_write_atomic(path, name, strlen(name), 0644) < 0) {
        vcha_warn("cannot record the name of %s in %s", name, path);
    }
    free(path);
}

/* The name the last start here recorded: 0, or -ENOENT. */
static int
record_read(const struct vcha_agent *a, char *name, size_t len)
{
    char *path = record_path(a, "name"), *text = NULL;
    size_t n = 0;
    int rc = path != NULL ? vcha_file_read(path, &text, &n, len - 1) : -ENOENT;

    if (rc == 0 && n > 0) {
        snprintf(name, len, "%.*s", (int) n, text);
    }
    free(text);
    free(path);
    return rc == 0 && n > 0 ? 0 : -ENOENT;
}

/*
 * The domain's name, and config's text when @p read_config: the name is
 * the domain parameter, else config's <name>, else the one this node's
 * last start recorded.  A config that cannot be read is an error, never
 * "not running": that it cannot be read here says nothing of whether the
 * domain runs.  -ENOENT (nothing set) when no name can be known at all.
 */
static int
vm_config(struct vm *vm, bool read_config, enum vcha_result *r)
{
    struct vcha_agent *a = vm->a;
    const char *config = vcha_agent_str(a, P_CONFIG);
    const char *domain = vcha_agent_str(a, P_DOMAIN);
    char why[256] = "";
    int rc = 0;

    *r = VCHA_OK;
    if (domain != NULL) {
        snprintf(vm->name, sizeof(vm->name), "%s", domain);
    }
    if (config != NULL && (read_config || domain == NULL)) {
        rc = vcha_file_read(config, &vm->xml, &vm->xml_len, CONFIG_MAX);
    }
    if (rc == 0 && domain == NULL &&
        vcha_virt_xml_name(vm->xml, vm->xml_len, vm->name, sizeof(vm->name),
                           why, sizeof(why)) < 0) {
        /* a config being rewritten must not fail a stop or a monitor of
         * the domain a start here named */
        if (!read_config && record_read(a, vm->name, sizeof(vm->name)) == 0) {
            return 0;
        }
        *r = vcha_agent_fail(a, VCHA_ERR_CONFIGURED, "config %s: %s", config,
                             why);
        return -EINVAL;
    }
    if (rc < 0 &&
        (read_config || record_read(a, vm->name, sizeof(vm->name)) < 0)) {
        *r = vcha_agent_fail(
            a, read_config ? VCHA_ERR_INSTALLED : VCHA_ERR_GENERIC,
            "cannot read config %s: %s%s", config, strerror(-rc),
            read_config ? ""
                        : " (and no start here recorded the name of "
                          "its domain: set the domain parameter)");
        /* only a config that is not there says nothing was started from
         * it; one that cannot be read (EACCES, EIO) may name a VM that
         * runs */
        return rc == -ENOENT ? -ENOENT : -EIO;
    }
    return 0;
}

/* Connect and look the domain up; vm->dom stays NULL when none exists. */
static enum vcha_result
vm_open(struct vm *vm)
{
    struct vcha_agent *a = vm->a;
    const char *uri = vcha_agent_str(a, P_HYPERVISOR);
    char why[512] = "";
    int rc = vcha_virt_open(uri, NULL, NULL, NULL, &vm->conn, why, sizeof(why));

    if (rc < 0) {
        vm->unreachable = true;
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "%s", why);
    }
    rc =
        vcha_virt_domain_lookup(vm->conn, vm->name, &vm->dom, why, sizeof(why));
    if (rc < 0 && rc != -ENOENT) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "domain %s: %s", vm->name,
                               why);
    }
    return VCHA_OK;
}

static void
vm_close(struct vm *vm)
{
    if (vm->dom != NULL) {
        virDomainFree(vm->dom);
    }
    vcha_virt_close(vm->conn);
    free(vm->xml);
}

/* The domain's state (VIR_DOMAIN_*) and its reason; -1 with the reason set. */
static int
vm_state(struct vm *vm, int *why_code)
{
    int state = 0, reason = 0;
    char why[512];

    *why_code = 0;
    if (vm->dom == NULL) {
        return VIR_DOMAIN_SHUTOFF;
    }
    if (virDomainGetState(vm->dom, &state, &reason, 0) == 0) {
        *why_code = reason;
        return state;
    }
    if (vcha_virt_last_error_code() == VIR_ERR_NO_DOMAIN) {
        return VIR_DOMAIN_SHUTOFF; /* a transient one, gone */
    }
    vcha_agent_fail(vm->a, VCHA_ERR_GENERIC, "state of %s: %s", vm->name,
                    vcha_virt_last_error(why, sizeof(why)));
    return -1;
}

/* Wait until the domain is off (@p off) or running, by @p deadline. */
static bool
vm_wait(struct vm *vm, bool off, long long deadline)
{
    for (;;) {
        int reason, state = vm_state(vm, &reason);

        if (state < 0) {
            return false;
        }
        if (off ? state == VIR_DOMAIN_SHUTOFF
                : state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED) {
            return true;
        }
        if (vcha_now_ms() + POLL_MS >= deadline) {
            return false;
        }
        usleep(POLL_MS * 1000);
    }
}

/* vm_wait(), its failure said: "<name> @p what" unless libvirt's is. */
static enum vcha_result
vm_wait_for(struct vm *vm, bool off, long long deadline, const char *what)
{
    if (vm_wait(vm, off, deadline)) {
        return VCHA_OK;
    }
    return vm->a->reason[0] != '\0' ? VCHA_ERR_GENERIC
                                    : vcha_agent_fail(vm->a, VCHA_ERR_GENERIC,
                                                      "%s %s", vm->name, what);
}

static enum vcha_result
libvirt_fail(struct vm *vm, const char *what)
{
    char why[512];

    return vcha_agent_fail(vm->a, VCHA_ERR_GENERIC, "%s %s: %s", what, vm->name,
                           vcha_virt_last_error(why, sizeof(why)));
}

/* ------------------------------------------------------------ health job */

/*
 * The domain the job watches: domain, config's <name>, or the name a start
 * recorded (a domain a probe found running has no record).
 */
static int
job_domain(struct vcha_agent *a, char *name, size_t len)
{
    struct vm vm = {.a = a};
    enum vcha_result r;
    char reason[sizeof(a->reason)];
    int rc;

    snprintf(reason, sizeof(reason), "%s", a->reason);
    rc = vm_config(&vm, false, &r);
    snprintf(a->reason, sizeof(a->reason), "%s", reason); /* not this one */
    free(vm.xml);
    if (rc == 0) {
        snprintf(name, len, "%s", vm.name);
    }
    return rc < 0 ? -ENOENT : 0;
}

/* The vmwatch job of this resource, from its parameters, in *job. */
static enum vcha_result
job_params(struct vcha_agent *a, struct vcha_kv **job,
           struct vcha_job_timing *t)
{
    const struct vcha_param_def *d = vcha_vmwatch_job.params;
    char name[256], hung[32], spin[32], pct[16];
    int rc;

    *job = NULL;
    if (job_domain(a, name, sizeof(name)) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "no domain name for the health job: set "
                               "the domain parameter");
    }
    snprintf(hung, sizeof(hung), "%lldms", vcha_agent_num(a, P_HUNG_AFTER));
    snprintf(spin, sizeof(spin), "%lldms", vcha_agent_num(a, P_SPIN_AFTER));
    snprintf(pct, sizeof(pct), "%lld", vcha_agent_num(a, P_SPIN_CPU_PCT));
    /* sampled every second; lost after 15 s without a report */
    *t = (struct vcha_job_timing){.interval_ms = 1000,
                                  .timeout_ms = HEALTH_TIMEOUT_MS};
    *job = vcha_kv_new();
    rc = *job != NULL ? 0 : -ENOMEM;
    rc = rc ? rc
            : vcha_kv_set(*job, d[VCHA_VMH_URI].name,
                          vcha_agent_str(a, P_HYPERVISOR));
    rc = rc ? rc : vcha_kv_set(*job, d[VCHA_VMH_DOMAIN].name, name);
    rc = rc ? rc : vcha_kv_set(*job, d[VCHA_VMH_HUNG_AFTER].name, hung);
    rc = rc ? rc : vcha_kv_set(*job, d[VCHA_VMH_SPIN_AFTER].name, spin);
    rc = rc ? rc : vcha_kv_set(*job, d[VCHA_VMH_SPIN_CPU_PCT].name, pct);
    if (rc < 0) {
        vcha_kv_free(*job);
        *job = NULL;
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "out of memory");
    }
    return VCHA_OK;
}

/* Register (or update) the health job with vchad, starting vchad. */
static enum vcha_result
job_add(struct vcha_agent *a)
{
    struct vcha_job_timing t;
    struct vcha_kv *job = NULL;
    char why[512] = "";
    int rc;

    if (!vcha_agent_num(a, P_HEALTH_CHECK)) {
        return VCHA_OK;
    }
    if (job_params(a, &job, &t) != VCHA_OK) {
        return VCHA_ERR_GENERIC;
    }
    rc = vcha_job_add(vcha_vchad_socket(), &vcha_vmwatch_job, a->instance, job,
                      &t, a->deadline_ms, why, sizeof(why));
    vcha_kv_free(job);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot register the health job: %s", why);
    }
    return VCHA_OK;
}

/*
 * Remove the health job (also with health_check off: it may have been on
 * at the start).  Never fails: the job only reads, and a job left behind
 * says "unknown" of a domain gone; a third of the time left at most, so
 * that a hung vchad leaves the stop its time.
 */
static void
job_remove(struct vcha_agent *a)
{
    long long now = vcha_now_ms();
    int rc = vcha_job_remove(vcha_vchad_socket(), a->instance,
                             now + (a->deadline_ms - now) / 3);

    if (rc < 0) {
        vcha_warn("could not remove the health job from vchad: %s",
                  strerror(-rc));
    }
}

/* Figure @p key of a job's health, or "?". */
static const char *
fig(const struct vcha_kv *health, const char *key)
{
    char name[64];
    const char *v;

    snprintf(name, sizeof(name), "fig.%s", key);
    v = vcha_kv_get(health, name);
    return v != NULL && *v != '\0' ? v : "?";
}

/* Fail when the job's verdict is a bad one that held past health_grace. */
static enum vcha_result
health_judge(struct vcha_agent *a, const struct vcha_kv *health)
{
    const char *verdict = fig(health, "verdict");
    long long since = 0;
    bool bad =
        strcmp(verdict, "hung") == 0 || strcmp(verdict, "spinning") == 0 ||
        strcmp(verdict, "panicked") == 0 || strcmp(verdict, "paused") == 0;

    vcha_kv_get_ll(health, "fig.since_ms", &since);
    if (!bad || since < vcha_agent_num(a, P_HEALTH_GRACE)) {
        return VCHA_OK;
    }
    return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                           "guest %s for %lld s (cpu %s %% of one CPU, "
                           "block %s B/s, net %s B/s, %s vCPUs)",
                           verdict, since / 1000, fig(health, "cpu_pct"),
                           fig(health, "block_bps"), fig(health, "net_bps"),
                           fig(health, "vcpus"));
}

/*
 * The health job's verdict.  A job that vchad lost (vchad died or was
 * restarted) is registered again, starting vchad: only a job that cannot
 * be re-established fails the monitor, and a vchad that does not answer
 * in time only leaves a warning (the domain's own state was read).
 */
static enum vcha_result
health_check(struct vcha_agent *a)
{
    struct vcha_kv *job = NULL, *health = NULL;
    struct vcha_job_timing t;
    enum vcha_result r = job_params(a, &job, &t);
    char why[512] = "";
    bool readded = false;
    int rc;

    if (r != VCHA_OK) {
        return r;
    }
    rc = vcha_job_keep(vcha_vchad_socket(), &vcha_vmwatch_job, a->instance, job,
                       &t, a->deadline_ms, &health, &readded, why, sizeof(why));
    if (rc == -ETIME) {
        vcha_warn("vchad does not answer: %s; health not judged", why);
    } else if (rc < 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "the health job of %s cannot be re-established: "
                            "%s",
                            a->instance, why);
    } else if (readded) {
        vcha_warn("vchad had lost the health job of %s: registered it again",
                  a->instance);
    } else {
        r = health_judge(a, health);
    }
    vcha_kv_free(health);
    vcha_kv_free(job);
    return r;
}

/* ------------------------------------------------------------ worker */

static enum vcha_result start_body(struct vm *vm);
static enum vcha_result migrate_from_body(struct vm *vm);

/*
 * Whether this node's /proc can prove domain @p name off: a local QEMU
 * (the QEMU process is the VM, and carries the domain's name), and a
 * name, not a UUID (which no process carries).
 */
static bool
proc_proves(const struct vcha_agent *a, const char *name)
{
    return !vcha_virt_is_uuid(name) &&
           strncmp(vcha_agent_str(a, P_HYPERVISOR), "qemu:///", 8) == 0;
}

/*
 * Whether /proc can show domain @p name running: as proc_proves(), and on
 * a local lxc:/// too.  A libvirt_lxc that is gone proves nothing: the
 * container's processes may outlive it.
 */
static bool
proc_sees(const struct vcha_agent *a, const char *name)
{
    return proc_proves(a, name) ||
           (!vcha_virt_is_uuid(name) &&
            strncmp(vcha_agent_str(a, P_HYPERVISOR), "lxc:///", 7) == 0);
}

/*
 * The deadline of an action's libvirt part when /proc can stand in for
 * libvirtd: @p keep ms (a quarter of the time left at most) are kept back
 * for it.
 */
static long long
libvirt_deadline(const struct vcha_agent *a, const char *name, long long keep)
{
    long long left = a->deadline_ms - vcha_now_ms();

    if (!proc_sees(a, name)) {
        return a->deadline_ms;
    }
    return a->deadline_ms - (keep < left / 4 ? keep : left / 4);
}

/* A worker's answer: no connection to libvirtd (not an OCF exit code). */
#define VM_UNREACHABLE 100

/* In the worker: connect, run the action's body, answer with its result. */
static int
worker_body(void *arg, char *reason, size_t len)
{
    struct vm *vm = arg;
    enum vcha_result r = vm_open(vm);

    (void) reason; /* the worker sends vm->a->reason, the buffer it got */
    (void) len;
    if (r == VCHA_OK) {
        r = vm->body(vm);
    }
    vm_close(vm);
    return vm->unreachable ? VM_UNREACHABLE : (int) r;
}

/*
 * Run @p body against the domain (@p name, or the one the parameters
 * name when NULL) in a worker killed at @p deadline: a libvirtd that does
 * not answer fails the action with that reason.  *@p unreachable (when
 * not NULL) tells that libvirtd could not be asked: it refused the
 * connection or gave no answer in time; *@p timed_out, only the latter.
 */
static enum vcha_result
vm_run_until(struct vcha_agent *a, bool needs_config,
             enum vcha_result (*body)(struct vm *vm), const char *name,
             long long deadline, bool *unreachable, bool *timed_out)
{
    struct vm vm = {.a = a, .body = body};
    int code = VCHA_ERR_GENERIC, rc;
    long long t0 = vcha_now_ms();
    enum vcha_result r;

    if (unreachable != NULL) {
        *unreachable = false;
    }
    if (timed_out != NULL) {
        *timed_out = false;
    }

    if (name != NULL) {
        snprintf(vm.name, sizeof(vm.name), "%s", name);
    } else if (vm_config(&vm, needs_config, &r) < 0) {
        free(vm.xml);
        return r;
    }
    /* recorded before the domain may run here: a start that times out
     * after libvirt created it must leave a stop the name to look for */
    if (body == start_body || body == migrate_from_body) {
        record_write(a, vm.name);
    }
    rc = vcha_worker_run(worker_body, &vm, deadline, &code, a->reason,
                         sizeof(a->reason));
    free(vm.xml);
    if (unreachable != NULL) {
        *unreachable = rc == -ETIMEDOUT || (rc == 0 && code == VM_UNREACHABLE);
    }
    if (rc == -ETIMEDOUT && timed_out != NULL) {
        *timed_out = true;
    }
    if (rc == -ETIMEDOUT) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "libvirt at %s gave no answer about %s within "
                               "%lld ms",
                               vcha_agent_str(a, P_HYPERVISOR), vm.name,
                               deadline - t0);
    }
    if (code == VM_UNREACHABLE) {
        code = VCHA_ERR_GENERIC;
    }
    if (rc < 0) {
        char why[sizeof(a->reason)];

        snprintf(why, sizeof(why), "%s", a->reason);
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "%s", why);
    }
    /* the domain now runs here: its name for a stop or the health job
     * that cannot read config */
    if (code == VCHA_OK && (body == start_body || body == migrate_from_body)) {
        char *util = record_path(a, "util");

        if (util != NULL) {
            unlink(util); /* the first monitor writes the utilization */
        }
        free(util);
    }
    return (enum vcha_result) code;
}

/* vm_run_until() with the operation's deadline. */
static enum vcha_result
vm_run(struct vcha_agent *a, bool needs_config,
       enum vcha_result (*body)(struct vm *vm), const char *name)
{
    return vm_run_until(a, needs_config, body, name, a->deadline_ms, NULL,
                        NULL);
}

/* ------------------------------------------------------------ monitor */

/*
 * The resource's utilization from the running domain, written only when
 * it differs from what this node wrote last (recorded; start forgets it):
 * each write is a crm_resource run, which a monitor every few seconds
 * need not pay for.  A failure is only logged.
 */
static void
utilization_update(struct vm *vm)
{
    static const struct {
        size_t param;
        const char *name;
        bool cpu;
    } util[] = {{P_UTIL_CPU, "cpu", true},
                {P_UTIL_HV_MEMORY, "hv_memory", false},
                {P_UTIL_HOST_MEMORY, "host_memory", false}};
    struct vcha_agent *a = vm->a;
    char *path = record_path(a, "util"), *old = NULL, now[128];
    size_t len = 0, used = 0;
    virDomainInfo info;
    bool ok = true;

    if (path == NULL || virDomainGetInfo(vm->dom, &info) < 0) {
        free(path);
        return;
    }
    for (size_t i = 0; i < sizeof(util) / sizeof(util[0]); i++) {
        used += (size_t) snprintf(
            now + used, sizeof(now) - used, "%s=%llu\n",
            vcha_agent_num(a, util[i].param) ? util[i].name : "-",
            util[i].cpu ? (unsigned long long) info.nrVirtCpu
                        : (unsigned long long) info.maxMem / 1024);
    }
    if (vcha_file_read(path, &old, &len, sizeof(now)) == 0 &&
        len == strlen(now) && memcmp(old, now, len) == 0) {
        goto done; /* as this node last wrote it */
    }
    for (size_t i = 0; i < sizeof(util) / sizeof(util[0]); i++) {
        char value[32];
        int rc;

        if (!vcha_agent_num(a, util[i].param)) {
            continue;
        }
        snprintf(value, sizeof(value), "%llu",
                 util[i].cpu ? (unsigned long long) info.nrVirtCpu
                             : (unsigned long long) info.maxMem / 1024);
        rc = vcha_utilization_set(util[i].name, value,
                                  vcha_agent_remaining_ms(a) / 2);
        if (rc < 0) {
            vcha_warn("cannot set the %s utilization of %s to %s: %s",
                      util[i].name, a->instance, value, strerror(-rc));
            ok = false;
        }
    }
    if (ok) {
        vcha_file_write_atomic(path, now, strlen(now), 0644);
    }

done:
    free(old);
    free(path);
}

static enum vcha_result
monitor_body(struct vm *vm)
{
    int reason, state = vm_state(vm, &reason);

    if (!vm->a->probe &&
        (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED ||
         state == VIR_DOMAIN_PAUSED)) {
        utilization_update(vm); /* a probe changes nothing */
    }

    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
    case VIR_DOMAIN_PMSUSPENDED:
        return VCHA_OK;
    case VIR_DOMAIN_PAUSED:
        /* paused by the guest's own fault: it does not serve */
        if (reason == VIR_DOMAIN_PAUSED_IOERROR ||
            reason == VIR_DOMAIN_PAUSED_WATCHDOG ||
            reason == VIR_DOMAIN_PAUSED_CRASHED) {
            return vcha_agent_fail(
                vm->a, VCHA_ERR_GENERIC, "%s is paused (%s)", vm->name,
                reason == VIR_DOMAIN_PAUSED_IOERROR    ? "I/O error"
                : reason == VIR_DOMAIN_PAUSED_WATCHDOG ? "watchdog"
                                                       : "guest crashed");
        }
        return VCHA_OK; /* paused for a migration, a snapshot, by hand */
    case VIR_DOMAIN_SHUTOFF:
    case VIR_DOMAIN_SHUTDOWN:
        return state == VIR_DOMAIN_SHUTOFF ? VCHA_NOT_RUNNING : VCHA_OK;
    case VIR_DOMAIN_CRASHED:
        return vcha_agent_fail(vm->a, VCHA_ERR_GENERIC, "%s crashed", vm->name);
    case -1:
        return VCHA_ERR_GENERIC;
    default:
        return vcha_agent_fail(vm->a, VCHA_ERR_GENERIC,
                               "%s is in an unknown state (%d)", vm->name,
                               state);
    }
}

/* probe_tcp: a service accepts connections there by the deadline. */
static enum vcha_result
tcp_check(struct vcha_agent *a)
{
    const char *target = vcha_agent_str(a, P_PROBE_TCP);
    char host[64], why[256] = "";
    unsigned port = 0;
    int rc;

    if (target == NULL) {
        return VCHA_OK;
    }
    rc = tcp_target_parse(target, host, sizeof(host), &port, why, sizeof(why));
    if (rc == 0) {
        rc = vcha_port_probe(host, port, a->deadline_ms, why, sizeof(why));
    }
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "no TCP connection to %s (probe_tcp): %s",
                               target, why);
    }
    return VCHA_OK;
}

/*
 * Monitor: the domain's state; at OCF_CHECK_LEVEL 10 or more, also the
 * health job's verdict, and at 20 or more a connection to probe_tcp
 * (never in a probe: it needs no job, and the job is the business of the
 * node where the domain should run).
 */
/*
 * Monitor when libvirtd cannot be asked (down, or hung): the domain's
 * process in /proc tells running or stopped, so that a libvirtd that is
 * restarted, or hangs for a while, does not make the cluster stop a
 * healthy VM (its stop could not ask libvirtd either).  What libvirt said
 * is logged.
 */
static enum vcha_result
monitor_by_proc(struct vcha_agent *a, const char *name, enum vcha_result r)
{
    int pid = vcha_proc_hypervisor(name);

    if (pid < 0 || (pid == 0 && !proc_proves(a, name))) {
        return r; /* /proc cannot tell */
    }
    vcha_warn("%s; %s", a->reason,
              pid > 0 ? "its process runs here: running"
                      : "no process of it runs here: stopped");
    if (pid > 0) {
        vcha_notice("%s: process %d", name, pid);
    }
    a->reason[0] = '\0';
    return pid > 0 ? VCHA_OK : VCHA_NOT_RUNNING;
}

static enum vcha_result
vm_monitor(struct vcha_agent *a)
{
    struct vm vm = {.a = a};
    bool unreachable = false;
    enum vcha_result r;

    if (vm_config(&vm, false, &r) < 0) {
        free(vm.xml);
        return r;
    }
    free(vm.xml);
    /* by name: libvirt and /proc are asked about the same domain */
    r = vm_run_until(a, false, monitor_body, vm.name,
                     libvirt_deadline(a, vm.name, PROC_SCAN_MS), &unreachable,
                     NULL);
    if (r != VCHA_OK && r != VCHA_NOT_RUNNING && unreachable &&
        proc_sees(a, vm.name)) {
        r = monitor_by_proc(a, vm.name, r);
    }
    if (r == VCHA_OK && !a->probe && a->check_level >= 10 &&
        vcha_agent_num(a, P_HEALTH_CHECK)) {
        r = health_check(a);
    }
    if (r == VCHA_OK && !a->probe && a->check_level >= 20) {
        r = tcp_check(a);
    }
    return r;
}

/* ------------------------------------------------------------ start */

/*
 * Destroy a crashed domain (kept by on_crash=preserve) so that it can
 * start again.  A transient one is then gone: vm->dom becomes NULL, and
 * start creates it from config as one libvirt never knew.
 */
static enum vcha_result
crashed_clear(struct vm *vm)
{
    int persistent = virDomainIsPersistent(vm->dom);

    if (persistent < 0) {
        return libvirt_fail(vm, "cannot tell whether libvirt keeps");
    }
    if (virDomainDestroy(vm->dom) < 0) {
        return libvirt_fail(vm, "cannot clear the crashed");
    }
    vcha_notice("%s crashed: destroyed it to start it again", vm->name);
    if (persistent == 0) {
        virDomainFree(vm->dom);
        vm->dom = NULL;
    }
    return VCHA_OK;
}

static enum vcha_result
start_body(struct vm *vm)
{
    int reason, state = vm_state(vm, &reason);

    if (state < 0) {
        return VCHA_ERR_GENERIC;
    }
    if (state == VIR_DOMAIN_PAUSED) {
        if (virDomainResume(vm->dom) < 0) {
            return libvirt_fail(vm, "cannot resume");
        }
    } else if (state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED) {
        if (state == VIR_DOMAIN_CRASHED && crashed_clear(vm) != VCHA_OK) {
            return VCHA_ERR_GENERIC;
        }
        if (vm->dom == NULL && vm->xml == NULL) {
            return vcha_agent_fail(vm->a, VCHA_ERR_INSTALLED,
                                   "libvirt knows no domain %s and no config "
                                   "is given to create it",
                                   vm->name);
        }
        if (vm->dom == NULL) {
            vm->dom = virDomainCreateXML(vm->conn, vm->xml, 0);
            if (vm->dom == NULL) {
                return libvirt_fail(vm, "cannot create");
            }
        } else if (virDomainCreate(vm->dom) < 0) {
            return libvirt_fail(vm, "cannot start");
        }
    }
    if (vm_wait_for(vm, false, vm->a->deadline_ms,
                    "did not reach running in time") != VCHA_OK) {
        return VCHA_ERR_GENERIC;
    }
    vcha_notice("%s runs", vm->name);
    return VCHA_OK;
}

static enum vcha_result
vm_start(struct vcha_agent *a)
{
    enum vcha_result r = vm_run(a, true, start_body, NULL);

    return r == VCHA_OK ? job_add(a) : r;
}

/* ------------------------------------------------------------ stop */

static unsigned
shutdown_flags(const char *mode)
{
    static const struct {
        const char *name;
        unsigned flag;
    } map[] = {
        {"acpi", VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN},
        {"agent", VIR_DOMAIN_SHUTDOWN_GUEST_AGENT},
        {"initctl", VIR_DOMAIN_SHUTDOWN_INITCTL},
        {"signal", VIR_DOMAIN_SHUTDOWN_SIGNAL},
        {"paravirt", VIR_DOMAIN_SHUTDOWN_PARAVIRT},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(mode, map[i].name) == 0) {
            return map[i].flag;
        }
    }
    return VIR_DOMAIN_SHUTDOWN_DEFAULT;
}

/* When the graceful shutdown gives up: shutdown_timeout, within the stop. */
static long long
shutdown_deadline(const struct vcha_agent *a)
{
    long long last = a->deadline_ms - DESTROY_MS;
    long long t = vcha_agent_num(a, P_SHUTDOWN_TIMEOUT);

    if (t > 0 && vcha_now_ms() + t < last) {
        return vcha_now_ms() + t;
    }
    return last;
}

/* The graceful part of a stop: the domain, and when it gives up. */
struct graceful {
    const struct vm *vm;
    long long deadline;
};

/*
 * In a worker of its own, on a connection of its own: ask the guest to
 * shut down and wait until it is off.  0 once off; 1 with the reason.
 */
static int
graceful_body(void *arg, char *reason, size_t len)
{
    const struct graceful *g = arg;
    struct vm vm = {.a = g->vm->a};
    unsigned flags = shutdown_flags(vcha_agent_str(vm.a, P_SHUTDOWN_MODE));
    char why[512];
    int code = 1;

    snprintf(vm.name, sizeof(vm.name), "%s", g->vm->name);
    vm.a->reason[0] = '\0';
    if (vm_open(&vm) != VCHA_OK) {
        snprintf(reason, len, "%s", vm.a->reason);
    } else if (vm.dom == NULL) {
        code = 0; /* a transient one, gone */
    } else if (virDomainShutdownFlags(vm.dom, flags) < 0) {
        snprintf(reason, len, "graceful shutdown refused (%s)",
                 vcha_virt_last_error(why, sizeof(why)));
    } else if (vm_wait(&vm, true, g->deadline)) {
        code = 0;
    } else {
        snprintf(reason, len, "%s",
                 vm.a->reason[0] != '\0' ? vm.a->reason
                                         : "did not shut down in time");
    }
    vm_close(&vm);
    return code;
}

/*
 * Shut the guest down by shutdown_deadline(), true when it is off.  The
 * shutdown call itself may block without bound (libvirt waits for the
 * QEMU monitor, and a stopped QEMU never answers): it runs in a worker
 * killed at that deadline, so that the destroy still has its time.
 */
static bool
graceful_stop(struct vm *vm)
{
    struct graceful g = {.vm = vm, .deadline = shutdown_deadline(vm->a)};
    char why[512] = "";
    int code = 1;
    int rc =
        vcha_worker_run(graceful_body, &g, g.deadline, &code, why, sizeof(why));

    if (rc == 0 && code == 0) {
        vcha_notice("%s shut down", vm->name);
        return true;
    }
    if (rc == -ETIMEDOUT) {
        snprintf(why, sizeof(why), "no answer to its shutdown in time");
    }
    vcha_warn("%s: %s: destroying it", vm->name, why);
    return false;
}

static enum vcha_result
stop_body(struct vm *vm)
{
    struct vcha_agent *a = vm->a;
    int reason, state = vm_state(vm, &reason);

    if (state < 0) {
        return VCHA_ERR_GENERIC;
    }
    if (state == VIR_DOMAIN_SHUTOFF) {
        return VCHA_OK;
    }
    if (!vcha_agent_num(a, P_FORCE_STOP) && state != VIR_DOMAIN_PAUSED &&
        state != VIR_DOMAIN_CRASHED && graceful_stop(vm)) {
        return VCHA_OK;
    }
    /* a guest that powered off just as the graceful part gave up: a
     * persistent domain is then shut off, and its destroy fails */
    if (virDomainDestroy(vm->dom) < 0 &&
        vcha_virt_last_error_code() != VIR_ERR_NO_DOMAIN) {
        char why[512];

        vcha_virt_last_error(why, sizeof(why));
        if (vm_state(vm, &reason) != VIR_DOMAIN_SHUTOFF) {
            return vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot destroy %s: %s",
                                   vm->name, why);
        }
    }
    if (vm_wait_for(vm, true, a->deadline_ms, "still runs after its destroy") !=
        VCHA_OK) {
        return VCHA_ERR_GENERIC;
    }
    vcha_notice("%s destroyed", vm->name);
    return VCHA_OK;
}

/*
 * Stop without libvirtd, which cannot be asked: the domain's QEMU, found
 * in /proc, is ended as libvirt's destroy ends it (SIGTERM, then SIGKILL),
 * rather than leave the cluster to fence the node for a stop that failed.
 * libvirtd, when it answers again, finds the domain shut off.
 */
static enum vcha_result
kill_by_proc(struct vcha_agent *a, const char *name, int pid)
{
    long long left = a->deadline_ms - vcha_now_ms();
    int rc;

    vcha_warn("%s; destroying %s without libvirt: its process %d", a->reason,
              name, pid);
    a->reason[0] = '\0';
    rc = vcha_proc_end_hypervisor(name, pid, left / 2 < 10000 ? left / 2 : 10000,
                                  a->deadline_ms);
    if (rc == -ETIME) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "libvirt cannot be asked, and the process %d "
                               "of %s lives on after SIGKILL",
                               pid, name);
    }
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "libvirt cannot be asked, and no handle on the "
                               "process %d of %s: %s",
                               pid, name, strerror(-rc));
    }
    return VCHA_OK;
}

/*
 * Stop domain @p name.  When libvirtd cannot say, the domain counts as
 * stopped only when no hypervisor process of it runs here: a stop that
 * succeeds while the VM runs on would let Pacemaker start it elsewhere
 * too.
 */
static enum vcha_result
stop_domain(struct vcha_agent *a, const char *name)
{
    bool unreachable = false;
    enum vcha_result r = vm_run_until(a, false, stop_body, name,
                                      libvirt_deadline(a, name, PROC_KILL_MS),
                                      &unreachable, NULL);
    int running;

    /* /proc only stands in for a libvirtd that could not be asked, never
     * against what one said (a destroy that failed) */
    if (r == VCHA_OK || !unreachable || !proc_proves(a, name)) {
        return r;
    }
    running = vcha_proc_hypervisor(name);
    if (running == 0) {
        vcha_warn("%s (libvirt: %s); no process of %s runs here: stopped",
                  vcha_result_name(r), a->reason, name);
        a->reason[0] = '\0';
        return VCHA_OK;
    }
    return running > 0 ? kill_by_proc(a, name, running) : r;
}

/* Stop the domain the parameters name. */
static enum vcha_result
vm_stop(struct vcha_agent *a)
{
    struct vm vm = {.a = a};
    enum vcha_result r;
    int rc;

    job_remove(a); /* first: a domain going down is no failure to judge */
    rc = vm_config(&vm, false, &r);
    free(vm.xml);
    if (rc == -ENOENT) {
        /* no name anywhere: config gone, and no start since this node
         * booted recorded one (the record lives in /run, and is written
         * before a start or a migration brings the domain here) */
        vcha_warn("%s; no start of this resource here since boot: "
                  "stopped",
                  a->reason);
        a->reason[0] = '\0';
        return VCHA_OK;
    }
    if (rc < 0) {
        return r;
    }
    return stop_domain(a, vm.name);
}

/*
 * Parameters that cannot be used say nothing of whether the domain runs:
 * it may have been defined or started with earlier ones, and a probe
 * that said "not running" or a stop that did nothing would let Pacemaker
 * start it elsewhere too.  A probe fails, not configured (Pacemaker then
 * starts the resource nowhere), naming the parameter; a stop stops the
 * domain the last start here recorded, else the one the usable
 * parameters name, which is off when libvirt or /proc says so (with no
 * name at all, as any stop: no start of it here since boot).
 */
static enum vcha_result
vm_config_error(struct vcha_agent *a, enum vcha_result r)
{
    char name[256];

    if (strcmp(a->action->name, "stop") != 0) {
        return r;
    }
    if (a->params == NULL) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "out of memory");
    }
    vcha_warn("stop: %s; stopping the domain all the same", a->reason);
    a->reason[0] = '\0';
    if (record_read(a, name, sizeof(name)) == 0) {
        job_remove(a);
        return stop_domain(a, name);
    }
    return vm_stop(a);
}

/* ------------------------------------------------------------ migration */

/* @p tmpl with each %n replaced by @p target (a new string), or NULL. */
static char *
subst_node(const char *tmpl, const char *target)
{
    size_t len = strlen(tmpl) + 1, t = strlen(target), k = 0;
    char *out;

    for (const char *p = strstr(tmpl, "%n"); p; p = strstr(p + 2, "%n")) {
        len += t;
    }
    out = malloc(len);
    for (const char *p = tmpl; out != NULL && *p != '\0';) {
        if (p[0] == '%' && p[1] == 'n') {
            memcpy(out + k, target, t);
            k += t;
            p += 2;
        } else {
            out[k++] = *p++;
        }
    }
    if (out != NULL) {
        out[k] = '\0';
    }
    return out;
}

/*
 * The target's libvirt URI: remoteuri, or the hypervisor's with the
 * migration transport, user and host (the target node, its suffix added
 * before the first dot).
 */
static char *
target_uri(const struct vcha_agent *a, const char *target)
{
    const char *uri = vcha_agent_str(a, P_HYPERVISOR);
    const char *transport = vcha_agent_str(a, P_MIG_TRANSPORT);
    const char *user = vcha_agent_str(a, P_MIG_USER);
    const char *suffix = vcha_agent_str(a, P_MIG_SUFFIX);
    const char *colon = strchr(uri, ':'), *plus = strchr(uri, '+');
    const char *path = strstr(uri, ":///");
    size_t host = strcspn(target, ".");
    char driver[64], *out = NULL;
    size_t n;

    if (vcha_agent_str(a, P_REMOTEURI) != NULL) {
        return subst_node(vcha_agent_str(a, P_REMOTEURI), target);
    }
    if (colon == NULL || path == NULL || (plus != NULL && plus < colon)) {
        return NULL; /* not driver:///path: remoteuri is needed */
    }
    n = (size_t) (colon - uri);
    snprintf(driver, sizeof(driver), "%.*s", (int) n, uri);
    if (asprintf(&out, "%s+%s://%s%s%.*s%s%s%s", driver,
                 transport != NULL ? transport : "ssh", user ? user : "",
                 user ? "@" : "", (int) host, target, suffix ? suffix : "",
                 target + host, path + 3) < 0) {
        out = NULL;
    }
    return out;
}

static const char *
migrate_target(const struct vcha_agent *a)
{
    const char *t = getenv("OCF_RESKEY_CRM_meta_migrate_target");

    (void) a;
    return t != NULL && *t != '\0' ? t : NULL;
}

static enum vcha_result
migrate_to_body(struct vm *vm)
{
    struct vcha_agent *a = vm->a;
    const char *target = migrate_target(a);
    char *dest = target ? target_uri(a, target) : NULL;
    char *data = target && vcha_agent_str(a, P_MIGRATEURI) != NULL
                     ? subst_node(vcha_agent_str(a, P_MIGRATEURI), target)
                     : NULL;
    virTypedParameterPtr tp = NULL;
    int ntp = 0, maxtp = 0, reason, state;
    enum vcha_result r = VCHA_OK;
    unsigned flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER;

    if (dest == NULL) {
        r = vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                            "no target URI for %s: no migrate target, or a "
                            "hypervisor URI with a host (set remoteuri)",
                            vm->name);
        goto done;
    }
    state = vm_state(vm, &reason);
    if (state < 0) {
        r = VCHA_ERR_GENERIC; /* its reason is libvirt's */
        goto done;
    }
    if (state != VIR_DOMAIN_RUNNING || vm->dom == NULL) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "%s does not run here",
                            vm->name);
        goto done;
    }
    if (vcha_agent_num(a, P_MIG_SPEED) > 0) {
        virTypedParamsAddULLong(
            &tp, &ntp, &maxtp, VIR_MIGRATE_PARAM_BANDWIDTH,
            (unsigned long long) vcha_agent_num(a, P_MIG_SPEED));
    }
    if (data != NULL) {
        virTypedParamsAddString(&tp, &ntp, &maxtp, VIR_MIGRATE_PARAM_URI, data);
    }
    if (vcha_agent_num(a, P_MIG_DOWNTIME) > 0 &&
        virDomainMigrateSetMaxDowntime(
            vm->dom, (unsigned long long) vcha_agent_num(a, P_MIG_DOWNTIME),
            0) < 0) {
        r = libvirt_fail(vm, "cannot set the migration downtime of");
        goto done;
    }
    vcha_notice("migrating %s to %s (%s)", vm->name, target, dest);
    if (virDomainMigrateToURI3(vm->dom, dest, tp, (unsigned) ntp, flags) < 0) {
        char why[512];

        /* a failed migration leaves the domain running here */
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "migration of %s to %s "
                            "failed: %s",
                            vm->name, target,
                            vcha_virt_last_error(why, sizeof(why)));
        goto done;
    }
    vcha_notice("%s migrated to %s", vm->name, target);

done:
    virTypedParamsFree(tp, ntp);
    free(data);
    free(dest);
    return r;
}

/*
 * After a migration that did not end by its deadline: abort its job (on
 * a connection of its own), so that the domain goes on running here
 * rather than arriving at the target after Pacemaker gave up on it.
 */
static enum vcha_result
migrate_abort_body(struct vm *vm)
{
    const char *target =
        migrate_target(vm->a) != NULL ? migrate_target(vm->a) : "?";
    char why[512] = "";
    int reason, state;

    if (vm->dom == NULL) {
        return vcha_agent_fail(vm->a, VCHA_ERR_GENERIC,
                               "migration of %s to %s did not end by the "
                               "operation's deadline, and %s is gone from "
                               "here",
                               vm->name, target, vm->name);
    }
    if (virDomainAbortJob(vm->dom) < 0) {
        vcha_virt_last_error(why, sizeof(why));
    }
    state = vm_state(vm, &reason);
    vm->a->reason[0] = '\0';
    return vcha_agent_fail(
        vm->a, VCHA_ERR_GENERIC,
        "migration of %s to %s did not end by the operation's deadline: "
        "%s%s%s; %s %s",
        vm->name, target, why[0] ? "aborting its job failed (" : "aborted it",
        why, why[0] ? ")" : "", vm->name,
        state == VIR_DOMAIN_RUNNING ? "runs on here"
        : state < 0                 ? "is in a state libvirt does not say"
                                    : "does not run here");
}

/*
 * The time kept back from a migration to abort it: a quarter of what is
 * left, at most 5 s.
 */
static long long
abort_reserve(const struct vcha_agent *a)
{
    long long quarter = vcha_agent_remaining_ms(a) / 4;

    return quarter < 5000 ? quarter : 5000;
}

static enum vcha_result
vm_migrate_to(struct vcha_agent *a)
{
    long long deadline = a->deadline_ms;
    bool timed_out = false;
    enum vcha_result r;

    a->deadline_ms -= abort_reserve(a);
    r = vm_run_until(a, false, migrate_to_body, NULL, a->deadline_ms, NULL,
                     &timed_out);
    a->deadline_ms = deadline;
    if (r == VCHA_OK) { /* it runs on the target now; a failed one here */
        job_remove(a);
    } else if (timed_out) {
        vcha_warn("%s", a->reason);
        a->reason[0] = '\0';
        r = vm_run(a, false, migrate_abort_body, NULL);
        if (r != VCHA_OK && strstr(a->reason, "did not end by") == NULL) {
            char why[sizeof(a->reason)];

            snprintf(why, sizeof(why), "%s", a->reason);
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                "the migration did not end in time, and "
                                "aborting it failed: %s",
                                why);
        }
    }
    return r;
}

/*
 * The figures of the migration that brought the domain here, as libvirt
 * kept them (its completed job): the downtime the guest saw, the whole
 * time and what was sent.  Logged only; a libvirt that kept none logs
 * nothing.
 */
static void
log_arrival(struct vm *vm)
{
    virTypedParameterPtr st = NULL;
    unsigned long long down = 0, all = 0, sent = 0;
    int type = 0, n = 0;

    /* kept for whoever asks next (virsh domjobinfo --completed) */
    if (virDomainGetJobStats(vm->dom, &type, &st, &n,
                             VIR_DOMAIN_JOB_STATS_COMPLETED |
                                 VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED) < 0) {
        return;
    }
    if (virTypedParamsGetULLong(st, n, VIR_DOMAIN_JOB_DOWNTIME, &down) == 1) {
        virTypedParamsGetULLong(st, n, VIR_DOMAIN_JOB_TIME_ELAPSED, &all);
        virTypedParamsGetULLong(st, n, VIR_DOMAIN_JOB_DATA_PROCESSED, &sent);
        vcha_notice("%s arrived: downtime %llu ms, migration %llu ms, "
                    "%llu KiB sent",
                    vm->name, down, all, sent / 1024);
    }
    virTypedParamsFree(st, n);
}

/* The domain arrived: it runs here by the deadline. */
static enum vcha_result
migrate_from_body(struct vm *vm)
{
    enum vcha_result r;

    if (vm->dom == NULL) {
        return vcha_agent_fail(vm->a, VCHA_ERR_GENERIC,
                               "%s did not arrive here", vm->name);
    }
    r = vm_wait_for(vm, false, vm->a->deadline_ms, "did not arrive here");
    if (r == VCHA_OK) {
        log_arrival(vm);
    }
    return r;
}

static enum vcha_result
vm_migrate_from(struct vcha_agent *a)
{
    enum vcha_result r = vm_run(a, false, migrate_from_body, NULL);

    return r == VCHA_OK ? job_add(a) : r;
}

static enum vcha_result
vm_reload_agent(struct vcha_agent *a)
{
    (void) a; /* nothing is kept between actions */
    return VCHA_OK;
}

/* ------------------------------------------------------------ validate */

static enum vcha_result
vm_validate(struct vcha_agent *a, int level)
{
    const char *uri = vcha_agent_str(a, P_HYPERVISOR);
    struct vm vm = {.a = a};
    enum vcha_result r;

    if (vcha_agent_str(a, P_CONFIG) == NULL &&
        vcha_agent_str(a, P_DOMAIN) == NULL) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "config or domain must be given");
    }
    if (strstr(uri, "://") == NULL) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "hypervisor %s is not a libvirt URI", uri);
    }
    if (level < 10 || vcha_agent_str(a, P_CONFIG) == NULL) {
        return VCHA_OK;
    }
    vm_config(&vm, true, &r);
    free(vm.xml);
    return r;
}

static const struct vcha_action_def actions[] = {
    {"start", vm_start, 90, 0, -1, NULL},
    {"stop", vm_stop, 90, 0, -1, NULL},
    {"monitor", vm_monitor, 30, 10, 0, NULL},
    {"migrate_to", vm_migrate_to, 120, 0, -1, NULL},
    {"migrate_from", vm_migrate_from, 60, 0, -1, NULL},
    {"reload-agent", vm_reload_agent, 20, 0, -1, NULL},
    {NULL},
};

static const struct vcha_agent_def agent = {
    .name = AGENT,
    .version = PACKAGE_VERSION,
    .shortdesc = "libvirt domain (VM) with live migration",
    .longdesc =
        "Runs a libvirt domain: a QEMU VM on this node's libvirtd, or any "
        "domain of another driver.  Every action runs its libvirt calls in "
        "a worker process killed at the operation's deadline, so that a "
        "libvirtd that hangs makes the action fail in time with that "
        "reason, never run into Pacemaker's timeout.  Start creates the "
        "domain from config when libvirt does not know it (transient) and "
        "starts the defined one otherwise, and returns once it runs; a "
        "running domain is left as it is.  Stop asks the guest to shut "
        "down (shutdown_mode) and destroys the domain when it has not by "
        "shutdown_timeout.  When libvirtd cannot be asked (down, or no "
        "answer in time), /proc stands in for it where it can: monitor "
        "reports running while the domain's QEMU (qemu:///) or "
        "libvirt_lxc (lxc:///) process runs, so that a libvirtd restarted "
        "or hung for a while does not take a healthy VM down; on "
        "qemu:/// (the domain named, not by UUID) monitor reports stopped "
        "when no QEMU of it runs, and stop ends the QEMU process (SIGTERM, "
        "then SIGKILL, as libvirt's destroy does) rather than fail and get "
        "the node fenced.  Otherwise (LXC, whose container may outlive "
        "its libvirt_lxc; a remote hypervisor; a UUID; a QEMU whose "
        "process /proc cannot read whole) a stop that libvirt cannot "
        "confirm fails, so that the cluster fences rather than run the "
        "VM twice.  Monitor "
        "reports running, stopped, or a "
        "failure for a crashed domain and one paused by an I/O error, its "
        "watchdog or a guest crash; a config that cannot be read is an "
        "error, never \"stopped\".  Parameters that cannot be used (a "
        "bad value) say nothing of whether a domain started with earlier "
        "ones runs: a probe then fails as not configured, naming the "
        "parameter, and a stop still stops the domain the last start on "
        "this node recorded, else the one the usable parameters name.  With "
        "health_check (the default), start "
        "and migrate_from register a vmwatch job with the node daemon "
        "vchad (started when needed), and stop and migrate_to remove it: "
        "every second it reads the domain's libvirt statistics and judges "
        "the guest from outside, with nothing inside it: hung (running, "
        "but its CPU time does not advance for hung_after, nor does QEMU "
        "answer), spinning (its "
        "vCPUs busy with no block and no network I/O for spin_after), "
        "panicked (crashed) or paused (for anything but a migration, a "
        "snapshot, a save or its start-up).  A monitor at OCF_CHECK_LEVEL "
        "10 or more fails, naming the verdict and its figures, once such a "
        "verdict has held for health_grace; one that finds vchad gone or "
        "without the job registers it again.  A monitor at "
        "OCF_CHECK_LEVEL 20 or more also connects to probe_tcp, a TCP "
        "service of the guest, when it is set.  Probes never need the job.  "
        "Give the domain parameter as well as "
        "config: monitor and stop then need no file.  migrate_to moves "
        "the running domain to the target node live, peer to peer "
        "(libvirtd to libvirtd) within migration_speed and "
        "migration_downtime; one that fails leaves the domain running "
        "here, and one that has not ended shortly before the operation's "
        "deadline is aborted so that it does too (allow-migrate=true).  "
        "libvirt migrates only a domain whose disks it sees on shared "
        "storage: NFS, a cluster file system, or a path named in qemu.conf's "
        "shared_filesystems.  migrate_from logs the migration's downtime, "
        "time and size as libvirt measured them.  Coming "
        "from ocf:heartbeat:VirtualDomain: "
        "config, hypervisor, force_stop, migration_transport, "
        "migration_user, migration_network_suffix, migrateuri, remoteuri, "
        "migration_downtime (ms) and migration_speed (MiB/s) keep their "
        "names and meanings; shutdown_mode is obeyed (VirtualDomain reads "
        "it under another name and ignores it); domain, "
        "shutdown_timeout and the health parameters are new; "
        "autoset_utilization_cpu, _hv_memory "
        "and _host_memory are kept (written only when they change); "
        "monitor_scripts, the unset_utilization parameters, migrateport, "
        "migrate_options, snapshot, save_config_on_stop, "
        "sync_config_on_stop, backingfile, stateless, copyindirs and "
        "start_resources are not taken over.",
    .params = params,
    .n_params = N_PARAMS,
    .actions = actions,
    .validate = vm_validate,
    .config_error = vm_config_error,
};

int
main(int argc, char **argv)
{
    return vcha_agent_main(&agent, argc, argv);
}
