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
                        "follows from it.  It alone does not tell where the "
                        "resource runs (it may be the same on every node): a "
                        "node reports the resource running only if it started "
                        "it, or if this address is on one of its interfaces.  "
                        "Set this or address_attribute.",
        },
    [P_ADDRESS_ATTRIBUTE] =
        {
            .name = "address_attribute",
            .type = VCHA_PT_STRING,
            .check = vcha_check_attribute_name,
            .shortdesc = "Node attribute holding the address",
            .longdesc = "The name of a node attribute that holds the address "
                        "to publish on the node where the resource runs: a "
                        "transient attribute (so that a service agent can "
                        "publish where it came up), or else a permanent one "
                        "(pcs node attribute NODE NAME=ADDRESS).  Each node's "
                        "value is taken as that node's own address.  Set this "
                        "or address.",
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
                "Remove the record when the resource stops, but only on "
                "a node that published it, and only if it still points to "
                "this node's address (an update prerequisite guards "
                "against removing a record another node has just taken "
                "over).  A stop on a node where the resource does not run "
                "never touches the record; a stop after a start that "
                "failed once its update was sent removes it.  By default "
                "stop leaves the record in place for the next start to "
                "replace.",
        },
};

/* ------------------------------------------------------------ helpers */

/*
 * What this node has done with the resource since it booted, in a state
 * file under HA_RSCTMP (which a reboot empties): nothing, started it, or
 * stopped it.  Start records itself before it changes the record, so that
 * the stop that follows a start that failed or died half-way undoes it.
 */
enum local_state {
    LOCAL_NONE,
    LOCAL_ACTIVE,
    LOCAL_STOPPED,
};

static const char *const local_state_text[] = {
    [LOCAL_NONE] = "",
    [LOCAL_ACTIVE] = "active\n",
    [LOCAL_STOPPED] = "stopped\n",
};

static int
local_state_path(const struct vcha_agent *a, char *buf, size_t len)
{
    return vcha_state_path(buf, len, AGENT, a->instance, ".state");
}

/* A state that cannot be read counts as active: a stop then undoes what a
 * start may have done, and a monitor asks the server. */
static enum local_state
local_state_get(const struct vcha_agent *a)
{
    enum local_state st = LOCAL_ACTIVE;
    char path[4096], *data = NULL;
    int rc = local_state_path(a, path, sizeof(path));

    if (rc == 0) {
        rc = vcha_file_read(path, &data, NULL, 64);
    }
    if (rc == -ENOENT || rc == -ENOTDIR) {
        return LOCAL_NONE;
    }
    if (rc == 0 && strcmp(data, local_state_text[LOCAL_STOPPED]) == 0) {
        st = LOCAL_STOPPED;
    } else if (rc < 0 || strcmp(data, local_state_text[LOCAL_ACTIVE]) != 0) {
        vcha_warn("state file %s: %s; taking the resource as started here",
                  path, rc < 0 ? strerror(-rc) : "neither active nor stopped");
    }
    free(data);
    return st;
}

static int
local_state_set(const struct vcha_agent *a, enum local_state st)
{
    char path[4096];
    int rc = local_state_path(a, path, sizeof(path));

    if (rc < 0) {
        return rc;
    }
    if (st == LOCAL_NONE) {
        rc = unlink(path) == 0 ? 0 : -errno;
        return (rc == -ENOENT || rc == -ENOTDIR) ? 0 : rc;
    }
    rc = vcha_state_dir_ensure();
    return rc < 0 ? rc
                  : vcha_file_write_atomic(path, local_state_text[st],
                                           strlen(local_state_text[st]), 0644);
}

/*
 * Whether a record that points to @p ip is this node's doing: it started
 * the resource and has not stopped it since, or it has done neither since
 * it booted and @p ip is its own.  An address from this node's attribute is
 * its own; a fixed address is the same on every node, so it is this node's
 * only when configured on one of its interfaces.
 */
static bool
published_here(const struct vcha_agent *a, enum local_state st,
               const struct vcha_ip *ip)
{
    int rc;

    if (st != LOCAL_NONE) {
        return st == LOCAL_ACTIVE;
    }
    if (vcha_agent_str(a, P_ADDRESS_ATTRIBUTE) != NULL) {
        return true;
    }
    rc = vcha_ip_is_local(ip);
    if (rc < 0) {
        vcha_warn("cannot list this node's addresses: %s", strerror(-rc));
    }
    return rc > 0;
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
 * Run nsupdate with @p script.  *@p unchanged tells whether the zone surely
 * did not change: nsupdate could not run, or the server answered with an
 * error (an update is all or nothing).  With @p prereq_ok, a failed
 * prerequisite is such an answer, but not a failure.
 */
static enum vcha_result
nsupdate(struct vcha_agent *a, const char *zone, const char *script,
         bool prereq_ok, bool *unchanged)
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
    *unchanged = rc < 0;
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
        *unchanged = strstr(res.err, "update failed:") != NULL;
        if (prereq_ok && *unchanged && strstr(res.err, "NXRRSET") != NULL) {
            r = VCHA_OK;
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
    enum local_state st = local_state_get(a);
    char addr[INET6_ADDRSTRLEN];
    struct vcha_dns_server srv;
    struct vcha_ip ip;
    enum vcha_result r;

    if (st == LOCAL_STOPPED) {
        return VCHA_NOT_RUNNING;
    }
    r = expected_address(a, &ip);
    if (r != VCHA_OK) {
        return r;
    }
    if (!published_here(a, st, &ip)) {
        return vcha_agent_fail(a, VCHA_NOT_RUNNING,
                               "not started on this node, and %s is not one "
                               "of its addresses",
                               vcha_ip_format(&ip, addr, sizeof(addr)));
    }
    r = server_get(a, &srv);
    return r == VCHA_OK ? record_check(a, &srv, &ip) : r;
}

/* Everything start needs before it changes anything. */
static enum vcha_result
start_prepare(struct vcha_agent *a, struct vcha_ip *ip,
              struct vcha_dns_server *srv, char *zone, size_t zone_len)
{
    enum vcha_result r = dnsswitch_validate(a, 10);

    if (r == VCHA_OK) {
        r = expected_address(a, ip);
        if (r == VCHA_NOT_RUNNING) {
            r = VCHA_ERR_GENERIC; /* no address to publish (yet) */
        }
    }
    if (r == VCHA_OK) {
        r = server_get(a, srv);
    }
    return r == VCHA_OK ? zone_get(a, srv, zone, zone_len) : r;
}

/* Replace the name's address records with @p ip, and check that it took. */
static enum vcha_result
publish(struct vcha_agent *a, const struct vcha_dns_server *srv,
        const char *zone, const struct vcha_ip *ip, bool *unchanged)
{
    char script[2048], addr[INET6_ADDRSTRLEN];
    const char *name = vcha_agent_str(a, P_NAME);
    size_t len;
    enum vcha_result r;

    vcha_ip_format(ip, addr, sizeof(addr));
    script_header(a, srv, zone, script, sizeof(script));
    len = strlen(script);
    snprintf(script + len, sizeof(script) - len,
             "update delete %s A\nupdate delete %s AAAA\n"
             "update add %s %lld %s %s\nsend\n",
             name, name, name, vcha_agent_num(a, P_TTL), rrtype(ip), addr);
    r = nsupdate(a, zone, script, false, unchanged);
    if (r == VCHA_OK) {
        r = record_check(a, srv, ip);
        if (r == VCHA_NOT_RUNNING) {
            r = VCHA_ERR_GENERIC; /* the update did not take */
        }
    }
    if (r == VCHA_OK) {
        vcha_notice("%s now points to %s (zone %s, ttl %lld)", name, addr, zone,
                    vcha_agent_num(a, P_TTL));
    }
    return r;
}

static enum vcha_result
dnsswitch_start(struct vcha_agent *a)
{
    enum local_state before = local_state_get(a);
    struct vcha_dns_server srv;
    bool unchanged = false;
    struct vcha_ip ip;
    char zone[1025];
    enum vcha_result r = start_prepare(a, &ip, &srv, zone, sizeof(zone));
    int rc;

    if (r != VCHA_OK) {
        return r;
    }
    rc = local_state_set(a, LOCAL_ACTIVE);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot record the start in %s: %s",
                               vcha_state_dir(), strerror(-rc));
    }
    r = publish(a, &srv, zone, &ip, &unchanged);
    if (r != VCHA_OK && unchanged && before != LOCAL_ACTIVE) {
        /* the zone did not change: nothing for a stop to undo.  Should
         * this fail, a stop still removes the record only if it points
         * here. */
        local_state_set(a, before);
    }
    return r;
}

/* Remove the record if this node published it and it still points here;
 * never fails the stop. */
static void
unregister(struct vcha_agent *a, enum local_state st)
{
    char zone[1025], script[2048], addr[INET6_ADDRSTRLEN];
    const char *name = vcha_agent_str(a, P_NAME);
    struct vcha_dns_server srv;
    bool moved = false;
    struct vcha_ip ip;
    enum vcha_result r = expected_address(a, &ip);
    size_t len;

    if (r == VCHA_OK && !published_here(a, st, &ip)) {
        vcha_info("not removing %s: this node did not publish it", name);
        return;
    }
    if (r == VCHA_OK) {
        r = server_get(a, &srv);
    }
    if (r == VCHA_OK) {
        r = zone_get(a, &srv, zone, sizeof(zone));
    }
    if (r != VCHA_OK) {
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
    if (nsupdate(a, zone, script, true, &moved) != VCHA_OK) {
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
    enum local_state st = local_state_get(a);
    int rc;

    if (vcha_agent_num(a, P_UNREGISTER) && st != LOCAL_STOPPED) {
        unregister(a, st);
    }
    rc = local_state_set(a, LOCAL_STOPPED);
    if (rc < 0 && local_state_set(a, LOCAL_NONE) < 0) {
        /* still marked active here: only a reboot would clear that */
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot record the stop in %s: %s",
                               vcha_state_dir(), strerror(-rc));
    }
    if (rc < 0) {
        vcha_warn("cannot record the stop in %s (%s); a probe may report "
                  "the record as active",
                  vcha_state_dir(), strerror(-rc));
    }
    return VCHA_OK;
}

static const struct vcha_action_def actions[] = {
    {"start", dnsswitch_start, 30, 0, -1, NULL},
    {"stop", dnsswitch_stop, 30, 0, -1, NULL},
    {"monitor", dnsswitch_monitor, 20, 10, 0, NULL},
    {NULL},
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
        "when the record is this node's and the server resolves the name to "
        "exactly the expected address, and not running when the name points "
        "elsewhere or is absent.  The record is this node's when this node "
        "started the resource and has not stopped it since, or, on a node "
        "that has done neither since it booted, when the address is its own: "
        "read from its address_attribute, or a fixed address configured on "
        "one of its interfaces.  So a probe after a reboot tells the truth "
        "about the node's own address, and reports not running for a fixed "
        "address on none of its interfaces, which other nodes may share.  "
        "After a stop, monitor reports not running even when the record was "
        "left in place.  The agent keeps what the node did in HA_RSCTMP "
        "(/run/resource-agents), which a reboot empties; start records "
        "itself there before it sends the update, and fails without changing "
        "anything if it cannot.  Colocate it with the service whose address "
        "it publishes.",
    .params = params,
    .n_params = N_PARAMS,
    .actions = actions,
    .validate = dnsswitch_validate,
};

int
main(int argc, char **argv)
{
    return vcha_agent_main(&agent, argc, argv);
}
