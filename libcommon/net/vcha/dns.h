/*
 * vcha - a minimal DNS client that asks one given server directly (never a
 * cache, never /etc/resolv.conf): UDP with a TCP retry on truncation.
 */
#ifndef VCHA_DNS_H
#define VCHA_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define VCHA_DNS_TYPE_A 1
#define VCHA_DNS_TYPE_SOA 6
#define VCHA_DNS_TYPE_AAAA 28
#define VCHA_DNS_MAX_ADDRS 32

/** An IPv4 or IPv6 address. */
struct vcha_ip {
    int family;              /**< AF_INET or AF_INET6 */
    unsigned char bytes[16]; /**< 4 or 16 bytes used */
};

/** The server to ask. */
struct vcha_dns_server {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char text[128]; /**< "127.0.0.1#53", for messages */
};

/** What the server answered. */
struct vcha_dns_answer {
    int rcode;          /**< 0 NOERROR, 3 NXDOMAIN, 5 REFUSED, ... */
    bool authoritative; /**< AA bit */
    size_t n_addrs;     /**< addresses owned by the queried name */
    struct vcha_ip addrs[VCHA_DNS_MAX_ADDRS];
    bool other_records;   /**< e.g. a CNAME at the name */
    char soa_owner[1025]; /**< owner of an SOA in the reply, or "" */
};

/**
 * Parse @p text as an IPv4 or IPv6 address.  Returns 0, or -EINVAL.
 */
int vcha_ip_parse(const char *text, struct vcha_ip *ip);

/** Format @p ip into @p buf (at least INET6_ADDRSTRLEN bytes). */
const char *vcha_ip_format(const struct vcha_ip *ip, char *buf, size_t len);

/** True when @p a and @p b are the same address. */
bool vcha_ip_equal(const struct vcha_ip *a, const struct vcha_ip *b);

/**
 * Whether @p ip is configured on one of this node's interfaces: 1, 0, or
 * -errno when they cannot be listed.
 */
int vcha_ip_is_local(const struct vcha_ip *ip);

/**
 * Check that @p name is a domain name of at least @p min_labels labels of
 * letters, digits, '-' and '_', 1-63 bytes each, 253 bytes in all, with an
 * optional final dot.  Returns 0 or -EINVAL with a reason in @p why.
 */
int vcha_dns_name_check(const char *name, size_t min_labels, char *why,
                        size_t whylen);

/**
 * Resolve @p host (an address, or a name looked up once with getaddrinfo)
 * and @p port into @p out.  Returns 0 or a negative errno.
 */
int vcha_dns_server_set(struct vcha_dns_server *out, const char *host,
                        unsigned port);

/**
 * Ask @p server for records of @p type at @p name, without recursion.
 * Returns 0 when the server answered (see @p ans->rcode), -ETIMEDOUT when it
 * did not answer in @p timeout_ms, -ECONNREFUSED when nothing listens,
 * -EPROTO on a malformed reply, or another negative errno.
 */
int vcha_dns_query(const struct vcha_dns_server *server, const char *name,
                   int type, long long timeout_ms, struct vcha_dns_answer *ans);

/**
 * Build a query message for @p name / @p type with id @p id into @p buf.
 * Returns its length, or -EINVAL (bad name) / -ENOSPC.
 */
int vcha_dns_build_query(const char *name, int type, unsigned id,
                         unsigned char *buf, size_t buflen);

/**
 * Parse reply @p msg of @p len bytes to a query for @p name / @p type with id
 * @p id into @p ans.  Returns 0, or -EPROTO if it is not a reply to that
 * query.
 */
int vcha_dns_parse_reply(const unsigned char *msg, size_t len, const char *name,
                         int type, unsigned id, struct vcha_dns_answer *ans);

#endif
