/*
 * Unit tests for libcommon/net/dns.c: addresses, names, messages built and
 * parsed byte by byte, and real queries against a tiny responder thread
 * on 127.0.0.1.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <vcha/clock.h>
#include <vcha/dns.h>

#define F_QR 0x8000
#define F_AA 0x0400
#define F_TC 0x0200
#define RCODE_NXDOMAIN 3
#define RCODE_REFUSED 5
#define TYPE_CNAME 5
#define NAME "www.example.com"
#define ID 0x4242

/* ------------------------------------------------------------ messages */

/* A DNS message under construction. */
struct msg {
    unsigned char b[4096];
    size_t len;
};

static void
put8(struct msg *m, unsigned v)
{
    if (m->len < sizeof(m->b)) {
        m->b[m->len++] = (unsigned char) v;
    }
}

static void
put16(struct msg *m, unsigned v)
{
    put8(m, (v >> 8) & 0xff);
    put8(m, v & 0xff);
}

static void
put32(struct msg *m, unsigned long v)
{
    put16(m, (unsigned) (v >> 16) & 0xffff);
    put16(m, (unsigned) v & 0xffff);
}

static void
put_bytes(struct msg *m, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put8(m, ((const unsigned char *) p)[i]);
    }
}

/* @p name as uncompressed labels ("" is the root). */
static void
put_name(struct msg *m, const char *name)
{
    while (*name != '\0') {
        size_t n = strcspn(name, ".");

        put8(m, (unsigned) n);
        put_bytes(m, name, n);
        name += n;
        if (*name == '.') {
            name++;
        }
    }
    put8(m, 0);
}

static void
put_header(struct msg *m, unsigned id, unsigned flags, unsigned an, unsigned ns,
           unsigned ar)
{
    m->len = 0;
    put16(m, id);
    put16(m, flags);
    put16(m, 1); /* one question */
    put16(m, an);
    put16(m, ns);
    put16(m, ar);
}

/* Header and question of a reply to NAME-or-@p name / @p type. */
static void
start_reply(struct msg *m, unsigned id, unsigned flags, const char *name,
            unsigned type, unsigned an, unsigned ns)
{
    put_header(m, id, flags, an, ns, 0);
    put_name(m, name);
    put16(m, type);
    put16(m, 1); /* IN */
}

/* The fixed part of a record after its owner name. */
static void
put_rr_tail(struct msg *m, unsigned type, const void *rdata, size_t rdlen)
{
    put16(m, type);
    put16(m, 1);
    put32(m, 300);
    put16(m, (unsigned) rdlen);
    put_bytes(m, rdata, rdlen);
}

static void
put_rr(struct msg *m, const char *owner, unsigned type, const void *rdata,
       size_t rdlen)
{
    put_name(m, owner);
    put_rr_tail(m, type, rdata, rdlen);
}

static void
put_a(struct msg *m, const char *owner, const char *addr)
{
    unsigned char a[4];

    inet_pton(AF_INET, addr, a);
    put_rr(m, owner, VCHA_DNS_TYPE_A, a, 4);
}

static void
put_aaaa(struct msg *m, const char *owner, const char *addr)
{
    unsigned char a[16];

    inet_pton(AF_INET6, addr, a);
    put_rr(m, owner, VCHA_DNS_TYPE_AAAA, a, 16);
}

static void
put_cname(struct msg *m, const char *owner, const char *target)
{
    struct msg rdata = {.len = 0};

    put_name(&rdata, target);
    put_rr(m, owner, TYPE_CNAME, rdata.b, rdata.len);
}

static void
put_soa(struct msg *m, const char *owner)
{
    struct msg rdata = {.len = 0};

    put_name(&rdata, "ns1.example.com");
    put_name(&rdata, "hostmaster.example.com");
    for (int i = 0; i < 5; i++) {
        put32(&rdata, 3600);
    }
    put_rr(m, owner, VCHA_DNS_TYPE_SOA, rdata.b, rdata.len);
}

static int
parse(const struct msg *m, const char *name, int type,
      struct vcha_dns_answer *ans)
{
    return vcha_dns_parse_reply(m->b, m->len, name, type, ID, ans);
}

static void
assert_addr(const struct vcha_ip *ip, const char *text)
{
    char buf[INET6_ADDRSTRLEN];

    assert_string_equal(vcha_ip_format(ip, buf, sizeof(buf)), text);
}

/* ------------------------------------------------------------ addresses */

static void
test_ip_parse_v4(void **state)
{
    struct vcha_ip ip;
    const unsigned char expect[4] = {192, 0, 2, 1};

    (void) state;
    assert_int_equal(vcha_ip_parse("192.0.2.1", &ip), 0);
    assert_int_equal(ip.family, AF_INET);
    assert_memory_equal(ip.bytes, expect, 4);
}

static void
test_ip_parse_v6(void **state)
{
    struct vcha_ip ip;
    unsigned char expect[16] = {0x20, 0x01, 0x0d, 0xb8};

    (void) state;
    expect[15] = 1;
    assert_int_equal(vcha_ip_parse("2001:db8::1", &ip), 0);
    assert_int_equal(ip.family, AF_INET6);
    assert_memory_equal(ip.bytes, expect, 16);
    assert_int_equal(vcha_ip_parse("::ffff:192.0.2.1", &ip), 0);
    assert_int_equal(ip.family, AF_INET6);
}

static void
test_ip_parse_rejects_junk(void **state)
{
    static const char *const bad[] = {
        "",
        "300.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "abc",
        " 192.0.2.1",
        "192.0.2.1 ",
        "2001:db8::1%eth0",
        "2001:db8:::1",
        "::g",
        "192.0.2.1/24",
        "\xff",
    };
    struct vcha_ip ip;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ip.family = 12345;
        assert_int_equal(vcha_ip_parse(bad[i], &ip), -EINVAL);
        assert_int_equal(ip.family, 0);
    }
    assert_int_equal(vcha_ip_parse(NULL, &ip), -EINVAL);
}

static void
test_ip_format_canonical(void **state)
{
    struct vcha_ip ip;

    (void) state;
    assert_int_equal(vcha_ip_parse("2001:0db8:0:0:0:0:0:0001", &ip), 0);
    assert_addr(&ip, "2001:db8::1");
    assert_int_equal(vcha_ip_parse("192.0.2.255", &ip), 0);
    assert_addr(&ip, "192.0.2.255");
}

static void
test_ip_format_unknown_family(void **state)
{
    struct vcha_ip ip = {.family = 0};
    char buf[INET6_ADDRSTRLEN];

    (void) state;
    assert_string_equal(vcha_ip_format(&ip, buf, sizeof(buf)), "?");
}

static void
test_ip_format_small_buffer(void **state)
{
    struct vcha_ip ip;
    char buf[4];

    (void) state;
    assert_int_equal(vcha_ip_parse("192.0.2.1", &ip), 0);
    assert_string_equal(vcha_ip_format(&ip, buf, sizeof(buf)), "?");
}

static void
test_ip_equal(void **state)
{
    struct vcha_ip a, b;

    (void) state;
    vcha_ip_parse("192.0.2.1", &a);
    vcha_ip_parse("192.0.2.1", &b);
    assert_true(vcha_ip_equal(&a, &b));
    vcha_ip_parse("192.0.2.2", &b);
    assert_false(vcha_ip_equal(&a, &b));
    vcha_ip_parse("2001:db8::1", &a);
    vcha_ip_parse("2001:0db8::0:1", &b);
    assert_true(vcha_ip_equal(&a, &b));
    vcha_ip_parse("2001:db8::2", &b);
    assert_false(vcha_ip_equal(&a, &b));
}

static void
test_ip_equal_needs_same_family(void **state)
{
    struct vcha_ip v4 = {.family = AF_INET}, v6 = {.family = AF_INET6};

    (void) state;
    /* same bytes, different families */
    assert_false(vcha_ip_equal(&v4, &v6));
    assert_false(vcha_ip_equal(&v6, &v4));
}

static void
test_ip_equal_v4_ignores_unused_bytes(void **state)
{
    struct vcha_ip a = {.family = AF_INET, .bytes = {192, 0, 2, 1}};
    struct vcha_ip b = a;

    (void) state;
    memset(b.bytes + 4, 0xee, 12);
    assert_true(vcha_ip_equal(&a, &b));
}

/* Whether this node can bind @p text: the kernel's own answer to whether
 * the address is one of its interfaces'. */
static bool
bindable(const char *text)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    bool ok;
    int fd;

    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;

        s6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;

        s4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
        len = sizeof(*s4);
    }
    fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    if (fd < 0) {
        return false; /* no such family here: no such address either */
    }
    ok = bind(fd, (struct sockaddr *) &ss, len) == 0;
    close(fd);
    return ok;
}

static void
test_ip_is_local_as_bind_says(void **state)
{
    const char *addrs[] = {"127.0.0.1", "192.0.2.77", "::1", "2001:db8::77"};
    size_t local = 0;

    (void) state;
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        struct vcha_ip ip;
        bool want = bindable(addrs[i]);

        assert_int_equal(vcha_ip_parse(addrs[i], &ip), 0);
        assert_int_equal(vcha_ip_is_local(&ip), want ? 1 : 0);
        local += want;
    }
    /* the documentation addresses are no node's; loopback is this one's */
    assert_false(bindable("192.0.2.77"));
    assert_true(local >= 1);
}

/* ------------------------------------------------------------ names */

static void
assert_name_ok(const char *name, size_t min_labels)
{
    char why[256] = "";

    if (vcha_dns_name_check(name, min_labels, why, sizeof(why)) != 0) {
        fail_msg("'%s' rejected: %s", name, why);
    }
}

static void
assert_name_bad(const char *name, size_t min_labels, const char *reason)
{
    char why[256] = "";

    assert_int_equal(vcha_dns_name_check(name, min_labels, why, sizeof(why)),
                     -EINVAL);
    if (strstr(why, reason) == NULL) {
        fail_msg("reason '%s' lacks '%s'", why, reason);
    }
}

/* "a.a.a..." of exactly @p len bytes (len odd), or a label of @p len. */
static char *
name_of_length(size_t len, bool one_label)
{
    char *s = malloc(len + 2);

    assert_non_null(s);
    for (size_t i = 0; i < len; i++) {
        s[i] = (one_label || i % 2 == 0) ? 'a' : '.';
    }
    s[len] = '\0';
    return s;
}

static void
test_name_check_valid_names(void **state)
{
    (void) state;
    assert_name_ok("example.com", 2);
    assert_name_ok("www.example.com", 2);
    assert_name_ok("_dmarc.example.com", 2);
    assert_name_ok("xn--bcher-kva.example", 2);
    assert_name_ok("a-b.c-d.e1", 2);
    assert_name_ok("1.2.3.4.in-addr.arpa", 2);
    assert_name_ok("EXAMPLE.com", 2);
}

static void
test_name_check_trailing_dot(void **state)
{
    (void) state;
    assert_name_ok("example.com.", 2);
    assert_name_bad("example.com..", 2, "empty label");
}

static void
test_name_check_empty(void **state)
{
    (void) state;
    assert_name_bad("", 1, "empty");
    assert_name_bad(".", 1, "empty");
    assert_name_bad(NULL, 1, "empty");
}

static void
test_name_check_empty_label(void **state)
{
    (void) state;
    assert_name_bad("a..example.com", 2, "empty label");
    assert_name_bad(".example.com", 2, "empty label");
}

static void
test_name_check_label_length(void **state)
{
    char *label63 = name_of_length(63, true);
    char *label64 = name_of_length(64, true);
    char name[128];

    (void) state;
    snprintf(name, sizeof(name), "%s.example", label63);
    assert_name_ok(name, 2);
    snprintf(name, sizeof(name), "%s.example", label64);
    assert_name_bad(name, 2, "longer than 63");
    free(label63);
    free(label64);
}

static void
test_name_check_name_length(void **state)
{
    char *n253 = name_of_length(253, false); /* "a.a. ... .a" */
    char n254[256];

    (void) state;
    snprintf(n254, sizeof(n254), "b%s", n253); /* first label "ba" */
    assert_int_equal(strlen(n254), 254);
    assert_name_ok(n253, 2);
    assert_name_bad(n254, 2, "longer than 253");
    strcat(n253, ".");
    assert_name_ok(n253, 2); /* 253 plus the final dot */
    free(n253);
}

static void
test_name_check_hyphens(void **state)
{
    (void) state;
    assert_name_bad("-www.example.com", 2, "'-'");
    assert_name_bad("www-.example.com", 2, "'-'");
    assert_name_bad("www.example.com-", 2, "'-'");
    assert_name_ok("w-w.example.com", 2);
}

static void
test_name_check_bad_characters(void **state)
{
    (void) state;
    assert_name_bad("b\xc3\xbc"
                    "cher.example",
                    2, "A-label");
    assert_name_bad("www example.com", 2, "character");
    assert_name_bad("*.example.com", 2, "character");
    assert_name_bad("www.exa\nmple.com", 2, "character");
    assert_name_bad("www.exa/mple.com", 2, "character");
}

static void
test_name_check_min_labels(void **state)
{
    (void) state;
    assert_name_bad("localhost", 2, "fully qualified");
    assert_name_ok("localhost", 1);
    assert_name_ok("localhost.", 1);
    assert_name_bad("a.b", 3, "fully qualified");
}

/* ------------------------------------------------------------ query msg */

static void
test_build_query_bytes(void **state)
{
    static const unsigned char expect[] = {
        0x12, 0x34,                         /* id */
        0x00, 0x00,                         /* a query, no recursion */
        0x00, 0x01,                         /* one question */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* no records */
        1,    'a',                          /* label "a" */
        7,    'e',  'x',  'a',  'm',  'p',  'l', 'e', /* label "example" */
        0,                                            /* the root */
        0x00, 0x01,                                   /* type A */
        0x00, 0x01,                                   /* class IN */
    };
    unsigned char buf[512];

    (void) state;
    assert_int_equal(vcha_dns_build_query("a.example", VCHA_DNS_TYPE_A, 0x1234,
                                          buf, sizeof(buf)),
                     sizeof(expect));
    assert_memory_equal(buf, expect, sizeof(expect));
}

static void
test_build_query_trailing_dot_and_type(void **state)
{
    unsigned char buf[512];
    int len;

    (void) state;
    len = vcha_dns_build_query("a.example.", VCHA_DNS_TYPE_AAAA, 0xabcd, buf,
                               sizeof(buf));
    assert_int_equal(len, 27);
    assert_int_equal(buf[0], 0xab);
    assert_int_equal(buf[1], 0xcd);
    assert_int_equal(buf[21], 'e');
    assert_int_equal(buf[22], 0);    /* the root label, once */
    assert_int_equal(buf[23], 0x00); /* type 28 */
    assert_int_equal(buf[24], 0x1c);
}

static void
test_build_query_no_recursion_flag(void **state)
{
    unsigned char buf[512];

    (void) state;
    assert_true(
        vcha_dns_build_query(NAME, VCHA_DNS_TYPE_A, 1, buf, sizeof(buf)) > 0);
    assert_int_equal(buf[2], 0); /* QR, opcode, AA, TC, RD all clear */
    assert_int_equal(buf[3], 0);
}

static void
test_build_query_uses_low_16_bits_of_id(void **state)
{
    unsigned char buf[512];

    (void) state;
    assert_true(vcha_dns_build_query(NAME, VCHA_DNS_TYPE_A, 0x1abcd, buf,
                                     sizeof(buf)) > 0);
    assert_int_equal(buf[0], 0xab);
    assert_int_equal(buf[1], 0xcd);
}

static void
test_build_query_rejects_bad_names(void **state)
{
    unsigned char buf[512];
    char *label64 = name_of_length(64, true);
    char *n255 = name_of_length(255, false);

    (void) state;
    assert_int_equal(vcha_dns_build_query("", 1, 1, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(vcha_dns_build_query(".", 1, 1, buf, sizeof(buf)),
                     -EINVAL);
    assert_int_equal(vcha_dns_build_query("a..b", 1, 1, buf, sizeof(buf)),
                     -EINVAL);
    assert_int_equal(vcha_dns_build_query(label64, 1, 1, buf, sizeof(buf)),
                     -EINVAL);
    assert_int_equal(vcha_dns_build_query(n255, 1, 1, buf, sizeof(buf)),
                     -EINVAL);
    free(label64);
    free(n255);
}

static void
test_build_query_buffer_size(void **state)
{
    unsigned char buf[27];

    (void) state;
    assert_int_equal(vcha_dns_build_query("a.example", 1, 1, buf, 26), -ENOSPC);
    assert_int_equal(vcha_dns_build_query("a.example", 1, 1, buf, 27), 27);
}

/* ------------------------------------------------------------ replies */

static void
test_parse_a_answer(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 2, 0);
    put_a(&m, NAME, "192.0.2.1");
    put_a(&m, NAME, "192.0.2.2");
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), 0);
    assert_int_equal(ans.rcode, 0);
    assert_true(ans.authoritative);
    assert_int_equal(ans.n_addrs, 2);
    assert_int_equal(ans.addrs[0].family, AF_INET);
    assert_addr(&ans.addrs[0], "192.0.2.1");
    assert_addr(&ans.addrs[1], "192.0.2.2");
    assert_false(ans.other_records);
    assert_string_equal(ans.soa_owner, "");
}

static void
test_parse_aaaa_answer(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR, NAME, VCHA_DNS_TYPE_AAAA, 1, 0);
    put_aaaa(&m, NAME, "2001:db8::53");
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_AAAA, &ans), 0);
    assert_false(ans.authoritative);
    assert_int_equal(ans.n_addrs, 1);
    assert_int_equal(ans.addrs[0].family, AF_INET6);
    assert_addr(&ans.addrs[0], "2001:db8::53");
}

static void
test_parse_compressed_owner(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;
    const unsigned char a[4] = {198, 51, 100, 7};

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 1, 0);
    put16(&m, 0xc00c); /* pointer to the question's name */
    put_rr_tail(&m, VCHA_DNS_TYPE_A, a, 4);
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), 0);
    assert_int_equal(ans.n_addrs, 1);
    assert_addr(&ans.addrs[0], "198.51.100.7");
}

static void
test_parse_names_ignore_case_and_final_dot(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR, "WWW.Example.COM", VCHA_DNS_TYPE_A, 1, 0);
    put_a(&m, "www.EXAMPLE.com", "192.0.2.9");
    assert_int_equal(parse(&m, NAME ".", VCHA_DNS_TYPE_A, &ans), 0);
    assert_int_equal(ans.n_addrs, 1);
}

static void
test_parse_nxdomain_with_soa(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR | F_AA | RCODE_NXDOMAIN, NAME, VCHA_DNS_TYPE_A, 0,
                1);
    put_soa(&m, "example.com");
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), 0);
    assert_int_equal(ans.rcode, RCODE_NXDOMAIN);
    assert_true(ans.authoritative);
    assert_int_equal(ans.n_addrs, 0);
    assert_false(ans.other_records);
    assert_string_equal(ans.soa_owner, "example.com");
}

static void
test_parse_nodata_with_soa(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_AAAA, 0, 1);
    put_soa(&m, "example.com");
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_AAAA, &ans), 0);
    assert_int_equal(ans.rcode, 0);
    assert_int_equal(ans.n_addrs, 0);
    assert_string_equal(ans.soa_owner, "example.com");
}

static void
test_parse_refused(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR | RCODE_REFUSED, NAME, VCHA_DNS_TYPE_A, 0, 0);
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), 0);
    assert_int_equal(ans.rcode, RCODE_REFUSED);
    assert_false(ans.authoritative);
}

static void
test_parse_cname_is_other_record(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 2, 0);
    put_cname(&m, NAME, "target.example.com");
    put_a(&m, "target.example.com", "192.0.2.44");
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), 0);
    assert_true(ans.other_records);
    assert_int_equal(ans.n_addrs, 0); /* the A belongs to the target */
}

static void
test_parse_ignores_records_of_other_names(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 2, 0);
    put_a(&m, "other.example.com", "192.0.2.66");
    put_a(&m, "www.example.com.evil", "192.0.2.67");
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), 0);
    assert_int_equal(ans.n_addrs, 0);
    assert_false(ans.other_records);
}

static void
test_parse_other_type_at_name_is_other_record(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_AAAA, 1, 0);
    put_a(&m, NAME, "192.0.2.1");
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_AAAA, &ans), 0);
    assert_int_equal(ans.n_addrs, 0);
    assert_true(ans.other_records);
}

static void
test_parse_ignores_address_of_wrong_size(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;
    const unsigned char five[5] = {1, 2, 3, 4, 5};

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 1, 0);
    put_rr(&m, NAME, VCHA_DNS_TYPE_A, five, 5);
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), 0);
    assert_int_equal(ans.n_addrs, 0);
}

static void
test_parse_ignores_additional_section(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 0, 0);
    m.b[11] = 1; /* ARCOUNT */
    put_a(&m, NAME, "192.0.2.1");
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), 0);
    assert_int_equal(ans.n_addrs, 0);
}

static void
test_parse_caps_number_of_addresses(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;
    unsigned char a[4] = {10, 0, 0, 0};

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 40, 0);
    for (int i = 0; i < 40; i++) {
        a[3] = (unsigned char) (i + 1);
        put16(&m, 0xc00c);
        put_rr_tail(&m, VCHA_DNS_TYPE_A, a, 4);
    }
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), 0);
    assert_int_equal(ans.n_addrs, VCHA_DNS_MAX_ADDRS);
    assert_addr(&ans.addrs[VCHA_DNS_MAX_ADDRS - 1], "10.0.0.32");
}

static void
test_parse_rejects_wrong_id(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID + 1, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 1, 0);
    put_a(&m, NAME, "192.0.2.1");
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), -EPROTO);
}

static void
test_parse_rejects_a_query(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, 0, NAME, VCHA_DNS_TYPE_A, 0, 0); /* no QR */
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), -EPROTO);
}

static void
test_parse_rejects_other_question(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR, "ftp.example.com", VCHA_DNS_TYPE_A, 0, 0);
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), -EPROTO);
    start_reply(&m, ID, F_QR, NAME, VCHA_DNS_TYPE_AAAA, 0, 0);
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), -EPROTO);
}

static void
test_parse_rejects_missing_question(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR, NAME, VCHA_DNS_TYPE_A, 0, 0);
    m.b[5] = 0; /* QDCOUNT 0: a bare header */
    m.len = 12;
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), -EPROTO);
}

static void
test_parse_rejects_truncated_packets(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;
    size_t full;

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 1, 0);
    put_a(&m, NAME, "192.0.2.1");
    full = m.len;
    for (size_t cut = 0; cut < full; cut++) {
        m.len = cut;
        if (parse(&m, NAME, VCHA_DNS_TYPE_A, &ans) != -EPROTO) {
            fail_msg("a reply cut to %zu of %zu bytes was accepted", cut, full);
        }
    }
}

static void
test_parse_rejects_trailing_garbage_and_bad_counts(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 2, 0);
    put_a(&m, NAME, "192.0.2.1"); /* ANCOUNT says 2 */
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), -EPROTO);
}

static void
test_parse_rejects_pointer_loop(void **state)
{
    struct msg m;
    struct vcha_dns_answer ans;
    const unsigned char a[4] = {192, 0, 2, 1};

    (void) state;
    start_reply(&m, ID, F_QR | F_AA, NAME, VCHA_DNS_TYPE_A, 1, 0);
    put16(&m, 0xc000 | (unsigned) m.len); /* points at itself */
    put_rr_tail(&m, VCHA_DNS_TYPE_A, a, 4);
    assert_int_equal(parse(&m, NAME, VCHA_DNS_TYPE_A, &ans), -EPROTO);
}

/* ------------------------------------------------------------ server */

static void
test_server_set_v4(void **state)
{
    struct vcha_dns_server s;
    const struct sockaddr_in *sin = (const struct sockaddr_in *) &s.addr;

    (void) state;
    assert_int_equal(vcha_dns_server_set(&s, "127.0.0.1", 5353), 0);
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 5353);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(s.addrlen, sizeof(struct sockaddr_in));
    assert_string_equal(s.text, "127.0.0.1#5353");
}

static void
test_server_set_v6(void **state)
{
    struct vcha_dns_server s;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &s.addr;

    (void) state;
    assert_int_equal(vcha_dns_server_set(&s, "::1", 53), 0);
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 53);
    assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
    assert_string_equal(s.text, "::1#53");
}

static void
test_server_set_rejects_bad_port_and_host(void **state)
{
    struct vcha_dns_server s;

    (void) state;
    assert_int_equal(vcha_dns_server_set(&s, "127.0.0.1", 0), -EINVAL);
    assert_int_equal(vcha_dns_server_set(&s, "127.0.0.1", 65536), -EINVAL);
    assert_int_equal(vcha_dns_server_set(&s, NULL, 53), -EINVAL);
}

/* ------------------------------------------------------------ responder */

enum responder_mode {
    R_ANSWER,         /* answer the first query */
    R_WRONG_ID_FIRST, /* a stray reply with another id, then the answer */
    R_DROP_FIRST,     /* ignore the first query; answer the resend */
    R_GARBAGE,        /* a malformed reply with the right id */
    R_TRUNCATE,       /* TC over UDP, then the full answer over TCP */
};

/* A DNS server on 127.0.0.1 answering one query from a thread. */
struct responder {
    enum responder_mode mode;
    int udp, tcp; /* tcp is -1 unless it listens */
    unsigned port;
    int udp_queries; /* seen by the thread */
    int tcp_queries;
    pthread_t thread;
};

#define RESPONDER_WAIT_MS 10000

/* A reply to query @p q: @p n_addrs records, owner compressed. */
static void
build_answer(const unsigned char *q, size_t qlen, unsigned flags,
             unsigned n_addrs, struct msg *m)
{
    unsigned type = (unsigned) q[qlen - 4] << 8 | q[qlen - 3];

    put_header(m, (unsigned) q[0] << 8 | q[1], F_QR | F_AA | flags, n_addrs, 0,
               0);
    put_bytes(m, q + 12, qlen - 12); /* the question, as asked */
    for (unsigned i = 0; i < n_addrs; i++) {
        unsigned char a4[4] = {192, 0, 2, (unsigned char) (10 + i)};
        unsigned char a6[16] = {0x20, 0x01, 0x0d, 0xb8};

        a6[15] = (unsigned char) (0x10 + i);
        put16(m, 0xc00c);
        if (type == VCHA_DNS_TYPE_AAAA) {
            put_rr_tail(m, type, a6, 16);
        } else {
            put_rr_tail(m, VCHA_DNS_TYPE_A, a4, 4);
        }
    }
}

static bool
readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, RESPONDER_WAIT_MS) == 1;
}

static bool
io_all(int fd, void *buf, size_t len, bool out)
{
    unsigned char *p = buf;

    while (len > 0) {
        ssize_t n;

        if (!out && !readable(fd)) {
            return false;
        }
        n = out ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t) n;
    }
    return true;
}

/* Serve one query over TCP (2-byte length prefix each way). */
static void
serve_tcp(struct responder *r)
{
    unsigned char q[600], prefix[2];
    struct msg m;
    size_t qlen;
    int conn;

    if (!readable(r->tcp) || (conn = accept(r->tcp, NULL, NULL)) < 0) {
        return;
    }
    if (io_all(conn, prefix, 2, false)) {
        qlen = (size_t) prefix[0] << 8 | prefix[1];
        if (qlen >= 16 && qlen <= sizeof(q) && io_all(conn, q, qlen, false)) {
            r->tcp_queries++;
            build_answer(q, qlen, 0, 3, &m);
            prefix[0] = (unsigned char) (m.len >> 8);
            prefix[1] = (unsigned char) m.len;
            io_all(conn, prefix, 2, true);
            io_all(conn, m.b, m.len, true);
        }
    }
    close(conn);
}

/* Answer one UDP query the way r->mode says; false: keep listening. */
static bool
answer_udp(struct responder *r, unsigned char *q, size_t qlen,
           const struct sockaddr *from, socklen_t fromlen)
{
    struct msg m;

    if (r->mode == R_DROP_FIRST && r->udp_queries == 1) {
        return false;
    }
    if (r->mode == R_WRONG_ID_FIRST) {
        q[0] ^= 0xff;
        build_answer(q, qlen, 0, 1, &m);
        sendto(r->udp, m.b, m.len, 0, from, fromlen);
        q[0] ^= 0xff;
    }
    if (r->mode == R_GARBAGE) {
        m.len = 0;
        put_bytes(&m, q, 2);
        put_bytes(&m, "\x80\x00\x00\x01\xff\xff", 6);
    } else if (r->mode == R_TRUNCATE) {
        build_answer(q, qlen, F_TC, 0, &m);
    } else {
        build_answer(q, qlen, 0, 2, &m);
    }
    sendto(r->udp, m.b, m.len, 0, from, fromlen);
    if (r->mode == R_TRUNCATE && r->tcp >= 0) {
        serve_tcp(r);
    }
    return true;
}

static void *
responder_main(void *arg)
{
    struct responder *r = arg;
    unsigned char q[600];
    struct sockaddr_storage from;
    socklen_t fromlen;

    while (readable(r->udp)) {
        ssize_t n;

        fromlen = sizeof(from);
        n = recvfrom(r->udp, q, sizeof(q), 0, (struct sockaddr *) &from,
                     &fromlen);
        if (n < 16) {
            continue;
        }
        r->udp_queries++;
        if (answer_udp(r, q, (size_t) n, (struct sockaddr *) &from, fromlen)) {
            break;
        }
    }
    return NULL;
}

/* A socket of @p type bound to 127.0.0.1:@p port (0: any). */
static int
bound_socket(int type, unsigned port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t) port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

    if (fd >= 0 && bind(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static unsigned
socket_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    return ntohs(sin.sin_port);
}

/* UDP on a free port, and TCP on the same port when @p with_tcp. */
static void
responder_bind(struct responder *r, bool with_tcp)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        r->udp = bound_socket(SOCK_DGRAM, 0);
        assert_true(r->udp >= 0);
        r->port = socket_port(r->udp);
        r->tcp = -1;
        if (!with_tcp) {
            return;
        }
        r->tcp = bound_socket(SOCK_STREAM, r->port);
        if (r->tcp >= 0 && listen(r->tcp, 4) == 0) {
            return;
        }
        if (r->tcp >= 0) {
            close(r->tcp);
        }
        close(r->udp); /* the TCP port was taken: try another */
    }
    fail_msg("no port free for both UDP and TCP");
}

static void
responder_start(struct responder *r, enum responder_mode mode, bool with_tcp)
{
    memset(r, 0, sizeof(*r));
    r->mode = mode;
    responder_bind(r, with_tcp);
    assert_int_equal(pthread_create(&r->thread, NULL, responder_main, r), 0);
}

static void
responder_stop(struct responder *r)
{
    pthread_join(r->thread, NULL);
    close(r->udp);
    if (r->tcp >= 0) {
        close(r->tcp);
    }
}

static void
server_at(struct vcha_dns_server *s, unsigned port)
{
    assert_int_equal(vcha_dns_server_set(s, "127.0.0.1", port), 0);
}

/* ------------------------------------------------------------ queries */

static void
test_query_gets_answer_over_udp(void **state)
{
    struct responder r;
    struct vcha_dns_server s;
    struct vcha_dns_answer ans;

    (void) state;
    responder_start(&r, R_ANSWER, false);
    server_at(&s, r.port);
    assert_int_equal(vcha_dns_query(&s, NAME, VCHA_DNS_TYPE_A, 5000, &ans), 0);
    responder_stop(&r);
    assert_int_equal(r.udp_queries, 1);
    assert_int_equal(ans.rcode, 0);
    assert_true(ans.authoritative);
    assert_int_equal(ans.n_addrs, 2);
    assert_addr(&ans.addrs[0], "192.0.2.10");
    assert_addr(&ans.addrs[1], "192.0.2.11");
}

static void
test_query_aaaa(void **state)
{
    struct responder r;
    struct vcha_dns_server s;
    struct vcha_dns_answer ans;

    (void) state;
    responder_start(&r, R_ANSWER, false);
    server_at(&s, r.port);
    assert_int_equal(vcha_dns_query(&s, NAME, VCHA_DNS_TYPE_AAAA, 5000, &ans),
                     0);
    responder_stop(&r);
    assert_int_equal(ans.n_addrs, 2);
    assert_addr(&ans.addrs[0], "2001:db8::10");
}

static void
test_query_ignores_reply_with_other_id(void **state)
{
    struct responder r;
    struct vcha_dns_server s;
    struct vcha_dns_answer ans;

    (void) state;
    responder_start(&r, R_WRONG_ID_FIRST, false);
    server_at(&s, r.port);
    assert_int_equal(vcha_dns_query(&s, NAME, VCHA_DNS_TYPE_A, 5000, &ans), 0);
    responder_stop(&r);
    assert_int_equal(ans.n_addrs, 2); /* the stray reply had one */
}

static void
test_query_resends_after_a_lost_packet(void **state)
{
    struct responder r;
    struct vcha_dns_server s;
    struct vcha_dns_answer ans;

    (void) state;
    responder_start(&r, R_DROP_FIRST, false);
    server_at(&s, r.port);
    assert_int_equal(vcha_dns_query(&s, NAME, VCHA_DNS_TYPE_A, 5000, &ans), 0);
    responder_stop(&r);
    assert_int_equal(r.udp_queries, 2);
    assert_int_equal(ans.n_addrs, 2);
}

static void
test_query_malformed_reply_is_eproto(void **state)
{
    struct responder r;
    struct vcha_dns_server s;
    struct vcha_dns_answer ans;

    (void) state;
    responder_start(&r, R_GARBAGE, false);
    server_at(&s, r.port);
    assert_int_equal(vcha_dns_query(&s, NAME, VCHA_DNS_TYPE_A, 5000, &ans),
                     -EPROTO);
    responder_stop(&r);
}

static void
test_query_truncated_udp_retries_over_tcp(void **state)
{
    struct responder r;
    struct vcha_dns_server s;
    struct vcha_dns_answer ans;

    (void) state;
    responder_start(&r, R_TRUNCATE, true);
    server_at(&s, r.port);
    assert_int_equal(vcha_dns_query(&s, NAME, VCHA_DNS_TYPE_A, 5000, &ans), 0);
    responder_stop(&r);
    assert_int_equal(r.udp_queries, 1);
    assert_int_equal(r.tcp_queries, 1);
    assert_int_equal(ans.n_addrs, 3); /* the TCP answer, not the UDP one */
    assert_addr(&ans.addrs[2], "192.0.2.12");
}

static void
test_query_truncated_without_tcp_is_refused(void **state)
{
    struct responder r;
    struct vcha_dns_server s;
    struct vcha_dns_answer ans;

    (void) state;
    responder_start(&r, R_TRUNCATE, false);
    server_at(&s, r.port);
    assert_int_equal(vcha_dns_query(&s, NAME, VCHA_DNS_TYPE_A, 5000, &ans),
                     -ECONNREFUSED);
    responder_stop(&r);
}

static void
test_query_closed_port_is_refused(void **state)
{
    struct vcha_dns_server s;
    struct vcha_dns_answer ans;
    int fd = bound_socket(SOCK_DGRAM, 0);
    unsigned port;
    long long t0;

    (void) state;
    assert_true(fd >= 0);
    port = socket_port(fd);
    close(fd); /* nothing listens there now */
    server_at(&s, port);
    t0 = vcha_now_ms();
    assert_int_equal(vcha_dns_query(&s, NAME, VCHA_DNS_TYPE_A, 3000, &ans),
                     -ECONNREFUSED);
    assert_true(vcha_now_ms() - t0 < 1000);
}

static void
test_query_silent_server_times_out(void **state)
{
    struct vcha_dns_server s;
    struct vcha_dns_answer ans;
    int fd = bound_socket(SOCK_DGRAM, 0); /* bound, never read */
    long long t0, elapsed;

    (void) state;
    assert_true(fd >= 0);
    server_at(&s, socket_port(fd));
    t0 = vcha_now_ms();
    assert_int_equal(vcha_dns_query(&s, NAME, VCHA_DNS_TYPE_A, 300, &ans),
                     -ETIMEDOUT);
    elapsed = vcha_now_ms() - t0;
    close(fd);
    assert_true(elapsed >= 290);
    assert_true(elapsed < 1000);
}

static void
test_query_bad_name_sends_nothing(void **state)
{
    struct vcha_dns_server s;
    struct vcha_dns_answer ans;
    int fd = bound_socket(SOCK_DGRAM, 0);
    struct pollfd p;

    (void) state;
    assert_true(fd >= 0);
    server_at(&s, socket_port(fd));
    assert_int_equal(vcha_dns_query(&s, "a..b", VCHA_DNS_TYPE_A, 300, &ans),
                     -EINVAL);
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    close(fd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_parse_v4),
        cmocka_unit_test(test_ip_parse_v6),
        cmocka_unit_test(test_ip_parse_rejects_junk),
        cmocka_unit_test(test_ip_format_canonical),
        cmocka_unit_test(test_ip_format_unknown_family),
        cmocka_unit_test(test_ip_format_small_buffer),
        cmocka_unit_test(test_ip_equal),
        cmocka_unit_test(test_ip_equal_needs_same_family),
        cmocka_unit_test(test_ip_equal_v4_ignores_unused_bytes),
        cmocka_unit_test(test_ip_is_local_as_bind_says),
        cmocka_unit_test(test_name_check_valid_names),
        cmocka_unit_test(test_name_check_trailing_dot),
        cmocka_unit_test(test_name_check_empty),
        cmocka_unit_test(test_name_check_empty_label),
        cmocka_unit_test(test_name_check_label_length),
        cmocka_unit_test(test_name_check_name_length),
        cmocka_unit_test(test_name_check_hyphens),
        cmocka_unit_test(test_name_check_bad_characters),
        cmocka_unit_test(test_name_check_min_labels),
        cmocka_unit_test(test_build_query_bytes),
        cmocka_unit_test(test_build_query_trailing_dot_and_type),
        cmocka_unit_test(test_build_query_no_recursion_flag),
        cmocka_unit_test(test_build_query_uses_low_16_bits_of_id),
        cmocka_unit_test(test_build_query_rejects_bad_names),
        cmocka_unit_test(test_build_query_buffer_size),
        cmocka_unit_test(test_parse_a_answer),
        cmocka_unit_test(test_parse_aaaa_answer),
        cmocka_unit_test(test_parse_compressed_owner),
        cmocka_unit_test(test_parse_names_ignore_case_and_final_dot),
        cmocka_unit_test(test_parse_nxdomain_with_soa),
        cmocka_unit_test(test_parse_nodata_with_soa),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_parse_cname_is_other_record),
        cmocka_unit_test(test_parse_ignores_records_of_other_names),
        cmocka_unit_test(test_parse_other_type_at_name_is_other_record),
        cmocka_unit_test(test_parse_ignores_address_of_wrong_size),
        cmocka_unit_test(test_parse_ignores_additional_section),
        cmocka_unit_test(test_parse_caps_number_of_addresses),
        cmocka_unit_test(test_parse_rejects_wrong_id),
        cmocka_unit_test(test_parse_rejects_a_query),
        cmocka_unit_test(test_parse_rejects_other_question),
        cmocka_unit_test(test_parse_rejects_missing_question),
        cmocka_unit_test(test_parse_rejects_truncated_packets),
        cmocka_unit_test(test_parse_rejects_trailing_garbage_and_bad_counts),
        cmocka_unit_test(test_parse_rejects_pointer_loop),
        cmocka_unit_test(test_server_set_v4),
        cmocka_unit_test(test_server_set_v6),
        cmocka_unit_test(test_server_set_rejects_bad_port_and_host),
        cmocka_unit_test(test_query_gets_answer_over_udp),
        cmocka_unit_test(test_query_aaaa),
        cmocka_unit_test(test_query_ignores_reply_with_other_id),
        cmocka_unit_test(test_query_resends_after_a_lost_packet),
        cmocka_unit_test(test_query_malformed_reply_is_eproto),
        cmocka_unit_test(test_query_truncated_udp_retries_over_tcp),
        cmocka_unit_test(test_query_truncated_without_tcp_is_refused),
        cmocka_unit_test(test_query_closed_port_is_refused),
        cmocka_unit_test(test_query_silent_server_times_out),
        cmocka_unit_test(test_query_bad_name_sends_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
