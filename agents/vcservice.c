/*
 * ocf:vcha:vcservice - one protected service of a container set (seed 000):
 * natively on its primary VM, whose tree vchad's filesync job pushes to
 * the standby VMs, or, after a failover, in the member container that a
 * standby VM keeps of it (ocf:vcha:ctset), activated there.
 *
 * Where it runs decides how: on the node named by primary it runs the
 * service's own commands and registers the filesync job; on a node whose
 * standby attribute is true it activates the member: the active marker
 * beside the member's tree first (vcha-receive then refuses every push
 * into it), then the container booted if it was stopped, the activation
 * command run inside it, its ports waited for on its own address.  The
 * address where the service answers is published in a node attribute for
 * ocf:vcha:dnsswitch.
 */
#include <config.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcha/agent.h>
#include <vcha/attr.h>
#include <vcha/ckptjob.h>
#include <vcha/clock.h>
#include <vcha/ct.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/job.h>
#include <vcha/kv.h>
#include <vcha/log.h>
#include <vcha/port.h>
#include <vcha/syncjob.h>
#include <vcha/syncmark.h>
#include <vcha/vchad.h>
#include <vcha/whatif.h>

#define AGENT "vcservice"
#define MAX_ARGS VCHA_COMMAND_MAX_WORDS
#define MAX_PORTS 16
/* The active marker of a member: its tree's path + this. */
/* A push under way at activation: how long it may go on to complete, and
 * how long it is given to end after each signal (push_end()). */
#define PUSH_GRACE_MS 3000
#define PUSH_END_MS 5000
/* How long one connection attempt to a port may take. */
#define PORT_TRY_MS 1000
/* Between attempts at a port that does not answer yet. */
#define PORT_RETRY_MS 200

enum {
    P_PRIMARY,
    P_MEMBER,
    P_LXCPATH,
    P_STANDBY_ATTRIBUTE,
    P_ADDRESS,
    P_PORTS,
    P_START_CMD,
    P_STOP_CMD,
    P_ACTIVATE_CMD,
    P_DEACTIVATE_CMD,
    P_MONITOR_CMD,
    P_ADDRESS_ATTRIBUTE,
    P_SYNC_TARGET,
    P_SYNC_PASSWORD_FILE,
    P_SYNC_IDENTITY,
    P_SYNC_KNOWN_HOSTS,
    P_SYNC_SOURCE,
    P_MAX_SYNC_LAG,
    P_INCOMPLETE_SYNC,
    P_MIGRATION_DIR,
    P_MEASURE_UTILIZATION,
    P_UTILIZATION_HEADROOM,
    N_PARAMS
};

static const char *const incomplete_options[] = {"warn", "refuse", NULL};

/* Where the service runs on this node. */
enum mode {
    MODE_NONE,      /* neither the primary nor a standby */
    MODE_NATIVE,    /* the primary: the service's own commands */
    MODE_CONTAINER, /* a standby: its member container */
};

static const char *const mode_names[] = {
    [MODE_NONE] = "",
    [MODE_NATIVE] = "native",
    [MODE_CONTAINER] = "container",
};

/* ------------------------------------------------------------ checks */

/* Words are separated by blanks (the parameters refuse tabs today). */
static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int
check_address(const char *v, char *why, size_t len)
{
    unsigned char buf[16];

    static const unsigned char zero[16] = {0};

    if (inet_pton(AF_INET, v, buf) == 1) {
        /* 0.0.0.0 answers on every address: it tells nothing */
        if (memcmp(buf, zero, 4) == 0 || (buf[0] & 0xf0) == 0xe0) {
            snprintf(why, len,
                     "is unspecified or multicast: not an address "
                     "a service answers on");
            return -EINVAL;
        }
        return 0;
    }
    if (inet_pton(AF_INET6, v, buf) != 1) {
        snprintf(why, len, "is neither an IPv4 nor an IPv6 address");
        return -EINVAL;
    }
    if (memcmp(buf, zero, 16) == 0 || buf[0] == 0xff) {
        snprintf(why, len,
                 "is unspecified or multicast: not an address a service "
                 "answers on");
        return -EINVAL;
    }
    return 0;
}

/* "80 443": at most MAX_PORTS TCP ports, into @p ports (may be NULL). */
static int
ports_parse(const char *v, unsigned *ports, size_t *n, char *why, size_t len)
{
    unsigned seen[MAX_PORTS];
    size_t count = 0;
    const char *p = v;

    while (*p != '\0') {
        char *end = NULL;
        long port;

        if (is_blank(*p)) {
            p++;
            continue;
        }
        /* strtol would take a sign: "+80" and "-0" are no port numbers */
        port = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : 0;
        if (end == NULL || end == p || (!is_blank(*end) && *end != '\0') ||
            port < 1 || port > 65535 || count == MAX_PORTS) {
            snprintf(why, len,
                     "must be 1 to %d TCP port numbers separated by spaces",
                     MAX_PORTS);
            return -EINVAL;
        }
        for (size_t i = 0; i < count; i++) {
            if (seen[i] == (unsigned) port) {
                snprintf(why, len, "names port %ld twice", port);
                return -EINVAL;
            }
        }
        seen[count] = (unsigned) port;
        if (ports != NULL) {
            ports[count] = (unsigned) port;
        }
        count++;
        p = end;
    }
    if (count == 0) {
        snprintf(why, len, "names no port");
        return -EINVAL;
    }
    if (n != NULL) {
        *n = count;
    }
    return 0;
}

static int
check_ports(const char *v, char *why, size_t len)
{
    return ports_parse(v, NULL, NULL, why, len);
}

/* ------------------------------------------------------------ params */

static const struct vcha_param_def params[N_PARAMS] = {
    [P_PRIMARY] =
        {
            .name = "primary",
            .type = VCHA_PT_STRING,
            .required = true,
            .check = vcha_check_attribute_name,
            .shortdesc = "The primary VM's node name",
            .longdesc = "The cluster node name of the VM the service runs on "
                        "natively.  There the resource runs start_cmd and "
                        "registers the filesync job; on any other node it "
                        "activates the member container, and only where the "
                        "node attribute standby_attribute is true.",
        },
    [P_MEMBER] =
        {
            .name = "member",
            .type = VCHA_PT_STRING,
            .required = true,
            .unique = true,
            .check = vcha_ct_name_check,
            .shortdesc = "The member container's name",
            .longdesc = "The name of the LXC container that the standby VMs "
                        "keep of this service (a member of ocf:vcha:ctset's "
                        "members list).  Its configuration is "
                        "LXCPATH/NAME/config; its root, which the config's "
                        "lxc.rootfs.path names (dir:SYNC_DIR/NAME/rootfs), is "
                        "the copy the filesync job keeps; its address is the "
                        "config's lxc.net.0.ipv4.address.",
        },
    [P_LXCPATH] =
        {
            .name = "lxcpath",
            .type = VCHA_PT_STRING,
            .dflt = "/var/lib/lxc",
            .check = vcha_check_abspath,
            .shortdesc = "LXC path",
            .longdesc = "The directory holding the member's directory "
                        "(lxc-start -P, LXC's lxcpath), as ctset's lxcpath.",
        },
    [P_STANDBY_ATTRIBUTE] =
        {
            .name = "standby_attribute",
            .type = VCHA_PT_STRING,
            .dflt = "vcha-standby",
            .check = vcha_check_attribute_name,
            .shortdesc = "Node attribute marking a standby VM",
            .longdesc = "A node other than primary may run the service only "
                        "when this node attribute is true there (pcs node "
                        "attribute NODE vcha-standby=true); elsewhere start "
                        "fails as not installed, so that Pacemaker keeps the "
                        "resource off that node only.",
        },
    [P_ADDRESS] =
        {
            .name = "address",
            .type = VCHA_PT_STRING,
            .required = true,
            .check = check_address,
            .shortdesc = "The service's address on its primary",
            .longdesc = "The numeric address the service answers on when it "
                        "runs natively: its ports are checked there, and it "
                        "is the address published on the primary.",
        },
    [P_PORTS] =
        {
            .name = "ports",
            .type = VCHA_PT_STRING,
            .required = true,
            .check = check_ports,
            .shortdesc = "TCP ports of the service",
            .longdesc = "The TCP ports the service accepts connections on, "
                        "separated by spaces.  Start waits until every one "
                        "accepts a connection (on address natively, on the "
                        "container's address in a member) and fails, naming "
                        "the port, when one does not before the operation's "
                        "timeout; a monitor at OCF_CHECK_LEVEL 10 connects "
                        "to each.",
        },
    [P_START_CMD] =
        {
            .name = "start_cmd",
            .type = VCHA_PT_STRING,
            .check = vcha_check_command,
            .shortdesc = "Starts the service natively",
            .longdesc =
                "Run on the primary by start, and must exit 0 (the "
                "service itself must go to the background), within "
                "half of the time left (the rest is for the ports).  Words "
                "are separated by spaces; no shell is involved. "
                " "
                "Without it the service is taken as started by "
                "other means, and start only waits for its ports.",
        },
    [P_STOP_CMD] =
        {
            .name = "stop_cmd",
            .type = VCHA_PT_STRING,
            .check = vcha_check_command,
            .shortdesc = "Stops the service natively",
            .longdesc = "Run on the primary by stop, and must exit 0.  Words "
                        "are separated by spaces; no shell is involved.  "
                        "With sync_target, stop pushes the tree once more "
                        "after it succeeded (without it, or when it failed, "
                        "there is no such push): a command that returns "
                        "only once the "
                        "service has written its last (start-stop-daemon "
                        "--retry, a database's shutdown) loses nothing on "
                        "a move to the standby.",
        },
    [P_ACTIVATE_CMD] =
        {
            .name = "activate_cmd",
            .type = VCHA_PT_STRING,
            .check = vcha_check_command,
            .shortdesc = "Activates the member, inside it",
            .longdesc = "Run inside the member container (as lxc-attach "
                        "--clear-env does) when the resource starts there, "
                        "after the container runs, and must exit 0: the "
                        "service's own start for a warm member (a database "
                        "whose files the sync rewrites), anything a hot or "
                        "cold one needs besides its init.  Not run again by "
                        "a start of a resource already active here.  It has "
                        "half of the time left.",
        },
    [P_DEACTIVATE_CMD] =
        {
            .name = "deactivate_cmd",
            .type = VCHA_PT_STRING,
            .check = vcha_check_command,
            .shortdesc = "Deactivates the member, inside it",
            .longdesc = "Run inside the member container by stop, when it "
                        "runs, with half of the time left (the rest is kept "
                        "for stopping the container, which stop then does "
                        "in every mode): the service's clean stop, a "
                        "database's flush say.",
        },
    [P_MONITOR_CMD] =
        {
            .name = "monitor_cmd",
            .type = VCHA_PT_STRING,
            .check = vcha_check_command,
            .shortdesc = "Health check at OCF_CHECK_LEVEL 20",
            .longdesc = "At OCF_CHECK_LEVEL 20 this program must exit 0: run "
                        "on the node natively, inside the member container "
                        "otherwise.  Words are separated by spaces; no "
                        "shell is involved.",
        },
    [P_ADDRESS_ATTRIBUTE] =
        {
            .name = "address_attribute",
            .type = VCHA_PT_STRING,
            .check = vcha_check_attribute_name,
            .shortdesc = "Node attribute for the service's address",
            .longdesc = "The transient node attribute in which start "
                        "publishes the address the service answers on "
                        "(address natively, the member's address in a "
                        "container) and stop removes it: what "
                        "ocf:vcha:dnsswitch's address_attribute reads.  "
                        "Default: vcha-address-RESOURCE (the resource's "
                        "instance name).",
        },
    [P_SYNC_TARGET] =
        {
            .name = "sync_target",
            .type = VCHA_PT_STRING,
            .shortdesc = "Where the filesync job pushes the tree",
            .longdesc = "When set, start on the primary registers a filesync "
                        "job with vchad (its id: the resource's instance "
                        "name) that keeps the standby's copy of sync_source "
                        "in step: rsync://USER@RECEIVER:PORT/NAME for "
                        "ctset's receiver, ssh://[USER@]HOST[:PORT], or a "
                        "directory.  Stop removes the job.  A failback "
                        "pulls the member's tree back through it; with an "
                        "rsync:// target, from the receiver the node where "
                        "the member is active publishes "
                        "(vcha-receiver-MEMBER), when it publishes one.  "
                        "Give start a timeout that covers that pull.",
        },
    [P_SYNC_PASSWORD_FILE] =
        {
            .name = "sync_password_file",
            .type = VCHA_PT_STRING,
            .check = vcha_check_abspath,
            .shortdesc = "rsync daemon password file",
            .longdesc = "The password of an rsync:// target's user, alone "
                        "in a file of mode 0600 owned by root.",
        },
    [P_SYNC_IDENTITY] =
        {
            .name = "sync_identity",
            .type = VCHA_PT_STRING,
            .check = vcha_check_abspath,
            .shortdesc = "ssh private key",
            .longdesc = "The private key (mode 0600) of an ssh:// target.",
        },
    [P_SYNC_KNOWN_HOSTS] =
        {
            .name = "sync_known_hosts",
            .type = VCHA_PT_STRING,
            .check = vcha_check_abspath,
            .shortdesc = "ssh known_hosts file",
            .longdesc = "The host key of an ssh:// target's receiver.",
        },
    [P_SYNC_SOURCE] =
        {
            .name = "sync_source",
            .type = VCHA_PT_STRING,
            .dflt = "/",
            .check = vcha_check_abspath,
            .shortdesc = "The tree the job pushes",
            .longdesc = "The primary's tree that becomes the member's root; "
                        "the job leaves out what the package-based "
                        "exclusion list names (see vchactl excludes).",
        },
    [P_MAX_SYNC_LAG] =
        {
            .name = "max_sync_lag",
            .type = VCHA_PT_DURATION,
            .dflt = "0",
            .max = 86400000,
            .shortdesc = "Longest acceptable sync lag",
            .longdesc = "Natively, a monitor fails when the filesync job "
                        "reports changes waiting longer than this to reach "
                        "the standby (0: never; the lag is logged and "
                        "vchad publishes it as the node attribute "
                        "vcha-sync-lag-ms anyway).",
        },
    [P_INCOMPLETE_SYNC] =
        {
            .name = "incomplete_sync",
            .type = VCHA_PT_SELECT,
            .dflt = "warn",
            .options = incomplete_options,
            .shortdesc = "Activating a half-synced member",
            .longdesc = "What start in a member does when the last push into "
                        "its tree did not complete (the primary died during "
                        "it): warn activates it with a warning in the log, "
                        "refuse fails the start.  A push still under way "
                        "when the member is activated (its primary lost "
                        "power in the middle of it) is given 3 s to "
                        "complete after the active marker is written (the "
                        "receiver refuses any later push), then ended: "
                        "SIGTERM to every rsync at work in the member's "
                        "tree (its working directory or root there), "
                        "SIGKILL after 5 s; its batch is then incomplete "
                        "and judged as above.  The activation goes on only "
                        "once the batch lock is free and no rsync is left "
                        "in the tree; a lock held by anything else fails "
                        "the start.  The "
                        "sync state is judged at every start, also one "
                        "that finds the member's active marker naming this "
                        "resource.  A member never synced is never "
                        "activated.",
        },
    [P_MIGRATION_DIR] =
        {
            .name = "migration_dir",
            .type = VCHA_PT_STRING,
            .check = vcha_check_abspath,
            .shortdesc = "Where a live migration puts the member",
            .longdesc =
                "A directory every standby VM mounts, shared (NFS, "
                "say), that a live migration of the active member "
                "from one standby VM to another (allow-migrate=true) "
                "goes through: migrate_to checkpoints it with CRIU, "
                "memory and tree, into the generation store "
                "MIGRATION_DIR/MEMBER (the tree copied while it "
                "runs, what changed since while it is frozen; one "
                "generation kept, the base of the next migration's "
                "copy) and stops it; migrate_from restores it on "
                "the target, over the target's copy of the tree, "
                "and says so in MIGRATION_DIR/MEMBER/.consumed.d/ID "
                "(restored NODE; a start at the source of a "
                "migration that did not complete writes given-up "
                "NODE), so that it is never restored again.  Unset, a move from one standby VM to another "
                "fails in migrate_to before it touches the member "
                "(a stop and a start cannot move it: the newest "
                "tree is on the source); Pacemaker then recovers "
                "the resource on the source.  Moves to and from the "
                "primary are a stop and a start whatever it says.",
        },
    [P_MEASURE_UTILIZATION] =
        {
            .name = "measure_utilization",
            .type = VCHA_PT_BOOLEAN,
            .dflt = "false",
            .shortdesc = "Utilization measured in the member",
            .longdesc = "In its member (container mode), each recurring "
                        "monitor measures what the member uses, in its own "
                        "cgroup: memory (MiB, but the file cache it has not "
                        "used lately) and CPU (cores busy since the "
                        "monitor before), and sets the resource's "
                        "utilization attributes memory and cpu "
                        "(crm_resource --utilization) to that plus "
                        "utilization_headroom, rounded up (memory to 16 "
                        "MiB, cpu to a whole core, 1 at least), for "
                        "placement-strategy: a standby VM that the services "
                        "failed over to no longer fit on is relieved by a "
                        "migration (migration_dir).  Hysteresis: a value "
                        "rises as soon as the need exceeds it, and falls "
                        "only once the need is below half of it.  A rise "
                        "is first tried on a copy of the CIB (crm_simulate): "
                        "one that would stop a resource (none of the "
                        "nodes has room for it) is not made, and the "
                        "monitor logs a warning naming it instead, so "
                        "that a measured spike never stops a service.  "
                        "Natively the values are left as they are.",
        },
    [P_UTILIZATION_HEADROOM] =
        {
            .name = "utilization_headroom",
            .type = VCHA_PT_INTEGER,
            .dflt = "50",
            .min = 0,
            .max = 1000,
            .shortdesc = "Headroom over the measured use, percent",
            .longdesc = "What measure_utilization adds to the measured "
                        "use, in percent of it: the room a service may "
                        "grow into before the next monitor.",
        },
};

/* ------------------------------------------------------------ helpers */

/* Split @p text at spaces into @p argv (a copy kept in *@p copy). */
static int
words_split(const char *text, const char **argv, char **copy)
{
    char *save = NULL;
    size_t n = 0;

    *copy = strdup(text);
    if (*copy == NULL) {
        return -ENOMEM;
    }
    for (char *w = strtok_r(*copy, " \t", &save); w != NULL && n < MAX_ARGS;
         w = strtok_r(NULL, " \t", &save)) {
        argv[n++] = w;
    }
    argv[n] = NULL;
    return 0;
}

/*
 * The deadline of a command that something must follow (a stop after a
 * deactivation, the port wait after a start): half of what is left.
 */
static long long
half_left(const struct vcha_agent *a)
{
    long long now = vcha_now_ms();

    return a->deadline_ms > now ? now + (a->deadline_ms - now) / 2 : now;
}

/* Half of the milliseconds left: the timeout of one call. */
static long long
half_left_ms(const struct vcha_agent *a)
{
    return vcha_agent_remaining_ms(a) / 2;
}

/*
 * The deadline of command parameter @p param: the monitor's whole time,
 * half of what is left for the others (a reserve for what follows them).
 */
static long long
cmd_deadline(const struct vcha_agent *a, size_t param)
{
    return param == P_MONITOR_CMD ? a->deadline_ms : half_left(a);
}

/* Run command parameter @p param on this node; fails with the reason. */
static enum vcha_result
run_native(struct vcha_agent *a, size_t param)
{
    const char *argv[MAX_ARGS + 1];
    char why[512] = "", *copy = NULL;
    int rc = words_split(vcha_agent_str(a, param), argv, &copy);

    if (rc == 0) {
        rc = vcha_exec_until(argv, cmd_deadline(a, param), why, sizeof(why));
    }
    free(copy);
    if (rc == -ENOENT || rc == -EACCES) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED, "%s: %s: %s",
                               a->def->params[param].name, argv[0],
                               why[0] ? why : strerror(-rc));
    }
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "%s failed: %s",
                               a->def->params[param].name,
                               why[0] ? why : strerror(-rc));
    }
    return VCHA_OK;
}

/* Run command parameter @p param inside @p ct; fails with the reason. */
static enum vcha_result
run_inside(struct vcha_agent *a, const struct vcha_ct *ct, size_t param)
{
    const char *argv[MAX_ARGS + 1];
    char why[512] = "", *copy = NULL;
    int rc = words_split(vcha_agent_str(a, param), argv, &copy);

    if (rc == 0) {
        rc = vcha_ct_attach(ct, argv, cmd_deadline(a, param), why, sizeof(why));
    }
    free(copy);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "%s failed inside %s: %s",
                               a->def->params[param].name, ct->name,
                               why[0] ? why : strerror(-rc));
    }
    if (rc > 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "%s failed inside %s: exit %d",
                               a->def->params[param].name, ct->name, rc);
    }
    return VCHA_OK;
}

static bool
is_primary(const struct vcha_agent *a)
{
    char node[256];

    vcha_agent_node_name(a, node, sizeof(node));
    return strcmp(node, vcha_agent_str(a, P_PRIMARY)) == 0;
}

/* Where start runs the service on this node; fails where it cannot. */
static enum vcha_result
mode_resolve(struct vcha_agent *a, enum mode *mode)
{
    const char *attr = vcha_agent_str(a, P_STANDBY_ATTRIBUTE);
    char *value = NULL;
    bool standby = false;
    int rc;

    *mode = MODE_NATIVE;
    if (is_primary(a)) {
        return VCHA_OK;
    }
    *mode = MODE_NONE;
    rc = vcha_node_attr_get(attr, NULL, &value, vcha_agent_remaining_ms(a));
    if (rc < 0 && rc != -ENODATA) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot read node attribute %s: %s", attr,
                               strerror(-rc));
    }
    if (rc == 0 && vcha_boolean_parse(value, &standby) < 0) {
        standby = false;
    }
    free(value);
    if (!standby) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                               "this node is neither the primary (%s) nor a "
                               "standby (node attribute %s is not true)",
                               vcha_agent_str(a, P_PRIMARY), attr);
    }
    *mode = MODE_CONTAINER;
    return VCHA_OK;
}

/* ------------------------------------------------------ the state file */

/*
 * What this node has done since it booted, in HA_RSCTMP: mode=native or
 * container, and booted=1 when start booted the member (stop stops it
 * then, marker or not; a start again finds it still its own).  Written before
 * start changes anything, so that the stop after a start that failed half-way
 * undoes it; a running member with its active marker but no state file (an
 * administrator started it) is not this resource's running.
 */
struct state {
    enum mode mode;
    bool booted;
};

static int
state_path(const struct vcha_agent *a, char *buf, size_t len)
{
    return vcha_state_path(buf, len, AGENT, a->instance, ".state");
}

/* 0 with *st read, -ENOENT without a state file, or -errno. */
static int
state_get(const struct vcha_agent *a, struct state *st)
{
    struct vcha_kv *kv = vcha_kv_new();
    char path[4096], *data = NULL;
    size_t len = 0, used = 0;
    int rc = kv == NULL ? -ENOMEM : state_path(a, path, sizeof(path));
    const char *mode;

    *st = (struct state){MODE_NONE, false};
    if (rc == 0) {
        rc = vcha_file_read(path, &data, &len, 4096);
    }
    if (rc == -ENOTDIR) {
        rc = -ENOENT;
    }
    if (rc == 0) {
        rc = vcha_kv_parse(kv, data, len, &used);
    }
    mode = vcha_kv_get(kv, "mode");
    if (rc == 0 && mode != NULL && strcmp(mode, "native") == 0) {
        st->mode = MODE_NATIVE;
    } else if (rc == 0 && mode != NULL && strcmp(mode, "container") == 0) {
        st->mode = MODE_CONTAINER;
        st->booted = vcha_kv_get(kv, "booted") != NULL &&
                     strcmp(vcha_kv_get(kv, "booted"), "1") == 0;
    } else if (rc == 0) {
        rc = -EBADMSG;
    }
    free(data);
    vcha_kv_free(kv);
    return rc;
}

static int
state_set(const struct vcha_agent *a, const struct state *st)
{
    struct vcha_kv *kv = vcha_kv_new();
    char path[4096], *buf = NULL;
    size_t len = 0;
    int rc = kv == NULL ? -ENOMEM : state_path(a, path, sizeof(path));

    rc = rc ? rc : vcha_kv_set(kv, "mode", mode_names[st->mode]);
    rc = rc ? rc : vcha_kv_set(kv, "booted", st->booted ? "1" : "0");
    rc = rc ? rc : vcha_kv_encode(kv, &buf, &len);
    rc = rc ? rc : vcha_state_dir_ensure();
    rc = rc ? rc : vcha_file_write_atomic(path, buf, len, 0644);
    free(buf);
    vcha_kv_free(kv);
    return rc;
}

/* The state file, and the sample of measure_utilization beside it. */
static int
state_remove(const struct vcha_agent *a)
{
    char path[4096];
    int rc = state_path(a, path, sizeof(path));

    if (rc == 0 && unlink(path) < 0 && errno != ENOENT && errno != ENOTDIR) {
        rc = -errno;
    }
    if (vcha_state_path(path, sizeof(path), AGENT, a->instance, ".usage") ==
        0) {
        unlink(path);
    }
    return rc;
}

static enum vcha_result
state_write(struct vcha_agent *a, const struct state *st)
{
    int rc = state_set(a, st);

    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot write the state file in %s: %s",
                               vcha_state_dir(), strerror(-rc));
    }
    return VCHA_OK;
}

/* ------------------------------------------------- address and ports */

/* The attribute start publishes the address in, into @p buf. */
/* ------------------------------------------------------------ the record */

/*
 * The cluster's record of where the member's newest tree is (see
 * VCHA_ACTIVE_RECORD_SET in vcha/syncmark.h): a cluster property that
 * outlives every node, as the standby's transient attributes do not.
 */
static void
record_name(const struct vcha_agent *a, char *buf, size_t len)
{
    vcha_active_record_name(vcha_agent_str(a, P_MEMBER), buf, len);
}

/* The record of where the member is active, as read. */
struct record {
    bool present; /* false: no record */
    bool native;  /* the member failed back to @c node */
    char node[256];
};

/*
 * The record, into *@p rec: 0 (a record or none), or -errno with the
 * reason set.
 */
static int
record_get(struct vcha_agent *a, struct record *rec)
{
    char name[300];
    int rc =
        vcha_active_record_get(vcha_agent_str(a, P_MEMBER), half_left_ms(a),
                               rec->node, sizeof(rec->node), &rec->native);

    rec->present = rc == 0;
    if (rc == -ENODATA) {
        rec->native = false;
        rec->node[0] = '\0';
        return 0;
    }
    if (rc < 0) {
        record_name(a, name, sizeof(name));
        vcha_agent_fail(a, VCHA_ERR_GENERIC,
                        "cannot read cluster property %s (where member %s "
                        "is active): %s",
                        name, vcha_agent_str(a, P_MEMBER), strerror(-rc));
    }
    return rc;
}

/* Record this node: the member active here, or failed back (@p native). */
static enum vcha_result
record_set(struct vcha_agent *a, bool native)
{
    char name[300], self[256];
    int rc;

    vcha_agent_node_name(a, self, sizeof(self));
    rc = vcha_active_record_set(vcha_agent_str(a, P_MEMBER), self, native,
                                half_left_ms(a));
    if (rc < 0) {
        record_name(a, name, sizeof(name));
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot record in cluster property %s that "
                               "member %s %s: %s",
                               name, vcha_agent_str(a, P_MEMBER),
                               native ? "failed back here" : "is active here",
                               strerror(-rc));
    }
    return VCHA_OK;
}

/*
 * Whether the record names this node active (a container), read again:
 * after a record_set() that failed, it may have been written all the same
 * (its reply lost, or its time out).  The reason set stays.
 */
static bool
record_names_self(struct vcha_agent *a)
{
    char keep[sizeof(a->reason)], self[256];
    struct record rec;
    bool named;

    snprintf(keep, sizeof(keep), "%s", a->reason);
    vcha_agent_node_name(a, self, sizeof(self));
    named = record_get(a, &rec) == 0 && rec.present && !rec.native &&
            strcmp(rec.node, self) == 0;
    snprintf(a->reason, sizeof(a->reason), "%s", keep);
    return named;
}

static void
address_attribute(const struct vcha_agent *a, char *buf, size_t len)
{
    const char *attr = vcha_agent_str(a, P_ADDRESS_ATTRIBUTE);

    if (attr != NULL) {
        snprintf(buf, len, "%s", attr);
    } else {
        snprintf(buf, len, "vcha-address-%s", a->instance);
    }
}

static enum vcha_result
address_publish(struct vcha_agent *a, const char *address)
{
    char attr[256];
    int rc;

    address_attribute(a, attr, sizeof(attr));
    rc = vcha_attr_set(attr, address, vcha_agent_remaining_ms(a));
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot publish %s in node attribute %s: %s",
                               address, attr, strerror(-rc));
    }
    return VCHA_OK;
}

static void
address_withdraw(struct vcha_agent *a)
{
    char attr[256];
    int rc;

    address_attribute(a, attr, sizeof(attr));
    rc = vcha_attr_delete(attr, vcha_agent_remaining_ms(a));
    if (rc < 0) {
        vcha_warn("cannot remove node attribute %s: %s", attr, strerror(-rc));
    }
}

/*
 * Every port of the service on @p address: with @p wait, retried until
 * each accepts a connection or the operation's deadline passes; else one
 * attempt each.  Fails naming the first port that did not answer.
 */
static enum vcha_result
ports_check(struct vcha_agent *a, const char *address, bool wait)
{
    unsigned ports[MAX_PORTS];
    char why[512] = "";
    size_t n = 0;

    ports_parse(vcha_agent_str(a, P_PORTS), ports, &n, why, sizeof(why));
    for (size_t i = 0; i < n; i++) {
        for (;;) {
            long long now = vcha_now_ms();
            long long until = now + PORT_TRY_MS < a->deadline_ms
                                  ? now + PORT_TRY_MS
                                  : a->deadline_ms;
            int rc =
                vcha_port_probe(address, ports[i], until, why, sizeof(why));

            if (rc == 0) {
                break;
            }
            if (!wait || rc == -EINVAL ||
                vcha_now_ms() + PORT_RETRY_MS >= a->deadline_ms) {
                return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                       "port %u on %s does not accept "
                                       "connections: %s",
                                       ports[i], address, why);
            }
            vcha_sleep_ms(PORT_RETRY_MS);
        }
    }
    return VCHA_OK;
}

/*
 * Whether any port of the service accepts a connection on @p address now:
 * one attempt each, a short one, within the operation's time.
 */
static bool
any_port_answers(const struct vcha_agent *a, const char *address)
{
    unsigned ports[MAX_PORTS];
    char why[512] = "";
    size_t n = 0;

    ports_parse(vcha_agent_str(a, P_PORTS), ports, &n, why, sizeof(why));
    for (size_t i = 0; i < n; i++) {
        long long now = vcha_now_ms();
        long long until = now + PORT_TRY_MS < a->deadline_ms ? now + PORT_TRY_MS
                                                             : a->deadline_ms;

        if (vcha_port_probe(address, ports[i], until, why, sizeof(why)) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * A stop command failed (a stop_cmd that finds nothing to stop may): the
 * stop fails only while a port of the service still accepts connections
 * on @p address.
 */
static enum vcha_result
stopped_anyway(struct vcha_agent *a, const char *address)
{
    char failed[sizeof(a->reason)];

    snprintf(failed, sizeof(failed), "%s", a->reason);
    a->reason[0] = '\0';
    if (address != NULL && any_port_answers(a, address)) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "%s, and the service still answers", failed);
    }
    vcha_warn("%s; no port of the service answers", failed);
    return VCHA_OK;
}

/* ------------------------------------------------------ native: the job */

static enum vcha_result
job_params(struct vcha_agent *a, struct vcha_kv **job,
           struct vcha_job_timing *t)
{
    static const struct {
        enum vcha_sync_job_param key;
        size_t param;
    } map[] = {
        {VCHA_SYNC_SOURCE, P_SYNC_SOURCE},
        {VCHA_SYNC_TARGET, P_SYNC_TARGET},
        {VCHA_SYNC_PASSWORD_FILE, P_SYNC_PASSWORD_FILE},
        {VCHA_SYNC_IDENTITY, P_SYNC_IDENTITY},
        {VCHA_SYNC_KNOWN_HOSTS, P_SYNC_KNOWN_HOSTS},
    };
    int rc = 0;

    /* a resident job: vchad restarts it, the interval is not used */
    *t = (struct vcha_job_timing){.interval_ms = 0, .timeout_ms = 60000};
    *job = vcha_kv_new();
    for (size_t i = 0;
         *job != NULL && rc == 0 && i < sizeof(map) / sizeof(map[0]); i++) {
        const char *v = vcha_agent_str(a, map[i].param);

        if (v != NULL) {
            rc = vcha_kv_set(*job, vcha_sync_job.params[map[i].key].name, v);
        }
    }
    if (*job == NULL || rc < 0) {
        vcha_kv_free(*job);
        *job = NULL;
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "out of memory");
    }
    return VCHA_OK;
}

static enum vcha_result
job_add(struct vcha_agent *a)
{
    struct vcha_job_timing t;
    struct vcha_kv *job = NULL;
    char why[512] = "";
    int rc;

    if (job_params(a, &job, &t) != VCHA_OK) {
        return VCHA_ERR_GENERIC;
    }
    rc = vcha_job_add(vcha_vchad_socket(), &vcha_sync_job, a->instance, job, &t,
                      a->deadline_ms, why, sizeof(why));
    vcha_kv_free(job);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot register the filesync job: %s", why);
    }
    return VCHA_OK;
}

/* The job's health; re-registered when vchad lost it. */
static enum vcha_result
job_check(struct vcha_agent *a)
{
    struct vcha_kv *job = NULL, *health = NULL;
    struct vcha_job_timing t;
    enum vcha_result r = job_params(a, &job, &t);
    long long lag = 0, max = vcha_agent_num(a, P_MAX_SYNC_LAG);
    char why[512] = "";
    const char *failing = NULL;
    bool readded = false;
    int rc;

    if (r != VCHA_OK) {
        return r;
    }
    rc = vcha_job_keep(vcha_vchad_socket(), &vcha_sync_job, a->instance, job,
                       &t, a->deadline_ms, &health, &readded, why, sizeof(why));
    if (rc < 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "the filesync job of %s cannot be "
                            "re-established: %s",
                            a->instance, why);
        goto done;
    }
    if (readded) {
        vcha_warn("vchad had lost the filesync job of %s: registered it "
                  "again",
                  a->instance);
    }
    if (vcha_kv_get_ll(health, "fig.lag_ms", &lag) == 0 && max > 0 &&
        lag > max) {
        const char *e = vcha_kv_get(health, "fig.error");

        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "sync lag %lld ms is above max_sync_lag (%lld "
                            "ms)%s%s",
                            lag, max, e != NULL ? ": " : "", e ? e : "");
    } else if (lag > 0) {
        vcha_info("sync lag %lld ms", lag);
    }
    failing = vcha_kv_get(health, "fig.error");
    if (failing == NULL && vcha_kv_get(health, "state") != NULL &&
        strcmp(vcha_kv_get(health, "state"), "failing") == 0) {
        failing = vcha_kv_get(health, "last_error");
    }
    if (failing != NULL) {
        /* a push refused by the standby (its member is active there) or
         * failing otherwise: said at each monitor, the monitor goes on */
        vcha_warn("the filesync job of %s reports: %s", a->instance, failing);
    }
done:
    vcha_kv_free(health);
    vcha_kv_free(job);
    return r;
}

/* Fails when vchad may still run the job (not found is removed). */
static enum vcha_result
job_remove(struct vcha_agent *a)
{
    int rc = vcha_job_remove(vcha_vchad_socket(), a->instance, half_left(a));

    if (rc < 0) {
        /* a push still running after the move would race the standby */
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "could not remove the filesync job of %s from "
                               "vchad: %s",
                               a->instance, strerror(-rc));
    }
    return VCHA_OK;
}

/* ------------------------------------------------------ native actions */

static enum vcha_result sync_validate(struct vcha_agent *a);
static enum vcha_result programs_check(struct vcha_agent *a);

/*
 * Whether any node (a standby) says, through ctset's transient attribute
 * vcha-sync-MEMBER, that the member is active there: the service runs
 * there from a tree newer than this node's, and this node, a stale
 * primary, must not serve.  Fails naming the node.
 */
static enum vcha_result
member_active_elsewhere(struct vcha_agent *a)
{
    char name[300];
    const char *argv[] = {"attrd_updater", "-Q", "-A", "-n", name, NULL};
    struct vcha_exec_result res = {0};
    enum vcha_result r = VCHA_OK;
    long long left = vcha_agent_remaining_ms(a) / 2;
    char *save = NULL;
    int rc;

    snprintf(name, sizeof(name), "vcha-sync-%s", vcha_agent_str(a, P_MEMBER));
    rc = left > 0 ? vcha_exec(argv, NULL, 0, left, &res) : -ETIME;
    /* attrd_updater -Q of a name no node has exits 78 (CRM_EX_CONFIG) or
     * 105 (CRM_EX_NOSUCH): no member is active anywhere */
    if (rc == 0 && !res.timed_out && !vcha_exec_ok(&res) &&
        (res.exit_code == 78 || res.exit_code == 105)) {
        goto done;
    }
    if (rc < 0 || !vcha_exec_ok(&res)) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "cannot tell whether member %s is active on a "
                            "standby (node attribute %s): %s",
                            vcha_agent_str(a, P_MEMBER), name,
                            rc < 0 ? strerror(-rc) : "attrd_updater failed");
        goto done;
    }
    for (char *l = strtok_r(res.out, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        char *host = strstr(l, "host=\""), *value = NULL;

        if (vcha_attr_parse_query(l, &value) == 0 &&
            strcmp(value, "active") == 0) {
            host = host != NULL ? host + 6 : "?";
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                "member %s is active on node %.*s (node "
                                "attribute %s): the service runs there, "
                                "this primary must not serve",
                                vcha_agent_str(a, P_MEMBER),
                                (int) strcspn(host, "\""), host, name);
        }
        free(value);
        if (r != VCHA_OK) {
            break;
        }
    }
done:
    vcha_exec_result_clear(&res);
    return r;
}

/* @p t as the text sync_target takes. */
static const char *
target_text(const struct vcha_sync_target *t, char *buf, size_t len)
{
    bool v6 = strchr(t->host, ':') != NULL;
    char port[16] = "";

    if (t->kind == VCHA_SYNC_LOCAL) {
        snprintf(buf, len, "%s", t->path);
        return buf;
    }
    if (t->port) {
        snprintf(port, sizeof(port), ":%u", t->port);
    }
    snprintf(buf, len, "%s://%s%s%s%s%s%s%s%s",
             t->kind == VCHA_SYNC_SSH ? "ssh" : "rsync", t->user,
             t->user[0] ? "@" : "", v6 ? "[" : "", t->host, v6 ? "]" : "",
             port, t->kind == VCHA_SYNC_DAEMON ? "/" : "",
             t->kind == VCHA_SYNC_DAEMON ? t->path : "");
    return buf;
}

/*
 * Where to pull from: for an rsync:// sync_target, the receiver that
 * @p node, where the member is active, publishes for it (ocf:vcha:ctset's
 * vcha-receiver-MEMBER, HOST:PORT or [V6]:PORT), in sync_target's user and
 * module; sync_target itself when that node publishes none, and for any
 * other kind of target.  A standby whose copy is not active refuses the
 * download (vcha-receive).  An attribute that cannot be read fails: the
 * pull never goes elsewhere because attrd was slow.  0, or -errno with
 * @p why.
 */
static int
pull_source(struct vcha_agent *a, const char *node, struct vcha_sync_target *t,
            char *why, size_t whylen)
{
    char attr[300], text[4500], *recv = NULL;
    int n, rc = vcha_sync_target_parse(vcha_agent_str(a, P_SYNC_TARGET), t,
                                       why, whylen);

    if (rc < 0 || t->kind != VCHA_SYNC_DAEMON) {
        return rc;
    }
    snprintf(attr, sizeof(attr), "vcha-receiver-%s",
             vcha_agent_str(a, P_MEMBER));
    rc = vcha_attr_get(attr, node, &recv, half_left_ms(a) / 4);
    if (rc == -ENODATA) {
        vcha_info("%s publishes no %s: pulling from sync_target", node, attr);
        return 0;
    }
    if (rc < 0) {
        snprintf(why, whylen, "cannot read node attribute %s of %s: %s", attr,
                 node, strerror(-rc));
        return rc;
    }
    n = snprintf(text, sizeof(text), "rsync://%s%s%s/%s", t->user,
                 t->user[0] ? "@" : "", recv, t->path);
    rc = n < 0 || (size_t) n >= sizeof(text)
             ? -EINVAL
             : vcha_sync_target_parse(text, t, why, whylen);
    if (rc < 0 || t->port == 0) {
        snprintf(why, whylen,
                 "node attribute %.80s of %.64s: \"%.64s\" is no HOST:PORT",
                 attr, node, recv);
        rc = -EINVAL;
    }
    free(recv);
    return rc;
}

/* How long a transfer waits before it asks a busy receiver again. */
#define TRANSFER_BUSY_MS 200

/*
 * One rsync run between sync_source and @p t, pulling from it or pushing
 * to it, under the exclusion list a push goes by (what a push leaves out,
 * a pull leaves as it is here), within half of the time left.  A receiver
 * still serving another transfer (the job's push that a stop has just
 * ended: max connections) is asked again until then.  0, or -errno with
 * @p why.
 */
static int
transfer(struct vcha_agent *a, struct vcha_sync_target *t, bool pull,
         struct vcha_sync_stats *st, char *why, size_t whylen)
{
    const char *source = vcha_agent_str(a, P_SYNC_SOURCE);
    struct vcha_excludes_spec spec = {.root = source};
    struct vcha_sync_push p = {
        .source = source,
        .target = t,
        .filter = NULL,
        .identity = vcha_agent_str(a, P_SYNC_IDENTITY),
        .known_hosts = vcha_agent_str(a, P_SYNC_KNOWN_HOSTS),
        .password_file = vcha_agent_str(a, P_SYNC_PASSWORD_FILE),
        .pull = pull,
    };
    long long end = half_left(a);
    char filter[4096], *text = NULL;
    size_t len = 0;
    bool said = false;
    int rc = vcha_state_path(filter, sizeof(filter), AGENT, a->instance,
                             pull ? ".pull-filter" : ".push-filter");

    rc = rc ? rc : vcha_state_dir_ensure();
    rc = rc ? rc : vcha_sync_filter_text(&spec, NULL, &text, &len, why, whylen);
    rc = rc ? rc : vcha_sync_filter_save(filter, text, len);
    free(text);
    if (rc == 0) {
        p.filter = filter;
        for (;;) {
            p.timeout_ms = end - vcha_now_ms();
            if (p.timeout_ms <= 0) {
                snprintf(why, whylen, "no time left for it");
                rc = -ETIME;
                break;
            }
            rc = vcha_sync_push_run(&p, st, why, whylen);
            if (rc != -EBUSY || vcha_now_ms() + TRANSFER_BUSY_MS >= end) {
                break;
            }
            if (!said) {
                vcha_notice("the receiver of member %s serves another "
                            "transfer: asking again until it is free",
                            vcha_agent_str(a, P_MEMBER));
                said = true;
            }
            vcha_sleep_ms(TRANSFER_BUSY_MS);
        }
        unlink(filter);
    }
    return rc;
}

/*
 * Pull the member's tree back from the standby where it is active
 * (@p node) over sync_source.
 */
static enum vcha_result
pull(struct vcha_agent *a, const char *node)
{
    struct vcha_sync_target t;
    struct vcha_sync_stats st;
    char why[512] = "", from[4500] = "";
    int rc = pull_source(a, node, &t, why, sizeof(why));

    if (rc == 0) {
        target_text(&t, from, sizeof(from));
        rc = transfer(a, &t, true, &st, why, sizeof(why));
    }
    if (rc < 0) {
        vcha_warn("member %s is active on %s: its tree is newer than this "
                  "node's, which is not served",
                  vcha_agent_str(a, P_MEMBER), node);
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot pull member %s's tree back from %s%s%s%s: "
                               "%s",
                               vcha_agent_str(a, P_MEMBER), node,
                               from[0] ? " (" : "", from, from[0] ? ")" : "",
                               why[0] ? why : strerror(-rc));
    }
    vcha_notice("failback: the tree of member %s pulled back from %s (%s): "
                "%lld files, %lld deleted, %lld bytes in %lld ms",
                vcha_agent_str(a, P_MEMBER), node, from, st.files,
                st.deleted, st.bytes, st.elapsed_ms);
    return VCHA_OK;
}

/*
 * A stop's last push, once stop_cmd has stopped the service: what it
 * wrote since the job's last push reaches the standby, so that a move
 * there loses no write.  Only from the newest tree: under a record that
 * names this node natively, or under none when no standby says the
 * member is active there (as a start asks); a tree older than a member's
 * is not pushed (and a receiver refuses a push into an active member).  A
 * push that fails or is refused is a warning: the standby keeps what the
 * job's pushes gave it, as after the primary's loss.
 */
static void
final_push(struct vcha_agent *a)
{
    const char *member = vcha_agent_str(a, P_MEMBER);
    struct vcha_sync_target t;
    struct vcha_sync_stats st;
    struct record rec;
    char self[256], why[512] = "", to[4500] = "";
    int rc;

    vcha_agent_node_name(a, self, sizeof(self));
    if (record_get(a, &rec) < 0) {
        vcha_warn("%s: no last push", a->reason);
        a->reason[0] = '\0';
        return;
    }
    if (rec.present && !(rec.native && strcmp(rec.node, self) == 0)) {
        vcha_notice("member %s is %s on %s: no last push from this node",
                    member, rec.native ? "native" : "active", rec.node);
        return;
    }
    if (!rec.present && member_active_elsewhere(a) != VCHA_OK) {
        vcha_notice("%s: no last push", a->reason);
        a->reason[0] = '\0';
        return;
    }
    rc = vcha_sync_target_parse(vcha_agent_str(a, P_SYNC_TARGET), &t, why,
                                sizeof(why));
    if (rc == 0) {
        target_text(&t, to, sizeof(to));
        rc = transfer(a, &t, false, &st, why, sizeof(why));
    }
    if (rc < 0) {
        vcha_warn("the last push to member %s (%s) failed: %s; it holds "
                  "what the job's pushes gave it",
                  member, to, why[0] ? why : strerror(-rc));
        return;
    }
    vcha_notice("last push to member %s (%s): %lld files, %lld deleted, "
                "%lld bytes in %lld ms",
                member, to, st.files, st.deleted, st.bytes, st.elapsed_ms);
}

/*
 * A failback: the record names another node, where the member is (or
 * was, until its stop for this start) active, with a tree newer than this
 * node's.  Pull it back, then record that the member failed back here
 * (only then: a record still naming the standby would pull its tree over
 * this one's newer writes later).  A record but no pull fails the start:
 * this primary never serves its older tree.  *@p pulled: whether it
 * pulled.
 */
static enum vcha_result
failback(struct vcha_agent *a, bool *pulled)
{
    char self[256], name[300];
    struct record rec;
    enum vcha_result r;

    *pulled = false;
    if (record_get(a, &rec) < 0) {
        return VCHA_ERR_GENERIC;
    }
    if (!rec.present || rec.native) {
        return VCHA_OK; /* no member is active */
    }
    vcha_agent_node_name(a, self, sizeof(self));
    if (strcmp(rec.node, self) == 0) {
        return record_set(a, true); /* no member is active on its primary */
    }
    record_name(a, name, sizeof(name));
    if (vcha_agent_str(a, P_SYNC_TARGET) == NULL) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s is active on %s (cluster property "
                               "%s): without sync_target its newer tree "
                               "cannot be pulled back",
                               vcha_agent_str(a, P_MEMBER), rec.node, name);
    }
    vcha_notice("member %s is active on %s (cluster property %s): pulling "
                "its tree back before the service starts here",
                vcha_agent_str(a, P_MEMBER), rec.node, name);
    r = pull(a, rec.node);
    if (r == VCHA_OK) {
        r = record_set(a, true);
    }
    *pulled = r == VCHA_OK;
    return r;
}

static enum vcha_result
native_start(struct vcha_agent *a, bool already)
{
    const struct state st = {MODE_NATIVE, false};
    enum vcha_result r = programs_check(a);
    bool pulled = false;

    if (r == VCHA_OK && vcha_agent_str(a, P_SYNC_TARGET) != NULL) {
        r = sync_validate(a);
    }
    if (r == VCHA_OK) {
        r = failback(a, &pulled);
    }
    /* the standby that the tree came from still says active until its
     * ctset sees the record name this node */
    if (r == VCHA_OK && !pulled) {
        r = member_active_elsewhere(a);
    }
    if (r == VCHA_OK) {
        r = state_write(a, &st);
    }
    if (r == VCHA_OK && !already && vcha_agent_str(a, P_START_CMD) != NULL) {
        r = run_native(a, P_START_CMD);
    }
    if (r == VCHA_OK) {
        r = ports_check(a, vcha_agent_str(a, P_ADDRESS), true);
    }
    if (r == VCHA_OK && vcha_agent_str(a, P_SYNC_TARGET) != NULL) {
        r = job_add(a);
    }
    if (r == VCHA_OK) {
        r = address_publish(a, vcha_agent_str(a, P_ADDRESS));
    }
    return r;
}

static enum vcha_result
native_stop(struct vcha_agent *a)
{
    enum vcha_result r, j;
    bool stopped = false;
    char failed[sizeof(a->reason)] = "";

    address_withdraw(a);
    j = job_remove(a);
    if (j != VCHA_OK) {
        snprintf(failed, sizeof(failed), "%s", a->reason);
        a->reason[0] = '\0';
    }
    r = VCHA_OK;
    if (vcha_agent_str(a, P_STOP_CMD) != NULL) {
        r = run_native(a, P_STOP_CMD);
        stopped = r == VCHA_OK;
        r = stopped ? r : stopped_anyway(a, vcha_agent_str(a, P_ADDRESS));
    }
    /* only after a stop_cmd that succeeded: a service that may still
     * write leaves a tree in flux; and never while a job may still push */
    if (stopped && j == VCHA_OK && vcha_agent_str(a, P_SYNC_TARGET) != NULL) {
        final_push(a);
    } else if (j == VCHA_OK && vcha_agent_str(a, P_SYNC_TARGET) != NULL) {
        vcha_notice("the service was not stopped by stop_cmd: no last push "
                    "of member %s",
                    vcha_agent_str(a, P_MEMBER));
    }
    if (r == VCHA_OK && j != VCHA_OK) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "%s", failed);
    }
    return r;
}

/*
 * A probe: running when the state file is there (the caller's check) and
 * a port answers; a recurring monitor fails when none does.  Level 10:
 * every port.
 */
static enum vcha_result
native_monitor(struct vcha_agent *a)
{
    const char *address = vcha_agent_str(a, P_ADDRESS);
    enum vcha_result r = VCHA_OK;

    if (a->check_level < 10 && !any_port_answers(a, address)) {
        if (a->probe) {
            return VCHA_NOT_RUNNING; /* a start that failed, a dead service */
        }
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "no port of the service answers on %s", address);
    }
    if (a->probe) {
        return VCHA_OK;
    }
    if (vcha_agent_str(a, P_SYNC_TARGET) != NULL) {
        r = job_check(a);
    }
    if (r == VCHA_OK && a->check_level >= 10) {
        r = ports_check(a, address, false);
    }
    if (r == VCHA_OK && a->check_level >= 20 &&
        vcha_agent_str(a, P_MONITOR_CMD) != NULL) {
        r = run_native(a, P_MONITOR_CMD);
    }
    return r;
}

/* ---------------------------------------------------- the member */

static enum vcha_result
ct_load(struct vcha_agent *a, struct vcha_ct **ct)
{
    const char *name = vcha_agent_str(a, P_MEMBER);
    char why[512] = "";
    int rc =
        vcha_ct_open(name, vcha_agent_str(a, P_LXCPATH), ct, why, sizeof(why));

    if (rc == -ENOENT) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                               "no container %s: is the ctset clone running "
                               "on this node?",
                               name);
    }
    if (rc < 0) {
        /* EINVAL: a config liblxc cannot read, this node's to mend; else
         * something that may pass (the container's lock held too long) */
        return vcha_agent_fail(
            a, rc == -EINVAL ? VCHA_ERR_INSTALLED : VCHA_ERR_GENERIC,
            "container %s: %s", name, why[0] ? why : strerror(-rc));
    }
    return VCHA_OK;
}

/* The member's own address (lxc.net.0.ipv4.address without its prefix). */
static enum vcha_result
ct_address(struct vcha_agent *a, const struct vcha_ct *ct, char *buf,
           size_t len)
{
    const char *v = vcha_kv_get(ct->settings, "lxc.net.0.ipv4.address");
    char why[128];

    /* the member's config is this node's (ctset's): not installed here,
     * not a configuration error of the resource everywhere */
    if (v == NULL) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                               "container %s has no lxc.net.0.ipv4.address",
                               ct->name);
    }
    snprintf(buf, len, "%.*s", (int) strcspn(v, "/"), v);
    if (check_address(buf, why, sizeof(why)) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                               "container %s: lxc.net.0.ipv4.address %s %s",
                               ct->name, v, why);
    }
    return VCHA_OK;
}

/*
 * Write the active marker, atomically and durably, with the sync batch
 * judged acceptable (@p m): batch= and completed= tell which push the
 * activated tree is.  With @p key "migrated_to", @p node names the
 * standby VM the member has just migrated to: the newer tree is there,
 * and this one is never pulled back nor activated again unless the record
 * names this node (a migration that did not complete), and @p ckpt the id
 * (frozen_at) of the checkpoint it took; with "restoring_from", the one
 * it is being restored from here: until the record names this node, the
 * tree may be only partly the migration's; with "migrated_from", the one
 * it was restored from here: the tree is the migration's, and its sync
 * marker (if any) is history.  NULL: none of these.
 */
static enum vcha_result
active_write(struct vcha_agent *a, const struct vcha_ct *ct,
             const struct vcha_syncmark *m, const char *key, const char *who,
             const char *ckpt)
{
    struct vcha_kv *kv = vcha_kv_new();
    char path[4096], node[256], *buf = NULL;
    size_t len = 0;
    int rc = kv == NULL
                 ? -ENOMEM
                 : vcha_active_marker_path(ct->rootfs, path, sizeof(path));

    vcha_agent_node_name(a, node, sizeof(node));
    rc = rc ? rc : vcha_kv_set(kv, "instance", a->instance);
    rc = rc ? rc : vcha_kv_set(kv, "node", node);
    rc = rc ? rc : vcha_kv_setf(kv, "since_ms", "%lld", vcha_realtime_ms());
    rc = rc ? rc : vcha_kv_setf(kv, "batch", "%lld", m->batch);
    rc = rc ? rc : vcha_kv_setf(kv, "completed", "%lld", m->completed);
    if (key != NULL) {
        rc = rc ? rc : vcha_kv_set(kv, key, who);
    }
    if (ckpt != NULL) {
        rc = rc ? rc : vcha_kv_set(kv, "checkpoint", ckpt);
    }
    rc = rc ? rc : vcha_kv_encode(kv, &buf, &len);
    rc = rc ? rc : vcha_file_write_atomic(path, buf, len, 0644);
    free(buf);
    vcha_kv_free(kv);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot write %s: %s", path,
                               strerror(-rc));
    }
    if (key != NULL) {
        vcha_notice("%s is active for %s, %s=%s: %s written", ct->name,
                    a->instance, key, who, path);
    } else {
        vcha_notice("%s is active for %s: %s written", ct->name, a->instance,
                    path);
    }
    return VCHA_OK;
}

/*
 * Remove the active marker this start wrote: nothing was activated (no
 * boot, nothing run inside), so the tree is still the primary's copy.
 */
static void
active_remove(const struct vcha_ct *ct)
{
    char path[4096];

    if (vcha_active_marker_path(ct->rootfs, path, sizeof(path)) < 0) {
        return;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        vcha_warn("cannot remove %s: %s", path, strerror(errno));
        return;
    }
    vcha_notice("nothing of %s was activated: %s removed", ct->name, path);
}

/*
 * Judge the sync marker @p m: a push under way, never acceptable; the
 * last batch complete, or incomplete with incomplete_sync=warn.
 */
static enum vcha_result
sync_judge(struct vcha_agent *a, const struct vcha_ct *ct,
           const struct vcha_syncmark *m)
{
    if (m->running) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "a push into %s is under way (batch %lld, by "
                               "%s): not activated while it runs",
                               ct->name, m->batch, m->owner);
    }
    if (m->complete) {
        return VCHA_OK;
    }
    if (strcmp(vcha_agent_str(a, P_INCOMPLETE_SYNC), "refuse") == 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "the last push into %s (batch %lld) did not "
                               "complete (rsync status %d), and "
                               "incomplete_sync is refuse",
                               ct->name, m->batch, m->status);
    }
    vcha_warn("the last push into %s (batch %lld) did not complete (rsync "
              "status %d): activating it as it is",
              ct->name, m->batch, m->status);
    return VCHA_OK;
}

/*
 * Read the member's sync marker into *@p m.  Fails for a member never
 * synced (no marker) or a marker that cannot be read.
 */
static enum vcha_result
sync_read(struct vcha_agent *a, const struct vcha_ct *ct,
          struct vcha_syncmark *m)
{
    char why[512] = "";
    int rc = vcha_syncmark_read(ct->rootfs, m, why, sizeof(why));

    if (rc == -ENOENT) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s was never synced (no %s%s): "
                               "cannot activate it",
                               ct->name, ct->rootfs, VCHA_SYNCMARK_SUFFIX);
    }
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot read the sync marker of %s: %s",
                               ct->name, why[0] ? why : strerror(-rc));
    }
    return VCHA_OK;
}

/*
 * Whether /proc/PID/LINK (cwd or root) resolves to @p dir or below it.
 */
static bool
proc_link_in(const char *pid, const char *link, const char *dir)
{
    char path[64], target[PATH_MAX];
    size_t n = strlen(dir);
    ssize_t len;

    snprintf(path, sizeof(path), "/proc/%s/%s", pid, link);
    len = readlink(path, target, sizeof(target) - 1);
    if (len <= 0) {
        return false;
    }
    target[len] = '\0';
    return strncmp(target, dir, n) == 0 &&
           (target[n] == '\0' || target[n] == '/');
}

/*
 * Signal every rsync at work in the member's tree with @p sig: a process
 * named rsync whose working directory or root (an rsync daemon's module
 * with use chroot) is the tree or below it.  That is the transfer itself,
 * whatever process (an rsync daemon's connection, vcha-receive under ssh)
 * the marker names as its owner.  Returns how many were found.
 */
static int
pushers_signal(const struct vcha_ct *ct, int sig)
{
    char dir[PATH_MAX];
    size_t n = strlen(ct->rootfs);
    DIR *d = opendir("/proc");
    struct dirent *e;
    int found = 0;

    while (n > 1 && ct->rootfs[n - 1] == '/') {
        n--;
    }
    snprintf(dir, sizeof(dir), "%.*s", (int) n, ct->rootfs);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[300], *comm = NULL;
        size_t size = 0;
        bool rsync;

        if (e->d_name[0] < '1' || e->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
        rsync = vcha_file_read(path, &comm, &size, 64) == 0 &&
                strncmp(comm, "rsync\n", 6) == 0;
        free(comm);
        if (!rsync || (!proc_link_in(e->d_name, "cwd", dir) &&
                       !proc_link_in(e->d_name, "root", dir))) {
            continue;
        }
        found++;
        if (sig != 0) {
            kill((pid_t) atoi(e->d_name), sig);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return found;
}

/*
 * Wait up to @p ms until no receiver holds the member's batch lock, then
 * read its marker into *@p m (the marker as the last push left it: read
 * once the lock is free, not while a push may still write it).  Returns
 * 0, or a negative errno (-EINPROGRESS: the lock is still held).
 */
static int
lock_free_wait(const struct vcha_ct *ct, long long ms, struct vcha_syncmark *m)
{
    long long until = vcha_now_ms() + ms;
    int rc;

    while ((rc = vcha_syncmark_read(ct->rootfs, m, NULL, 0)) == 0 &&
           m->running && vcha_now_ms() < until) {
        usleep(20 * 1000);
    }
    return rc < 0 ? rc : m->running ? -EINPROGRESS : 0;
}

/*
 * A push into the member is under way (*@p m) while it is activated: it
 * comes from a primary that is gone or superseded (the active marker is
 * written: the receiver refuses any later push).  It is given
 * PUSH_GRACE_MS to end (a live primary's last batch), then ended: every
 * rsync at work in the tree (pushers_signal()) gets SIGTERM, and SIGKILL
 * if the lock is still held PUSH_END_MS later.  Files land whole or not
 * at all (each is renamed into place), so an ended push leaves the tree as
 * of some of its files: its batch stays incomplete and is judged by
 * incomplete_sync.  Without this, a primary that lost its power in the
 * middle of a push would hold the member until the receiver's own
 * timeout.  The activation goes on only once the lock is free and no
 * rsync is left in the tree.  *@p m: the marker as the push left it.
 */
static enum vcha_result
push_end(struct vcha_agent *a, const struct vcha_ct *ct,
         struct vcha_syncmark *m)
{
    static const int sigs[] = {SIGTERM, SIGKILL};
    long long quarter = vcha_agent_remaining_ms(a) / 4;
    int rc = lock_free_wait(
        ct, quarter < PUSH_GRACE_MS ? quarter : PUSH_GRACE_MS, m);

    for (size_t i = 0; i < 2 && (rc == -EINPROGRESS || pushers_signal(ct, 0));
         i++) {
        int n = pushers_signal(ct, sigs[i]);

        vcha_warn("a push into %s (batch %lld, by %s) still runs at its "
                  "activation: ending it (%s to %d rsync process%s in its "
                  "tree)",
                  ct->name, m->batch, m->owner, strsignal(sigs[i]), n,
                  n == 1 ? "" : "es");
        quarter = vcha_agent_remaining_ms(a) / 4;
        rc = lock_free_wait(ct, quarter < PUSH_END_MS ? quarter : PUSH_END_MS,
                            m);
    }
    if (rc < 0 && rc != -EINPROGRESS) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot read the sync marker of %s: %s",
                               ct->name, strerror(-rc));
    }
    if (rc == -EINPROGRESS || pushers_signal(ct, 0) > 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "a push into %s is under way (batch %lld, by "
                               "%s) and could not be ended",
                               ct->name, m->batch, m->owner);
    }
    return VCHA_OK;
}

/*
 * After the active marker is written (@p before: the marker as read
 * before): a push under way now, one that began before the marker, is let
 * finish or ended (push_end()), and a batch other than the one judged
 * before is judged by the same rules.  *@p m: the marker as it is now.
 */
static enum vcha_result
sync_settle(struct vcha_agent *a, const struct vcha_ct *ct,
            const struct vcha_syncmark *before, struct vcha_syncmark *m)
{
    enum vcha_result r = sync_read(a, ct, m);

    if (r == VCHA_OK && (m->running || pushers_signal(ct, 0) > 0)) {
        vcha_notice("a push into %s (batch %lld, by %s) is under way at its "
                    "activation",
                    ct->name, m->batch, m->owner);
        r = push_end(a, ct, m);
    }
    if (r != VCHA_OK || (m->batch == before->batch && !before->running)) {
        return r;
    }
    return sync_judge(a, ct, m);
}

/* Whether the member runs: 1, 0, or -1 with the reason set. */
static int
ct_running(struct vcha_agent *a, const struct vcha_ct *ct)
{
    int running = vcha_ct_running(ct, a->deadline_ms, NULL);

    if (running < 0) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot tell whether %s runs: %s",
                        ct->name, strerror(-running));
        return -1;
    }
    return running > 0;
}

/* Whether the member is this resource's, active and running. */
static enum vcha_result
member_active(struct vcha_agent *a, const struct vcha_ct *ct)
{
    struct vcha_active_marker mk;
    int rc = vcha_active_marker_read(ct->rootfs, &mk), running;

    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s has no active marker: %s", ct->name,
                               strerror(-rc));
    }
    if (strcmp(mk.instance, a->instance) != 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s is active for %s, not for %s",
                               ct->name, mk.instance, a->instance);
    }
    if (mk.migrated_to[0] != '\0') {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s migrated to %s", ct->name,
                               mk.migrated_to);
    }
    running = ct_running(a, ct);
    if (running == 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "container %s is stopped",
                               ct->name);
    }
    return running < 0 ? VCHA_ERR_GENERIC : VCHA_OK;
}

/*
 * Judge the record before an activation: one naming another node as
 * active means the newest tree is there, and this one is not activated.
 * A marker of this resource's here (*@p rc 0) under a record of a
 * failback is stale, left from before the failback pulled the tree back:
 * it is removed (*@p rc becomes -ENOENT), and the tree is judged as any
 * synced copy.  Under no record at all, the marker stands (the record was
 * lost, not moved).  *@p had: the record as found, to restore should the
 * activation fail; *@p current: it names this node active.
 */
static enum vcha_result
record_check(struct vcha_agent *a, const struct vcha_ct *ct, int *rc,
             struct record *had, bool *current)
{
    char self[256], path[4096];

    if (record_get(a, had) < 0) {
        return VCHA_ERR_GENERIC;
    }
    vcha_agent_node_name(a, self, sizeof(self));
    *current = had->present && !had->native && strcmp(had->node, self) == 0;
    if (had->present && !had->native && !*current) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s is active on %s (cluster "
                               "property " VCHA_ACTIVE_RECORD_PREFIX
                               "%s): the newest "
                               "tree is there, not here",
                               ct->name, had->node, ct->name);
    }
    if (*rc == 0 && !had->present) {
        vcha_warn("%s: active here, but no cluster "
                  "property " VCHA_ACTIVE_RECORD_PREFIX
                  "%s says so: written again",
                  ct->name, ct->name);
    }
    if (*rc == 0 && had->present && had->native) {
        if (vcha_active_marker_path(ct->rootfs, path, sizeof(path)) == 0 &&
            unlink(path) < 0 && errno != ENOENT) {
            return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                   "cannot remove the stale marker %s: %s",
                                   path, strerror(errno));
        }
        vcha_notice("%s: its active marker was stale (cluster "
                    "property " VCHA_ACTIVE_RECORD_PREFIX
                    "%s: failed back to %s "
                    "since); activating the tree as synced",
                    ct->name, ct->name, had->node);
        *rc = -ENOENT;
    }
    return VCHA_OK;
}

/* Put back the record as this start found it (@p had): nothing was
 * activated. */
static void
record_undo(struct vcha_agent *a, const struct record *had)
{
    char keep[sizeof(a->reason)], name[300];
    int rc;

    record_name(a, name, sizeof(name));
    if (!had->present) {
        rc = vcha_cluster_prop_delete(VCHA_ACTIVE_RECORD_SET, name,
                                      half_left_ms(a));
    } else {
        rc = vcha_active_record_set(vcha_agent_str(a, P_MEMBER), had->node,
                                    had->native, half_left_ms(a));
    }
    if (rc < 0) {
        snprintf(keep, sizeof(keep), "%s", a->reason);
        vcha_warn("cannot put cluster property %s back as it was (%s%s): %s",
                  name,
                  had->present && had->native ? VCHA_ACTIVE_RECORD_NATIVE : "",
                  had->present ? had->node : "none", strerror(-rc));
        snprintf(a->reason, sizeof(a->reason), "%s", keep);
    }
}

/* Whether the member was ever synced here (its sync marker exists). */
static bool
synced(const struct vcha_ct *ct)
{
    char path[4096];
    struct stat st;

    return vcha_syncmark_path(ct->rootfs, path, sizeof(path)) == 0 &&
           (lstat(path, &st) == 0 || errno != ENOENT);
}

/*
 * A push that began before the marker this resource wrote earlier and
 * may still run (the start that wrote it was cut short): ended, as
 * push_end() ends one.  A member never synced here (migrated in) has
 * none.
 */
static enum vcha_result
own_settle(struct vcha_agent *a, const struct vcha_ct *ct)
{
    struct vcha_syncmark m;
    char why[512] = "";
    int rc = vcha_syncmark_read(ct->rootfs, &m, why, sizeof(why));

    if (rc == -ENOENT) {
        return VCHA_OK;
    }
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot read the sync marker of %s: %s",
                               ct->name, why[0] ? why : strerror(-rc));
    }
    return m.running || pushers_signal(ct, 0) > 0 ? push_end(a, ct, &m)
                                                  : VCHA_OK;
}

/*
 * Activate the member: its sync state judged, the active marker written,
 * a push that slipped in before it settled, the container booted if
 * stopped, activate_cmd run inside.  A start that finds its own marker
 * saying the member migrated in or out (or a member never synced here)
 * under a record naming this node, or under none (the record lost, not
 * moved), starts the tree it has served from since (a restart): the sync
 * marker is history, and not judged again; any other marker of its own
 * is judged again (an earlier start may have been cut short before it
 * activated anything).  A marker this start wrote is removed again when
 * the start fails before anything was booted or run inside: nothing was
 * activated.  A marker saying the member migrated elsewhere is only
 * started under a record naming this node (the migration did not
 * complete: its checkpoint is marked consumed, never to be restored), and
 * not when that checkpoint was restored (the record is older than the
 * migration); one saying a restore began here only under a record naming
 * this node (the restore completed: the marker then says migrated_from).
 */
static enum vcha_result migration_abandon(struct vcha_agent *a,
                                          const struct vcha_ct *ct,
                                          const struct vcha_active_marker *mk);

static enum vcha_result
activate(struct vcha_agent *a, struct vcha_ct *ct, bool already, bool booted)
{
    /* a container booted by the start before is still this resource's */
    struct state st = {MODE_CONTAINER, already && booted};
    struct vcha_syncmark m = {0}, now;
    struct vcha_active_marker mk;
    enum vcha_result r;
    char why[512] = "";
    struct record had;
    int rc = vcha_active_marker_read(ct->rootfs, &mk), running = -1;
    bool marked = false, recorded = false, current = false, own;

    if (rc < 0 && rc != -ENOENT) {
        /* it may say that the newest tree is elsewhere */
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s: its active marker cannot be read "
                               "(%s): not started over it",
                               ct->name, strerror(-rc));
    }
    if (rc == 0 && strcmp(mk.instance, a->instance) != 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s is active for %s already", ct->name,
                               mk.instance);
    }
    r = record_check(a, ct, &rc, &had, &current);
    if (r != VCHA_OK) {
        return r;
    }
    if (rc == 0 && mk.migrated_to[0] != '\0' && !current) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s migrated to %s (its active "
                               "marker says so) and no cluster property "
                               VCHA_ACTIVE_RECORD_PREFIX "%s names this "
                               "node: the newest tree is there, not here",
                               ct->name, mk.migrated_to, ct->name);
    }
    if (rc == 0 && mk.restoring_from[0] != '\0' && !current) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s began to be restored here from "
                               "%s and no cluster property "
                               VCHA_ACTIVE_RECORD_PREFIX "%s names this "
                               "node (the restore did not complete): this "
                               "tree may be only partly the migration's",
                               ct->name, mk.restoring_from, ct->name);
    }
    if (rc == 0 && mk.migrated_to[0] != '\0') {
        /* the migration did not complete: its checkpoint is never
         * restored now, unless it was (an older record) */
        r = migration_abandon(a, ct, &mk);
        if (r != VCHA_OK) {
            return r;
        }
    }
    /* a restart of a member that was active here, migrated in or out:
     * its tree is the newest, and its sync marker history */
    own = rc == 0 && (current || !had.present) &&
          (mk.migrated_from[0] != '\0' || mk.migrated_to[0] != '\0' ||
           mk.restoring_from[0] != '\0' || !synced(ct));
    if (own) {
        r = own_settle(a, ct);
    } else {
        /* a push under way is judged once it has ended, under the marker */
        r = sync_read(a, ct, &m);
        if (r == VCHA_OK && !m.running) {
            r = sync_judge(a, ct, &m);
        }
    }
    if (r == VCHA_OK) {
        r = state_write(a, &st);
    }
    if (r == VCHA_OK && !current) {
        /* the record first: a marker is never without it */
        r = record_set(a, false);
        recorded = r == VCHA_OK;
    }
    if (r == VCHA_OK && (rc != 0 || mk.migrated_to[0] != '\0')) {
        /* a new marker, or one whose migration did not complete */
        r = active_write(a, ct, &m, NULL, NULL, NULL);
        marked = r == VCHA_OK && rc != 0;
    } else if (r == VCHA_OK && mk.restoring_from[0] != '\0') {
        /* the record moved here: the restore completed, and was cut
         * short only before its marker said so */
        r = active_write(a, ct, &m, "migrated_from", mk.restoring_from, NULL);
    }
    if (r == VCHA_OK && !own) {
        r = sync_settle(a, ct, &m, &now);
        if (r == VCHA_OK &&
            (now.batch != m.batch || now.completed != m.completed)) {
            /* the marker records the batch activated */
            r = active_write(a, ct, &now, NULL, NULL, NULL);
        }
    }
    if (r == VCHA_OK) {
        running = ct_running(a, ct);
        r = running < 0 ? VCHA_ERR_GENERIC : VCHA_OK;
    }
    if (r != VCHA_OK) {
        if (marked) {
            active_remove(ct);
        }
        if (recorded) {
            record_undo(a, &had);
        }
        return r;
    }
    if (running == 0) {
        st.booted = true;
        r = state_write(a, &st);
        if (r == VCHA_OK &&
            vcha_ct_boot(ct, a->deadline_ms, why, sizeof(why)) < 0) {
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot boot %s: %s",
                                ct->name, why);
        }
        already = false;
    }
    if (r == VCHA_OK && !already && vcha_agent_str(a, P_ACTIVATE_CMD) != NULL) {
        r = run_inside(a, ct, P_ACTIVATE_CMD);
    }
    return r;
}

/*
 * Take the member's activation lock (VCHA_SYNCMARK_ACTIVE_LOCK_SUFFIX in
 * vcha/syncmark.h), waiting up to half of the time left (ctset holds it
 * for as long as a member's boot may take): ctset boots, restarts, stops
 * or reconfigures a
 * member only under it, and reads the active marker again once it holds
 * it, so the two agents never act on a member at once.  Returns the
 * descriptor (closing it releases the lock), or -1 with the reason set.
 */
static int
activation_lock(struct vcha_agent *a, const struct vcha_ct *ct)
{
    long long until = vcha_now_ms() + vcha_agent_remaining_ms(a) / 2;
    size_t n = strlen(ct->rootfs);
    char path[4096];
    int fd;

    while (n > 1 && ct->rootfs[n - 1] == '/') {
        n--;
    }
    if ((size_t) snprintf(path, sizeof(path), "%.*s%s", (int) n, ct->rootfs,
                          VCHA_SYNCMARK_ACTIVE_LOCK_SUFFIX) >= sizeof(path)) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC, "member %s: path too long",
                        ct->name);
        return -1;
    }
    fd = vcha_file_lock(path, until);
    if (fd == -EBUSY) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC,
                        "member %s is busy: its activation lock %s is held "
                        "(by another process)",
                        ct->name, path);
    } else if (fd < 0) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot lock %s: %s", path,
                        strerror(-fd));
    }
    return fd < 0 ? -1 : fd;
}

static enum vcha_result
container_start(struct vcha_agent *a, const struct state *prev)
{
    struct vcha_ct *ct = NULL;
    char address[64];
    enum vcha_result r = ct_load(a, &ct);
    int lock = -1;

    if (r == VCHA_OK) {
        r = ct_address(a, ct, address, sizeof(address));
    }
    if (r == VCHA_OK) {
        lock = activation_lock(a, ct);
        r = lock < 0 ? VCHA_ERR_GENERIC : VCHA_OK;
    }
    if (r == VCHA_OK) {
        r = activate(a, ct, prev->mode == MODE_CONTAINER, prev->booted);
    }
    if (lock >= 0) {
        close(lock);
    }
    if (r == VCHA_OK) {
        r = ports_check(a, address, true);
    }
    if (r == VCHA_OK) {
        r = address_publish(a, address);
    }
    vcha_ct_free(ct);
    return r;
}

/*
 * Stop the member's service: deactivate_cmd inside a running member (a
 * service's clean stop), then the member itself, whatever its mode.  Its
 * tree is now newer than the primary's, and the primary's failback pulls
 * it: nothing may run in it and write while that pull reads it (a write
 * after the pull's snapshot would be lost, a file written during it torn),
 * nor serve once the service starts elsewhere.  Its active marker stays,
 * so ctset leaves the member stopped until the record shows that it failed
 * back to its primary, then starts a hot member again as a standby.
 */
/* How long a stop tries to thaw a frozen member before deactivate_cmd. */
#define STOP_THAW_MS 5000LL
static long long
stop_thaw_deadline(const struct vcha_agent *a)
{
    long long d = vcha_now_ms() + STOP_THAW_MS;

    return d < a->deadline_ms ? d : a->deadline_ms;
}

static enum vcha_result
container_stop(struct vcha_agent *a, const struct state *st)
{
    struct vcha_ct *ct = NULL;
    enum vcha_result r = VCHA_OK;
    struct vcha_active_marker mk;
    char why[512] = "";
    int running, mrc;
    bool restoring, deactivate;

    address_withdraw(a);
    if (ct_load(a, &ct) != VCHA_OK) {
        vcha_warn("%s; nothing to stop", a->reason);
        a->reason[0] = '\0';
        return VCHA_OK;
    }
    mrc = vcha_active_marker_read(ct->rootfs, &mk);
    /* a start that failed before it activated anything (no marker of
     * this resource's, nothing booted) leaves ctset's standby alone */
    if (!st->booted &&
        (mrc != 0 || strcmp(mk.instance, a->instance) != 0)) {
        vcha_notice("member %s is not active for %s: left to ctset", ct->name,
                    a->instance);
        goto done;
    }
    running = ct_running(a, ct);
    if (running < 0) {
        r = VCHA_ERR_GENERIC;
        goto done;
    }
    /* a copy whose restore did not complete (restoring_from) is killed as
     * it is, frozen: thawed, its restored processes would answer on the
     * member's address for a tree that is never served */
    restoring = mrc == 0 && mk.restoring_from[0] != '\0';
    deactivate = running > 0 && !restoring &&
                 vcha_agent_str(a, P_DEACTIVATE_CMD) != NULL;
    if (running > 0 && restoring) {
        vcha_notice("%s was being restored from %s: stopped without "
                    "deactivate_cmd",
                    ct->name, mk.restoring_from);
    }
    /* a member left frozen (a migration's checkpoint cut short) would hold
     * deactivate_cmd until its deadline */
    if (deactivate &&
        vcha_ct_thaw(ct, stop_thaw_deadline(a), why, sizeof(why)) < 0) {
        vcha_warn("cannot thaw %s (%s): deactivate_cmd not run", ct->name, why);
    } else if (deactivate && run_inside(a, ct, P_DEACTIVATE_CMD) != VCHA_OK) {
        vcha_warn("%s", a->reason);
        a->reason[0] = '\0';
    }
    if (running > 0 && vcha_ct_kill(ct, a->deadline_ms, why, sizeof(why)) < 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot stop %s: %s", ct->name,
                            why);
    }
done:
    vcha_ct_free(ct);
    return r;
}

/* ------------------------------------------------------- utilization */

/* Published memory is a multiple of this, in MiB. */
#define UTIL_MEMORY_STEP 16
#define MIB (1024ULL * 1024ULL)

/* The CPU figure is taken over at least this long a window: two
 * recurring monitors (two check levels) a moment apart would measure a
 * few milliseconds otherwise. */
#define UTIL_CPU_WINDOW_MS 5000LL

/*
 * The node's raise lock (HA_RSCTMP), held from the scheduler's answer to
 * the raise: the members of this node raised at once would each be asked
 * about on a CIB without the others' raises, and together fit nowhere.
 * Its descriptor, or -1 (a warning) when it is not had within @p ms.
 */
static int
util_lock(struct vcha_agent *a, long long ms)
{
    char path[4096];
    int fd = vcha_state_path(path, sizeof(path), AGENT, "utilization", ".lock");

    fd = fd < 0 ? fd : vcha_state_dir_ensure();
    fd = fd < 0 ? fd : vcha_file_lock(path, vcha_now_ms() + ms);
    if (fd == -EBUSY) {
        vcha_warn("the utilization lock %s is held: not raised now", path);
    } else if (fd < 0) {
        vcha_warn("cannot take the utilization lock in %s: %s",
                  vcha_state_dir(), strerror(-fd));
    }
    return fd < 0 ? -1 : fd;
}

/*
 * Publish utilization attribute @p name as @p need (measured: @p what,
 * for the log), with hysteresis: raised when the need exceeds the value,
 * lowered once it is below half of it; a raise only when the scheduler,
 * asked first on a copy of the CIB (under the node's raise lock), would
 * neither stop nor move by a stop and a start any resource for it.
 */
static void
util_publish(struct vcha_agent *a, const char *name, long long need,
             const char *what)
{
    char *cur = NULL, value[32], stopped[512], why[64] = "";
    long long have = -1, t = vcha_agent_remaining_ms(a) / 2;
    int rc = vcha_utilization_get(name, &cur, t), lock = -1;

    if (rc < 0 && rc != -ENODATA) {
        vcha_warn("cannot read the %s utilization of %s: %s", name,
                  a->instance, strerror(-rc));
        return;
    }
    if (rc == 0) {
        have = strtoll(cur, NULL, 10);
        free(cur);
    }
    if (have >= 0 && need <= have && need >= have / 2) {
        return; /* within the hysteresis band */
    }
    snprintf(value, sizeof(value), "%lld", need);
    if (have < 0 || need > have) {
        lock = util_lock(a, vcha_agent_remaining_ms(a) / 4);
        if (lock < 0) {
            return;
        }
        rc = vcha_whatif_utilization(NULL, a->instance, "ocf:vcha:vcservice",
                                     name, value,
                                     vcha_agent_remaining_ms(a) / 2, stopped,
                                     sizeof(stopped));
        if (rc == 1) {
            vcha_warn("%s utilization of %s not raised to %s (%s): the "
                      "scheduler would stop or move by a stop and a start "
                      "%s, no node having room for it otherwise",
                      name, a->instance, value, what, stopped);
            close(lock);
            return;
        }
        if (rc < 0) {
            vcha_warn("%s utilization of %s not raised to %s (%s): cannot "
                      "ask the scheduler first: %s",
                      name, a->instance, value, what, strerror(-rc));
            close(lock);
            return;
        }
    }
    if (have >= 0) {
        snprintf(why, sizeof(why), " from %lld", have);
    }
    rc = vcha_utilization_set(name, value, vcha_agent_remaining_ms(a) / 2);
    if (lock >= 0) {
        close(lock);
    }
    if (rc < 0) {
        vcha_warn("cannot set the %s utilization of %s to %s: %s", name,
                  a->instance, value, strerror(-rc));
        return;
    }
    vcha_notice("%s utilization of %s %s%s to %s (%s, headroom %lld%%)",
                name, a->instance, need > have ? "raised" : "lowered", why,
                value, what, vcha_agent_num(a, P_UTILIZATION_HEADROOM));
}

/*
 * Measure the member and publish its utilization (measure_utilization).
 * The CPU figure needs the sample of the monitor before, kept in a file
 * beside the state file; none (the first monitor, or a counter that went
 * back: the member was restarted or migrated) publishes memory only.
 */
static void
util_measure(struct vcha_agent *a, const struct vcha_ct *ct)
{
    long long h = vcha_agent_num(a, P_UTILIZATION_HEADROOM), now, at = 0;
    long long prev = -1, need;
    unsigned long long v;
    struct vcha_ct_usage u;
    struct vcha_kv *kv = vcha_kv_new();
    char path[4096], what[64], *data = NULL, *buf = NULL;
    size_t len = 0, used = 0;
    int rc = vcha_ct_usage(ct, a->deadline_ms, &u);
    bool kept = vcha_state_path(path, sizeof(path), AGENT, a->instance,
                                ".usage") == 0;

    now = vcha_now_ms();
    if (rc < 0 || kv == NULL) {
        vcha_warn("cannot measure %s: %s", ct->name,
                  strerror(rc < 0 ? -rc : ENOMEM));
        vcha_kv_free(kv);
        return;
    }
    /* memory: MiB with the headroom, rounded up to the step */
    v = u.memory * (unsigned long long) (100 + h);
    need = (long long) ((v + 100 * MIB * UTIL_MEMORY_STEP - 1) /
                        (100 * MIB * UTIL_MEMORY_STEP)) *
           UTIL_MEMORY_STEP;
    snprintf(what, sizeof(what), "%.1f MiB measured", u.memory / (double) MIB);
    util_publish(a, "memory", need < UTIL_MEMORY_STEP ? UTIL_MEMORY_STEP : need,
                 what);
    /* cpu: cores busy since the sample before, UTIL_CPU_WINDOW_MS ago at
     * least (a younger sample is kept, the window growing) */
    if (kept && vcha_file_read(path, &data, &len, 4096) == 0 &&
        vcha_kv_parse(kv, data, len, &used) == 0 &&
        vcha_kv_get_ll(kv, "cpu_usec", &prev) == 0 &&
        vcha_kv_get_ll(kv, "at_ms", &at) == 0 && now > at &&
        (long long) u.cpu_usec >= prev && now - at < UTIL_CPU_WINDOW_MS) {
        vcha_kv_free(kv);
        free(data);
        return;
    }
    if (prev >= 0 && at > 0 && now > at && (long long) u.cpu_usec >= prev) {
        v = (u.cpu_usec - (unsigned long long) prev) *
            (unsigned long long) (100 + h);
        need = (long long) ((v + (unsigned long long) (now - at) * 100000 - 1) /
                            ((unsigned long long) (now - at) * 100000));
        snprintf(what, sizeof(what), "%.2f cores measured",
                 (u.cpu_usec - (unsigned long long) prev) / 1000.0 /
                     (double) (now - at));
        util_publish(a, "cpu", need < 1 ? 1 : need, what);
    }
    vcha_kv_free(kv);
    kv = vcha_kv_new();
    rc = kv == NULL ? -ENOMEM : kept ? 0 : -ENAMETOOLONG;
    rc = rc ? rc : vcha_kv_setf(kv, "cpu_usec", "%llu", u.cpu_usec);
    rc = rc ? rc : vcha_kv_setf(kv, "at_ms", "%lld", now);
    rc = rc ? rc : vcha_kv_encode(kv, &buf, &len);
    rc = rc ? rc : vcha_file_write_atomic(path, buf, len, 0644);
    if (rc < 0) {
        vcha_warn("cannot keep the sample of %s in %s: %s", ct->name, path,
                  strerror(-rc));
    }
    free(buf);
    free(data);
    vcha_kv_free(kv);
}

static enum vcha_result
container_monitor(struct vcha_agent *a)
{
    struct vcha_ct *ct = NULL;
    enum vcha_result r = ct_load(a, &ct);
    char address[64];
    int running;

    if (r != VCHA_OK && a->probe) {
        a->reason[0] = '\0';
        r = VCHA_NOT_RUNNING; /* no configuration: LXC cannot run it */
        goto done;
    }
    if (r != VCHA_OK) {
        goto done;
    }
    if (a->probe) {
        /* a probe tells whether it runs; what is wrong is for the monitor
         * of a running resource to say */
        running = ct_running(a, ct);
        r = running > 0    ? member_active(a, ct)
            : running == 0 ? VCHA_NOT_RUNNING
                           : VCHA_ERR_GENERIC;
        goto done;
    }
    r = member_active(a, ct);
    if (r == VCHA_OK && a->check_level >= 10) {
        r = ct_address(a, ct, address, sizeof(address));
        r = r != VCHA_OK ? r : ports_check(a, address, false);
    }
    if (r == VCHA_OK && a->check_level >= 20 &&
        vcha_agent_str(a, P_MONITOR_CMD) != NULL) {
        r = run_inside(a, ct, P_MONITOR_CMD);
    }
    if (r == VCHA_OK && vcha_agent_num(a, P_MEASURE_UTILIZATION)) {
        util_measure(a, ct);
    }
done:
    vcha_ct_free(ct);
    return r;
}

/* ------------------------------------------------------------ actions */

/* The state file, the job and the marker are named after the instance. */
static enum vcha_result
instance_check(struct vcha_agent *a)
{
    if (a->instance == NULL || a->instance[0] == '\0') {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "OCF_RESOURCE_INSTANCE is not set");
    }
    return VCHA_OK;
}

static enum vcha_result
vcservice_start(struct vcha_agent *a)
{
    struct state st;
    enum mode mode = MODE_NONE;
    enum vcha_result r = instance_check(a);

    if (r == VCHA_OK) {
        r = mode_resolve(a, &mode);
    }
    if (r != VCHA_OK) {
        return r;
    }
    if (state_get(a, &st) < 0) {
        st = (struct state){MODE_NONE, false};
    }
    r = mode == MODE_NATIVE ? native_start(a, st.mode == MODE_NATIVE)
                            : container_start(a, &st);
    if (r == VCHA_OK) {
        vcha_notice("%s started %s", a->instance,
                    mode == MODE_NATIVE ? "natively" : "in its member");
    }
    return r;
}

static enum vcha_result
vcservice_stop(struct vcha_agent *a)
{
    struct state st;
    enum vcha_result r = instance_check(a);
    int rc = r == VCHA_OK ? state_get(a, &st) : 0;

    if (r != VCHA_OK) {
        return r;
    }

    if (rc == -ENOENT) {
        return VCHA_OK; /* not started here since this node booted */
    }
    if (rc < 0) {
        /* where start would run it, as start decides; never the primary's
         * address probed from a standby */
        enum mode mode = MODE_NONE;

        vcha_warn("state file of %s: %s; stopping as start would have "
                  "started it",
                  a->instance, strerror(-rc));
        st = (struct state){MODE_NONE, false};
        r = mode_resolve(a, &mode);
        if (r == VCHA_ERR_INSTALLED) {
            a->reason[0] = '\0';
            r = VCHA_OK; /* it cannot have run here */
        } else if (r == VCHA_OK) {
            st.mode = mode;
            r = mode == MODE_NATIVE ? native_stop(a) : container_stop(a, &st);
        }
    } else {
        r = st.mode == MODE_NATIVE ? native_stop(a) : container_stop(a, &st);
    }
    if (r == VCHA_OK && (rc = state_remove(a)) < 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "cannot remove the state file: %s", strerror(-rc));
    }
    return r;
}

static enum vcha_result
vcservice_monitor(struct vcha_agent *a)
{
    struct state st;
    enum vcha_result r = instance_check(a);
    int rc = r == VCHA_OK ? state_get(a, &st) : 0;

    if (r != VCHA_OK) {
        return r;
    }

    if (rc == -ENOENT) {
        return VCHA_NOT_RUNNING;
    }
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "state file of %s: %s",
                               a->instance, strerror(-rc));
    }
    return st.mode == MODE_NATIVE ? native_monitor(a) : container_monitor(a);
}

/* ------------------------------------------------------------ migration */

/* Figures a migration's generation carries, to be recognized by. */
#define MIG_INSTANCE "migration_instance"
#define MIG_SOURCE "migration_source"
#define MIG_TARGET "migration_target"
#define MIG_ID "frozen_at" /* a checkpoint's id: when it was frozen */

/* OCF_RESKEY_CRM_meta_migrate_@p which (source, target), or NULL. */
static const char *
migrate_node(const char *which)
{
    char var[64];
    const char *v;

    snprintf(var, sizeof(var), "OCF_RESKEY_CRM_meta_migrate_%s", which);
    v = getenv(var);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* Whether a move from @p source to @p target is between two standby VMs. */
static bool
between_standbys(const struct vcha_agent *a, const char *source,
                 const char *target)
{
    const char *primary = vcha_agent_str(a, P_PRIMARY);

    return source != NULL && target != NULL && strcmp(source, primary) != 0 &&
           strcmp(target, primary) != 0;
}

/* MIGRATION_DIR/MEMBER, made when missing; NULL with the reason set. */
static char *
migration_store(struct vcha_agent *a)
{
    const char *dir = vcha_agent_str(a, P_MIGRATION_DIR);
    char *store = NULL;
    int rc;

    if (dir == NULL) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC,
                        "migration_dir is not set: member %s cannot move to "
                        "another standby VM (its newest tree is here)",
                        vcha_agent_str(a, P_MEMBER));
        return NULL;
    }
    if (asprintf(&store, "%s/%s", dir, vcha_agent_str(a, P_MEMBER)) < 0) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC, "out of memory");
        return NULL;
    }
    if (mkdir(store, 0700) < 0 && errno != EEXIST) {
        rc = errno;
        vcha_agent_fail(a, VCHA_ERR_GENERIC,
                        "migration_dir: cannot make %s: %s (is it mounted "
                        "here?)",
                        store, strerror(rc));
        free(store);
        return NULL;
    }
    return store;
}

/*
 * The deadline of a migration's long step (the checkpoint, the restore):
 * the action's own less a reserve for what must follow it (the kill, or
 * the record, the marker and the thaw), a quarter of the time left, at
 * least MIG_RESERVE_MIN_MS.
 */
#define MIG_RESERVE_MIN_MS 3000LL
static long long
migration_deadline(const struct vcha_agent *a)
{
    long long left = vcha_agent_remaining_ms(a), reserve = left / 4;

    if (reserve < MIG_RESERVE_MIN_MS) {
        reserve = MIG_RESERVE_MIN_MS;
    }
    return a->deadline_ms - reserve;
}

/*
 * Checkpoint the active member, memory and tree, into the migration store
 * and stop it.  The container is frozen from the dump on and killed once
 * the generation is committed; a checkpoint that fails, or a kill that
 * fails after it, thaws it and it runs on here, still active.  Once it is
 * stopped, its active marker says it migrated to @p target: this tree is
 * not pulled back (vcha-receive) nor activated again (activate()) unless
 * the record still names this node, which it does until migrate_from
 * moves it.  ctset leaves the member alone meanwhile, and after (see
 * ctset's active_released()).
 */
static enum vcha_result
container_migrate_to(struct vcha_agent *a, const char *target)
{
    struct vcha_ct *ct = NULL;
    struct vcha_kv *fig = vcha_kv_new();
    struct vcha_syncmark none = {0};
    char why[1024] = "", w[512] = "", self[256], line[1024];
    char *store = fig != NULL ? migration_store(a) : NULL;
    enum vcha_result r = store != NULL ? VCHA_OK : VCHA_ERR_GENERIC;
    struct vcha_ct_ckpt o = {.store = store,
                             .keep = 1,
                             .compress = VCHA_CT_COMPRESS_NONE,
                             .final = true};
    int lock = -1;

    vcha_agent_node_name(a, self, sizeof(self));
    if (fig == NULL) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "out of memory");
    }
    r = r != VCHA_OK ? r : ct_load(a, &ct);
    if (r == VCHA_OK) {
        lock = activation_lock(a, ct);
        r = lock < 0 ? VCHA_ERR_GENERIC : member_active(a, ct);
    }
    if (r == VCHA_OK) {
        vcha_kv_set(fig, MIG_INSTANCE, a->instance);
        vcha_kv_set(fig, MIG_SOURCE, self);
        vcha_kv_set(fig, MIG_TARGET, target);
        o.deadline = migration_deadline(a);
        if (vcha_ct_checkpoint(ct, &o, fig, why, sizeof(why)) < 0) {
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                "checkpoint of %s for its migration to %s "
                                "failed: %s; it runs on here",
                                ct->name, target, why);
        }
    }
    if (r == VCHA_OK) {
        vcha_notice("%s checkpointed for its migration to %s:%s", ct->name,
                    target, vcha_kv_join(fig, line, sizeof(line)));
        if (vcha_ct_kill(ct, a->deadline_ms, why, sizeof(why)) < 0) {
            /* the generation is there, but no migrate_from follows a
             * failed migrate_to, and the next migration replaces it */
            r = vcha_agent_fail(
                a, VCHA_ERR_GENERIC, "cannot stop %s after its checkpoint: %s; %s",
                ct->name, why,
                vcha_ct_thaw(ct, a->deadline_ms, w, sizeof(w)) == 0
                    ? "thawed, it runs on here"
                    : "it could not be thawed either");
        }
    }
    if (r == VCHA_OK) {
        /* the address stays published until the stop that ends the
         * migration: a change now would abort its transition */
        r = active_write(a, ct, &none, "migrated_to", target,
                         vcha_kv_get(fig, MIG_ID));
    }
    if (lock >= 0) {
        close(lock);
    }
    vcha_ct_free(ct);
    vcha_kv_free(fig);
    free(store);
    return r;
}

static enum vcha_result
vcservice_migrate_to(struct vcha_agent *a)
{
    const char *target = migrate_node("target");
    char self[256];
    struct state st;
    enum vcha_result r = instance_check(a);
    int rc;

    if (r != VCHA_OK) {
        return r;
    }
    if (target == NULL) {
        return vcha_agent_fail(a, VCHA_ERR_ARGS,
                               "migrate_to without a target "
                               "(OCF_RESKEY_CRM_meta_migrate_target)");
    }
    vcha_agent_node_name(a, self, sizeof(self));
    if (!between_standbys(a, self, target)) {
        vcha_notice("%s moves to %s by a stop here and a start there",
                    a->instance, target);
        return vcservice_stop(a);
    }
    /* a stop instead would let migrate_from find an older migration's
     * checkpoint from here to there */
    rc = state_get(a, &st);
    if (rc < 0 || st.mode != MODE_CONTAINER) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "%s is not active here as a container (its "
                               "state file: %s): it cannot migrate to %s",
                               a->instance,
                               rc < 0 ? strerror(-rc) : mode_names[st.mode],
                               target);
    }
    /* the state file stays: the stop that ends the migration withdraws
     * the address and removes it */
    return container_migrate_to(a, target);
}

/*
 * The directory in the migration store that says, for each checkpoint
 * (a file named by its id, MIG_ID), what became of it: "restored NODE"
 * (migrate_from restored it there, and the record moved) or "given-up
 * NODE" (a start at the migration's source, which did not complete).  A
 * checkpoint named there is never restored again.  One small file a
 * migration; none is removed.
 */
#define MIG_CONSUMED ".consumed.d"
#define MIG_RESTORED "restored"
#define MIG_GIVEN_UP "given-up"

/* Whether @p id can name a checkpoint (its frozen_at: digits). */
static bool
migration_id_valid(const char *id)
{
    return id != NULL && *id != '\0' && strlen(id) < 32 &&
           strspn(id, "0123456789") == strlen(id);
}

/* What MIG_CONSUMED says of checkpoint @p id, into *@p what (free()):
 * 0, -ENOENT (nothing: never restored nor given up) or -errno. */
static int
migration_consumed(const char *store, const char *id, char **what)
{
    char path[4096 + sizeof("/" MIG_CONSUMED "/") + 32];

    snprintf(path, sizeof(path), "%s/" MIG_CONSUMED "/%s", store, id);
    return vcha_file_read(path, what, NULL, 512);
}

/* Record in the store that checkpoint @p id was @p how (MIG_RESTORED,
 * MIG_GIVEN_UP) on @p node: 0, or -errno. */
static int
migration_consume(const char *store, const char *id, const char *how,
                  const char *node)
{
    char dir[4096 + sizeof("/" MIG_CONSUMED)], path[sizeof(dir) + 33];
    char text[300];
    int n;

    snprintf(dir, sizeof(dir), "%s/" MIG_CONSUMED, store);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        return -errno;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, id);
    n = snprintf(text, sizeof(text), "%s %s\n", how, node);
    return vcha_file_write_atomic(path, text, (size_t) n, 0644);
}

/*
 * A start at the source of a migration, under its marker (@p mk: migrated
 * to another standby VM) and a record naming this node.  The migration
 * did not complete, unless its checkpoint was restored there
 * (MIG_CONSUMED says "restored"): the record is then older than the
 * migration (a CIB put back from a copy), the newest tree is there, and
 * the start is refused.  Otherwise the checkpoint is given up (or was,
 * by a start here cut short), so that no migrate_from restores it once
 * this tree has moved on (a warning when that cannot be written).  A
 * marker with no checkpoint id, or no migration_dir here (unset, or not
 * mounted), leaves the record to decide.
 */
static enum vcha_result
migration_abandon(struct vcha_agent *a, const struct vcha_ct *ct,
                  const struct vcha_active_marker *mk)
{
    const char *dir = vcha_agent_str(a, P_MIGRATION_DIR);
    char store[4096], self[256], *what = NULL;
    int rc;

    if (dir == NULL || !migration_id_valid(mk->checkpoint)) {
        return VCHA_OK;
    }
    vcha_agent_node_name(a, self, sizeof(self));
    snprintf(store, sizeof(store), "%s/%s", dir, vcha_agent_str(a, P_MEMBER));
    rc = migration_consumed(store, mk->checkpoint, &what);
    if (rc < 0 && rc != -ENOENT) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s migrated to %s, and whether its "
                               "checkpoint %s was restored there is not "
                               "known: cannot read %s/" MIG_CONSUMED "/%s: %s",
                               ct->name, mk->migrated_to, mk->checkpoint,
                               store, mk->checkpoint, strerror(-rc));
    }
    if (rc == 0 && strncmp(what, MIG_RESTORED " ",
                           strlen(MIG_RESTORED " ")) == 0) {
        what[strcspn(what, "\n")] = '\0';
        rc = vcha_agent_fail(
            a, VCHA_ERR_GENERIC,
            "member %s migrated to %s, where its checkpoint %s was restored "
            "(%s/" MIG_CONSUMED "/%s: %s): the cluster property "
            VCHA_ACTIVE_RECORD_PREFIX "%s naming this node is older than "
            "that migration, and the newest tree is there",
            ct->name, mk->migrated_to, mk->checkpoint, store, mk->checkpoint,
            what, ct->name);
        free(what);
        return rc;
    }
    free(what);
    if (rc == 0) {
        return VCHA_OK; /* given up by a start before this one */
    }
    rc = migration_consume(store, mk->checkpoint, MIG_GIVEN_UP, self);
    if (rc < 0) {
        vcha_warn("%s: cannot mark the checkpoint %s of its migration to %s, "
                  "which did not complete, as given up (%s/" MIG_CONSUMED
                  "): %s",
                  ct->name, mk->checkpoint, mk->migrated_to, store,
                  strerror(-rc));
    } else {
        vcha_notice("%s: its migration to %s did not complete: its "
                    "checkpoint %s given up",
                    ct->name, mk->migrated_to, mk->checkpoint);
    }
    return VCHA_OK;
}

/*
 * The migration's generation: the newest in the store, taken by
 * migrate_to of this resource on @p source for this node, and neither
 * restored before nor given up (MIG_CONSUMED names its id): a
 * migrate_from without its migrate_to never restores an older
 * migration's checkpoint.  0 with its description in (*@p gens)[0], or
 * VCHA_ERR_GENERIC with the reason set.
 */
static enum vcha_result
migration_find(struct vcha_agent *a, const char *store, const char *source,
               struct vcha_gen_info **gens, size_t *n)
{
    const char *inst, *from, *to, *id;
    char self[256], *used = NULL;
    int rc = vcha_genstore_list(store, gens, n);

    vcha_agent_node_name(a, self, sizeof(self));
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "migration_dir: cannot read %s: %s", store,
                               strerror(-rc));
    }
    if (*n == 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "no checkpoint in %s to migrate from", store);
    }
    inst = vcha_gen_info_figure(&(*gens)[0], MIG_INSTANCE);
    from = vcha_gen_info_figure(&(*gens)[0], MIG_SOURCE);
    to = vcha_gen_info_figure(&(*gens)[0], MIG_TARGET);
    if (inst == NULL || from == NULL || to == NULL ||
        strcmp(inst, a->instance) != 0 || strcmp(from, source) != 0 ||
        strcmp(to, self) != 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "the newest checkpoint in %s is not %s's "
                               "migration from %s to %s (%s, from %s to %s)",
                               store, a->instance, source, self,
                               inst ? inst : "?", from ? from : "?",
                               to ? to : "?");
    }
    id = vcha_gen_info_figure(&(*gens)[0], MIG_ID);
    if (!migration_id_valid(id)) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "the newest checkpoint in %s has no " MIG_ID
                               " figure to tell it by",
                               store);
    }
    rc = migration_consumed(store, id, &used);
    if (rc < 0 && rc != -ENOENT) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot read %s/" MIG_CONSUMED "/%s: %s", store,
                               id, strerror(-rc));
    }
    if (rc == 0) {
        used[strcspn(used, "\n")] = '\0';
        rc = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                             "the newest checkpoint in %s (" MIG_ID
                             "=%s) was %s before: no migrate_to of %s on "
                             "%s took one since",
                             store, id, used, a->instance, source);
        free(used);
        return rc;
    }
    return VCHA_OK;
}

/*
 * This node's copy after a migrate_from whose restore failed: the
 * container killed as it is, frozen as it may be, and its marker left
 * restoring_from: its tree may be partly the checkpoint's, and is neither
 * started nor sent back unless the record names this node.
 */
static void
migration_undo(struct vcha_agent *a, const struct vcha_ct *ct)
{
    char keep[sizeof(a->reason)], why[512];

    snprintf(keep, sizeof(keep), "%s", a->reason);
    if (vcha_ct_kill(ct, a->deadline_ms, why, sizeof(why)) < 0) {
        vcha_warn("cannot stop %s: %s", ct->name, why);
    }
    vcha_notice("%s: its tree may be partly the checkpoint's: its marker "
                "stays restoring_from",
                ct->name);
    snprintf(a->reason, sizeof(a->reason), "%s", keep);
}

/*
 * Restore the member migrated from @p source: the record must still name
 * @p source (nothing activated since), this node's copy of the member is
 * stopped (ctset's standby, whose tree is older) and marked active,
 * restoring_from @p source (no push lands in it from now on, no download
 * leaves it, and no start uses it unless the record moves here), its tree
 * made the migration's and its processes restored, frozen.  Only then is
 * the record moved here, the marker made migrated_from and the container
 * thawed: a restore that fails (or is cut short) leaves the record on
 * @p source, whose tree is whole, and this node's copy killed and marked
 * restoring_from (see migration_undo()).
 */
static enum vcha_result
container_migrate_from(struct vcha_agent *a, const char *source)
{
    struct vcha_ct *ct = NULL;
    struct vcha_gen_info *gens = NULL;
    struct vcha_syncmark none = {0};
    struct vcha_active_marker mk;
    struct vcha_kv *fig = vcha_kv_new();
    struct state st = {MODE_CONTAINER, true};
    struct record rec;
    char address[64], why[1024] = "", line[1024];
    char *store = migration_store(a);
    enum vcha_result r = store != NULL ? VCHA_OK : VCHA_ERR_GENERIC;
    bool marked = false, moved = false;
    size_t n = 0;
    int lock = -1, rc;
    const char *id = NULL;
    char self[256];

    vcha_agent_node_name(a, self, sizeof(self));
    r = r != VCHA_OK ? r : ct_load(a, &ct);
    r = r != VCHA_OK ? r : ct_address(a, ct, address, sizeof(address));
    if (r == VCHA_OK) {
        lock = activation_lock(a, ct);
        r = lock < 0 ? VCHA_ERR_GENERIC : VCHA_OK;
    }
    if (r == VCHA_OK && record_get(a, &rec) < 0) {
        r = VCHA_ERR_GENERIC;
    }
    if (r == VCHA_OK &&
        (!rec.present || rec.native || strcmp(rec.node, source) != 0)) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "member %s is not active on %s (cluster "
                            "property " VCHA_ACTIVE_RECORD_PREFIX "%s: %s%s)",
                            ct->name, source, ct->name,
                            rec.present && rec.native ? "native:" : "",
                            rec.present ? rec.node : "none");
    }
    rc = r == VCHA_OK ? vcha_active_marker_read(ct->rootfs, &mk) : -ENOENT;
    if (rc < 0 && rc != -ENOENT) {
        /* it may say that this tree is the newest of another migration */
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "member %s: its active marker here cannot be "
                            "read (%s): not restored over it",
                            ct->name, strerror(-rc));
    } else if (rc == 0 && strcmp(mk.instance, a->instance) != 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "member %s is active for %s here", ct->name,
                            mk.instance);
    }
    r = r != VCHA_OK ? r : migration_find(a, store, source, &gens, &n);
    r = r != VCHA_OK ? r : state_write(a, &st);
    if (r == VCHA_OK && ct_running(a, ct) != 0 &&
        vcha_ct_kill(ct, a->deadline_ms, why, sizeof(why)) < 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "cannot stop this node's copy of %s: %s", ct->name,
                            why);
    }
    if (r == VCHA_OK) {
        id = vcha_gen_info_figure(&gens[0], MIG_ID);
        r = active_write(a, ct, &none, "restoring_from", source, id);
        marked = r == VCHA_OK;
    }
    if (r == VCHA_OK &&
        vcha_ct_restore_frozen(ct, gens[0].path, &gens[0],
                               migration_deadline(a), fig, why,
                               sizeof(why)) < 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "restore of %s migrated from %s failed: %s",
                            ct->name, source, why);
    }
    if (r == VCHA_OK) {
        vcha_notice("%s restored from %s, frozen:%s", ct->name, gens[0].path,
                    vcha_kv_join(fig, line, sizeof(line)));
        r = record_set(a, false);
        moved = r == VCHA_OK || record_names_self(a);
    }
    if (moved) {
        if (r != VCHA_OK) {
            vcha_warn("%s; it names this node all the same", a->reason);
        }
        a->reason[0] = '\0';
        r = VCHA_OK;
        if ((rc = migration_consume(store, id, MIG_RESTORED, self)) < 0) {
            /* the record names this node: no migrate_from restores it;
             * only a CIB put back from before would go unnoticed */
            vcha_warn("cannot write %s/" MIG_CONSUMED "/%s: %s", store, id,
                      strerror(-rc));
        }
        if (active_write(a, ct, &none, "migrated_from", source, NULL) !=
            VCHA_OK) {
            /* a start here, the record naming this node, rewrites it */
            vcha_warn("%s; until a start rewrites it, this tree is not "
                      "sent back",
                      a->reason);
            a->reason[0] = '\0';
        }
        if (vcha_ct_thaw(ct, a->deadline_ms, why, sizeof(why)) < 0) {
            /* the record names this node: its restart starts this tree */
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                "%s restored, but it cannot be thawed: %s",
                                ct->name, why);
        }
    } else if (marked) {
        migration_undo(a, ct);
    }
    if (lock >= 0) {
        close(lock);
    }
    r = r != VCHA_OK ? r : ports_check(a, address, true);
    r = r != VCHA_OK ? r : address_publish(a, address);
    vcha_gen_list_free(gens, n);
    vcha_ct_free(ct);
    vcha_kv_free(fig);
    free(store);
    return r;
}

static enum vcha_result
vcservice_migrate_from(struct vcha_agent *a)
{
    const char *source = migrate_node("source");
    enum mode mode = MODE_NONE;
    char self[256];
    enum vcha_result r = instance_check(a);

    if (r == VCHA_OK && source == NULL) {
        r = vcha_agent_fail(a, VCHA_ERR_ARGS,
                            "migrate_from without a source "
                            "(OCF_RESKEY_CRM_meta_migrate_source)");
    }
    r = r != VCHA_OK ? r : mode_resolve(a, &mode);
    if (r != VCHA_OK) {
        return r;
    }
    vcha_agent_node_name(a, self, sizeof(self));
    if (mode != MODE_CONTAINER || !between_standbys(a, source, self)) {
        return vcservice_start(a);
    }
    r = container_migrate_from(a, source);
    if (r == VCHA_OK) {
        vcha_notice("%s migrated from %s", a->instance, source);
    }
    return r;
}

/* ------------------------------------------------------------ validate */

/*
 * @p why with the filesync job's parameter names given as vcservice's own
 * (password_file is sync_password_file here), into @p buf.
 */
static void
sync_reason(const char *why, char *buf, size_t len)
{
    static const char *const names[] = {"password_file", "identity",
                                        "known_hosts", "source", "target"};
    size_t used = 0;

    buf[0] = '\0';
    for (const char *p = why; *p != '\0' && used + 1 < len;) {
        size_t i = 0, n = 0;

        for (; i < sizeof(names) / sizeof(names[0]); i++) {
            n = strlen(names[i]);
            if (strncmp(p, names[i], n) == 0 &&
                (p == why || (p[-1] != '_' && p[-1] != '/')) &&
                (p[n] == '\0' || p[n] == '\'' || p[n] == ' ' || p[n] == ':' ||
                 p[n] == ',')) {
                break;
            }
        }
        if (i < sizeof(names) / sizeof(names[0])) {
            used +=
                (size_t) snprintf(buf + used, len - used, "sync_%s", names[i]);
            p += n;
        } else {
            buf[used++] = *p++;
            buf[used] = '\0';
        }
        if (used >= len) {
            buf[len - 1] = '\0';
            break;
        }
    }
}

/* The filesync job's own checks, as vchad will make them. */
static enum vcha_result
sync_validate(struct vcha_agent *a)
{
    struct vcha_job_timing t;
    struct vcha_params *p = NULL;
    struct vcha_kv *job = NULL;
    char why[512] = "", named[600];
    int rc;

    if (job_params(a, &job, &t) != VCHA_OK) {
        return VCHA_ERR_GENERIC;
    }
    rc = vcha_job_params_parse(&vcha_sync_job, job, &p, why, sizeof(why));
    vcha_params_free(p);
    vcha_kv_free(job);
    if (rc < 0) {
        sync_reason(why, named, sizeof(named));
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED, "%s", named);
    }
    return VCHA_OK;
}

/* The program of command parameter @p param, when set, is installed. */
static enum vcha_result
program_check(struct vcha_agent *a, size_t param)
{
    const char *v = vcha_agent_str(a, param);
    char prog[4096];

    if (v == NULL) {
        return VCHA_OK;
    }
    v += strspn(v, " \t");
    snprintf(prog, sizeof(prog), "%.*s", (int) strcspn(v, " \t"), v);
    if (vcha_exec_find(prog) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED, "%s: %s not found",
                               a->def->params[param].name, prog);
    }
    return VCHA_OK;
}

/*
 * The native commands' programs (start_cmd, stop_cmd, monitor_cmd) are
 * installed: checked on the primary only (monitor_cmd runs inside the
 * member on a standby; the others never run there).
 */
static enum vcha_result
programs_check(struct vcha_agent *a)
{
    static const size_t cmds[] = {P_START_CMD, P_STOP_CMD, P_MONITOR_CMD};
    enum vcha_result r = VCHA_OK;

    for (size_t i = 0; r == VCHA_OK && i < sizeof(cmds) / sizeof(cmds[0]);
         i++) {
        r = program_check(a, cmds[i]);
    }
    return r;
}

static enum vcha_result
vcservice_validate(struct vcha_agent *a, int level)
{
    static const size_t sync_only[] = {P_SYNC_PASSWORD_FILE, P_SYNC_IDENTITY,
                                       P_SYNC_KNOWN_HOSTS};
    const char *target = vcha_agent_str(a, P_SYNC_TARGET);
    struct vcha_sync_target t;
    enum vcha_result r = VCHA_OK;
    char why[512] = "";

    if (target == NULL) {
        for (size_t i = 0; i < sizeof(sync_only) / sizeof(sync_only[0]); i++) {
            if (vcha_param_is_set(a->params, sync_only[i])) {
                return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                                       "%s is set without sync_target",
                                       a->def->params[sync_only[i]].name);
            }
        }
    } else if (vcha_sync_target_parse(target, &t, why, sizeof(why)) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED, "sync_target %s %s",
                               target, why);
    } else if (level >= 10) {
        /* the secrets' files are checked, on this node */
        r = sync_validate(a);
    }
    if (r == VCHA_OK && level >= 10 && vcha_exec_find("rsync") < 0 &&
        target != NULL) {
        r = vcha_agent_fail(a, VCHA_ERR_INSTALLED, "rsync not found");
    }
    if (r == VCHA_OK && level >= 10 && is_primary(a)) {
        r = programs_check(a);
    }
    return r;
}

static const struct vcha_action_def actions[] = {
    {"start", vcservice_start, 120, 0, -1, NULL},
    {"stop", vcservice_stop, 120, 0, -1, NULL},
    {"monitor", vcservice_monitor, 30, 10, 0, NULL},
    {"migrate_to", vcservice_migrate_to, 120, 0, -1, NULL},
    {"migrate_from", vcservice_migrate_from, 120, 0, -1, NULL},
    {NULL},
};

static const struct vcha_agent_def agent = {
    .name = AGENT,
    .version = PACKAGE_VERSION,
    .shortdesc = "A service on its primary VM, or activated in its member "
                 "container on a standby VM",
    .longdesc =
        "One protected service of a container set.  On its primary VM "
        "(the node named by primary) start runs start_cmd, waits until "
        "every port accepts connections on address, and, with sync_target "
        "set, registers a filesync job with the node daemon vchad (its id "
        "the resource's name) that pushes sync_source to the standby's "
        "copy, a package-based exclusion list left out; stop removes the "
        "job, runs stop_cmd, then, once it has succeeded, pushes once more "
        "(within half the time left), so that what the service wrote as "
        "it stopped reaches the standby and a move there loses no write: "
        "only while neither the record (see failback) nor a standby says "
        "the member is active, and a push that fails or is refused is a "
        "warning, never a failed stop; monitor asks vchad "
        "for the job, registering "
        "it again when vchad lost it, and connects to the ports at "
        "OCF_CHECK_LEVEL 10.  On a standby VM (node attribute "
        "standby_attribute true) the service runs in its member container "
        "instead, which ocf:vcha:ctset keeps there: start refuses a member "
        "without its configuration (no ctset here), one whose tree was never "
        "synced, and, with incomplete_sync=refuse, one whose last push did "
        "not complete; a push under way is waited for (half the time left "
        "at most) and, still running then, fails the start, naming who "
        "pushes (the sync marker's owner).  Then it writes the active "
        "marker SYNC_DIR/NAME/rootfs.vcha-active (instance=, node=, "
        "since_ms=, and batch= and completed= of the sync marker judged; "
        "atomically and durably) before anything else (but the record: "
        "see failback), waits for a push "
        "that began just before it (bounded, judged by the same rules), "
        "and removes the marker again when the start fails before booting "
        "the container or running anything inside it.  A start that finds "
        "its own marker saying the member migrated in or out (or a member "
        "never synced here) under a record naming this node, or under "
        "none, starts the tree it has served from since (a restart), its "
        "sync state history, not judged again.  A marker that cannot be "
        "read (or whose last line was cut short) fails the start.  "
        "Then it boots the "
        "container if it is stopped (a cold member), runs activate_cmd "
        "inside it and waits for every port on the container's own address "
        "(its config's lxc.net.0.ipv4.address).  While the active marker "
        "exists, vcha-receive refuses every push into the member's tree "
        "and ctset neither restarts nor stops the member by itself: from "
        "activation on, the member's tree is newer than the primary's, and "
        "a primary that comes back must not push over it.  Stop runs "
        "deactivate_cmd inside, then stops the member, whatever its mode, "
        "when this resource activated it (the marker names the resource) "
        "or booted it; a start that failed before either leaves ctset's "
        "standby member alone.  The member is stopped because "
        "its tree is newer than the primary's and a failback pulls it, so "
        "nothing may run in it and write while the pull reads it (a write "
        "after the pull's snapshot would be lost), nor serve once the "
        "service starts elsewhere.  Stop keeps the active marker, and "
        "ctset neither restarts nor stops a member that has one: a hot "
        "member stays stopped after the resource's stop until the "
        "resource starts there again (start boots it), the record says "
        "the service failed back to its primary (ctset then starts it "
        "again as a standby), or an administrator removes the marker.  Failback: "
        "before the marker, the start records where the member is active "
        "in the cluster property vcha-active-MEMBER (property set "
        "vcha-records, crm_config; it outlives every node, "
        "which transient attributes do not): the node's name.  It refuses "
        "while that record names another node active (the newest tree is "
        "there).  A native start that finds the record naming another "
        "node active pulls the member's tree back over sync_source "
        "before anything else: with an rsync:// sync_target, from the "
        "receiver that node publishes for the member (ocf:vcha:ctset's "
        "node attribute vcha-receiver-MEMBER, HOST:PORT, in sync_target's "
        "user and module; an attribute that cannot be read, or is no "
        "HOST:PORT, fails the start), from sync_target when it publishes "
        "none or the target is of another kind (the push's exclusion list: "
        "what a push leaves out, the pull leaves as it is), within half of "
        "the time left, records native:NODE (failed back to this node), "
        "and only then runs start_cmd; when it cannot pull (the standby "
        "down, its copy not active, its receiver not reachable from here) "
        "the start fails and the older tree "
        "here is never served.  ctset removes a marker once the record "
        "says native:NODE and starts the member "
        "again as a standby; pushes land again; a container start finds "
        "such a marker stale too.  No record at all (a CIB replaced from "
        "an older copy) proves nothing: an active marker is kept, and a "
        "container start that finds its own marker writes the record "
        "again.  So a "
        "failback is an administrator's move of the resource back to its "
        "primary (stickiness keeps it where it is otherwise), and the "
        "service must be started by start_cmd, not by the VM's init, so "
        "that nothing serves or writes the tree before the pull.  "
        "Setting the record by hand to native:NODE (crm_attribute -t "
        "crm_config -s vcha-records -n vcha-active-MEMBER -v native:NODE) "
        "gives up what the member wrote since it took over.  Live "
        "migration (allow-migrate=true, overload relief): a move of the "
        "active member from one standby VM to another is migrate_to, which "
        "checkpoints it with CRIU into migration_dir (see there; memory "
        "and tree, frozen for the dump and for what changed in the tree "
        "since the copy made while it ran; the steps before the kill keep a "
        "quarter of the time left for it) and stops it, its marker then "
        "saying migrated_to=TARGET and checkpoint=ID (its frozen_at): "
        "that copy is never pulled back "
        "(vcha-receive refuses the download, so a failback while the "
        "target is down fails rather than pull the older tree) nor "
        "started again unless the record still names the source (the "
        "migration did not complete: the start then gives the checkpoint "
        "up in MIGRATION_DIR/MEMBER/.consumed.d/ID, and refuses when that "
        "says it was restored, the record being older than the "
        "migration).  A "
        "failed checkpoint, or a kill that fails after it, thaws the "
        "member, which runs on; between standby VMs migrate_to never falls "
        "back to a stop.  migrate_from on the target refuses unless the "
        "record still names the source and the newest checkpoint is this "
        "resource's migration from there to here, neither restored nor "
        "given up before (MIGRATION_DIR/MEMBER/.consumed.d/ID, ID its "
        "frozen_at), and over a marker it cannot read; it "
        "stops the target's copy, writes its marker restoring_from=SOURCE "
        "(no push lands from then on, no download leaves, no start uses "
        "it unless the record names this node), restores the member over "
        "it, frozen, and only then records the target, marks the tree "
        "migrated_from=SOURCE and thaws it (a failed restore leaves the "
        "record on the source, whose tree is whole, and the target's copy "
        "killed, frozen, and marked restoring_from: it may be partly the "
        "checkpoint's).  The source's copy stays "
        "stopped with its marker until the failback (ctset).  A stop thaws "
        "a frozen member before deactivate_cmd, but kills one marked "
        "restoring_from as it is, without deactivate_cmd.  Any other "
        "move with allow-migrate=true (to or from the primary) is a stop "
        "in migrate_to and a start in migrate_from.  Either way start "
        "publishes the address the "
        "service answers on in the transient node attribute "
        "address_attribute (for ocf:vcha:dnsswitch) and stop removes it.  "
        "What this node did is kept in a state file in HA_RSCTMP: a monitor "
        "without it says not running (a member running with its marker "
        "but not started by this resource is not this resource running); "
        "with it, a member runs when its marker names this resource and "
        "the container runs, and natively the service runs when at least one "
        "of its ports "
        "answers on address (one short try each): a probe with the state "
        "file but no port answering says not running, a recurring monitor "
        "fails.  Without a record naming a node active, a native start "
        "is refused while any "
        "node's transient attribute vcha-sync-MEMBER (published by ctset) "
        "says active.  A native monitor logs a warning each time the filesync "
        "job reports an error (a push refused because the member is "
        "active, say) and goes on.  A stop whose state file is damaged "
        "stops the way start would have started here (the same mode "
        "resolution).  "
        "On a node that is neither primary nor standby start fails as not "
        "installed, so that Pacemaker keeps the resource off that node "
        "only.",
    .params = params,
    .n_params = N_PARAMS,
    .actions = actions,
    .validate = vcservice_validate,
};

int
main(int argc, char **argv)
{
    return vcha_agent_main(&agent, argc, argv);
}
