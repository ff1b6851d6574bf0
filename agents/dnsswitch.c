/*
 * ocf:vcha:dnsswitch - point one DNS name at the address of the node (or the
 * colocated service) it runs on, with an RFC 2136 update signed by a TSIG key,
 * and check it by asking the authoritative server directly.
 */
#include <config.h>

#include <arpa/nameser.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcha/agent.h>
#include <vcha/attr.h>
#include <vcha/dns.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/log.h>

#define AGENT "dnsswitch"

enum {
    P_NAME,
    P_ADDRESS,
    P_ADDRESS_ATTRIBUTE,
    P_SERVER,
    P_PORT,
    P_ZONE,
    P_KEYFILE,
    P_TTL,
    P_UNREGISTER,
    N_PARAMS
};

static int
check_fqdn(const char *v, char *why, size_t len)
{
    return vcha_dns_name_check(v, 2, why, len);
}

static int
check_zone(const char *v, char *why, size_t len)
{
    return vcha_dns_name_check(v, 1, why, len);
}

static int
check_address(const char *v, char *why, size_t len)
{
    struct vcha_ip ip;

    if (vcha_ip_parse(v, &ip) < 0) {
        snprintf(why, len, "is neither an IPv4 nor an IPv6 address");
        return -EINVAL;
    }
    return 0;
}

static int
check_server(const char *v, char *why, size_t len)
{
    struct vcha_ip ip;

    if (vcha_ip_parse(v, &ip) == 0 ||
        vcha_dns_name_check(v, 1, why, len) == 0) {
        return 0;
    }
    snprintf(why, len, "is neither an IP address nor a host name");
    return -EINVAL;
}

static int
check_attribute(const char *v, char *why, size_t len)
{
    if (strpbrk(v, " \t=\"'") != NULL) {
        snprintf(why, len, "is not a usable node attribute name");
        return -EINVAL;
    }
    return 0;
}

static const struct vcha_param_def params[N_PARAMS] = {
    [P_NAME] =
        {
            .name = "name",
            .type = VCHA_PT_STRING,
            .required = true,
            .unique = true,
            .check = check_fqdn,
            .shortdesc = "DNS name to manage",
            .longdesc = "The fully qualified domain name whose address records "
                        "this resource owns, e.g. www.example.com.",
        },
    [P_ADDRESS] =
        {
            .name = "address",
            .type = VCHA_PT_STRING,
            .check = check_address,
            .shortdesc = "Address to publish",
            .longdesc = "The IPv4 or IPv6 address that name should resolve to "
                        "while the resource runs; the record type (A or AAAA) "
                        "follows from it.  Set this or address_attribute.",
        },
    [P_ADDRESS_ATTRIBUTE] =
        {
            .name = "address_attribute",
            .type = VCHA_PT_STRING,
            .check = check_attribute,
            .shortdesc = "Node attribute holding the address",
            .longdesc = "The name of a node attribute that holds the address "
                        "to publish on the node where the resource runs: a "
                        "transient attribute (so that a service agent can "
                        "publish where it came up), or else a permanent one "
                        "(pcs node attribute NODE NAME=ADDRESS).  Set this or "
                        "address.",
        },
    [P_SERVER] =
        {
            .name = "server",
            .type = VCHA_PT_STRING,
            .required = true,
            .check = check_server,
            .shortdesc = "Authoritative DNS server",
            .longdesc = "The primary authoritative server of the zone: it "
                        "receives the updates and is asked directly (never a "
                        "cache) whether name points here.",
        },
    [P_PORT] =
        {
            .name = "port",
            .type = VCHA_PT_INTEGER,
            .dflt = "53",
            .min = 1,
            .max = 65535,
            .shortdesc = "Port of the DNS server",
            .longdesc = "The port on which server answers queries and updates.",
        },
    [P_ZONE] =
        {
            .name = "zone",
            .type = VCHA_PT_STRING,
            .check = check_zone,
            .shortdesc = "Zone to update",
            .longdesc = "The zone that contains name.  By default it is found "
                        "from the SOA record that server returns for name.",
        },
    [P_KEYFILE] =
        {
            .name = "keyfile",
            .type = VCHA_PT_STRING,
            .check = vcha_check_abspath,
            .shortdesc = "TSIG key file",
            .longdesc = "A TSIG key file for nsupdate -k (as written by "
                        "tsig-keygen or ddns-confgen).  It must be readable by "
                        "its owner only; the agent refuses a key that group or "
                        "others can read.  Without it updates are unsigned.",
        },
    [P_TTL] =
        {
            .name = "ttl",
            .type = VCHA_PT_INTEGER,
            .dflt = "30",
            .min = 0,
            .max = 2147483647,
            .shortdesc = "TTL of the record in seconds",
            .longdesc =
                "Time to live of the published record.  Clients may use "
                "an old address for up to this long after a failover.",
        },
    [P_UNREGISTER] =
        {
            .name = "unregister_on_stop",
            .type = VCHA_PT_BOOLEAN,
            .dflt = "false",
            .shortdesc = "Remove the record on stop",
            .longdesc =
                "Remove the record when the resource stops, but only if "
                "it still points to this node's address (an update "
                "prerequisite guards against removing a record another "
                "node has just taken over).  By default stop leaves the "
                "record in place for the next start to replace.",
        },
};

/* ------------------------------------------------------------ helpers */

/* The "stopped" marker makes monitor report 7 after a stop that left the
 * record in place; without it (after a reboot) a probe asks DNS. */
static int
marker_path(const struct vcha_agent *a, char *buf, size_t len)
{
    return vcha_state_path(buf, len, AGENT, a->instance, ".stopped");
}

static bool
marker_exists(const struct vcha_agent *a)
{
    char path[4096];

    return marker_path(a, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

static int
marker_set(const struct vcha_agent *a, bool stopped)
{
    char path[4096];
    int rc = marker_path(a, path, sizeof(path));

    if (rc < 0) {
        return rc;
    }
    if (!stopped) {
        return (unlink(path) == 0 || errno == ENOENT) ? 0 : -errno;
    }
    rc = vcha_state_dir_ensure();
    return rc < 0 ? rc : vcha_file_write_atomic(path, "stopped\n", 8, 0644);
}

/* The address to publish: the parameter, or the node attribute. */
static enum vcha_result
expected_address(struct vcha_agent *a, struct vcha_ip *ip)
{
    const char *attr = vcha_agent_str(a, P_ADDRESS_ATTRIBUTE);
    char *value = NULL;
    int rc;

    if (attr == NULL) {
        vcha_ip_parse(vcha_agent_str(a, P_ADDRESS), ip);
        return VCHA_OK;
    }
    rc = vcha_node_attr_get(attr, NULL, &value, vcha_agent_remaining_ms(a));
    if (rc == -ENODATA) {
        return vcha_agent_fail(a, VCHA_NOT_RUNNING,
                               "node attribute '%s' has no value on this "
                               "node",
                               attr);
    } else if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot read node attribute '%s': %s", attr,
                               strerror(-rc));
    }
    rc = vcha_ip_parse(value, ip);
    if (rc < 0) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC,
                        "node attribute '%s' holds '%.64s', not an address",
                        attr, value);
    }
    free(value);
    return rc < 0 ? VCHA_ERR_GENERIC : VCHA_OK;
}

static enum vcha_result
server_get(struct vcha_agent *a, struct vcha_dns_server *srv)
{
    const char *host = vcha_agent_str(a, P_SERVER);
    int rc =
        vcha_dns_server_set(srv, host, (unsigned) vcha_agent_num(a, P_PORT));

    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot resolve server '%s'", host);
    }
    return VCHA_OK;
}

static const char *
rcode_name(int rcode)
{
    static const char *const names[] = {
        "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};

    return (rcode >= 0 && rcode < 11) ? names[rcode] : "unknown rcode";
}

/* Ask the server for one record type at name; failures set the reason. */
static enum vcha_result
query(struct vcha_agent *a, const struct vcha_dns_server *srv, int type,
      struct vcha_dns_answer *ans)
{
    const char *name = vcha_agent_str(a, P_NAME);
    int rc = vcha_dns_query(srv, name, type, vcha_agent_remaining_ms(a), ans);

    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "DNS server %s did not answer for %s: %s",
                               srv->text, name, strerror(-rc));
    }
    if (ans->rcode != ns_r_noerror && ans->rcode != ns_r_nxdomain) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "DNS server %s answered %s for %s", srv->text,
                               rcode_name(ans->rcode), name);
    }
    if (!ans->authoritative) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "DNS server %s is not authoritative for %s",
                               srv->text, name);
    }
    return VCHA_OK;
}

/* OK when name resolves to exactly @p ip (and has no other address). */
static enum vcha_result
record_check(struct vcha_agent *a, const struct vcha_dns_server *srv,
             const struct vcha_ip *ip)
{
    const char *name = vcha_agent_str(a, P_NAME);
    int type = ip->family == AF_INET ? VCHA_DNS_TYPE_A : VCHA_DNS_TYPE_AAAA;
    int other = type == VCHA_DNS_TYPE_A ? VCHA_DNS_TYPE_AAAA : VCHA_DNS_TYPE_A;
    struct vcha_dns_answer ans, ans_other;
    char want[INET6_ADDRSTRLEN], got[INET6_ADDRSTRLEN];
    enum vcha_result r = query(a, srv, type, &ans);

    if (r == VCHA_OK) {
        r = query(a, srv, other, &ans_other);
    }
    if (r != VCHA_OK) {
        return r;
    }
    vcha_ip_format(ip, want, sizeof(want));
    if (ans.n_addrs == 0) {
        return vcha_agent_fail(a, VCHA_NOT_RUNNING, "%s has no %s record", name,
                               type == VCHA_DNS_TYPE_A ? "A" : "AAAA");
    }
    for (size_t i = 0; i < ans.n_addrs; i++) {
        if (!vcha_ip_equal(&ans.addrs[i], ip)) {
            return vcha_agent_fail(
                a, VCHA_NOT_RUNNING, "%s points to %s, not %s", name,
                vcha_ip_format(&ans.addrs[i], got, sizeof(got)), want);
        }
    }
    if (ans_other.n_addrs > 0) {
        return vcha_agent_fail(
            a, VCHA_NOT_RUNNING, "%s also points to %s", name,
            vcha_ip_format(&ans_other.addrs[0], got, sizeof(got)));
    }
    return VCHA_OK;
}

/* The zone: the parameter, or the owner of the SOA the server returns. */
static enum vcha_result
zone_get(struct vcha_agent *a, const struct vcha_dns_server *srv, char *zone,
         size_t len)
{
    struct vcha_dns_answer ans;
    enum vcha_result r;

    if (vcha_agent_str(a, P_ZONE) != NULL) {
        snprintf(zone, len, "%s", vcha_agent_str(a, P_ZONE));
        return VCHA_OK;
    }
    r = query(a, srv, VCHA_DNS_TYPE_SOA, &ans);
    if (r != VCHA_OK) {
        return r;
    }
    if (ans.soa_owner[0] == '\0') {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "cannot find the zone of %s from %s; set zone",
                               vcha_agent_str(a, P_NAME), srv->text);
    }
    snprintf(zone, len, "%s", ans.soa_owner);
    return VCHA_OK;
}

/* -------------------------------------------------------- nsupdate */

/* Last non-empty line of @p text, for an exit reason. */
static void
last_line(const char *text, char *buf, size_t len)
{
    const char *end = text + strlen(text), *start;

    while (end > text && (end[-1] == '\n' || end[-1] == ' ')) {
        end--;
    }
    start = end;
    while (start > text && start[-1] != '\n') {
        start--;
    }
    snprintf(buf, len, "%.*s", (int) (end - start), start);
}

static bool
refused_by_policy(const char *err)
{
    static const char *const words[] = {"REFUSED", "NOTAUTH", "BADKEY",
                                        "BADSIG",  "tsig",    "TSIG"};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strstr(err, words[i]) != NULL) {
            return true;
        }
    }
    return false;
}

/*
 * Run nsupdate with @p script.  -ENOENT: not installed; -EEXIST: a
 * prerequisite failed (the record no longer is what we expected).
 */
static enum vcha_result
nsupdate(struct vcha_agent *a, const char *zone, const char *script,
         bool *prereq_failed)
{
    const char *keyfile = vcha_agent_str(a, P_KEYFILE);
    long long left = vcha_agent_remaining_ms(a);
    char tsec[24], line[256];
    const char *argv[8] = {"nsupdate", "-t", tsec};
    size_t n = 3;
    struct vcha_exec_result res;
    int rc;

    snprintf(tsec, sizeof(tsec), "%lld", left > 2000 ? left / 1000 - 1 : 1);
    if (keyfile != NULL) {
        argv[n++] = "-k";
        argv[n++] = keyfile;
    }
    argv[n] = NULL;
    vcha_debug("nsupdate script:\n%s", script);
    rc = vcha_exec(argv, script, strlen(script), left, &res);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                               "cannot run nsupdate: %s (install "
                               "bind9-dnsutils)",
                               strerror(-rc));
    }
    enum vcha_result r = VCHA_OK;
    last_line(res.err[0] ? res.err : res.out, line, sizeof(line));
    if (res.timed_out) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "nsupdate did not finish in time");
    } else if (!vcha_exec_ok(&res)) {
        if (prereq_failed != NULL && strstr(res.err, "NXRRSET") != NULL) {
            *prereq_failed = true;
        } else if (refused_by_policy(res.err)) {
            r = vcha_agent_fail(a, VCHA_ERR_ARGS,
                                "server refused the update of %s in zone %s "
                                "(%s): check keyfile, zone and the zone's "
                                "update policy",
                                vcha_agent_str(a, P_NAME), zone, line);
        } else {
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "nsupdate failed: %s",
                                line);
        }
    }
    vcha_exec_result_clear(&res);
    return r;
}

static void
script_header(struct vcha_agent *a, const struct vcha_dns_server *srv,
              const char *zone, char *buf, size_t len)
{
    snprintf(buf, len, "server %s %lld\nzone %s\n", vcha_agent_str(a, P_SERVER),
             vcha_agent_num(a, P_PORT), zone);
}

static const char *
rrtype(const struct vcha_ip *ip)
{
    return ip->family == AF_INET ? "A" : "AAAA";
}

/* ------------------------------------------------------------ actions */

static enum vcha_result
dnsswitch_validate(struct vcha_agent *a, int level)
{
    const char *keyfile = vcha_agent_str(a, P_KEYFILE);
    bool addr = vcha_agent_str(a, P_ADDRESS) != NULL;
    bool attr = vcha_agent_str(a, P_ADDRESS_ATTRIBUTE) != NULL;
    struct stat st;

    if (addr == attr) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               addr ? "set only one of 'address' and "
                                      "'address_attribute'"
                                    : "one of 'address' or "
                                      "'address_attribute' is required");
    }
    if (level < 10) {
        return VCHA_OK;
    }
    if (vcha_exec_find("nsupdate") < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                               "nsupdate not found (install bind9-dnsutils)");
    }
    if (keyfile == NULL) {
        return VCHA_OK;
    }
    if (stat(keyfile, &st) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED, "keyfile %s: %s", keyfile,
                               strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || access(keyfile, R_OK) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_ARGS,
                               "keyfile %s is not a readable file", keyfile);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        return vcha_agent_fail(a, VCHA_ERR_ARGS,
                               "keyfile %s is readable by group or others "
                               "(mode %04o); chmod 600 it",
                               keyfile, (unsigned) (st.st_mode & 07777));
    }
    return VCHA_OK;
}

static enum vcha_result
dnsswitch_monitor(struct vcha_agent *a)
{
    struct vcha_dns_server srv;
    struct vcha_ip ip;
    enum vcha_result r;

    if (marker_exists(a)) {
        return VCHA_NOT_RUNNING;
    }
    r = expected_address(a, &ip);
    if (r == VCHA_OK) {
        r = server_get(a, &srv);
    }
    return r == VCHA_OK ? record_check(a, &srv, &ip) : r;
}

static enum vcha_result
dnsswitch_start(struct vcha_agent *a)
{
    char zone[1025], script[2048], addr[INET6_ADDRSTRLEN];
    const char *name = vcha_agent_str(a, P_NAME);
    struct vcha_dns_server srv;
    struct vcha_ip ip;
    enum vcha_result r = dnsswitch_validate(a, 10);
    size_t len;

    if (r == VCHA_OK) {
        r = expected_address(a, &ip);
        if (r == VCHA_NOT_RUNNING) {
            r = VCHA_ERR_GENERIC; /* no address to publish (yet) */
        }
    }
    if (r == VCHA_OK) {
        r = server_get(a, &srv);
    }
    if (r == VCHA_OK) {
        r = zone_get(a, &srv, zone, sizeof(zone));
    }
    if (r != VCHA_OK) {
        return r;
    }
    vcha_ip_format(&ip, addr, sizeof(addr));
    script_header(a, &srv, zone, script, sizeof(script));
    len = strlen(script);
    snprintf(script + len, sizeof(script) - len,
             "update delete %s A\nupdate delete %s AAAA\n"
             "update add %s %lld %s %s\nsend\n",
             name, name, name, vcha_agent_num(a, P_TTL), rrtype(&ip), addr);
    r = nsupdate(a, zone, script, NULL);
    if (r == VCHA_OK) {
        r = record_check(a, &srv, &ip);
        if (r == VCHA_NOT_RUNNING) {
            r = VCHA_ERR_GENERIC; /* the update did not take */
        }
    }
    if (r == VCHA_OK && marker_set(a, false) < 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot clear state in %s",
                            vcha_state_dir());
    }
    if (r == VCHA_OK) {
        vcha_notice("%s now points to %s (zone %s, ttl %lld)", name, addr, zone,
                    vcha_agent_num(a, P_TTL));
    }
    return r;
}

/* Remove the record if it still points here; never fails the stop. */
static void
unregister(struct vcha_agent *a)
{
    char zone[1025], script[2048], addr[INET6_ADDRSTRLEN];
    const char *name = vcha_agent_str(a, P_NAME);
    struct vcha_dns_server srv;
    bool moved = false;
    struct vcha_ip ip;
    size_t len;

    if (expected_address(a, &ip) != VCHA_OK || server_get(a, &srv) != VCHA_OK ||
        zone_get(a, &srv, zone, sizeof(zone)) != VCHA_OK) {
        vcha_warn("not removing %s: %s", name, a->reason);
        a->reason[0] = '\0';
        return;
    }
    vcha_ip_format(&ip, addr, sizeof(addr));
    script_header(a, &srv, zone, script, sizeof(script));
    len = strlen(script);
    snprintf(script + len, sizeof(script) - len,
             "prereq yxrrset %s %s %s\nupdate delete %s %s\nsend\n", name,
             rrtype(&ip), addr, name, rrtype(&ip));
    if (nsupdate(a, zone, script, &moved) != VCHA_OK) {
        vcha_warn("could not remove %s (%s); the next start replaces it", name,
                  a->reason);
        a->reason[0] = '\0';
    } else if (moved) {
        vcha_info("%s no longer points to %s; left as it is", name, addr);
    } else {
        vcha_notice("removed %s %s %s", name, rrtype(&ip), addr);
    }
}

static enum vcha_result
dnsswitch_stop(struct vcha_agent *a)
{
    if (vcha_agent_num(a, P_UNREGISTER) && !marker_exists(a)) {
        unregister(a);
    }
    if (marker_set(a, true) < 0) {
        vcha_warn("cannot record the stop in %s; a probe may report the "
                  "record as active",
                  vcha_state_dir());
    }
    return VCHA_OK;
}

static const struct vcha_action_def actions[] = {
    {"start", dnsswitch_start, 30, 0, -1, NULL},
    {"stop", dnsswitch_stop, 30, 0, -1, NULL},
    {"monitor", dnsswitch_monitor, 20, 10, 0, NULL},
    {"validate-all", NULL, 10, 0, -1, NULL},
    {"meta-data", NULL, 5, 0, -1, NULL},
};

static const struct vcha_agent_def agent = {
    .name = AGENT,
    .version = PACKAGE_VERSION,
    .shortdesc = "Points a DNS name at where the resource runs (nsupdate)",
    .longdesc =
        "Points one DNS name at the address of the node, or of the colocated "
        "service, where this resource runs, by a dynamic update (RFC 2136) "
        "signed with a TSIG key.  Start replaces the name's address records "
        "with one record in a single update and checks the result by asking "
        "the authoritative server.  Monitor only reads: it reports running "
        "when the server resolves the name to exactly the expected address, "
        "and not running when the name points elsewhere or is absent.  A "
        "probe tells the truth: a record that already points here is "
        "reported as running.  After a stop, monitor reports not running "
        "even when the record was left in place.  Colocate it with the "
        "service whose address it publishes.",
    .params = params,
    .n_params = N_PARAMS,
    .actions = actions,
    .n_actions = sizeof(actions) / sizeof(actions[0]),
    .validate = dnsswitch_validate,
};

int
main(int argc, char **argv)
{
    return vcha_agent_main(&agent, argc, argv);
}
