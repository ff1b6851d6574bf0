/* vcha - the command line of a COLO replica's QEMU. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/coloqemu.h>

#define DEFAULT_QEMU "qemu-system-x86_64"
#define DEFAULT_CPU "qemu64"
#define DEFAULT_NIC "virtio-net-pci"
#define DEFAULT_GUEST_ADDR "10.0.2.15"

/* The quorum node's options: replication is its child 1 when added. */
#define QUORUM "driver=quorum,read-pattern=fifo,vote-threshold=1"

/* ------------------------------------------------------------ the rules */

static bool
is_path(const char *s)
{
    return s != NULL && s[0] == '/';
}

/* QEMU's option text: printable ASCII but space, and no ','. */
static bool
is_token(const char *s)
{
    if (s == NULL || *s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s <= ' ' || *s >= 0x7f || *s == ',') {
            return false;
        }
    }
    return true;
}

/* A model's name: letters, digits, '.', '_', '-'. */
static bool
is_word(const char *s)
{
    if (s == NULL || *s == '\0') {
        return false;
    }
    return s[strspn(s, "abcdefghijklmnopqrstuvwxyz"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] == '\0';
}

static bool
is_ipv4(const char *s)
{
    struct in_addr a;

    return s != NULL && inet_pton(AF_INET, s, &a) == 1;
}

static bool
is_ip(const char *s)
{
    struct in6_addr a;

    return is_ipv4(s) || (s != NULL && inet_pton(AF_INET6, s, &a) == 1);
}

static bool
is_port(unsigned p)
{
    return p >= 1 && p <= 65535;
}

static const char *
check_common(const struct vcha_coloqemu *q)
{
    if (q->qemu != NULL && !is_path(q->qemu)) {
        return "qemu";
    }
    if (!is_token(q->name)) {
        return "name";
    }
    if (q->kvm && q->tb_size_mib != 0) {
        return "tb_size_mib";
    }
    if (q->tb_size_mib > 65536) {
        return "tb_size_mib";
    }
    if (q->cpu != NULL && !is_word(q->cpu)) {
        return "cpu";
    }
    if (q->memory_mib < 1 || q->memory_mib > 16777216) {
        return "memory_mib";
    }
    if (q->cpus < 1 || q->cpus > 1024) {
        return "cpus";
    }
    if (!is_path(q->pidfile)) {
        return "pidfile";
    }
    if (!is_path(q->log)) {
        return "log";
    }
    if (!is_path(q->serial)) {
        return "serial";
    }
    return NULL;
}

static const char *
check_lists(const struct vcha_coloqemu *q)
{
    if (q->n_qmp == 0 || q->qmp == NULL) {
        return "qmp";
    }
    for (size_t i = 0; i < q->n_qmp; i++) {
        if (!is_path(q->qmp[i])) {
            return "qmp";
        }
    }
    if (q->n_fwd > 0 && q->fwd == NULL) {
        return "fwd";
    }
    for (size_t i = 0; i < q->n_fwd; i++) {
        if (!is_ipv4(q->fwd[i].host_addr)) {
            return "fwd.host_addr";
        }
        if (!is_port(q->fwd[i].host_port)) {
            return "fwd.host_port";
        }
        if (!is_port(q->fwd[i].guest_port)) {
            return "fwd.guest_port";
        }
    }
    return NULL;
}

static const char *
check_guest(const struct vcha_coloqemu *q)
{
    if (q->guest_addr != NULL && !is_ipv4(q->guest_addr)) {
        return "guest_addr";
    }
    if (q->nic != NULL && !is_word(q->nic)) {
        return "nic";
    }
    if (!is_path(q->disk)) {
        return "disk";
    }
    if ((unsigned) q->format > VCHA_COLOQEMU_QCOW2) {
        return "format";
    }
    if (q->kernel != NULL && !is_path(q->kernel)) {
        return "kernel";
    }
    if (q->initrd != NULL && (q->kernel == NULL || !is_path(q->initrd))) {
        return "initrd";
    }
    if (q->append != NULL && q->kernel == NULL) {
        return "append";
    }
    return NULL;
}

static const char *
check_secondary(const struct vcha_coloqemu *q)
{
    if (!is_path(q->active_hidden_dir)) {
        return "active_hidden_dir";
    }
    if (!is_ip(q->repl_addr)) {
        return "repl_addr";
    }
    if (q->base_port < 1 || q->base_port > 65535 - 3) {
        return "base_port";
    }
    return NULL;
}

const char *
vcha_coloqemu_check(const struct vcha_coloqemu *q)
{
    const char *bad;

    if ((unsigned) q->shape > VCHA_COLOQEMU_SECONDARY) {
        return "shape";
    }
    bad = check_common(q);
    if (bad == NULL) {
        bad = check_lists(q);
    }
    if (bad == NULL) {
        bad = check_guest(q);
    }
    if (bad == NULL && q->shape == VCHA_COLOQEMU_SECONDARY) {
        bad = check_secondary(q);
    }
    return bad;
}

/* ------------------------------------------------------------- the argv */

/* An argv being built.  The first failure sticks: later additions are
 * dropped, and the caller looks at rc once at the end. */
struct args {
    char **v;
    size_t n, cap;
    int rc;
};

/* printf into a new string, or NULL. */
__attribute__((format(printf, 1, 2))) static char *
fmt(const char *format, ...)
{
    va_list ap;
    char *s;
    int len;

    va_start(ap, format);
    len = vsnprintf(NULL, 0, format, ap);
    va_end(ap);
    if (len < 0) {
        return NULL;
    }
    s = malloc((size_t) len + 1);
    if (s == NULL) {
        return NULL;
    }
    va_start(ap, format);
    vsnprintf(s, (size_t) len + 1, format, ap);
    va_end(ap);
    return s;
}

/* @p s with each ',' doubled, as a new string, or NULL. */
static char *
commas_doubled(const char *s)
{
    size_t n = strlen(s) + 1;
    char *out, *o;

    for (const char *p = s; *p != '\0'; p++) {
        n += *p == ',';
    }
    out = malloc(n);
    if (out == NULL) {
        return NULL;
    }
    for (o = out; *s != '\0'; s++) {
        *o++ = *s;
        if (*s == ',') {
            *o++ = ',';
        }
    }
    *o = '\0';
    return out;
}

/* Append @p s (taken over; NULL: out of memory). */
static void
args_take(struct args *a, char *s)
{
    if (a->rc == 0 && s == NULL) {
        a->rc = -ENOMEM;
    }
    if (a->rc == 0 && a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        char **v = realloc(a->v, cap * sizeof(*v));

        if (v == NULL) {
            a->rc = -ENOMEM;
        } else {
            a->v = v;
            a->cap = cap;
        }
    }
    if (a->rc != 0) {
        free(s);
        return;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void
args_add(struct args *a, const char *s)
{
    args_take(a, fmt("%s", s));
}

/* Option @p opt and its value @p value. */
static void
args_opt(struct args *a, const char *opt, const char *value)
{
    args_add(a, opt);
    args_add(a, value);
}

/* The netdev: user-mode, with the host forwards. */
static char *
netdev_arg(const struct vcha_coloqemu *q)
{
    const char *guest = q->guest_addr ? q->guest_addr : DEFAULT_GUEST_ADDR;
    char *s = fmt("user,id=hn0");

    for (size_t i = 0; s != NULL && i < q->n_fwd; i++) {
        const struct vcha_coloqemu_fwd *f = &q->fwd[i];
        char *t = fmt("%s,hostfwd=tcp:%s:%u-%s:%u", s, f->host_addr,
                      f->host_port, guest, f->guest_port);

        free(s);
        s = t;
    }
    return s;
}

static void
add_machine(struct args *a, const struct vcha_coloqemu *q)
{
    args_add(a, q->qemu ? q->qemu : DEFAULT_QEMU);
    args_add(a, "-name");
    args_take(a, fmt("guest=%s,debug-threads=on", q->name));
    args_add(a, "-accel");
    if (q->kvm) {
        args_add(a, "kvm");
    } else if (q->tb_size_mib != 0) {
        args_take(a, fmt("tcg,tb-size=%u", q->tb_size_mib));
    } else {
        args_add(a, "tcg");
    }
    args_opt(a, "-cpu", q->cpu ? q->cpu : DEFAULT_CPU);
    args_add(a, "-m");
    args_take(a, fmt("%u", q->memory_mib));
    args_add(a, "-smp");
    args_take(a, fmt("%u", q->cpus));
    args_opt(a, "-display", "none");
    args_add(a, "-nodefaults");
    args_add(a, "-no-user-config");
    /* a guest's panic reported (run state guest-panicked), not a reset */
    args_opt(a, "-device", "pvpanic");
    args_opt(a, "-msg", "timestamp=on");
    args_add(a, "-daemonize");
    args_opt(a, "-pidfile", q->pidfile);
    args_opt(a, "-D", q->log);
    /* the console appended to: what a replica before it wrote is kept */
    char *serial = commas_doubled(q->serial);

    args_add(a, "-chardev");
    args_take(a,
              serial ? fmt("file,id=serial0,path=%s,append=on", serial) : NULL);
    free(serial);
    args_opt(a, "-serial", "chardev:serial0");
}

/* The QMP sockets: "path=" so that a '=' in a path is no option name. */
static void
add_qmp(struct args *a, const struct vcha_coloqemu *q)
{
    for (size_t i = 0; i < q->n_qmp; i++) {
        char *path = commas_doubled(q->qmp[i]);

        args_add(a, "-qmp");
        args_take(a,
                  path ? fmt("unix:path=%s,server=on,wait=off", path) : NULL);
        free(path);
    }
}

static void
add_guest(struct args *a, const struct vcha_coloqemu *q)
{
    args_add(a, "-netdev");
    args_take(a, netdev_arg(q));
    args_add(a, "-device");
    args_take(a, fmt("%s,netdev=hn0,romfile=", q->nic ? q->nic : DEFAULT_NIC));
    if (q->kernel != NULL) {
        args_opt(a, "-kernel", q->kernel);
    }
    if (q->initrd != NULL) {
        args_opt(a, "-initrd", q->initrd);
    }
    if (q->append != NULL) {
        args_opt(a, "-append", q->append);
    }
}

static const char *
format_name(enum vcha_coloqemu_format f)
{
    return f == VCHA_COLOQEMU_QCOW2 ? "qcow2" : "raw";
}

static void
add_primary(struct args *a, const struct vcha_coloqemu *q)
{
    char *disk = commas_doubled(q->disk);

    args_add(a, "-drive");
    args_take(a, disk ? fmt("if=virtio,id=colo-disk0," QUORUM
                            ",children.0.driver=%s"
                            ",children.0.file.filename=%s",
                            format_name(q->format), disk)
                      : NULL);
    free(disk);
}

/* The secondary's network: the primary's packets come in on mirror0, its
 * own go out on compsec0 to the primary's compare, both servers here. */
static void
add_secondary_net(struct args *a, const struct vcha_coloqemu *q)
{
    static const char *const ids[] = {"mirror0", "compsec0"};

    for (unsigned i = 0; i < 2; i++) {
        args_add(a, "-chardev");
        args_take(a, fmt("socket,id=%s,host=%s,port=%u,server=on,wait=off,"
                         "nodelay=on",
                         ids[i], q->repl_addr, q->base_port + 2 + i));
    }
    args_opt(a, "-object",
             "filter-redirector,id=f1,netdev=hn0,queue=tx,indev=mirror0");
    args_opt(a, "-object",
             "filter-redirector,id=f2,netdev=hn0,queue=rx,outdev=compsec0");
    args_opt(a, "-object", "filter-rewriter,id=rew0,netdev=hn0,queue=all");
}

static void
add_secondary_disk(struct args *a, const struct vcha_coloqemu *q)
{
    char *disk = commas_doubled(q->disk);
    char *ah = commas_doubled(q->active_hidden_dir);

    args_add(a, "-drive");
    args_take(a, disk ? fmt("if=none,id=parent0,driver=%s,file.filename=%s",
                            format_name(q->format), disk)
                      : NULL);
    args_add(a, "-drive");
    args_take(a, ah ? fmt("if=none,id=childs0,driver=replication,"
                          "mode=secondary,file.driver=qcow2,"
                          "top-id=colo-disk0,"
                          "file.file.filename=%s/active.qcow2,"
                          "file.backing.driver=qcow2,"
                          "file.backing.file.filename=%s/hidden.qcow2,"
                          "file.backing.backing=parent0",
                          ah, ah)
                    : NULL);
    args_opt(a, "-drive",
             "if=virtio,id=colo-disk0," QUORUM ",children.0=childs0");
    args_opt(a, "-incoming", "defer");
    free(disk);
    free(ah);
}

int
vcha_coloqemu_argv(const struct vcha_coloqemu *q, char ***out, const char **bad)
{
    struct args a = {0};
    const char *which = vcha_coloqemu_check(q);

    *out = NULL;
    if (bad != NULL) {
        *bad = which;
    }
    if (which != NULL) {
        return -EINVAL;
    }
    add_machine(&a, q);
    add_qmp(&a, q);
    add_guest(&a, q);
    if (q->shape == VCHA_COLOQEMU_PRIMARY) {
        add_primary(&a, q);
    } else {
        add_secondary_net(&a, q);
        add_secondary_disk(&a, q);
    }
    if (a.rc != 0) {
        vcha_coloqemu_argv_free(a.v);
        return a.rc;
    }
    *out = a.v;
    return 0;
}

void
vcha_coloqemu_argv_free(char **argv)
{
    if (argv == NULL) {
        return;
    }
    for (char **p = argv; *p != NULL; p++) {
        free(*p);
    }
    free(argv);
}
