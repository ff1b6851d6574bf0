/*
 * ocf:vcha:ctset - the in-VM container set of a standby VM: one LXC
 * container (a member) per protected service, whose root filesystem the
 * service's primary VM keeps in step through vchad's filesync job.
 *
 * The agent runs the receiving end (a stock rsync daemon with one module
 * per member, vcha-receive as its pre-xfer and post-xfer hooks), writes
 * each member's LXC configuration, keeps hot and warm members running and
 * cold ones stopped, restarts a running member when its package list
 * changed, and publishes each member's sync state and lag as transient
 * node attributes.  A member whose tree carries the active marker (written
 * by ocf:vcha:vcservice when it activates the member) belongs to its
 * service: the agent leaves it alone but at its own stop.
 */
#include <config.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
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
#include <vcha/dns.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/log.h>
#include <vcha/port.h>
#include <vcha/syncjob.h>
#include <vcha/syncmark.h>

#define AGENT "ctset"
#define MAX_MEMBERS 64
#define NAME_MAX_LEN 64
#define OWNER_PREFIX "# ocf:vcha:ctset "
#define OWNER_SUFFIX ": written by the agent, changes are overwritten"

#ifndef VCHA_RECEIVE_PATH
#define VCHA_RECEIVE_PATH "/usr/sbin/vcha-receive"
#endif
#ifndef VCHA_RSYNC
#define VCHA_RSYNC "/usr/bin/rsync"
#endif

enum {
    P_MEMBERS,
    P_SYNC_DIR,
    P_LXCPATH,
    P_BRIDGE,
    P_GATEWAY,
    P_RECEIVER_ADDRESS,
    P_RECEIVER_PORT,
    P_SECRETS_FILE,
    P_HOSTS_ALLOW,
    P_IDMAP,
    P_RECEIVER_TIMEOUT,
    P_WARM_IDLE,
    N_PARAMS
};

enum mode { MODE_HOT, MODE_WARM, MODE_COLD };
static const char *const mode_names[] = {"hot", "warm", "cold"};

/** One member: NAME:MODE:ADDRESS/PREFIX. */
struct member {
    char name[NAME_MAX_LEN + 1];
    enum mode mode;
    int family;                          /* AF_INET or AF_INET6 */
    char address[INET6_ADDRSTRLEN + 32]; /* with its /PREFIX */
    unsigned char bin[16];               /* the address, by value */
    int prefix;
};

struct members {
    size_t n;
    struct member m[MAX_MEMBERS];
};

/* What the marker beside a member's tree says. */
enum sync_state { SYNC_NEVER, SYNC_INCOMPLETE, SYNC_COMPLETE, SYNC_ACTIVE };
static const char *const sync_names[] = {"never", "incomplete", "complete",
                                         "active"};

/* ------------------------------------------------------------ checks */

static int
name_check(const char *v, size_t len, char *why, size_t whylen)
{
    if (len == 0 || len > NAME_MAX_LEN || v[0] == '.' || v[0] == '-') {
        snprintf(why, whylen,
                 "member name \"%.*s\" must be 1 to %d characters, not "
                 "starting with '.' or '-'",
                 (int) len, v, NAME_MAX_LEN);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char) v[i]) && strchr("_.-", v[i]) == NULL) {
            snprintf(why, whylen,
                     "member name \"%.*s\" may hold letters, digits, '_', "
                     "'.' and '-' only (it names a container, an rsync "
                     "module and node attributes)",
                     (int) len, v);
            return -EINVAL;
        }
    }
    return 0;
}

/* "A/PREFIX" (IPv4 or IPv6) into @p m. */
static int
address_parse(const char *text, struct member *m, char *why, size_t whylen)
{
    static const unsigned char zero[16];
    char addr[INET6_ADDRSTRLEN + 8];
    unsigned char *buf = m->bin;
    const char *slash = strchr(text, '/');
    long long prefix;
    size_t len = slash ? (size_t) (slash - text) : 0;

    if (slash == NULL || len == 0 || len >= sizeof(addr)) {
        snprintf(why, whylen, "address \"%s\" must be ADDRESS/PREFIX", text);
        return -EINVAL;
    }
    memcpy(addr, text, len);
    addr[len] = '\0';
    memset(m->bin, 0, sizeof(m->bin));
    m->family = inet_pton(AF_INET, addr, buf) == 1    ? AF_INET
                : inet_pton(AF_INET6, addr, buf) == 1 ? AF_INET6
                                                      : 0;
    if (m->family == 0 || vcha_integer_parse(slash + 1, &prefix) < 0 ||
        prefix < 0 || prefix > (m->family == AF_INET ? 32 : 128)) {
        snprintf(why, whylen,
                 "address \"%s\" is not an IPv4 or IPv6 address with its "
                 "prefix length",
                 text);
        return -EINVAL;
    }
    if (memcmp(m->bin, zero, sizeof(zero)) == 0) {
        snprintf(why, whylen,
                 "address \"%s\" is the unspecified address, no host's",
                 text);
        return -EINVAL;
    }
    m->prefix = (int) prefix;
    snprintf(m->address, sizeof(m->address), "%s/%lld", addr, prefix);
    return 0;
}

/* One word NAME:MODE:ADDRESS/PREFIX into @p m. */
static int
member_parse(const char *w, size_t len, struct member *m, char *why,
             size_t whylen)
{
    char word[256];
    char *c1, *c2;
    int rc;

    if (len >= sizeof(word)) {
        snprintf(why, whylen, "member \"%.40s...\" is too long", w);
        return -EINVAL;
    }
    memcpy(word, w, len);
    word[len] = '\0';
    c1 = strchr(word, ':');
    c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2 == NULL) {
        snprintf(why, whylen, "member \"%s\" is not NAME:MODE:ADDRESS/PREFIX",
                 word);
        return -EINVAL;
    }
    *c1 = *c2 = '\0';
    rc = name_check(word, strlen(word), why, whylen);
    if (rc < 0) {
        return rc;
    }
    snprintf(m->name, sizeof(m->name), "%s", word);
    for (m->mode = MODE_HOT; m->mode <= MODE_COLD; m->mode++) {
        if (strcmp(c1 + 1, mode_names[m->mode]) == 0) {
            return address_parse(c2 + 1, m, why, whylen);
        }
    }
    snprintf(why, whylen, "member %s: mode \"%s\" is not hot, warm or cold",
             m->name, c1 + 1);
    return -EINVAL;
}

/* The whole members list; names and addresses must be unique. */
static int
members_parse(const char *text, struct members *ms, char *why, size_t whylen)
{
    const char *p = text;

    ms->n = 0;
    while (*(p += strspn(p, " \t\n")) != '\0') {
        size_t len = strcspn(p, " \t\n");
        struct member *m = &ms->m[ms->n];
        int rc;

        if (ms->n == MAX_MEMBERS) {
            snprintf(why, whylen, "more than %d members", MAX_MEMBERS);
            return -EINVAL;
        }
        rc = member_parse(p, len, m, why, whylen);
        if (rc < 0) {
            return rc;
        }
        for (size_t i = 0; i < ms->n; i++) {
            if (strcmp(ms->m[i].name, m->name) == 0 ||
                (ms->m[i].family == m->family &&
                 memcmp(ms->m[i].bin, m->bin, sizeof(m->bin)) == 0)) {
                snprintf(why, whylen, "members %s and %s share %s",
                         ms->m[i].name, m->name,
                         strcmp(ms->m[i].name, m->name) == 0 ? "a name"
                                                             : "an address");
                return -EINVAL;
            }
        }
        ms->n++;
        p += len;
    }
    if (ms->n == 0) {
        snprintf(why, whylen, "names no member");
        return -EINVAL;
    }
    return 0;
}

static int
check_members(const char *v, char *why, size_t whylen)
{
    static struct members ms;

    return members_parse(v, &ms, why, whylen);
}

static int
check_ip(const char *v, char *why, size_t whylen)
{
    char buf[16];

    if (inet_pton(AF_INET, v, buf) != 1 && inet_pton(AF_INET6, v, buf) != 1) {
        snprintf(why, whylen, "is neither an IPv4 nor an IPv6 address");
        return -EINVAL;
    }
    return 0;
}

/* The words of receiver_address (one per standby VM, at most 16); a word
 * too long for an address is kept empty, which is no address. */
#define MAX_RECEIVERS 16

static size_t
receivers_split(const char *v, char words[MAX_RECEIVERS][INET6_ADDRSTRLEN],
                size_t *total)
{
    size_t n = 0;

    *total = 0;
    for (const char *p = v + strspn(v, " \t"); *p != '\0';
         p += strspn(p, " \t")) {
        size_t len = strcspn(p, " \t");

        if (n < MAX_RECEIVERS) {
            snprintf(words[n++], INET6_ADDRSTRLEN, "%.*s",
                     len < INET6_ADDRSTRLEN ? (int) len : 0, p);
        }
        ++*total;
        p += len;
    }
    return n;
}

static int
check_receivers(const char *v, char *why, size_t whylen)
{
    char w[MAX_RECEIVERS][INET6_ADDRSTRLEN];
    size_t total, n = receivers_split(v, w, &total);

    if (total > MAX_RECEIVERS) {
        snprintf(why, whylen, "holds more than %d addresses", MAX_RECEIVERS);
        return -EINVAL;
    }
    if (n <= 1) {
        return check_ip(n == 1 ? w[0] : v, why, whylen);
    }
    for (size_t i = 0; i < n; i++) {
        if (check_ip(w[i], why, whylen) < 0) {
            snprintf(why, whylen,
                     "holds \"%s\", neither an IPv4 nor an IPv6 address",
                     w[i][0] ? w[i] : "(a word too long for one)");
            return -EINVAL;
        }
    }
    return 0;
}

/*
 * This node's receiver address: the one address of receiver_address, or
 * the first of its list configured on one of this node's interfaces (a
 * clone on several standby VMs, each listening on its own); NULL when
 * none is, with @p why.
 */
static const char *
receiver_addr(const struct vcha_agent *a)
{
    static char chosen[INET6_ADDRSTRLEN];
    static bool done;
    char w[MAX_RECEIVERS][INET6_ADDRSTRLEN];
    const char *v = vcha_agent_str(a, P_RECEIVER_ADDRESS);
    size_t total, n;

    if (done) {
        return chosen[0] ? chosen : NULL;
    }
    done = true;
    n = v ? receivers_split(v, w, &total) : 0;
    for (size_t i = 0; i < n && !chosen[0]; i++) {
        struct vcha_ip ip;
        int rc = vcha_ip_parse(w[i], &ip);

        rc = rc < 0 ? rc : n == 1 ? 1 : vcha_ip_is_local(&ip);
        if (rc < 0 && n > 1) {
            vcha_warn("cannot list this node's addresses: %s", strerror(-rc));
        }
        if (rc > 0) {
            vcha_ip_format(&ip, chosen, sizeof(chosen));
        }
    }
    return chosen[0] ? chosen : NULL;
}

/* Why receiver_addr() found none. */
static enum vcha_result
receiver_addr_fail(struct vcha_agent *a)
{
    return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                           "receiver_address: none of \"%s\" is an address "
                           "of this node",
                           vcha_agent_str(a, P_RECEIVER_ADDRESS));
}

static int
check_bridge(const char *v, char *why, size_t whylen)
{
    size_t n = strlen(v);

    if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0 || n == 0 || n > 15 ||
        strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl"
                  "mnopqrstuvwxyz0123456789_.-") != n) {
        snprintf(why, whylen, "is not a network interface name");
        return -EINVAL;
    }
    return 0;
}

static int
check_hosts(const char *v, char *why, size_t whylen)
{
    size_t n = strlen(v);

    if (strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789.:/*?[]_, -") != n) {
        snprintf(why, whylen,
                 "may hold addresses, networks and host names only");
        return -EINVAL;
    }
    return 0;
}

static int
idmap_parse(const char *v, long long *host, long long *count)
{
    const char *colon = strchr(v, ':');
    char first[32];

    if (colon == NULL || (size_t) (colon - v) >= sizeof(first)) {
        return -EINVAL;
    }
    memcpy(first, v, (size_t) (colon - v));
    first[colon - v] = '\0';
    if (vcha_integer_parse(first, host) < 0 ||
        vcha_integer_parse(colon + 1, count) < 0 || *host < 1 ||
        *count < 65536 ||
        *host + *count > 4294967295LL) {
        return -EINVAL;
    }
    return 0;
}

static int
check_idmap(const char *v, char *why, size_t whylen)
{
    long long host, count;

    if (idmap_parse(v, &host, &count) < 0) {
        snprintf(why, whylen,
                 "must be HOSTID:COUNT (the first host id of the "
                 "containers' range, and how many: at least 65536, the "
                 "ids a distribution's tree uses, nobody 65534 among "
                 "them)");
        return -EINVAL;
    }
    return 0;
}

static const struct vcha_param_def params[N_PARAMS] = {
    [P_MEMBERS] =
        {
            .name = "members",
            .type = VCHA_PT_STRING,
            .required = true,
            .reloadable = true,
            .check = check_members,
            .shortdesc = "The members: NAME:MODE:ADDRESS/PREFIX ...",
            .longdesc = "The containers of the set, separated by spaces, each "
                        "NAME:MODE:ADDRESS/PREFIX.  NAME is the LXC container "
                        "name (letters, digits, '_', '.', '-'), also the rsync "
                        "module its primary pushes into and part of its node "
                        "attributes.  MODE is hot (kept running with its init, "
                        "its services running), warm (kept running; the "
                        "service itself is started at activation by "
                        "ocf:vcha:vcservice) or cold (kept stopped; booted at "
                        "activation).  ADDRESS/PREFIX is its own IPv4 or IPv6 "
                        "address on bridge.  A member whose tree was never "
                        "synced is not started.  Members can be added and "
                        "removed with a reload, without touching the others.",
        },
    [P_SYNC_DIR] =
        {
            .name = "sync_dir",
            .type = VCHA_PT_STRING,
            .dflt = "/srv/vcha-sync",
            .check = vcha_check_abspath,
            .shortdesc = "Where the members' trees are",
            .longdesc = "Each member's root filesystem is "
                        "SYNC_DIR/NAME/rootfs, with its batch marker "
                        "rootfs.vcha-sync and, while its service is active "
                        "here, rootfs.vcha-active beside it.",
        },
    [P_LXCPATH] =
        {
            .name = "lxcpath",
            .type = VCHA_PT_STRING,
            .dflt = "/var/lib/lxc",
            .check = vcha_check_abspath,
            .shortdesc = "LXC path",
            .longdesc = "The directory of the members' configurations, "
                        "LXCPATH/NAME/config (lxc-start -P).",
        },
    [P_BRIDGE] =
        {
            .name = "bridge",
            .type = VCHA_PT_STRING,
            .dflt = "br0",
            .check = check_bridge,
            .shortdesc = "Bridge of the members' network",
            .longdesc = "The bridge each member's veth interface joins "
                        "(lxc.net.0.link).",
        },
    [P_GATEWAY] =
        {
            .name = "gateway",
            .type = VCHA_PT_STRING,
            .check = check_ip,
            .shortdesc = "Default gateway of the members",
            .longdesc = "Written as lxc.net.0.ipv4.gateway (or ipv6) of "
                        "each member whose address is of its family.",
        },
    [P_RECEIVER_ADDRESS] =
        {
            .name = "receiver_address",
            .type = VCHA_PT_STRING,
            .required = true,
            .check = check_receivers,
            .shortdesc = "Address the rsync daemon listens on",
            .longdesc = "The address of this node the members' primaries "
                        "push to: their filesync target is "
                        "rsync://NAME@ADDRESS:PORT/NAME.  A clone on several "
                        "standby VMs takes one address per VM, separated "
                        "by spaces (16 at most): each node listens on the "
                        "first of them configured on one of its "
                        "interfaces, and a node that has none of them "
                        "fails start (OCF_ERR_INSTALLED).  Use the "
                        "cluster's own network: the rsync daemon protocol "
                        "is not encrypted.",
        },
    [P_RECEIVER_PORT] =
        {
            .name = "receiver_port",
            .type = VCHA_PT_INTEGER,
            .dflt = "8730",
            .min = 1,
            .max = 65535,
            .shortdesc = "Port of the rsync daemon",
            .longdesc = "The TCP port the rsync daemon listens on.",
        },
    [P_SECRETS_FILE] =
        {
            .name = "secrets_file",
            .type = VCHA_PT_STRING,
            .required = true,
            .check = vcha_check_abspath,
            .shortdesc = "rsync daemon secrets",
            .longdesc = "NAME:PASSWORD lines (rsyncd.conf's secrets file), "
                        "owned by root, mode 0600: one per member, the user "
                        "named after it.  A member's module admits only "
                        "that user, so that one primary cannot push into "
                        "another member's tree; a member without a line "
                        "is logged (its primary cannot push).",
        },
    [P_HOSTS_ALLOW] =
        {
            .name = "hosts_allow",
            .type = VCHA_PT_STRING,
            .check = check_hosts,
            .shortdesc = "Who may push",
            .longdesc = "rsyncd.conf's hosts allow for every module "
                        "(addresses or networks of the primaries); empty: "
                        "any host that knows a secret.",
        },
    [P_IDMAP] =
        {
            .name = "idmap",
            .type = VCHA_PT_STRING,
            .check = check_idmap,
            .shortdesc = "Unprivileged members: HOSTID:COUNT",
            .longdesc = "Run the members in a user namespace mapping their "
                        "ids 0..COUNT-1 to the host's HOSTID.. "
                        "(lxc.idmap), with the tree mounted idmapped "
                        "(lxc.rootfs.options = idmap=container) so that the "
                        "synced files keep the primary's ids on disk; the "
                        "tree must be on a file system that supports "
                        "idmapped mounts (ext4, xfs, btrfs, tmpfs; not "
                        "overlayfs).  Empty: privileged containers.",
        },
    [P_RECEIVER_TIMEOUT] =
        {
            .name = "receiver_timeout",
            .type = VCHA_PT_INTEGER,
            .dflt = "300",
            .min = 10,
            .max = 86400,
            .shortdesc = "Seconds a silent push is kept",
            .longdesc = "rsyncd.conf's timeout of every module: a transfer "
                        "that receives nothing for this long is ended (its "
                        "batch stays incomplete), so that a primary that "
                        "died in the middle of a push holds its member's "
                        "batch lock for at most this long (an activation "
                        "by ocf:vcha:vcservice does not wait for it: it "
                        "ends such a push after 3 s).  The default, "
                        "300 s, is far above any pause of a live transfer "
                        "(rsync sends keep-alive messages while it works "
                        "through a large file) and still below what a "
                        "failover may wait.",
        },
    [P_WARM_IDLE] =
        {
            .name = "warm_idle",
            .type = VCHA_PT_STRING,
            .dflt = "/bin/busybox",
            .check = vcha_check_abspath,
            .shortdesc = "Static busybox warm members idle with",
            .longdesc = "A statically linked busybox of this node.  A warm "
                        "member does not run its tree's own init, which "
                        "would start the service before activation (and "
                        "under the sync): it is bound read-only into the "
                        "container's /dev (the container's own tmpfs, not "
                        "the tree) as /dev/vcha-idle/sleep and runs as its "
                        "init, sleeping (lxc.init.cmd).  The service is "
                        "started at activation, by ocf:vcha:vcservice's "
                        "activate_cmd run inside it.  That init reaps no "
                        "orphans: a service that leaves zombies belongs in "
                        "a hot or cold member.",
        },
};

/* ------------------------------------------------------------ paths */

/* The instance's name without a clone number, made safe for a path. */
static void
instance_name(const struct vcha_agent *a, char *buf, size_t len)
{
    const char *inst = a->instance ? a->instance : AGENT;
    size_t n = strcspn(inst, ":");

    snprintf(buf, len, "%.*s", (int) n, inst);
    for (char *p = buf; *p != '\0'; p++) {
        if (!isalnum((unsigned char) *p) && strchr("_.-", *p) == NULL) {
            *p = '_';
        }
    }
}

/* The run directory: $VCHA_RUN_DIR (or /run/vcha)/ctset/INSTANCE. */
static void
run_path(const struct vcha_agent *a, const char *file, char *buf, size_t len)
{
    const char *run = getenv("VCHA_RUN_DIR");
    char inst[256];

    instance_name(a, inst, sizeof(inst));
    snprintf(buf, len, "%s/ctset/%s%s%s", run && *run ? run : "/run/vcha", inst,
             file ? "/" : "", file ? file : "");
}

static void
rootfs_path(const struct vcha_agent *a, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s/rootfs", vcha_agent_str(a, P_SYNC_DIR), name);
}

static void
config_path(const char *lxcpath, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s/config", lxcpath, name);
}

static const char *
receive_prog(void)
{
    const char *p = getenv("VCHA_RECEIVE");

    return p && *p ? p : VCHA_RECEIVE_PATH;
}

/* ------------------------------------------------------------ run files */

static int
run_write(const struct vcha_agent *a, const char *file, const char *text)
{
    char path[PATH_MAX];

    run_path(a, file, path, sizeof(path));
    return vcha_file_write_atomic(path, text, strlen(text), 0600);
}

/* A run file's text (trailing newline dropped), or "" when there is none. */
static void
run_read(const struct vcha_agent *a, const char *file, char *buf, size_t len)
{
    char path[PATH_MAX], *data = NULL;

    buf[0] = '\0';
    run_path(a, file, path, sizeof(path));
    if (vcha_file_read(path, &data, NULL, len - 1) == 0) {
        data[strcspn(data, "\n")] = '\0';
        snprintf(buf, len, "%s", data);
    }
    free(data);
}

static void
run_unlink(const struct vcha_agent *a, const char *file)
{
    char path[PATH_MAX];

    run_path(a, file, path, sizeof(path));
    unlink(path);
}

/* ------------------------------------------------------------ attributes */

/* Attributes are best effort: without a cluster (or attrd) none is set,
 * and the rest of this invocation does not try again. */
static bool attrs_off;

static void
attr_put(struct vcha_agent *a, const char *kind, const char *name,
         const char *value)
{
    char attr[128];
    long long t = vcha_agent_remaining_ms(a);
    int rc;

    if (attrs_off) {
        return;
    }
    snprintf(attr, sizeof(attr), "vcha-%s-%s", kind, name);
    rc = value ? vcha_attr_set(attr, value, t < 5000 ? t : 5000)
               : vcha_attr_delete(attr, t < 5000 ? t : 5000);
    if (rc < 0) {
        vcha_warn("cannot %s node attribute %s: %s", value ? "set" : "remove",
                  attr, strerror(-rc));
        attrs_off = true;
    }
}

/* ------------------------------------------------------------ markers */

/* Whether the active marker of @p rootfs exists; its text in @p who. */
static bool
active_get(const char *rootfs, char *who, size_t len)
{
    char path[PATH_MAX + 16], *data = NULL;
    struct stat st;
    bool active;

    snprintf(path, sizeof(path), "%s%s", rootfs, VCHA_SYNCMARK_ACTIVE_SUFFIX);
    active = lstat(path, &st) == 0 || errno != ENOENT;
    if (who != NULL) {
        who[0] = '\0';
        if (active && vcha_file_read(path, &data, NULL, 4096) == 0) {
            for (char *p = data; *p; p++) {
                *p = *p == '\n' ? ' ' : *p;
            }
            snprintf(who, len, "%s", data);
        }
        free(data);
    }
    return active;
}

/*
 * The activation lock of the member rooted at @p rootfs, taken without
 * waiting (see VCHA_SYNCMARK_ACTIVE_LOCK_SUFFIX): its descriptor, to be
 * closed to release it; -EBUSY while another process holds it.
 */
static int
active_lock(const char *rootfs)
{
    char path[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s%s", rootfs,
             VCHA_SYNCMARK_ACTIVE_LOCK_SUFFIX);
    return vcha_file_lock(path, 0);
}

/*
 * Whether the member may still be acted on: its active marker, read again
 * right before a boot or a kill (under the activation lock), is absent.
 */
static bool
still_idle(struct vcha_agent *a, const char *name)
{
    char rootfs[PATH_MAX], who[256];

    rootfs_path(a, name, rootfs, sizeof(rootfs));
    if (active_get(rootfs, who, sizeof(who))) {
        vcha_info("member %s became active (%s): left alone", name, who);
        return false;
    }
    return true;
}

/* The member's sync state; its marker in @p mark (zeroed when never). */
static enum sync_state
sync_get(struct vcha_agent *a, const struct member *m,
         struct vcha_syncmark *mark)
{
    char rootfs[PATH_MAX], why[PATH_MAX + 128] = "";
    int rc;

    rootfs_path(a, m->name, rootfs, sizeof(rootfs));
    memset(mark, 0, sizeof(*mark));
    rc = vcha_syncmark_read(rootfs, mark, why, sizeof(why));
    if (active_get(rootfs, NULL, 0)) {
        return SYNC_ACTIVE;
    }
    if (rc == -ENOENT) {
        return SYNC_NEVER;
    }
    if (rc < 0) {
        vcha_warn("member %s: %s; taking its tree as incomplete", m->name,
                  why[0] ? why : strerror(-rc));
        memset(mark, 0, sizeof(*mark));
        return SYNC_INCOMPLETE;
    }
    return mark->complete ? SYNC_COMPLETE : SYNC_INCOMPLETE;
}

/* Where this node's receiver listens, as HOST:PORT ([v6]:PORT); NULL
 * when it has none of receiver_address, or listens on all addresses. */
static const char *
receiver_text(const struct vcha_agent *a, char *buf, size_t len)
{
    static const unsigned char zero[16];
    const char *addr = receiver_addr(a);
    struct vcha_ip ip;

    /* the unspecified address (listening on all) names no receiver */
    if (addr == NULL || vcha_ip_parse(addr, &ip) < 0 ||
        memcmp(ip.bytes, zero, ip.family == AF_INET ? 4 : 16) == 0) {
        return NULL;
    }
    snprintf(buf, len, strchr(addr, ':') ? "[%s]:%lld" : "%s:%lld", addr,
             vcha_agent_num(a, P_RECEIVER_PORT));
    return buf;
}

/* Publish the member's state and lag (seconds since its last completed
 * batch ended, as last seen complete here when it is not complete now;
 * none while it is active: its tree is then newer than its primary's, and
 * a figure growing at every monitor would only abort the cluster's
 * transitions, a live migration's among them), and the receiver that
 * holds its tree here: a failback pulls the tree from the node where the
 * member is active, wherever the primary pushes. */
static void
attrs_publish(struct vcha_agent *a, const struct member *m, enum sync_state st,
              const struct vcha_syncmark *mark)
{
    char file[NAME_MAX_LEN + 16], text[32], recv[INET6_ADDRSTRLEN + 16];
    long long done_ms = 0;

    snprintf(file, sizeof(file), "%s.completed", m->name);
    if (st == SYNC_COMPLETE && mark->finished_ms > 0) {
        snprintf(text, sizeof(text), "%lld\n", mark->finished_ms);
        run_write(a, file, text);
    }
    run_read(a, file, text, sizeof(text));
    vcha_integer_parse(text, &done_ms);
    /* the state last: who reads it finds the lag and receiver that go
     * with it already set */
    attr_put(a, "receiver", m->name, receiver_text(a, recv, sizeof(recv)));
    if (done_ms > 0 && st != SYNC_ACTIVE) {
        snprintf(text, sizeof(text), "%lld",
                 (vcha_realtime_ms() - done_ms) / 1000);
        attr_put(a, "lag", m->name, text);
    } else {
        attr_put(a, "lag", m->name, NULL);
    }
    attr_put(a, "sync", m->name, sync_names[st]);
}

/* ------------------------------------------------------------ configs */

/*
 * Whose the configuration at @p path is: 0 ours (or none), -EEXIST
 * another's, with @p owner naming it ("" for a file ctset did not write).
 */
static int
config_owner(const struct vcha_agent *a, const char *path, char *owner,
             size_t len)
{
    char inst[256], *data = NULL;
    size_t plen = strlen(OWNER_PREFIX);
    int rc = vcha_file_read(path, &data, NULL, 1 << 20);

    owner[0] = '\0';
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc < 0) {
        snprintf(owner, len, "unreadable: %s", strerror(-rc));
        return -EEXIST;
    }
    instance_name(a, inst, sizeof(inst));
    rc = -EEXIST;
    if (strncmp(data, OWNER_PREFIX, plen) == 0) {
        size_t n = strcspn(data + plen, ":\n");

        snprintf(owner, len, "ctset instance %.*s", (int) n, data + plen);
        rc = (n == strlen(inst) && strncmp(data + plen, inst, n) == 0)
                 ? 0
                 : -EEXIST;
    }
    free(data);
    return rc;
}

/*
 * A member whose configuration is another's: OCF_ERR_INSTALLED.  What
 * matters comes first: Pacemaker keeps 128 bytes of an exit reason.
 */
static enum vcha_result
clash_fail(struct vcha_agent *a, const char *name, const char *path,
           const char *owner)
{
    vcha_warn("member %s: rename that container, or the member", name);
    return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                           "member %s: container name clash: %s (%s)", name,
                           path, owner[0] ? owner : "not written by ctset");
}

/*
 * The member's MAC address into @p buf: locally administered (02:...),
 * derived from its name and address (FNV-1a), so it is the same every
 * time the member boots, here or on another standby VM.  A restarted
 * member (a package change, a reload) then keeps the MAC its neighbours'
 * caches hold for its address: a new random one would leave them sending
 * to a MAC that is gone until their entries expire, seconds in which
 * nobody reaches the service (its own standby VM's port check included).
 */
static void
member_mac(const struct member *m, char *buf, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    const char *parts[] = {m->name, m->address};

    /* the address without its prefix: a new prefix keeps the MAC */
    for (size_t i = 0; i < 2; i++) {
        for (const char *p = parts[i]; *p != '\0' && *p != '/'; p++) {
            h = (h ^ (unsigned char) *p) * 1099511628211ULL;
        }
        h = (h ^ 0xff) * 1099511628211ULL; /* between the two */
    }
    snprintf(buf, len, "02:%02x:%02x:%02x:%02x:%02x",
             (unsigned) (h >> 32) & 0xff, (unsigned) (h >> 24) & 0xff,
             (unsigned) (h >> 16) & 0xff, (unsigned) (h >> 8) & 0xff,
             (unsigned) h & 0xff);
}

/* The configuration text of @p m into a new string. */
static char *
config_text(struct vcha_agent *a, const struct member *m)
{
    const char *gw = vcha_agent_str(a, P_GATEWAY),
               *idmap = vcha_agent_str(a, P_IDMAP);
    const char *fam = m->family == AF_INET ? "ipv4" : "ipv6";
    char inst[256], rootfs[PATH_MAX], ids[256] = "", gwline[128] = "";
    char idle[PATH_MAX + 128] = "", mac[32];
    long long host, count;
    char *text = NULL;

    instance_name(a, inst, sizeof(inst));
    rootfs_path(a, m->name, rootfs, sizeof(rootfs));
    member_mac(m, mac, sizeof(mac));
    if (idmap != NULL && *idmap && idmap_parse(idmap, &host, &count) == 0) {
        snprintf(ids, sizeof(ids),
                 "lxc.rootfs.options = idmap=container\n"
                 "lxc.idmap = u 0 %lld %lld\nlxc.idmap = g 0 %lld %lld\n",
                 host, count, host, count);
    }
    if (gw != NULL && *gw &&
        (strchr(gw, ':') != NULL) == (m->family != AF_INET)) {
        snprintf(gwline, sizeof(gwline), "lxc.net.0.%s.gateway = %s\n", fam,
                 gw);
    }
    if (m->mode == MODE_WARM) {
        /* its tree's init would start the service: an idle one instead */
        snprintf(idle, sizeof(idle),
                 "lxc.mount.entry = %s dev/vcha-idle/sleep none "
                 "bind,ro,create=file 0 0\n"
                 "lxc.init.cmd = /dev/vcha-idle/sleep 2147483647\n",
                 vcha_agent_str(a, P_WARM_IDLE));
    }
    if (asprintf(&text,
                 OWNER_PREFIX
                 "%s" OWNER_SUFFIX "\n"
                 "lxc.uts.name = %s\n"
                 "lxc.rootfs.path = dir:%s\n"
                 "%s"
                 "lxc.start.auto = 0\n"
                 "lxc.tty.max = 0\n"
                 "lxc.pty.max = 16\n"
                 "lxc.console.path = none\n"
                 "lxc.autodev = 1\n"
                 "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed\n"
                 "lxc.cap.drop = sys_module mac_admin mac_override sys_time\n"
                 "lxc.net.0.type = veth\n"
                 "lxc.net.0.link = %s\n"
                 "lxc.net.0.flags = up\n"
                 "lxc.net.0.name = eth0\n"
                 "lxc.net.0.hwaddr = %s\n"
                 "lxc.net.0.%s.address = %s\n"
                 "%s%s",
                 inst, m->name, rootfs, ids, vcha_agent_str(a, P_BRIDGE), mac,
                 fam, m->address, gwline, idle) < 0) {
        return NULL;
    }
    return text;
}

/*
 * Write the member's configuration unless it holds that text already:
 * 1 written, 0 unchanged, or a failure with the reason set (a file that
 * is not this instance's is a container name clash, never overwritten).
 */
static int
config_write(struct vcha_agent *a, const struct member *m, bool dry)
{
    char path[PATH_MAX], owner[300], *want = config_text(a, m), *have = NULL;
    int rc;

    config_path(vcha_agent_str(a, P_LXCPATH), m->name, path, sizeof(path));
    if (want == NULL) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC, "out of memory");
        return -ENOMEM;
    }
    rc = config_owner(a, path, owner, sizeof(owner));
    if (rc < 0) {
        clash_fail(a, m->name, path, owner);
        goto done;
    }
    rc = vcha_file_read(path, &have, NULL, 1 << 20);
    if (rc == 0 && strcmp(have, want) == 0) {
        goto done;
    }
    if (dry) {
        rc = rc == 0 ? 1 : 0; /* a missing one is not "changed" */
        goto done;
    }
    snprintf(owner, sizeof(owner), "%s/%s", vcha_agent_str(a, P_LXCPATH),
             m->name);
    rc = vcha_file_mkdirs(owner, 0755);
    rc = rc < 0 ? rc : vcha_file_write_atomic(path, want, strlen(want), 0644);
    if (rc < 0) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot write %s: %s", path,
                        strerror(-rc));
    } else {
        rc = 1;
    }
done:
    free(want);
    free(have);
    return rc;
}

/* ------------------------------------------------------------ receiver */

/* The users of the secrets file, ", "-separated. */
static int
secret_users(const char *path, char *users, size_t len, char *why,
             size_t whylen)
{
    char *data = NULL, *save = NULL;
    int rc = vcha_file_read(path, &data, NULL, 1 << 20);

    users[0] = '\0';
    if (rc < 0) {
        snprintf(why, whylen, "cannot read %s: %s", path, strerror(-rc));
        return rc;
    }
    for (char *l = strtok_r(data, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        size_t n = strcspn(l, ":");

        if (l[0] == '#' || l[n] != ':') {
            continue;
        }
        l[n] = '\0';
        if (n == 0 || strspn(l, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                                "rstuvwxyz0123456789_.-@") != n) {
            snprintf(why, whylen, "%s: user \"%s\" is not a plain name", path,
                     l);
            free(data);
            return -EINVAL;
        }
        if (strlen(users) + n + 3 < len) {
            strcat(users, users[0] ? ", " : "");
            strcat(users, l);
        }
    }
    free(data);
    if (users[0] == '\0') {
        snprintf(why, whylen, "%s names no USER:PASSWORD", path);
        return -EINVAL;
    }
    return 0;
}

/* The secrets file: a missing one is this node's trouble (installed),
 * never a bad argument; one that is wrong is. */
static enum vcha_result
secrets_check(struct vcha_agent *a, char *users, size_t len)
{
    const char *path = vcha_agent_str(a, P_SECRETS_FILE);
    char why[PATH_MAX + 128] = "";
    int rc = vcha_sync_secret_check(path, why, sizeof(why));

    if (rc == 0) {
        rc = secret_users(path, users, len, why, sizeof(why));
    }
    if (rc < 0) {
        vcha_agent_fail(a, rc == -ENOENT ? VCHA_ERR_INSTALLED : VCHA_ERR_ARGS,
                        "secrets_file %s", why);
    }
    return rc == 0 ? VCHA_OK
           : rc == -ENOENT ? VCHA_ERR_INSTALLED
                           : VCHA_ERR_ARGS;
}

/* Whether the ", "-separated @p users name @p name. */
static bool
users_has(const char *users, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = users; *p != '\0'; p += strspn(p, ", ")) {
        size_t len = strcspn(p, ", ");

        if (len == n && strncmp(p, name, n) == 0) {
            return true;
        }
        p += len;
    }
    return false;
}

/* The rsync daemon's configuration into a new string: each member's
 * module admits only the user of the member's name, so that one primary
 * cannot push into another's tree. */
static char *
rsyncd_text(struct vcha_agent *a, const struct members *ms, const char *users)
{
    const char *hosts = vcha_agent_str(a, P_HOSTS_ALLOW);
    char inst[256], run[PATH_MAX], rootfs[PATH_MAX];
    char *text = NULL, *more = NULL;

    instance_name(a, inst, sizeof(inst));
    run_path(a, NULL, run, sizeof(run));
    if (asprintf(&text,
                 OWNER_PREFIX "%s" OWNER_SUFFIX "\n"
                              "pid file = %s/rsyncd.pid\n"
                              "syslog facility = daemon\n"
                              "syslog tag = rsyncd-%s\n"
                              "address = %s\n"
                              "port = %lld\n"
                              "reverse lookup = no\n",
                 inst, run, inst, receiver_addr(a),
                 vcha_agent_num(a, P_RECEIVER_PORT)) < 0) {
        return NULL;
    }
    for (size_t i = 0; i < ms->n; i++) {
        rootfs_path(a, ms->m[i].name, rootfs, sizeof(rootfs));
        if (!users_has(users, ms->m[i].name)) {
            vcha_warn("secrets_file has no line %s:SECRET: member %s's "
                      "primary cannot push",
                      ms->m[i].name, ms->m[i].name);
        }
        if (asprintf(&more,
                     "%s\n[%s]\n"
                     "    path = %s\n"
                     "    comment = ocf:vcha:ctset member %s\n"
                     "    read only = no\n    write only = no\n"
                     "    list = no\n    uid = 0\n    gid = 0\n"
                     "    numeric ids = yes\n    use chroot = yes\n"
                     "    munge symlinks = no\n"
                     "    auth users = %s\n    secrets file = %s\n"
                     "    strict modes = yes\n%s%s%s"
                     "    max connections = 1\n"
                     "    timeout = %lld\n"
                     "    lock file = %s/%s.lock\n"
                     "    pre-xfer exec = %s --pre-xfer\n"
                     "    post-xfer exec = %s --post-xfer\n",
                     text, ms->m[i].name, rootfs, ms->m[i].name,
                     ms->m[i].name, vcha_agent_str(a, P_SECRETS_FILE),
                     hosts && *hosts ? "    hosts allow = " : "",
                     hosts && *hosts ? hosts : "", hosts && *hosts ? "\n" : "",
                     vcha_agent_num(a, P_RECEIVER_TIMEOUT), run,
                     ms->m[i].name, receive_prog(), receive_prog()) < 0) {
            free(text);
            return NULL;
        }
        free(text);
        text = more;
    }
    return text;
}

/* Whether process @p pid runs rsync --daemon with this configuration. */
static bool
receiver_is(const struct vcha_agent *a, long long pid)
{
    char path[PATH_MAX], conf[PATH_MAX + 16], cmd[8192];
    bool daemon = false, ours = false;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%lld/cmdline", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    n = read(fd, cmd, sizeof(cmd) - 1);
    close(fd);
    run_path(a, "rsyncd.conf", path, sizeof(path));
    snprintf(conf, sizeof(conf), "--config=%s", path);
    cmd[n > 0 ? n : 0] = '\0';
    for (ssize_t i = 0; i < n; i += (ssize_t) strlen(cmd + i) + 1) {
        daemon = daemon || strcmp(cmd + i, "--daemon") == 0;
        ours = ours || strcmp(cmd + i, conf) == 0;
    }
    return daemon && ours;
}

/* The daemon found without its pid file: the process running rsync
 * --daemon with this configuration that leads its process group (its
 * transfers are its children, in that group). */
static pid_t
receiver_scan(const struct vcha_agent *a)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0;

    while (d != NULL && found == 0 && (e = readdir(d)) != NULL) {
        long long pid;

        if (vcha_integer_parse(e->d_name, &pid) == 0 && pid > 1 &&
            pid <= INT_MAX && getpgid((pid_t) pid) == (pid_t) pid &&
            receiver_is(a, pid)) {
            found = (pid_t) pid;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return found;
}

/*
 * The pid of the receiver this instance started, if it lives: the pid
 * file names a process running rsync --daemon with this configuration;
 * without a pid file (removed by hand, or a daemon that died before it
 * wrote it), /proc is searched for it.
 */
static pid_t
receiver_pid(const struct vcha_agent *a)
{
    char text[32];
    long long pid = 0;

    run_read(a, "rsyncd.pid", text, sizeof(text));
    if (vcha_integer_parse(text, &pid) < 0 || pid <= 1 || pid > INT_MAX) {
        return receiver_scan(a);
    }
    return receiver_is(a, pid) ? (pid_t) pid : 0;
}

/* Write the daemon's configuration (it reads it at each connection). */
static enum vcha_result
receiver_configure(struct vcha_agent *a, const struct members *ms)
{
    char users[1024], run[PATH_MAX], *text;
    int rc;

    enum vcha_result r = secrets_check(a, users, sizeof(users));

    if (r != VCHA_OK) {
        return r;
    }
    if (receiver_addr(a) == NULL) {
        return receiver_addr_fail(a);
    }
    run_path(a, NULL, run, sizeof(run));
    rc = vcha_file_mkdirs(run, 0700);
    text = rc < 0 ? NULL : rsyncd_text(a, ms, users);
    rc = text == NULL ? (rc < 0 ? rc : -ENOMEM)
                      : run_write(a, "rsyncd.conf", text);
    free(text);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot write the rsync daemon's "
                               "configuration in %s: %s",
                               run, strerror(-rc));
    }
    return VCHA_OK;
}

static enum vcha_result
receiver_answers(struct vcha_agent *a, bool wait)
{
    const char *addr = receiver_addr(a);
    unsigned port = (unsigned) vcha_agent_num(a, P_RECEIVER_PORT);
    char why[256] = "";
    int rc;

    if (addr == NULL) {
        return receiver_addr_fail(a);
    }
    do {
        long long now = vcha_now_ms(), left = a->deadline_ms - now;

        /* first its pid: another program may answer on its port */
        if (receiver_pid(a) == 0) {
            return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                   "the rsync daemon is gone (see the "
                                   "system log, rsyncd-INSTANCE)");
        }
        rc = vcha_port_probe(addr, port, now + (left < 2000 ? left : 2000), why,
                             sizeof(why));
        if (rc == 0) {
            return VCHA_OK;
        }
        vcha_sleep_ms(wait ? 100 : 0);
    } while (wait && vcha_agent_remaining_ms(a) > 150);
    return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                           "the rsync daemon does not answer on %s port %u: "
                           "%s",
                           addr, port, why);
}

static enum vcha_result receiver_stop(struct vcha_agent *a);

/* "ADDRESS PORT" of the parameters, as the run directory records it. */
static void
listen_text(struct vcha_agent *a, char *buf, size_t len)
{
    const char *addr = receiver_addr(a);

    snprintf(buf, len, "%s %lld", addr ? addr : "-",
             vcha_agent_num(a, P_RECEIVER_PORT));
}

/*
 * A daemon of this instance that listens elsewhere (the address or the
 * port changed) is stopped; a port another program holds is refused
 * before the daemon is started (it would die, and the other answer).
 */
static enum vcha_result
receiver_prepare(struct vcha_agent *a, bool *running)
{
    char want[128], had[128], why[256];
    unsigned port = (unsigned) vcha_agent_num(a, P_RECEIVER_PORT);
    const char *addr = receiver_addr(a);
    enum vcha_result r;

    if (addr == NULL) {
        return receiver_addr_fail(a);
    }
    listen_text(a, want, sizeof(want));
    run_read(a, "rsyncd.listen", had, sizeof(had));
    *running = receiver_pid(a) > 0;
    if (*running && strcmp(want, had) == 0) {
        return VCHA_OK;
    }
    if (*running) {
        vcha_notice("the rsync daemon listens on %s, not %s: restarting it",
                    had[0] ? had : "another address", want);
        r = receiver_stop(a);
        if (r != VCHA_OK) {
            return r;
        }
        *running = false;
    }
    if (vcha_port_probe(addr, port, vcha_now_ms() + 1000, why, sizeof(why)) ==
        0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "%s port %u is taken by another program: the "
                               "rsync daemon cannot listen there",
                               addr, port);
    }
    return VCHA_OK;
}

static enum vcha_result
receiver_start(struct vcha_agent *a)
{
    char conf[PATH_MAX], run[PATH_MAX], arg[PATH_MAX + 16], why[512] = "";
    const char *argv[] = {VCHA_RSYNC, "--daemon", arg, NULL};
    bool running = false;
    enum vcha_result r = receiver_prepare(a, &running);
    int rc;

    if (r != VCHA_OK || running) {
        return r != VCHA_OK ? r : receiver_answers(a, true);
    }
    run_path(a, "rsyncd.conf", conf, sizeof(conf));
    run_path(a, NULL, run, sizeof(run));
    snprintf(arg, sizeof(arg), "--config=%s", conf);
    run_unlink(a, "rsyncd.pid");
    /* it detaches (its own session) and writes its pid file */
    rc = vcha_exec_until(argv, a->deadline_ms, why, sizeof(why));
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot start the rsync daemon: %s", why);
    }
    /* its pid file comes at once, or never (a bad configuration) */
    for (long long end = vcha_now_ms() + 5000;
         receiver_pid(a) == 0 && vcha_now_ms() < end &&
         vcha_agent_remaining_ms(a) > 150;) {
        vcha_sleep_ms(50);
    }
    if (receiver_pid(a) == 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "the rsync daemon did not stay up (see "
                               "the system log, rsyncd-INSTANCE; its "
                               "configuration is %s)",
                               conf);
    }
    listen_text(a, why, sizeof(why));
    strcat(why, "\n");
    run_write(a, "rsyncd.listen", why);
    vcha_notice("rsync daemon started (pid %d) on %s port %lld",
                (int) receiver_pid(a), receiver_addr(a),
                vcha_agent_num(a, P_RECEIVER_PORT));
    return receiver_answers(a, true);
}

/* Whether any process of group @p pgid lives. */
static bool
group_alive(pid_t pgid)
{
    return kill(-pgid, 0) == 0 || errno == EPERM;
}

/* Signal the group @p pgid and wait until it is gone, up to @p bound. */
static bool
group_end(pid_t pgid, int sig, long long bound)
{
    kill(-pgid, sig);
    kill(pgid, sig);
    while (group_alive(pgid) && vcha_now_ms() < bound) {
        vcha_sleep_ms(50);
    }
    return !group_alive(pgid);
}

/*
 * Stop the receiver and the transfers it runs: its whole process group,
 * waited for until no process of it is left (a transfer that outlived
 * the daemon would still write into a tree).
 */
static enum vcha_result
receiver_stop(struct vcha_agent *a)
{
    pid_t pid = receiver_pid(a);
    long long bound = vcha_now_ms() + vcha_agent_remaining_ms(a) / 3;

    if (pid > 0) {
        if (!group_end(pid, SIGTERM, bound)) {
            vcha_warn("the rsync daemon (pid %d) or a transfer of it "
                      "ignored SIGTERM: killing them",
                      (int) pid);
            group_end(pid, SIGKILL,
                      vcha_now_ms() + vcha_agent_remaining_ms(a) - 100);
        }
        if (group_alive(pid)) {
            return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                   "the rsync daemon (process group %d) "
                                   "does not die",
                                   (int) pid);
        }
        vcha_notice("rsync daemon (pid %d) stopped", (int) pid);
    }
    run_unlink(a, "rsyncd.pid");
    run_unlink(a, "rsyncd.listen");
    return VCHA_OK;
}

/* ------------------------------------------------------------ members */

/* The member's container, or NULL (reason set) with @p r; -ENOENT: none. */
static int
ct_get(struct vcha_agent *a, const char *lxcpath, const char *name,
       struct vcha_ct **ct)
{
    char why[512] = "";
    int rc = vcha_ct_open(name, lxcpath, ct, why, sizeof(why));

    if (rc < 0 && rc != -ENOENT) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC, "member %s: %s", name,
                        why[0] ? why : strerror(-rc));
    }
    return rc;
}

static int
ct_running(struct vcha_agent *a, const struct vcha_ct *ct)
{
    int rc = vcha_ct_running(ct, a->deadline_ms, NULL);

    if (rc < 0) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot tell whether %s runs: %s",
                        ct->name, strerror(-rc));
    }
    return rc;
}

static void
packages_file(const struct member *m, char *buf, size_t len)
{
    snprintf(buf, len, "%s.packages", m->name);
}

/* The member being converged did not boot (vcha-sync-NAME=failed). */
static bool boot_failed;

/* Boot the member; what its packages were is kept for the monitor. */
static enum vcha_result
member_boot(struct vcha_agent *a, const struct member *m,
            const struct vcha_ct *ct, const struct vcha_syncmark *mark)
{
    char why[512] = "", file[NAME_MAX_LEN + 16], text[80];

    if (vcha_ct_boot(ct, a->deadline_ms, why, sizeof(why)) < 0) {
        /* the others are not held back by it: published as failed */
        vcha_err("member %s does not start: %s", m->name, why);
        boot_failed = true;
        return VCHA_OK;
    }
    packages_file(m, file, sizeof(file));
    snprintf(text, sizeof(text), "packages=%s\n", mark->packages);
    run_write(a, file, text);
    vcha_notice("member %s (%s) started", m->name, mode_names[m->mode]);
    return VCHA_OK;
}

static enum vcha_result
member_kill(struct vcha_agent *a, const struct vcha_ct *ct)
{
    char why[512] = "";

    if (vcha_ct_kill(ct, a->deadline_ms, why, sizeof(why)) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot stop %s: %s",
                               ct->name, why);
    }
    return VCHA_OK;
}

/* Why a running hot or warm member must be restarted, or NULL. */
static const char *
restart_reason(struct vcha_agent *a, const struct member *m,
               const struct vcha_syncmark *mark, bool rewritten)
{
    char file[NAME_MAX_LEN + 16], had[80], now[80];

    if (rewritten) {
        return "its configuration changed";
    }
    packages_file(m, file, sizeof(file));
    run_read(a, file, had, sizeof(had));
    snprintf(now, sizeof(now), "packages=%s", mark->packages);
    if (had[0] == '\0') {
        /* started before this node kept the record: from now on */
        strcat(now, "\n");
        run_write(a, file, now);
        return NULL;
    }
    /* a batch under way may change the list again: its end decides */
    if (!mark->complete || mark->running || strcmp(had, now) == 0) {
        return NULL;
    }
    return "its package list changed";
}

/* A hot or warm member: running when its tree was ever synced. */
static enum vcha_result
member_keep_running(struct vcha_agent *a, const struct member *m,
                    const struct vcha_ct *ct, enum sync_state st,
                    const struct vcha_syncmark *mark, bool rewritten,
                    bool monitor)
{
    const char *why;
    int running = ct_running(a, ct);

    if (running < 0) {
        return VCHA_ERR_GENERIC;
    }
    if (st == SYNC_NEVER) {
        vcha_info("member %s: its tree was never synced; not started", m->name);
        return VCHA_OK;
    }
    if (running == 0) {
        char file[NAME_MAX_LEN + 16], had[80];

        /* started here before: it stopped or was killed */
        packages_file(m, file, sizeof(file));
        run_read(a, file, had, sizeof(had));
        if (!still_idle(a, m->name)) {
            return VCHA_OK;
        }
        if (monitor && had[0] != '\0') {
            vcha_warn("member %s was not running: starting it again", m->name);
        }
        return member_boot(a, m, ct, mark);
    }
    why = restart_reason(a, m, mark, rewritten);
    if (why == NULL || !still_idle(a, m->name)) {
        return VCHA_OK;
    }
    vcha_notice("member %s: %s; restarting it", m->name, why);
    if (member_kill(a, ct) != VCHA_OK) {
        return VCHA_ERR_GENERIC;
    }
    return member_boot(a, m, ct, mark);
}

/* A cold member: kept stopped (start and reload stop it). */
static enum vcha_result
member_keep_stopped(struct vcha_agent *a, const struct member *m,
                    const struct vcha_ct *ct, bool monitor)
{
    int running = ct_running(a, ct);

    if (running <= 0) {
        return running < 0 ? VCHA_ERR_GENERIC : VCHA_OK;
    }
    if (monitor) {
        vcha_warn("cold member %s runs, though it is not active", m->name);
        return VCHA_OK;
    }
    if (!still_idle(a, m->name)) {
        return VCHA_OK;
    }
    vcha_notice("cold member %s runs: stopping it", m->name);
    return member_kill(a, ct);
}

/* An active member: its configuration is left as it is. */
static void
member_active(struct vcha_agent *a, const struct member *m)
{
    char rootfs[PATH_MAX], who[256];

    rootfs_path(a, m->name, rootfs, sizeof(rootfs));
    active_get(rootfs, who, sizeof(who));
    if (config_write(a, m, true) > 0) {
        vcha_notice("member %s is active (%s): its configuration changes "
                    "after failback, not under its service",
                    m->name, who);
    }
    a->reason[0] = '\0';
}

/*
 * Whether the member's active marker is stale, and removed now: the
 * cluster's record of where the member's newest tree is
 * (VCHA_ACTIVE_RECORD_SET in vcha/syncmark.h) says it failed back to its
 * primary, which pulled the tree back.  Pushes land again from then on.
 * A record naming another standby VM (the member migrated there) keeps
 * it: the member here stays stopped, its address in use there (said at
 * debug level: it is so at every monitor until the failback).  A record
 * that cannot be read, or none at all (a CIB replaced from an older copy
 * loses it), keeps the marker: only a record can say that this tree is no
 * longer the newest.
 */
static bool
active_released(struct vcha_agent *a, const struct member *m)
{
    char name[NAME_MAX_LEN + 32], node[256], self[256], rootfs[PATH_MAX],
        path[PATH_MAX + 16];
    long long left = vcha_agent_remaining_ms(a) / 4;
    bool native = false;
    int rc = vcha_active_record_get(m->name, left < 5000 ? left : 5000, node,
                                    sizeof(node), &native);

    vcha_active_record_name(m->name, name, sizeof(name));
    if (rc == -ENODATA) {
        vcha_warn("member %s is active, but no cluster property %s says "
                  "where: kept active (the next activation writes it)",
                  m->name, name);
        return false;
    }
    if (rc < 0) {
        vcha_warn("member %s is active; cannot read cluster property %s "
                  "(%s): kept active",
                  m->name, name, strerror(-rc));
        return false;
    }
    vcha_agent_node_name(a, self, sizeof(self));
    if (!native && strcmp(node, self) != 0) {
        /* migrated to another standby VM: this copy, stopped, keeps its
         * marker until the failback, and neither serves nor takes the
         * member's address beside the one active there */
        vcha_debug("member %s is active on %s (cluster property %s): "
                   "kept stopped here until it fails back",
                   m->name, node, name);
    }
    if (!native) {
        return false;
    }
    rootfs_path(a, m->name, rootfs, sizeof(rootfs));
    snprintf(path, sizeof(path), "%s%s", rootfs, VCHA_SYNCMARK_ACTIVE_SUFFIX);
    if (unlink(path) < 0 && errno != ENOENT) {
        vcha_warn("member %s: cannot remove its stale active marker %s: %s",
                  m->name, path, strerror(errno));
        return false;
    }
    vcha_notice("member %s %s %s (cluster property %s): its active marker "
                "removed, it is a standby again",
                m->name, "failed back to", node,
                name);
    return true;
}

/* Under the member's activation lock: its configuration and container. */
static enum vcha_result
member_converge_locked(struct vcha_agent *a, const struct member *m,
                       bool monitor)
{
    struct vcha_syncmark mark;
    struct vcha_ct *ct = NULL;
    enum vcha_result r = VCHA_OK;
    enum sync_state st = sync_get(a, m, &mark);
    bool released = false;
    int written;

    if (st == SYNC_ACTIVE && active_released(a, m)) {
        st = sync_get(a, m, &mark);
        released = st != SYNC_ACTIVE;
    }
    if (st == SYNC_ACTIVE) {
        member_active(a, m);
        attrs_publish(a, m, st, &mark);
        return VCHA_OK;
    }
    written = config_write(a, m, false);
    if (written < 0) {
        return written == -EEXIST ? VCHA_ERR_INSTALLED : VCHA_ERR_GENERIC;
    }
    if (ct_get(a, vcha_agent_str(a, P_LXCPATH), m->name, &ct) < 0) {
        return VCHA_ERR_GENERIC;
    }
    /* it served: it starts again as a standby, a hot one below */
    if (released && ct_running(a, ct) > 0 && member_kill(a, ct) != VCHA_OK) {
        vcha_ct_free(ct);
        return VCHA_ERR_GENERIC;
    }
    boot_failed = false;
    r = m->mode == MODE_COLD ? member_keep_stopped(a, m, ct, monitor)
                             : member_keep_running(a, m, ct, st, &mark,
                                                   written > 0, monitor);
    attrs_publish(a, m, st, &mark);
    if (boot_failed) {
        attr_put(a, "sync", m->name, "failed");
    }
    vcha_ct_free(ct);
    return r;
}

/*
 * Make one member what its mode says, unless its service is active here,
 * or being activated (its activation lock held elsewhere: next round).
 */
static enum vcha_result
member_converge(struct vcha_agent *a, const struct member *m, bool monitor)
{
    char rootfs[PATH_MAX];
    enum vcha_result r;
    int rc, lock;

    rootfs_path(a, m->name, rootfs, sizeof(rootfs));
    rc = vcha_file_mkdirs(rootfs, 0755);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot make %s: %s",
                               rootfs, strerror(-rc));
    }
    lock = active_lock(rootfs);
    if (lock == -EBUSY) {
        /* its attributes as they were: a change now, its marker half
         * way, would abort the transition that activates or migrates it */
        vcha_info("member %s: its activation lock is held (being "
                  "activated or migrated): left alone this time",
                  m->name);
        return VCHA_OK;
    }
    if (lock < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s: cannot lock %s%s: %s", m->name,
                               rootfs, VCHA_SYNCMARK_ACTIVE_LOCK_SUFFIX,
                               strerror(-lock));
    }
    r = member_converge_locked(a, m, monitor);
    close(lock);
    return r;
}

/* ------------------------------------------------- the members recorded */

/*
 * What the last start or reload set up here, in the run directory: the
 * lxcpath, then a member name a line.  A stop or a reload finds the
 * members it must take down there, whatever the parameters say now.
 */
static int
recorded_get(const struct vcha_agent *a, char *lxcpath, size_t len,
             struct members *old)
{
    char path[PATH_MAX], *data = NULL, *save = NULL, *line;
    int rc;

    old->n = 0;
    run_path(a, "members", path, sizeof(path));
    rc = vcha_file_read(path, &data, NULL, 1 << 20);
    if (rc < 0) {
        return rc;
    }
    line = strtok_r(data, "\n", &save);
    snprintf(lxcpath, len, "%s", line ? line : "");
    while ((line = strtok_r(NULL, "\n", &save)) != NULL &&
           old->n < MAX_MEMBERS) {
        snprintf(old->m[old->n++].name, sizeof(old->m[0].name), "%s", line);
    }
    free(data);
    return 0;
}

static int
recorded_set(struct vcha_agent *a, const struct members *ms,
             const struct members *kept)
{
    char text[2 * MAX_MEMBERS * (NAME_MAX_LEN + 1) + PATH_MAX + 2];
    size_t used = (size_t) snprintf(text, sizeof(text), "%s\n",
                                    vcha_agent_str(a, P_LXCPATH));

    for (size_t i = 0; i < ms->n + kept->n; i++) {
        const struct member *m = i < ms->n ? &ms->m[i] : &kept->m[i - ms->n];

        used += (size_t) snprintf(text + used, sizeof(text) - used, "%s\n",
                                  m->name);
    }
    return run_write(a, "members", text);
}

static bool
members_has(const struct members *ms, const char *name)
{
    for (size_t i = 0; i < ms->n; i++) {
        if (strcmp(ms->m[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether @p lxcpath/@p name runs, asked of lxc-info (no configuration
 * needed): 1, 0, or -errno when it cannot tell. */
static int
orphan_running(struct vcha_agent *a, const char *lxcpath, const char *name)
{
    const char *argv[] = {"lxc-info", "-P", lxcpath, "-n", name, "-s", "-H",
                          NULL};
    struct vcha_exec_result res = {0};
    long long left = vcha_agent_remaining_ms(a);
    int rc = vcha_exec(argv, NULL, 0, left < 10000 ? left : 10000, &res);

    if (rc == 0) {
        /* RUNNING, FROZEN, STARTING...: anything but STOPPED; nothing
         * printed: no such container */
        rc = res.timed_out ? -ETIME
                           : res.out[0] != '\0' &&
                                 strncmp(res.out, "STOPPED", 7) != 0;
    }
    vcha_exec_result_clear(&res);
    return rc;
}

/*
 * A recorded member whose configuration vanished: liblxc cannot open it,
 * but lxc-stop reaches its monitor by name.  Fails only if it still runs.
 */
static enum vcha_result
orphan_stop(struct vcha_agent *a, const char *lxcpath, const char *name)
{
    const char *argv[] = {"lxc-stop", "-P", lxcpath, "-n", name, "-k", NULL};
    struct vcha_exec_result res = {0};
    long long left = vcha_agent_remaining_ms(a) / 2;
    int on = orphan_running(a, lxcpath, name);

    if (on == 0) {
        return VCHA_OK;
    }
    vcha_warn("member %s has no configuration any more: stopping it by name",
              name);
    vcha_exec(argv, NULL, 0, left, &res);
    vcha_exec_result_clear(&res);
    on = orphan_running(a, lxcpath, name);
    if (on != 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "member %s (configuration gone) %s", name,
                               on > 0 ? "still runs after lxc-stop -k"
                                      : "cannot be asked whether it runs");
    }
    vcha_notice("member %s stopped", name);
    return VCHA_OK;
}

/* Stop the member's container; one without configuration by its name. */
static enum vcha_result
member_stop(struct vcha_agent *a, const char *lxcpath, const char *name)
{
    struct vcha_ct *ct = NULL;
    enum vcha_result r = VCHA_OK;
    int rc = ct_get(a, lxcpath, name, &ct);

    if (rc == -ENOENT) {
        return orphan_stop(a, lxcpath, name);
    }
    if (rc < 0) {
        return VCHA_ERR_GENERIC;
    }
    rc = ct_running(a, ct);
    r = rc < 0 ? VCHA_ERR_GENERIC : rc > 0 ? member_kill(a, ct) : VCHA_OK;
    if (rc > 0 && r == VCHA_OK) {
        vcha_notice("member %s stopped", name);
    }
    vcha_ct_free(ct);
    return r;
}

/* Its attributes and run files gone; its configuration too if @p remove
 * (only if it is this resource's), its tree kept. */
static void
member_forget(struct vcha_agent *a, const char *lxcpath, const char *name,
              bool remove)
{
    char path[PATH_MAX], owner[300], file[NAME_MAX_LEN + 16];

    /* first: one left would point a failback at a node without it */
    attr_put(a, "receiver", name, NULL);
    attr_put(a, "sync", name, NULL);
    attr_put(a, "lag", name, NULL);
    snprintf(file, sizeof(file), "%s.packages", name);
    run_unlink(a, file);
    config_path(lxcpath, name, path, sizeof(path));
    if (remove && config_owner(a, path, owner, sizeof(owner)) == 0) {
        unlink(path);
        snprintf(path, sizeof(path), "%s/%s", lxcpath, name);
        rmdir(path); /* only if nothing else is in it */
        snprintf(file, sizeof(file), "%s.completed", name);
        run_unlink(a, file);
    }
}

/* Whether LXCPATH/NAME/config exists and is this resource's. */
static bool
config_ours(const struct vcha_agent *a, const char *lxcpath, const char *name)
{
    char path[PATH_MAX], owner[300];

    config_path(lxcpath, name, path, sizeof(path));
    return access(path, F_OK) == 0 &&
           config_owner(a, path, owner, sizeof(owner)) == 0;
}

/*
 * Take member @p name down at stop: its container stopped, active or not
 * (Pacemaker stopped its service first).  A member that was never
 * recorded here (a start refused it) is acted on only when its
 * configuration is this resource's: another container of that name is
 * never touched.
 */
static enum vcha_result
member_down(struct vcha_agent *a, const char *lxcpath, const char *name,
            bool recorded)
{
    enum vcha_result r;

    if (!recorded && !config_ours(a, lxcpath, name)) {
        return VCHA_OK;
    }
    r = member_stop(a, lxcpath, name);
    if (r == VCHA_OK) {
        member_forget(a, lxcpath, name, false);
    }
    return r;
}

/*
 * A member that left the set at a reload: stopped and forgotten, unless
 * its service is active here or being activated (its activation lock
 * held): then it is left as it is, and stays recorded (*@p keep) so that
 * a later reload or the stop takes it down.
 */
static enum vcha_result
member_leave(struct vcha_agent *a, const char *lxcpath, const char *name,
             bool *keep)
{
    char rootfs[PATH_MAX], who[256];
    enum vcha_result r = VCHA_OK;
    int lock;

    rootfs_path(a, name, rootfs, sizeof(rootfs));
    *keep = true;
    lock = active_lock(rootfs);
    if (lock == -EBUSY) {
        vcha_info("member %s left the set while being activated: left as "
                  "it is this time",
                  name);
        return VCHA_OK;
    }
    if (active_get(rootfs, who, sizeof(who))) {
        vcha_warn("member %s left the set while its service is active here "
                  "(%s): left as it is until it is no longer active",
                  name, who);
    } else {
        r = member_stop(a, lxcpath, name);
        if (r == VCHA_OK) {
            member_forget(a, lxcpath, name, true);
            *keep = false;
        }
    }
    if (lock >= 0) {
        close(lock);
    }
    return r;
}

/* Members the last start set up that are not in @p ms any more; those
 * still to take down into @p kept. */
static enum vcha_result
members_removed(struct vcha_agent *a, const struct members *ms,
                struct members *kept)
{
    static struct members old;
    char lxcpath[PATH_MAX];
    enum vcha_result r = VCHA_OK;
    bool keep;

    kept->n = 0;
    if (recorded_get(a, lxcpath, sizeof(lxcpath), &old) < 0) {
        return VCHA_OK;
    }
    for (size_t i = 0; i < old.n && r == VCHA_OK; i++) {
        if (!members_has(ms, old.m[i].name)) {
            vcha_notice("member %s left the set", old.m[i].name);
            r = member_leave(a, lxcpath, old.m[i].name, &keep);
            if (keep && kept->n < MAX_MEMBERS) {
                kept->m[kept->n++] = old.m[i];
            }
        }
    }
    return r;
}

/* ------------------------------------------------------------ actions */

static enum vcha_result
members_get(struct vcha_agent *a, struct members *ms)
{
    char why[512];

    if (members_parse(vcha_agent_str(a, P_MEMBERS), ms, why, sizeof(why)) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED, "members: %s", why);
    }
    return VCHA_OK;
}

static enum vcha_result ctset_validate(struct vcha_agent *a, int level);

/* Every configuration must be this resource's before anything starts. */
static enum vcha_result
clash_check(struct vcha_agent *a, const struct members *ms)
{
    char path[PATH_MAX], owner[300];

    for (size_t i = 0; i < ms->n; i++) {
        config_path(vcha_agent_str(a, P_LXCPATH), ms->m[i].name, path,
                    sizeof(path));
        if (config_owner(a, path, owner, sizeof(owner)) < 0) {
            return clash_fail(a, ms->m[i].name, path, owner);
        }
    }
    return VCHA_OK;
}

/* start and reload: the receiver, the configurations, the members. */
static enum vcha_result
ctset_start(struct vcha_agent *a)
{
    static struct members ms, kept;
    enum vcha_result r = ctset_validate(a, 10), m;
    bool ready;
    int rc;

    if (r == VCHA_OK) {
        r = members_get(a, &ms);
    }
    if (r == VCHA_OK) {
        r = clash_check(a, &ms);
    }
    if (r != VCHA_OK) {
        return r;
    }
    rc = vcha_file_mkdirs(vcha_agent_str(a, P_SYNC_DIR), 0755);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot make %s: %s",
                               vcha_agent_str(a, P_SYNC_DIR), strerror(-rc));
    }
    r = receiver_configure(a, &ms);
    r = r != VCHA_OK ? r : members_removed(a, &ms, &kept);
    if (r == VCHA_OK && recorded_set(a, &ms, &kept) < 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot write %s",
                            "the members list in the run directory");
    }
    /* pushes may come while the members boot */
    r = r != VCHA_OK ? r : receiver_start(a);
    ready = r == VCHA_OK;
    /* every member, whatever another's trouble */
    for (size_t i = 0; ready && i < ms.n; i++) {
        m = member_converge(a, &ms.m[i], false);
        r = r != VCHA_OK ? r : m;
    }
    return r;
}

static enum vcha_result
ctset_reload_agent(struct vcha_agent *a)
{
    return ctset_start(a);
}

/* Everything down, whatever the parameters say: the recorded members. */
static enum vcha_result
stop_all(struct vcha_agent *a, const struct members *ms)
{
    static struct members old;
    char lxcpath[PATH_MAX] = "";
    enum vcha_result r = receiver_stop(a), m;

    size_t recorded;

    recorded_get(a, lxcpath, sizeof(lxcpath), &old);
    recorded = old.n;
    for (size_t i = 0; ms != NULL && i < ms->n; i++) {
        if (!members_has(&old, ms->m[i].name) && old.n < MAX_MEMBERS) {
            old.m[old.n++] = ms->m[i];
        }
    }
    if (lxcpath[0] == '\0' && a->params != NULL) {
        snprintf(lxcpath, sizeof(lxcpath), "%s", vcha_agent_str(a, P_LXCPATH));
    }
    for (size_t i = 0; lxcpath[0] != '\0' && i < old.n; i++) {
        m = member_down(a, lxcpath, old.m[i].name, i < recorded);
        r = r != VCHA_OK ? r : m;
    }
    if (r == VCHA_OK) {
        run_unlink(a, "members");
    }
    return r;
}

static enum vcha_result
ctset_stop(struct vcha_agent *a)
{
    static struct members ms;

    if (members_get(a, &ms) != VCHA_OK) {
        a->reason[0] = '\0';
        ms.n = 0;
    }
    return stop_all(a, &ms);
}

/* Whether a member the last start or reload recorded here runs. */
static bool
recorded_running(struct vcha_agent *a)
{
    static struct members old;
    char lxcpath[PATH_MAX];
    bool any = false;

    if (recorded_get(a, lxcpath, sizeof(lxcpath), &old) < 0) {
        return false;
    }
    for (size_t i = 0; !any && i < old.n; i++) {
        any = orphan_running(a, lxcpath, old.m[i].name) > 0;
    }
    return any;
}

/*
 * A probe: running while the receiver lives, or while a member it set up
 * runs though the receiver died (the monitor then starts the receiver
 * again; "not running" would let Pacemaker start the set elsewhere).
 */
static enum vcha_result
ctset_probe(struct vcha_agent *a)
{
    if (receiver_pid(a) > 0) {
        return VCHA_OK;
    }
    if (recorded_running(a)) {
        vcha_warn("the rsync daemon is dead but members run: running");
        return VCHA_OK;
    }
    return VCHA_NOT_RUNNING;
}

static enum vcha_result
ctset_monitor(struct vcha_agent *a)
{
    static struct members ms;
    char path[PATH_MAX];
    enum vcha_result r = VCHA_OK, m;
    bool ready;

    if (a->probe) {
        return ctset_probe(a);
    }
    run_path(a, "members", path, sizeof(path));
    if (receiver_pid(a) == 0 && access(path, F_OK) < 0) {
        return VCHA_NOT_RUNNING;
    }
    r = members_get(a, &ms);
    if (r == VCHA_OK && receiver_pid(a) == 0) {
        /* the members run on untouched: only the receiver comes back */
        vcha_warn("the rsync daemon died (see the system log, "
                  "rsyncd-INSTANCE): starting it again");
        r = receiver_configure(a, &ms);
        r = r != VCHA_OK ? r : receiver_start(a);
    } else if (r == VCHA_OK) {
        r = receiver_answers(a, false);
    }
    ready = r == VCHA_OK;
    for (size_t i = 0; ready && i < ms.n; i++) {
        m = member_converge(a, &ms.m[i], true);
        r = r != VCHA_OK ? r : m;
    }
    return r;
}

/* A probe or a stop with parameters that cannot be used: the receiver
 * and the members this node set up are found in the run directory. */
static enum vcha_result
ctset_config_error(struct vcha_agent *a, enum vcha_result r)
{
    vcha_warn("%s; acting on what this node set up", a->reason);
    a->reason[0] = '\0';
    if (a->probe) {
        (void) r;
        return ctset_probe(a);
    }
    return stop_all(a, NULL);
}

/* ------------------------------------------------------------ validate */

/* Whether @p bin (of @p family) lies in @p m's network. */
static bool
same_subnet(const struct member *m, int family, const unsigned char *bin)
{
    int bits = m->prefix;

    if (family != m->family) {
        return false;
    }
    for (int i = 0; bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : (unsigned char) (0xff << (8 - bits));

        if ((m->bin[i] & mask) != (bin[i] & mask)) {
            return false;
        }
    }
    return true;
}

/* An address parameter by value: its family, 0 when empty. */
static int
param_address(struct vcha_agent *a, int p, unsigned char bin[16])
{
    const char *v = vcha_agent_str(a, p);

    memset(bin, 0, 16);
    if (v == NULL || *v == '\0') {
        return 0;
    }
    return inet_pton(AF_INET, v, bin) == 1    ? AF_INET
           : inet_pton(AF_INET6, v, bin) == 1 ? AF_INET6
                                              : 0;
}

/* The members against receiver_address and gateway. */
static enum vcha_result
addresses_check(struct vcha_agent *a, const struct members *ms)
{
    static const unsigned char zero[16];
    char w[MAX_RECEIVERS][INET6_ADDRSTRLEN];
    unsigned char gw[16];
    const char *rv = vcha_agent_str(a, P_RECEIVER_ADDRESS);
    size_t total, nr = rv ? receivers_split(rv, w, &total) : 0;
    int gfam = param_address(a, P_GATEWAY, gw);

    if (gfam != 0 && memcmp(gw, zero, 16) == 0) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "gateway: the unspecified address is no "
                               "gateway");
    }
    for (size_t i = 0; i < ms->n; i++) {
        const struct member *m = &ms->m[i];

        for (size_t k = 0; k < nr; k++) {
            struct vcha_ip ip;

            if (vcha_ip_parse(w[k], &ip) == 0 && ip.family == m->family &&
                memcmp(ip.bytes, m->bin, m->family == AF_INET ? 4 : 16) ==
                    0) {
                return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                                       "members: member %s has the "
                                       "receiver_address %s",
                                       m->name, w[k]);
            }
        }
        if (gfam == 0) {
            continue;
        }
        if (gfam == m->family && memcmp(gw, m->bin, 16) == 0) {
            return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                                   "members: member %s has the gateway's "
                                   "address %s",
                                   m->name, vcha_agent_str(a, P_GATEWAY));
        }
        if (gfam != m->family) {
            return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                                   "gateway: %s is not of member %s's "
                                   "address family (%s)",
                                   vcha_agent_str(a, P_GATEWAY), m->name,
                                   m->address);
        }
        if (!same_subnet(m, gfam, gw)) {
            return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                                   "gateway: %s is not in member %s's "
                                   "network %s",
                                   vcha_agent_str(a, P_GATEWAY), m->name,
                                   m->address);
        }
    }
    return VCHA_OK;
}

static enum vcha_result
ctset_validate(struct vcha_agent *a, int level)
{
    static struct members ms;
    const char *idmap = vcha_agent_str(a, P_IDMAP);
    char users[1024];
    enum vcha_result r = members_get(a, &ms);

    r = r != VCHA_OK ? r : addresses_check(a, &ms);
    if (r != VCHA_OK || level < 10) {
        return r;
    }
    if (vcha_exec_find(VCHA_RSYNC) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED, "%s not found",
                               VCHA_RSYNC);
    }
    /* rsyncd runs pre-xfer exec through sh -c */
    if (strspn(receive_prog(), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                               "rstuvwxyz0123456789/._-") !=
        strlen(receive_prog())) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                               "vcha-receive's path %s holds characters "
                               "other than letters, digits and /._- (the "
                               "rsync daemon runs it through a shell)",
                               receive_prog());
    }
    if (vcha_exec_find(receive_prog()) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED, "%s not found",
                               receive_prog());
    }
    r = secrets_check(a, users, sizeof(users));
    if (r != VCHA_OK) {
        return r;
    }
    for (size_t i = 0; i < ms.n; i++) {
        if (ms.m[i].mode == MODE_WARM &&
            vcha_exec_find(vcha_agent_str(a, P_WARM_IDLE)) < 0) {
            return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                                   "warm_idle: %s not found (warm member "
                                   "%s idles with it: install "
                                   "busybox-static)",
                                   vcha_agent_str(a, P_WARM_IDLE),
                                   ms.m[i].name);
        }
    }
    if (idmap != NULL && *idmap && access("/proc/self/uid_map", F_OK) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                               "idmap: this kernel has no user namespaces");
    }
    return VCHA_OK;
}

static const struct vcha_action_def actions[] = {
    {"start", ctset_start, 120, 0, -1, NULL},
    {"stop", ctset_stop, 120, 0, -1, NULL},
    {"monitor", ctset_monitor, 60, 20, 0, NULL},
    {"reload-agent", ctset_reload_agent, 120, 0, -1, NULL},
    {NULL},
};

static const struct vcha_agent_def agent = {
    .name = AGENT,
    .version = PACKAGE_VERSION,
    .shortdesc = "The container set of a standby VM, and its sync receiver",
    .longdesc =
        "Run as a clone on the standby VMs of in-VM container standby: "
        "each protected service (ocf:vcha:vcservice) has a member here, "
        "an LXC container whose root filesystem, SYNC_DIR/NAME/rootfs, "
        "its primary VM keeps in step with its own tree (vchad's filesync "
        "job: rsync pushes with package-based exclusions).  The agent runs "
        "the receiving end: a stock rsync daemon on receiver_address and "
        "receiver_port (it detaches and survives the agent; its "
        "configuration and pid file are in $VCHA_RUN_DIR/ctset/"
        "INSTANCE, /run/vcha/ctset/INSTANCE by default; it logs to "
        "syslog, facility daemon, tag rsyncd-INSTANCE), with one module "
        "per member named after it, authenticated by secrets_file, "
        "vcha-receive(8) as its pre-xfer and post-xfer hooks, which mark "
        "each batch begun and ended beside the tree (rootfs.vcha-sync).  "
        "A primary's filesync target is rsync://NAME@ADDRESS:PORT/NAME: "
        "each module admits only the user of its member's name.  "
        "A monitor (not a probe) that finds the rsync daemon dead starts "
        "it again, the members untouched; one that cannot fails.  "
        "The agent writes each member's LXC configuration, "
        "LXCPATH/NAME/config, whose first line says it is the agent's: a "
        "configuration without that line (another container of the same "
        "name) is never overwritten, and start fails naming it (container "
        "name clash).  Start and monitor keep hot and warm members "
        "running, once their tree was synced at least once (complete or "
        "incomplete: a member never synced is not started), and cold ones "
        "stopped; a member that stopped is started again by the next "
        "monitor, and one that does not start fails the monitor.  A "
        "running hot or warm member is restarted when the packages digest "
        "its last completed batch recorded (the sha256 of "
        "var/lib/dpkg/status) differs from the one it was started with, "
        "so that it runs what its primary has installed.  Each member's "
        "state is published as the transient node attribute "
        "vcha-sync-NAME (complete, incomplete, never or active) and the "
        "seconds since its last completed batch ended as vcha-lag-NAME "
        "(none while the member is active), "
        "and the receiver holding its tree on this node as "
        "vcha-receiver-NAME (ADDRESS:PORT, [ADDRESS]:PORT for IPv6; none "
        "for an unspecified receiver_address; ocf:vcha:vcservice's "
        "failback with an rsync:// sync_target pulls from the receiver of "
        "the node where the member is active).  "
        "A member is active while rootfs.vcha-active exists beside its "
        "tree, written by ocf:vcha:vcservice when it activates the member "
        "(instance=, node=, since_ms= lines): vcha-receive then refuses "
        "every push into it, and this agent never restarts or stops it "
        "by itself, but at its own stop.  The marker stays after the "
        "service stops, since the tree is then newer than its primary's, "
        "until the failback: the monitor removes the marker once the "
        "cluster property vcha-active-NAME (property set vcha-records, "
        "written by vcservice before the marker, set to native:NODE by "
        "its primary's start once it has pulled the tree back) says "
        "native:NODE, and starts the member again as a "
        "standby (a running one is stopped first).  While the property "
        "names another standby VM (the service migrated there: "
        "vcservice's migration_dir) the member here stays stopped with "
        "its marker, its address in use there.  Without the property "
        "(a CIB replaced from an older copy) the marker is kept, with a "
        "warning at each monitor.  While the marker exists, "
        "vcha-receive lets the member's primary download the tree.  "
        "A reload (members is reloadable) adds and removes members "
        "without touching the others: a member that left the set is "
        "stopped (unless active), its configuration removed if it is the "
        "agent's, its tree kept.  Stop stops the rsync daemon and every "
        "member, active or not (Pacemaker stops the services first), and "
        "removes the attributes; the configurations and trees stay.  "
        "The rsync daemon protocol is not encrypted: use it on the "
        "cluster's own network only.",
    .params = params,
    .n_params = N_PARAMS,
    .actions = actions,
    .validate = ctset_validate,
    .config_error = ctset_config_error,
};

int
main(int argc, char **argv)
{
    return vcha_agent_main(&agent, argc, argv);
}
