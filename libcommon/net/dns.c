/* vcha - a DNS client that asks one server directly. */
#include <config.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <poll.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/dns.h>

#define DNS_HEADER_LEN 12
#define DNS_UDP_MAX 4096
#define DNS_RETRY_MS 1000

int
vcha_ip_parse(const char *text, struct vcha_ip *ip)
{
    memset(ip, 0, sizeof(*ip));
    if (text == NULL) {
        return -EINVAL;
    }
    if (inet_pton(AF_INET, text, ip->bytes) == 1) {
        ip->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, ip->bytes) == 1) {
        ip->family = AF_INET6;
        return 0;
    }
    return -EINVAL;
}

const char *
vcha_ip_format(const struct vcha_ip *ip, char *buf, size_t len)
{
    if (inet_ntop(ip->family, ip->bytes, buf, (socklen_t) len) == NULL) {
        snprintf(buf, len, "?");
    }
    return buf;
}

bool
vcha_ip_equal(const struct vcha_ip *a, const struct vcha_ip *b)
{
    size_t n = a->family == AF_INET ? 4 : 16;

    return a->family == b->family && memcmp(a->bytes, b->bytes, n) == 0;
}

/* @p sa as a vcha_ip; -EAFNOSUPPORT when it is not IPv4 or IPv6. */
static int
ip_from_sockaddr(const struct sockaddr *sa, struct vcha_ip *ip)
{
    memset(ip, 0, sizeof(*ip));
    if (sa != NULL && sa->sa_family == AF_INET) {
        ip->family = AF_INET;
        memcpy(ip->bytes, &((const struct sockaddr_in *) sa)->sin_addr, 4);
        return 0;
    }
    if (sa != NULL && sa->sa_family == AF_INET6) {
        ip->family = AF_INET6;
        memcpy(ip->bytes, &((const struct sockaddr_in6 *) sa)->sin6_addr, 16);
        return 0;
    }
    return -EAFNOSUPPORT;
}

int
vcha_ip_is_local(const struct vcha_ip *ip)
{
    struct ifaddrs *list = NULL;
    int found = 0;

    if (getifaddrs(&list) < 0) {
        return -errno;
    }
    for (const struct ifaddrs *i = list; i != NULL && !found; i = i->ifa_next) {
        struct vcha_ip own;

        found =
            ip_from_sockaddr(i->ifa_addr, &own) == 0 && vcha_ip_equal(&own, ip);
    }
    freeifaddrs(list);
    return found;
}

static int
label_check(const char *label, size_t len, char *why, size_t whylen)
{
    if (len == 0) {
        snprintf(why, whylen, "has an empty label");
        return -EINVAL;
    }
    if (len > 63) {
        snprintf(why, whylen, "has a label longer than 63 bytes");
        return -EINVAL;
    }
    if (label[0] == '-' || label[len - 1] == '-') {
        snprintf(why, whylen, "has a label that starts or ends with '-'");
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) label[i];

        if (!isalnum(c) && c != '-' && c != '_') {
            snprintf(why, whylen,
                     "has a character other than letters, digits, '-' and "
                     "'_' (use the A-label form for international names)");
            return -EINVAL;
        }
    }
    return 0;
}

int
vcha_dns_name_check(const char *name, size_t min_labels, char *why,
                    size_t whylen)
{
    size_t len = name ? strlen(name) : 0;
    size_t labels = 0;

    if (len > 0 && name[len - 1] == '.') {
        len--;
    }
    if (len == 0) {
        snprintf(why, whylen, "is empty");
        return -EINVAL;
    }
    if (len > 253) {
        snprintf(why, whylen, "is longer than 253 bytes");
        return -EINVAL;
    }
    for (size_t start = 0; start <= len;) {
        const char *dot = memchr(name + start, '.', len - start);
        size_t end = dot ? (size_t) (dot - name) : len;
        int rc = label_check(name + start, end - start, why, whylen);

        if (rc < 0) {
            return rc;
        }
        labels++;
        start = end + 1;
    }
    if (labels < min_labels) {
        snprintf(why, whylen, "is not fully qualified (needs a domain)");
        return -EINVAL;
    }
    return 0;
}

int
vcha_dns_server_set(struct vcha_dns_server *out, const char *host,
                    unsigned port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;
    char portbuf[8];
    int rc;

    memset(out, 0, sizeof(*out));
    if (host == NULL || port == 0 || port > 65535) {
        return -EINVAL;
    }
    snprintf(portbuf, sizeof(portbuf), "%u", port);
    rc = getaddrinfo(host, portbuf, &hints, &res);
    if (rc != 0 || res == NULL) {
        return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
    }
    memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
    out->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(out->text, sizeof(out->text), "%s#%u", host, port);
    return 0;
}

int
vcha_dns_build_query(const char *name, int type, unsigned id,
                     unsigned char *buf, size_t buflen)
{
    size_t len = strlen(name), pos = DNS_HEADER_LEN;

    if (len > 0 && name[len - 1] == '.') {
        len--;
    }
    if (len == 0 || len > 253) {
        return -EINVAL;
    }
    if (buflen < DNS_HEADER_LEN + len + 2 + 4) {
        return -ENOSPC;
    }
    memset(buf, 0, DNS_HEADER_LEN);
    buf[0] = (unsigned char) (id >> 8);
    buf[1] = (unsigned char) id;
    buf[5] = 1; /* QDCOUNT; flags 0: a standard query, no recursion */
    for (size_t start = 0; start < len;) {
        const char *dot = memchr(name + start, '.', len - start);
        size_t end = dot ? (size_t) (dot - name) : len;
        size_t llen = end - start;

        if (llen == 0 || llen > 63) {
            return -EINVAL;
        }
        buf[pos++] = (unsigned char) llen;
        memcpy(buf + pos, name + start, llen);
        pos += llen;
        start = end + 1;
    }
    buf[pos++] = 0;
    buf[pos++] = (unsigned char) (type >> 8);
    buf[pos++] = (unsigned char) type;
    buf[pos++] = 0;
    buf[pos++] = ns_c_in;
    return (int) pos;
}

/* Compare domain names ignoring case and a final dot. */
static bool
name_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la > 0 && a[la - 1] == '.') {
        la--;
    }
    if (lb > 0 && b[lb - 1] == '.') {
        lb--;
    }
    return la == lb && strncasecmp(a, b, la) == 0;
}

static void
take_record(const ns_rr *rr, const char *name, int type, bool answer,
            struct vcha_dns_answer *ans)
{
    int rtype = ns_rr_type(*rr);

    if (rtype == ns_t_soa && ans->soa_owner[0] == '\0') {
        snprintf(ans->soa_owner, sizeof(ans->soa_owner), "%s", ns_rr_name(*rr));
    }
    if (!answer || !name_equal(ns_rr_name(*rr), name)) {
        return;
    }
    if (rtype != type) {
        ans->other_records = true;
        return;
    }
    size_t want = type == ns_t_a ? 4 : 16;
    if ((type == ns_t_a || type == ns_t_aaaa) && ns_rr_rdlen(*rr) == want &&
        ans->n_addrs < VCHA_DNS_MAX_ADDRS) {
        struct vcha_ip *ip = &ans->addrs[ans->n_addrs++];

        ip->family = type == ns_t_a ? AF_INET : AF_INET6;
        memcpy(ip->bytes, ns_rr_rdata(*rr), want);
    }
}

static bool
question_matches(ns_msg *h, const char *name, int type)
{
    ns_rr q;

    if (ns_msg_count(*h, ns_s_qd) != 1 || ns_parserr(h, ns_s_qd, 0, &q) < 0) {
        return false;
    }
    return (int) ns_rr_type(q) == type && name_equal(ns_rr_name(q), name);
}

int
vcha_dns_parse_reply(const unsigned char *msg, size_t len, const char *name,
                     int type, unsigned id, struct vcha_dns_answer *ans)
{
    static const ns_sect sections[] = {ns_s_an, ns_s_ns};
    ns_msg h;

    memset(ans, 0, sizeof(*ans));
    if (len < DNS_HEADER_LEN || len > 65535 ||
        ns_initparse(msg, (int) len, &h) < 0) {
        return -EPROTO;
    }
    if (ns_msg_id(h) != (id & 0xffff) || !ns_msg_getflag(h, ns_f_qr) ||
        !question_matches(&h, name, type)) {
        return -EPROTO;
    }
    ans->rcode = ns_msg_getflag(h, ns_f_rcode);
    ans->authoritative = ns_msg_getflag(h, ns_f_aa);
    for (size_t s = 0; s < 2; s++) {
        for (int i = 0; i < ns_msg_count(h, sections[s]); i++) {
            ns_rr rr;

            if (ns_parserr(&h, sections[s], i, &rr) < 0) {
                return -EPROTO;
            }
            take_record(&rr, name, type, sections[s] == ns_s_an, ans);
        }
    }
    return 0;
}

static int
wait_fd(int fd, short events, long long deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    long long left = deadline - vcha_now_ms();
    int n;

    if (left <= 0) {
        return -ETIMEDOUT;
    }
    do {
        n = poll(&p, 1, (int) left);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    return n == 0 ? -ETIMEDOUT : 0;
}

static int
open_connected(const struct vcha_dns_server *server, int socktype)
{
    int fd = socket(server->addr.ss_family,
                    socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (const struct sockaddr *) &server->addr, server->addrlen) <
            0 &&
        errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* Receive one datagram; -EAGAIN if it is not for us (keep waiting). */
static int
udp_receive(int fd, unsigned char *buf, size_t buflen, size_t *got)
{
    ssize_t n = recv(fd, buf, buflen, 0);

    if (n < 0) {
        return (errno == EAGAIN || errno == EINTR) ? -EAGAIN : -errno;
    }
    *got = (size_t) n;
    return 0;
}

static int
udp_exchange(int fd, const unsigned char *q, size_t qlen, unsigned id,
             long long deadline, unsigned char *buf, size_t *len)
{
    long long resend = 0;

    for (;;) {
        if (vcha_now_ms() >= resend) {
            if (send(fd, q, qlen, 0) < 0) {
                return -errno;
            }
            resend = vcha_now_ms() + DNS_RETRY_MS;
        }
        long long until = resend < deadline ? resend : deadline;
        int rc = wait_fd(fd, POLLIN, until);

        if (rc == -ETIMEDOUT) {
            if (vcha_now_ms() >= deadline) {
                return rc;
            }
            continue;
        }
        if (rc < 0) {
            return rc;
        }
        rc = udp_receive(fd, buf, DNS_UDP_MAX, len);
        if (rc == -EAGAIN) {
            continue;
        }
        if (rc < 0 || (*len >= 2 && ((unsigned) buf[0] << 8 | buf[1]) == id)) {
            return rc;
        }
    }
}

static int
io_full(int fd, unsigned char *buf, size_t len, bool out, long long deadline)
{
    size_t done = 0;

    while (done < len) {
        int rc = wait_fd(fd, out ? POLLOUT : POLLIN, deadline);
        ssize_t n;

        if (rc < 0) {
            return rc;
        }
        n = out ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
                : recv(fd, buf + done, len - done, 0);
        if (n == 0 && !out) {
            return -ECONNRESET;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            return -errno;
        }
        done += (size_t) n;
    }
    return 0;
}

static int
tcp_exchange(const struct vcha_dns_server *server, const unsigned char *q,
             size_t qlen, long long deadline, unsigned char **reply,
             size_t *len)
{
    unsigned char prefix[2] = {(unsigned char) (qlen >> 8),
                               (unsigned char) qlen};
    int fd = open_connected(server, SOCK_STREAM);
    int rc;

    if (fd < 0) {
        return fd;
    }
    rc = io_full(fd, prefix, 2, true, deadline);
    if (rc == 0) {
        rc = io_full(fd, (unsigned char *) q, qlen, true, deadline);
    }
    if (rc == 0) {
        rc = io_full(fd, prefix, 2, false, deadline);
    }
    if (rc == 0) {
        *len = (size_t) prefix[0] << 8 | prefix[1];
        *reply = malloc(*len ? *len : 1);
        rc = *reply ? io_full(fd, *reply, *len, false, deadline) : -ENOMEM;
    }
    close(fd);
    return rc;
}

int
vcha_dns_query(const struct vcha_dns_server *server, const char *name, int type,
               long long timeout_ms, struct vcha_dns_answer *ans)
{
    unsigned char q[DNS_HEADER_LEN + 260], buf[DNS_UDP_MAX];
    unsigned char *tcp_reply = NULL;
    long long deadline = vcha_now_ms() + timeout_ms;
    unsigned short id = 0;
    size_t len = 0;
    int qlen, fd, rc;

    memset(ans, 0, sizeof(*ans));
    if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
        id = (unsigned short) (vcha_now_ms() ^ getpid());
    }
    qlen = vcha_dns_build_query(name, type, id, q, sizeof(q));
    if (qlen < 0) {
        return qlen;
    }
    fd = open_connected(server, SOCK_DGRAM);
    if (fd < 0) {
        return fd;
    }
    rc = udp_exchange(fd, q, (size_t) qlen, id, deadline, buf, &len);
    close(fd);
    if (rc < 0) {
        return rc;
    }
    if (len >= 3 && (buf[2] & 0x02)) { /* TC: the answer needs TCP */
        rc = tcp_exchange(server, q, (size_t) qlen, deadline, &tcp_reply, &len);
        if (rc == 0) {
            rc = vcha_dns_parse_reply(tcp_reply, len, name, type, id, ans);
        }
        free(tcp_reply);
        return rc;
    }
    return vcha_dns_parse_reply(buf, len, name, type, id, ans);
}
