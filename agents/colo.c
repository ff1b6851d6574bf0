/*
 * ocf:vcha:colo - a QEMU COLO pair (COarse-grained LOck-stepping, seed
 * 003) as a promotable clone: the promoted instance runs the guest (the
 * COLO primary), the unpromoted one a replica ready to receive it (the
 * COLO secondary), on another node.
 *
 * libvirt has no COLO: QEMU runs directly, never as a child of the agent
 * or of vchad.  The agent starts it with -daemonize and a pidfile (QEMU's
 * daemon leaves the agent's session and is adopted by the node's init),
 * and finds it again in /proc by its guest name (-name guest=RESOURCE).
 * QEMU serves three QMP sockets, one a client each: the agent's (promote,
 * demote, stop; out-of-band commands on), the colo job's (vchad's
 * checkpoint controller: vcha/colojob.h), and one for people and tests.
 *
 *   start    an unpromoted instance: a secondary QEMU, its disk under a
 *            replication node with active and hidden overlays
 *            (active_hidden_dir), waiting for the primary's migration, its
 *            NBD server and network filters listening on
 *            replication_address; the colo job registered with vchad.
 *   promote  a secondary that is in COLO (it holds the primary's whole
 *            state) takes over (failover: x-colo-lost-heartbeat and the
 *            removal of what fed it); one that is not ends and a
 *            standalone primary boots the guest from the disk, only if
 *            its data epoch is the highest recorded.  Either way the data
 *            epoch of the pair goes up on this node first.  A secondary
 *            whose state cannot be asked is left alone: promote fails.
 *   demote   the guest shuts down (shutdown_timeout), QEMU ends, and a
 *            secondary waits again.
 *   stop     the guest shuts down if it runs here, QEMU ends, the job and
 *            the overlays are removed.
 *   monitor  a probe reads /proc and the role file; a recurring monitor
 *            asks the colo job (never QEMU), and sets the promotion score.
 *
 * With parameters that cannot be used, QEMU is still found by the
 * resource's name: a probe fails with the configuration error while it
 * runs, and a stop ends it (colo_config_error).
 *
 * Promotion scores: 200 promoted; 100 a secondary in COLO (it has loaded
 * a checkpoint of the primary); otherwise, with no instance in sync, 10
 * on a node whose data epoch is the highest any node recorded (a node
 * attribute that outlives the node), 1 on every node when none recorded
 * any (the first start), and none else: a replica whose data is older
 * than the last primary's is never promoted on its own.
 *
 * Replication: a waiting secondary publishes its replication address
 * (node attribute vcha-colo-RESOURCE-repl); the primary's notify after
 * the peer's start or its own promotion adds the primary's half of COLO
 * to the running guest towards it (vcha/colorepl.h), and before or after
 * the peer's stop leaves COLO and goes on alone.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <vcha/agent.h>
#include <vcha/attr.h>
#include <vcha/clock.h>
#include <vcha/colojob.h>
#include <vcha/coloqemu.h>
#include <vcha/colorepl.h>
#include <vcha/dns.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/job.h>
#include <vcha/log.h>
#include <vcha/proc.h>
#include <vcha/qmp.h>
#include <vcha/vchad.h>

/* Promotion scores. */
#define SCORE_PROMOTED 200
#define SCORE_IN_SYNC 100
#define SCORE_NEWEST 10
#define SCORE_FIRST 1

/* The colo job reports every second; lost after this long without. */
#define JOB_TIMEOUT_MS 15000

/* How long QEMU gets to write its pidfile and open its sockets. */
#define QEMU_READY_MS 10000

/* Where the data epoch of a disk that is a block device is kept. */
#define EPOCH_DIR "/var/lib/vcha/colo"

/* What is kept back of an operation's time to kill QEMU at its end. */
#define KILL_RESERVE_MS 4000
#define TERM_MS 2000

/* A console or QEMU log past this size is moved aside at QEMU's start. */
#define LOG_MAX (16LL << 20)

/* Up to this many host forwards and replication addresses. */
#define MAX_FWD 16
#define MAX_ADDRS 8

enum {
    P_DISK,
    P_FORMAT,
    P_MEMORY,
    P_CPUS,
    P_ACCEL,
    P_CPU,
    P_KERNEL,
    P_INITRD,
    P_APPEND,
    P_NIC,
    P_FORWARD,
    P_GUEST_ADDRESS,
    P_REPL_ADDRESS,
    P_BASE_PORT,
    P_RUN_DIR,
    P_AH_DIR,
    P_AH_ROOM,
    P_QEMU,
    P_QEMU_IMG,
    P_POLICY,
    P_PERIOD,
    P_COLO_DELAY,
    P_YANK_TIMEOUT,
    P_SHUTDOWN_TIMEOUT,
    P_REPL_AFTER,
    N_PARAMS
};

static const char *const formats[] = {"raw", "qcow2", NULL};
static const char *const accels[] = {"kvm", "tcg", NULL};
static const char *const policies[] = {"colo", "periodic", "threshold",
                                       "hybrid", NULL};

static int check_forward(const char *v, char *why, size_t len);
struct colo;
static bool kept_find(struct colo *c, char *buf, size_t len);
static int check_addresses(const char *v, char *why, size_t len);

static const struct vcha_param_def params[N_PARAMS] = {
    [P_DISK] = {.name = "disk",
                .type = VCHA_PT_STRING,
                .required = true,
                .unique = true,
                .check = vcha_check_abspath,
                .shortdesc = "Guest disk image",
                .longdesc =
                    "The guest's disk, the same data on every node of the "
                    "pair (a file or block device of its own on each: COLO "
                    "replicates the writes).  Beside it the agent keeps "
                    "DISK.vcha-epoch, the data epoch of this copy (for a "
                    "block device: " EPOCH_DIR "/RESOURCE.epoch)."},
    [P_FORMAT] = {.name = "format",
                  .type = VCHA_PT_SELECT,
                  .dflt = "raw",
                  .options = formats,
                  .shortdesc = "Disk format",
                  .longdesc = "The disk's format: raw or qcow2."},
    [P_MEMORY] = {.name = "memory",
                  .type = VCHA_PT_INTEGER,
                  .dflt = "512",
                  .min = 16,
                  .max = 16777216,
                  .shortdesc = "Guest memory (MiB)",
                  .longdesc = "The guest's memory in MiB.  Every checkpoint "
                              "copies what the guest dirtied of it."},
    [P_CPUS] = {.name = "cpus",
                .type = VCHA_PT_INTEGER,
                .dflt = "1",
                .min = 1,
                .max = 1024,
                .shortdesc = "Virtual CPUs",
                .longdesc = "The guest's virtual CPUs."},
    [P_ACCEL] = {.name = "accel",
                 .type = VCHA_PT_SELECT,
                 .dflt = "kvm",
                 .options = accels,
                 .shortdesc = "Accelerator",
                 .longdesc = "kvm, or tcg (emulation, where the node has no "
                             "KVM)."},
    [P_CPU] = {.name = "cpu",
               .type = VCHA_PT_STRING,
               .dflt = "qemu64",
               .shortdesc = "CPU model",
               .longdesc = "QEMU's -cpu: a model both nodes can run (the "
                           "secondary runs the primary's state)."},
    [P_KERNEL] = {.name = "kernel",
                  .type = VCHA_PT_STRING,
                  .check = vcha_check_abspath,
                  .shortdesc = "Guest kernel",
                  .longdesc = "A kernel to boot directly (-kernel); without "
                              "it the guest boots from its disk."},
    [P_INITRD] = {.name = "initrd",
                  .type = VCHA_PT_STRING,
                  .check = vcha_check_abspath,
                  .shortdesc = "Guest initrd",
                  .longdesc = "The kernel's initial RAM disk (with kernel)."},
    [P_APPEND] = {.name = "append",
                  .type = VCHA_PT_STRING,
                  .shortdesc = "Kernel command line",
                  .longdesc = "The kernel's command line (with kernel)."},
    [P_NIC] = {.name = "nic",
               .type = VCHA_PT_STRING,
               .dflt = "virtio-net-pci",
               .shortdesc = "NIC model",
               .longdesc = "The guest's network card (QEMU's -device "
                           "model): virtio-net-pci or e1000."},
    [P_FORWARD] = {.name = "forward",
                   .type = VCHA_PT_STRING,
                   .check = check_forward,
                   .shortdesc = "Host forwards",
                   .longdesc =
                       "What clients reach the guest by: a space-separated "
                       "list of ADDRESS:PORT:GUEST_PORT, TCP on this node's "
                       "IPv4 ADDRESS forwarded to the guest's port (QEMU's "
                       "user-mode network).  In COLO, the primary's replies "
                       "go out only once the secondary gave the same ones, "
                       "or after a checkpoint."},
    [P_GUEST_ADDRESS] = {.name = "guest_address",
                         .type = VCHA_PT_STRING,
                         .dflt = "10.0.2.15",
                         .shortdesc = "Guest address",
                         .longdesc = "The guest's IPv4 address in the "
                                     "user-mode network, where forwards "
                                     "go."},
    [P_REPL_ADDRESS] =
        {.name = "replication_address",
         .type = VCHA_PT_STRING,
         .required = true,
         .check = check_addresses,
         .shortdesc = "Replication addresses",
         .longdesc = "The addresses COLO's own traffic goes over (the "
                     "migration, the disk's NBD, the network filters), one "
                     "for each node, space-separated: each node uses the "
                     "one it has.  A dedicated link is best."},
    [P_BASE_PORT] = {.name = "base_port",
                     .type = VCHA_PT_INTEGER,
                     .dflt = "9300",
                     .min = 1024,
                     .max = 65532,
                     .shortdesc = "First replication port",
                     .longdesc = "A secondary listens on this port (NBD) "
                                 "and the next three (the migration, the "
                                 "primary's packets, its own packets)."},
    [P_RUN_DIR] = {.name = "run_dir",
                   .type = VCHA_PT_STRING,
                   .dflt = "/run/vcha/colo",
                   .check = vcha_check_abspath,
                   .shortdesc = "Run directory",
                   .longdesc = "Where QEMU's pidfile, log, console and QMP "
                               "sockets are kept, in a directory named after "
                               "the resource."},
    [P_AH_DIR] = {.name = "active_hidden_dir",
                  .type = VCHA_PT_STRING,
                  .dflt = "/run/vcha/colo",
                  .check = vcha_check_abspath,
                  .shortdesc = "Active and hidden disks",
                  .longdesc =
                      "Where a secondary keeps the two overlays of its disk "
                      "(the writes of its own guest since the last "
                      "checkpoint, and the primary's writes' old data), in "
                      "a directory named after the resource: a tmpfs is "
                      "best (its size is a limit: it takes memory only as "
                      "the overlays fill).  Start refuses a directory with "
                      "less room than active_hidden_room."},
    [P_AH_ROOM] = {.name = "active_hidden_room",
                   .type = VCHA_PT_INTEGER,
                   .dflt = "1024",
                   .min = 1,
                   .max = 16777216,
                   .shortdesc = "Room for the overlays (MiB)",
                   .longdesc =
                       "The free space in MiB active_hidden_dir must have for "
                       "a secondary to start.  The overlays hold what the "
                       "two guests wrote since the last checkpoint, at most "
                       "twice the disk's size; with less room than that the "
                       "start warns, and a secondary whose overlays fill "
                       "fails."},
    [P_QEMU] = {.name = "qemu",
                .type = VCHA_PT_STRING,
                .dflt = "qemu-system-x86_64",
                .check = vcha_check_command,
                .shortdesc = "QEMU",
                .longdesc = "The QEMU program (with COLO: QEMU 11.1 or later "
                            "is known to hold)."},
    [P_QEMU_IMG] = {.name = "qemu_img",
                    .type = VCHA_PT_STRING,
                    .dflt = "qemu-img",
                    .check = vcha_check_command,
                    .shortdesc = "qemu-img",
                    .longdesc = "The program that makes the overlays."},
    [P_POLICY] = {.name = "policy",
                  .type = VCHA_PT_SELECT,
                  .dflt = "colo",
                  .options = policies,
                  .reloadable = true,
                  .shortdesc = "Checkpoint policy",
                  .longdesc =
                      "How the colo job checkpoints: colo (at each "
                      "difference of the replicas' outputs, and every "
                      "colo_delay), periodic (every period), threshold "
                      "(periodic while checkpoints come fast) or hybrid "
                      "(seed 003's controller).  On stock QEMU a difference "
                      "checkpoints at once in every mode: colo is best "
                      "there."},
    [P_PERIOD] = {.name = "period",
                  .type = VCHA_PT_DURATION,
                  .dflt = "250ms",
                  .min = 10,
                  .max = 3600000,
                  .reloadable = true,
                  .shortdesc = "Periodic mode's period",
                  .longdesc = "The checkpoint period of periodic mode."},
    [P_COLO_DELAY] = {.name = "colo_delay",
                      .type = VCHA_PT_DURATION,
                      .dflt = "10s",
                      .min = 10,
                      .max = 3600000,
                      .reloadable = true,
                      .shortdesc = "Colo mode's timer",
                      .longdesc = "In colo mode, a checkpoint at least this "
                                  "often."},
    [P_REPL_AFTER] = {.name = "replicate_after",
                      .type = VCHA_PT_DURATION,
                      .dflt = "30s",
                      .min = 0,
                      .max = 3600000,
                      .shortdesc = "Replication after the guest's start",
                      .longdesc =
                          "The primary's QEMU runs at least this long before "
                          "it replicates to a secondary (the notify that "
                          "starts replication waits, for at most half its "
                          "timeout): a guest replicated early in its boot "
                          "was seen to fail at once on its secondary (QEMU "
                          "11.1, TCG).  A primary that has run longer, such "
                          "as one that took over, replicates at once."},
    [P_YANK_TIMEOUT] = {.name = "yank_timeout",
                        .type = VCHA_PT_DURATION,
                        .dflt = "1s",
                        .min = 100,
                        .max = 60000,
                        .shortdesc = "QMP command timeout before yank",
                        .longdesc =
                            "A QMP command of a failover that has not answered "
                            "after this long (QEMU waiting on a peer that is "
                            "gone) gets QEMU's out-of-band yank, which breaks "
                            "the connections it waits on; QEMU is killed when "
                            "that does not help in the operation's time."},
    [P_SHUTDOWN_TIMEOUT] = {.name = "shutdown_timeout",
                            .type = VCHA_PT_DURATION,
                            .dflt = "60s",
                            .min = 0,
                            .max = 3600000,
                            .shortdesc = "Guest shutdown timeout",
                            .longdesc = "How long a demote or stop waits "
                                        "for the guest to power off (ACPI) "
                                        "before QEMU is ended; 0: at "
                                        "once."},
};

/* ------------------------------------------------------------ values */

/* Split @p v at spaces into at most @p max words in @p w (of @p buf). */
static size_t
words(const char *v, char *buf, size_t len, char **w, size_t max)
{
    size_t n = 0;
    char *save = NULL;

    snprintf(buf, len, "%s", v != NULL ? v : "");
    for (char *t = strtok_r(buf, " \t", &save); t != NULL;
         t = strtok_r(NULL, " \t", &save)) {
        if (n == max) {
            return max + 1;
        }
        w[n++] = t;
    }
    return n;
}

/* "ADDRESS:PORT:GUEST_PORT" into @p f (@p f->host_addr points into @p w). */
static int
forward_parse(char *w, struct vcha_coloqemu_fwd *f)
{
    char *gport = strrchr(w, ':'), *port, *end;
    struct vcha_ip ip;
    long a, b;

    if (gport == NULL || gport == w) {
        return -EINVAL;
    }
    *gport++ = '\0';
    port = strrchr(w, ':');
    if (port == NULL || port == w) {
        return -EINVAL;
    }
    *port++ = '\0';
    a = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || a < 1 || a > 65535) {
        return -EINVAL;
    }
    b = strtol(gport, &end, 10);
    if (*gport == '\0' || *end != '\0' || b < 1 || b > 65535) {
        return -EINVAL;
    }
    if (vcha_ip_parse(w, &ip) < 0 || ip.family != AF_INET) {
        return -EINVAL;
    }
    *f = (struct vcha_coloqemu_fwd){
        .host_addr = w, .host_port = (unsigned) a, .guest_port = (unsigned) b};
    return 0;
}

static int
check_forward(const char *v, char *why, size_t len)
{
    char buf[2048], *w[MAX_FWD + 1];
    size_t n = words(v, buf, sizeof(buf), w, MAX_FWD);
    struct vcha_coloqemu_fwd f;

    if (n > MAX_FWD) {
        snprintf(why, len, "more than %d forwards", MAX_FWD);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char word[256];

        snprintf(word, sizeof(word), "%s", w[i]);
        if (forward_parse(w[i], &f) < 0) {
            snprintf(why, len,
                     "'%s' is no IPV4ADDRESS:PORT:GUEST_PORT (ports 1-65535)",
                     word);
            return -EINVAL;
        }
    }
    return 0;
}

static int
check_addresses(const char *v, char *why, size_t len)
{
    char buf[2048], *w[MAX_ADDRS + 1];
    size_t n = words(v, buf, sizeof(buf), w, MAX_ADDRS);
    struct vcha_ip ip;

    if (n == 0 || n > MAX_ADDRS) {
        snprintf(why, len, "give 1 to %d addresses", MAX_ADDRS);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (vcha_ip_parse(w[i], &ip) < 0) {
            snprintf(why, len, "'%s' is no IPv4 or IPv6 address", w[i]);
            return -EINVAL;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ one pair */

struct colo {
    struct vcha_agent *a;
    char name[128];     /* the resource, without a clone's ":N" */
    char dir[PATH_MAX]; /* run_dir/NAME */
    char ah[PATH_MAX];  /* active_hidden_dir/NAME */
    char pidfile[PATH_MAX], log[PATH_MAX], serial[PATH_MAX];
    char qmp_agent[PATH_MAX], qmp_job[PATH_MAX], qmp_diag[PATH_MAX];
    char role[PATH_MAX]; /* the role file */
    char epoch[PATH_MAX];
    char repl[64]; /* this node's replication address */
    char qemu_path[PATH_MAX];
    char fwd_buf[2048];
    struct vcha_coloqemu_fwd fwd[MAX_FWD];
    size_t n_fwd;
};

/* The resource's name, without a clone's ":N" (the same for either
 * instance of the pair, and across restarts): QEMU's guest name, the
 * colo job's id, the node attributes' and paths' part. */
static void
colo_name(struct colo *c)
{
    const char *inst = c->a->instance != NULL ? c->a->instance : "colo";
    size_t n = strcspn(inst, ":");

    snprintf(c->name, sizeof(c->name), "%.*s", (int) n, inst);
    for (char *p = c->name; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '_';
        }
    }
}

static int
colo_paths(struct colo *c)
{
    const char *disk = vcha_agent_str(c->a, P_DISK);
    struct stat st;
    int w = 0;

    colo_name(c);
#define PATHF(field, ...)                                                      \
    w |= snprintf(c->field, sizeof(c->field), __VA_ARGS__) >=                  \
         (int) sizeof(c->field)
    PATHF(dir, "%s/%s", vcha_agent_str(c->a, P_RUN_DIR), c->name);
    PATHF(ah, "%s/%s", vcha_agent_str(c->a, P_AH_DIR), c->name);
    PATHF(pidfile, "%s/qemu.pid", c->dir);
    PATHF(log, "%s/qemu.log", c->dir);
    PATHF(serial, "%s/serial.log", c->dir);
    PATHF(qmp_agent, "%s/qmp-agent.sock", c->dir);
    PATHF(qmp_job, "%s/qmp-job.sock", c->dir);
    PATHF(qmp_diag, "%s/qmp.sock", c->dir);
    PATHF(role, "%s/role", c->dir);
    /* the epoch describes the disk's data: beside a disk file, else (a
     * block device, or a path under /dev that is not there now: /dev is
     * no place for it) in EPOCH_DIR, by the resource's name (a device
     * replaced by a blank one must have that file removed) */
    if (stat(disk, &st) == 0 ? S_ISBLK(st.st_mode)
                             : strncmp(disk, "/dev/", 5) == 0) {
        PATHF(epoch, "%s/%s.epoch", EPOCH_DIR, c->name);
    } else {
        PATHF(epoch, "%s.vcha-epoch", disk);
    }
#undef PATHF
    /* a unix socket's path fits in 108 bytes */
    return w || strlen(c->qmp_agent) >= 108 ? -ENAMETOOLONG : 0;
}

/* Forwards parsed (checked by the parameter's check already). */
static void
colo_forwards(struct colo *c)
{
    char *w[MAX_FWD + 1];
    size_t n = words(vcha_agent_str(c->a, P_FORWARD), c->fwd_buf,
                     sizeof(c->fwd_buf), w, MAX_FWD);

    c->n_fwd = 0;
    for (size_t i = 0; i < n && i < MAX_FWD; i++) {
        if (forward_parse(w[i], &c->fwd[c->n_fwd]) == 0) {
            c->n_fwd++;
        }
    }
}

/* This node's replication address into c->repl: 0, -ENOENT when it has
 * none of them, -EEXIST when it has more than one. */
static int
colo_repl_address(struct colo *c)
{
    char buf[2048], *w[MAX_ADDRS + 1];
    size_t n = words(vcha_agent_str(c->a, P_REPL_ADDRESS), buf, sizeof(buf), w,
                     MAX_ADDRS);
    int found = 0;

    c->repl[0] = '\0';
    for (size_t i = 0; i < n && i < MAX_ADDRS; i++) {
        struct vcha_ip ip;

        if (vcha_ip_parse(w[i], &ip) == 0 && vcha_ip_is_local(&ip) == 1) {
            if (found++ == 0) {
                snprintf(c->repl, sizeof(c->repl), "%s", w[i]);
            }
        }
    }
    return found == 1 ? 0 : found == 0 ? -ENOENT : -EEXIST;
}

/* Program @p prog as an absolute path in @p buf: itself when it holds a
 * '/', else the first executable of that name in PATH, else @p prog. */
static const char *
program_path(const char *prog, char *buf, size_t len)
{
    const char *path = getenv("PATH");

    if (strchr(prog, '/') != NULL || path == NULL) {
        return prog;
    }
    for (const char *p = path; *p != '\0';) {
        size_t n = strcspn(p, ":");

        if (n > 0 &&
            snprintf(buf, len, "%.*s/%s", (int) n, p, prog) < (int) len &&
            buf[0] == '/' && access(buf, X_OK) == 0) {
            return buf;
        }
        p += n + (p[n] == ':');
    }
    return prog;
}

/* The QEMU description of @p shape. */
static void
colo_qemu(struct colo *c, enum vcha_coloqemu_shape shape,
          struct vcha_coloqemu *q, const char **qmp)
{
    struct vcha_agent *a = c->a;

    qmp[0] = c->qmp_agent;
    qmp[1] = c->qmp_job;
    qmp[2] = c->qmp_diag;
    *q = (struct vcha_coloqemu){
        .shape = shape,
        .qemu = program_path(vcha_agent_str(a, P_QEMU), c->qemu_path,
                             sizeof(c->qemu_path)),
        .name = c->name,
        .kvm = strcmp(vcha_agent_str(a, P_ACCEL), "kvm") == 0,
        .cpu = vcha_agent_str(a, P_CPU),
        .memory_mib = (unsigned) vcha_agent_num(a, P_MEMORY),
        .cpus = (unsigned) vcha_agent_num(a, P_CPUS),
        .pidfile = c->pidfile,
        .log = c->log,
        .serial = c->serial,
        .qmp = qmp,
        .n_qmp = 3,
        .fwd = c->fwd,
        .n_fwd = c->n_fwd,
        .guest_addr = vcha_agent_str(a, P_GUEST_ADDRESS),
        .nic = vcha_agent_str(a, P_NIC),
        .disk = vcha_agent_str(a, P_DISK),
        .format = strcmp(vcha_agent_str(a, P_FORMAT), "qcow2") == 0
                      ? VCHA_COLOQEMU_QCOW2
                      : VCHA_COLOQEMU_RAW,
        .kernel = vcha_agent_str(a, P_KERNEL),
        .initrd = vcha_agent_str(a, P_INITRD),
        .append = vcha_agent_str(a, P_APPEND),
        .active_hidden_dir = c->ah,
        .repl_addr = c->repl[0] ? c->repl : "127.0.0.1",
        .base_port = (unsigned) vcha_agent_num(a, P_BASE_PORT),
    };
}

/* The parameter a field of struct vcha_coloqemu comes from. */
static const char *
field_param(const char *field)
{
    static const char *const map[][2] = {
        {"qemu", "qemu"},
        {"cpu", "cpu"},
        {"memory_mib", "memory"},
        {"cpus", "cpus"},
        {"disk", "disk"},
        {"kernel", "kernel"},
        {"initrd", "initrd"},
        {"append", "append"},
        {"nic", "nic"},
        {"guest_addr", "guest_address"},
        {"repl_addr", "replication_address"},
        {"active_hidden_dir", "active_hidden_dir"},
        {"base_port", "base_port"},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(field, map[i][0]) == 0) {
            return map[i][1];
        }
    }
    if (strncmp(field, "fwd", 3) == 0) {
        return "forward";
    }
    return strcmp(field, "name") == 0 ? "the resource's name" : "run_dir";
}

/* ------------------------------------------------------------ role file */

static int
role_read(struct colo *c, enum vcha_role *role)
{
    char *text = NULL;
    int rc = vcha_file_read(c->role, &text, NULL, 64);

    *role = VCHA_ROLE_NONE;
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc == 0) {
        text[strcspn(text, "\n")] = '\0';
        rc = vcha_role_parse(text, role) == 0 ? 0 : -EIO;
    }
    free(text);
    return rc;
}

static int
role_write(struct colo *c, enum vcha_role role)
{
    char text[32];

    snprintf(text, sizeof(text), "%s\n", vcha_role_name(role));
    return vcha_file_write_atomic(c->role, text, strlen(text), 0644);
}

/* The time an operation may spend before QEMU must be killed: its
 * deadline less what SIGTERM and SIGKILL need. */
static long long
soft_deadline(struct colo *c)
{
    return c->a->deadline_ms - KILL_RESERVE_MS;
}

/* What is left of the operation's time before the soft deadline. */
static long long
soft_left(struct colo *c)
{
    long long left = soft_deadline(c) - vcha_now_ms();

    return left > 0 ? left : 0;
}

/* The earlier of now + @p ms and the soft deadline. */
static long long
until_soft(struct colo *c, long long ms)
{
    long long t = vcha_now_ms() + ms;

    return t < soft_deadline(c) ? t : soft_deadline(c);
}

/* ------------------------------------------------------------ scores */

static char *
epoch_attr(struct colo *c, char *buf, size_t len)
{
    snprintf(buf, len, "vcha-colo-%s-epoch", c->name);
    return buf;
}

/* A secondary waiting for its primary publishes its replication
 * address in this transient node attribute; the primary replicates to
 * the address it finds there. */
static char *
repl_attr(struct colo *c, char *buf, size_t len)
{
    snprintf(buf, len, "vcha-colo-%s-repl", c->name);
    return buf;
}

static void
repl_publish(struct colo *c)
{
    char attr[256];
    int rc = vcha_attr_set(repl_attr(c, attr, sizeof(attr)), c->repl,
                           vcha_agent_remaining_ms(c->a) / 8);

    if (rc < 0) {
        vcha_warn("cannot publish %s=%s (no replication to this node): %s",
                  attr, c->repl, strerror(-rc));
    }
}

static void
repl_withdraw(struct colo *c)
{
    char attr[256];
    int rc = vcha_attr_delete(repl_attr(c, attr, sizeof(attr)),
                              vcha_agent_remaining_ms(c->a) / 8);

    if (rc < 0 && rc != -ENODATA) {
        vcha_warn("cannot remove %s: %s", attr, strerror(-rc));
    }
}

/* This copy's data epoch (0: none recorded). */
static long long
epoch_mine(struct colo *c)
{
    char *text = NULL;
    long long e = 0;

    if (vcha_file_read(c->epoch, &text, NULL, 64) == 0) {
        e = strtoll(text, NULL, 10);
    }
    free(text);
    return e > 0 ? e : 0;
}

/* The highest data epoch any node of the cluster recorded (0: none did),
 * or -errno when that cannot be told: the nodes cannot be listed, or a
 * node's attribute cannot be read.  This node's attribute one above its
 * file is a bump that failed before the file was written (epoch_bump):
 * no newer data, counted as the file's. */
static long long
epoch_highest(struct colo *c)
{
    const char *argv[] = {"crm_node", "-l", NULL};
    struct vcha_exec_result res = {0};
    char attr[256], self[256];
    long long high = 0, mine = epoch_mine(c);
    int rc = vcha_exec(argv, NULL, 0, soft_left(c) / 3, &res);

    if (rc < 0 || !vcha_exec_ok(&res)) {
        vcha_exec_result_clear(&res);
        return rc < 0 ? rc : -EIO;
    }
    epoch_attr(c, attr, sizeof(attr));
    vcha_agent_node_name(c->a, self, sizeof(self));
    for (char *save = NULL, *line = strtok_r(res.out, "\n", &save);
         line != NULL && high >= 0; line = strtok_r(NULL, "\n", &save)) {
        char node[256], *value = NULL, *end = NULL;

        /* "ID NAME STATE" */
        if (sscanf(line, "%*s %255s", node) != 1) {
            continue;
        }
        rc = vcha_node_attr_get(attr, node, &value, soft_left(c) / 3);
        if (rc == 0) {
            long long e = strtoll(value, &end, 10);

            if (strcmp(node, self) == 0 && e == mine + 1) {
                e = mine;
            }
            high = end == value || e < 0 ? -EBADMSG : e > high ? e : high;
        } else if (rc != -ENODATA) {
            high = rc; /* a node whose epoch cannot be read may be newest */
        }
        free(value);
    }
    vcha_exec_result_clear(&res);
    return high;
}

/* Set this node's data epoch attribute to @p value, or delete it when
 * @p value is NULL: 0 or -errno, the tool's words in @p why. */
static int
epoch_attr_set(struct colo *c, const char *node, const char *value, char *why,
               size_t len)
{
    char attr[256];
    const char *argv[] = {"crm_attribute",
                          "--type",
                          "nodes",
                          "--node",
                          node,
                          "--name",
                          epoch_attr(c, attr, sizeof(attr)),
                          "--lifetime",
                          "forever",
                          value != NULL ? "--update" : "--delete",
                          value,
                          NULL};

    return vcha_exec_until(argv, vcha_now_ms() + soft_left(c) / 3, why, len);
}

/* Record a new data epoch, the highest + 1, for this copy before it
 * becomes the primary: the node attribute first (a promote that fails
 * then leaves no file newer than every attribute, and two copies never
 * read as newest together), then the file beside the data.  When the
 * file cannot be written the attribute is put back as it was (and a bump
 * cut off between the two reads as the file's on this node:
 * epoch_highest). */
static enum vcha_result
epoch_bump(struct colo *c)
{
    long long high = epoch_highest(c), mine = epoch_mine(c);
    char text[32], attr[256], node[256], dir[PATH_MAX], why[256] = "";
    char *prev = NULL;
    int rc;

    if (high < 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "cannot read the data epochs of the cluster's "
                               "nodes: %s",
                               strerror((int) -high));
    }
    snprintf(text, sizeof(text), "%lld", (high > mine ? high : mine) + 1);
    vcha_agent_node_name(c->a, node, sizeof(node));
    epoch_attr(c, attr, sizeof(attr));
    rc = vcha_node_attr_get(attr, node, &prev, soft_left(c) / 3);
    if (rc < 0 && rc != -ENODATA) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "cannot read node attribute %s: %s", attr,
                               strerror(-rc));
    }
    rc = epoch_attr_set(c, node, text, why, sizeof(why));
    if (rc < 0) {
        free(prev);
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "cannot record data epoch %s in node attribute "
                               "%s: %s",
                               text, attr, why[0] ? why : strerror(-rc));
    }
    snprintf(dir, sizeof(dir), "%s", c->epoch);
    *strrchr(dir, '/') = '\0';
    rc = strcmp(dir, EPOCH_DIR) == 0 ? vcha_file_mkdirs(dir, 0755) : 0;
    rc = rc < 0 ? rc
                : vcha_file_write_atomic(c->epoch, text, strlen(text), 0644);
    if (rc < 0) {
        if (epoch_attr_set(c, node, prev, why, sizeof(why)) < 0) {
            vcha_warn("%s: cannot put node attribute %s back: %s", c->name,
                      attr, why);
        }
        free(prev);
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "cannot write data epoch %s to %s: %s", text,
                               c->epoch, strerror(-rc));
    }
    free(prev);
    return VCHA_OK;
}

/* The score of a replica not in sync: its data's standing. */
static int
score_cold(struct colo *c)
{
    long long high = epoch_highest(c), mine = epoch_mine(c);
    char kept[PATH_MAX + 80];

    if (high < 0 || kept_find(c, kept, sizeof(kept))) {
        /* cannot tell, or a commit of a failover cut short: never
         * promoted alone */
        return VCHA_PROMOTION_NONE;
    }
    if (high == 0 && mine == 0) {
        return SCORE_FIRST;
    }
    return mine >= high ? SCORE_NEWEST : VCHA_PROMOTION_NONE;
}

static void
score_set(struct colo *c, int score)
{
    int rc = vcha_agent_promotion(c->a, score);

    if (rc < 0 && !(score == VCHA_PROMOTION_NONE && rc == -ENODATA)) {
        vcha_warn("cannot set the promotion score of %s: %s", c->name,
                  strerror(-rc));
    }
}

/* ------------------------------------------------------------ the job */

static enum vcha_result
job_params(struct colo *c, struct vcha_kv **job, struct vcha_job_timing *t)
{
    const struct vcha_param_def *d = vcha_colo_job.params;
    char period[32], delay[32];
    int rc;

    snprintf(period, sizeof(period), "%lld", vcha_agent_num(c->a, P_PERIOD));
    snprintf(delay, sizeof(delay), "%lld", vcha_agent_num(c->a, P_COLO_DELAY));
    *t = (struct vcha_job_timing){.interval_ms = 1000,
                                  .timeout_ms = JOB_TIMEOUT_MS};
    *job = vcha_kv_new();
    rc = *job != NULL ? 0 : -ENOMEM;
    rc = rc ? rc : vcha_kv_set(*job, d[VCHA_COLOJ_QMP].name, c->qmp_job);
    rc = rc ? rc : vcha_kv_set(*job, d[VCHA_COLOJ_LOG].name, c->log);
    rc = rc ? rc
            : vcha_kv_set(*job, d[VCHA_COLOJ_POLICY].name,
                          vcha_agent_str(c->a, P_POLICY));
    rc = rc ? rc : vcha_kv_set(*job, d[VCHA_COLOJ_PERIOD].name, period);
    rc = rc ? rc : vcha_kv_set(*job, d[VCHA_COLOJ_COLO_DELAY].name, delay);
    if (rc < 0) {
        vcha_kv_free(*job);
        *job = NULL;
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC, "out of memory");
    }
    return VCHA_OK;
}

static enum vcha_result
job_add(struct colo *c)
{
    struct vcha_job_timing t;
    struct vcha_kv *job = NULL;
    char why[512] = "";
    int rc;

    if (job_params(c, &job, &t) != VCHA_OK) {
        return VCHA_ERR_GENERIC;
    }
    rc = vcha_job_add(vcha_vchad_socket(), &vcha_colo_job, c->name, job, &t,
                      c->a->deadline_ms, why, sizeof(why));
    vcha_kv_free(job);
    if (rc < 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "cannot register the colo job: %s", why);
    }
    return VCHA_OK;
}

static void
job_remove(struct colo *c)
{
    long long now = vcha_now_ms();
    int rc = vcha_job_remove(vcha_vchad_socket(), c->name,
                             now + (c->a->deadline_ms - now) / 3);

    if (rc < 0) {
        vcha_warn("could not remove the colo job from vchad: %s",
                  strerror(-rc));
    }
}

/* The job's health (figures fig.*) in *health, re-registering a job
 * vchad lost.  -ETIME when vchad does not answer in time. */
static int
job_health(struct colo *c, struct vcha_kv **health)
{
    struct vcha_kv *job = NULL;
    struct vcha_job_timing t;
    char why[512] = "";
    bool readded = false;
    int rc;

    *health = NULL;
    if (job_params(c, &job, &t) != VCHA_OK) {
        return -ENOMEM;
    }
    rc = vcha_job_keep(vcha_vchad_socket(), &vcha_colo_job, c->name, job, &t,
                       c->a->deadline_ms, health, &readded, why, sizeof(why));
    vcha_kv_free(job);
    if (rc < 0) {
        vcha_warn("the colo job of %s: %s", c->name, why);
    } else if (readded) {
        vcha_warn("vchad had lost the colo job of %s: registered it again",
                  c->name);
        vcha_kv_free(*health);
        *health = NULL;
        rc = -EAGAIN; /* no figures yet */
    }
    return rc;
}

static const char *
fig(const struct vcha_kv *health, const char *key)
{
    char name[64];
    const char *v;

    snprintf(name, sizeof(name), "fig.%s", key);
    v = health != NULL ? vcha_kv_get(health, name) : NULL;
    return v != NULL ? v : "";
}

/* ------------------------------------------------------------ QEMU */

/* QEMU's PID (0: none runs), or -errno. */
static int
qemu_pid(struct colo *c)
{
    return vcha_proc_hypervisor(c->name);
}

/* Run @p command on the agent's QMP socket of QEMU, within @p ms. */
static int
qmp_do(struct colo *c, struct vcha_qmp *q, const char *command,
       json_object *args, long long ms, json_object **ret, char *why,
       size_t len)
{
    char *err = NULL;
    long long left = soft_left(c); /* the kill reserve kept */
    int rc = vcha_qmp_exec(q, command, args,
                           vcha_now_ms() + (ms < left ? ms : left), ret, &err);

    if (rc < 0) {
        snprintf(why, len, "QMP %s: %s", command,
                 rc == -EREMOTEIO && err != NULL ? err : strerror(-rc));
    }
    free(err);
    return rc;
}

static json_object *
obj(const char *key, json_object *v)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, key, v);
    return o;
}

/* The virtual size of the disk in bytes, from qemu-img info. */
static long long
disk_size(struct colo *c, char *why, size_t len)
{
    const char *argv[] = {vcha_agent_str(c->a, P_QEMU_IMG),
                          "info",
                          "--output=json",
                          "-U",
                          "-f",
                          vcha_agent_str(c->a, P_FORMAT),
                          vcha_agent_str(c->a, P_DISK),
                          NULL};
    struct vcha_exec_result res = {0};
    json_object *info = NULL, *v = NULL;
    long long size = -1;
    int rc = vcha_exec(argv, NULL, 0, soft_left(c) / 4, &res);

    if (rc < 0 || !vcha_exec_ok(&res)) {
        snprintf(why, len, "qemu-img info %s: %s", vcha_agent_str(c->a, P_DISK),
                 rc < 0 ? strerror(-rc) : res.err);
    } else if ((info = json_tokener_parse(res.out)) != NULL &&
               json_object_object_get_ex(info, "virtual-size", &v) &&
               json_object_is_type(v, json_type_int)) {
        size = json_object_get_int64(v);
    } else {
        snprintf(why, len, "qemu-img info %s: no virtual-size",
                 vcha_agent_str(c->a, P_DISK));
    }
    json_object_put(info);
    vcha_exec_result_clear(&res);
    return size;
}

/* Whether an overlay of the secondary's disk is still a node of QEMU's
 * block graph: 1, 0, or -errno.  A failover commits the overlays into
 * the disk in a job of QEMU's own that query-block-jobs does not show;
 * when it is done they leave the graph. */
static int
overlays_in_graph(struct colo *c, struct vcha_qmp *q, long long ms, char *why,
                  size_t len)
{
    char active[PATH_MAX + 32], hidden[PATH_MAX + 32];
    json_object *ret = NULL;
    int rc =
        qmp_do(c, q, "query-named-block-nodes",
               obj("flat", json_object_new_boolean(true)), ms, &ret, why, len);

    snprintf(active, sizeof(active), "%s/active.qcow2", c->ah);
    snprintf(hidden, sizeof(hidden), "%s/hidden.qcow2", c->ah);
    if (rc == 0 && !json_object_is_type(ret, json_type_array)) {
        snprintf(why, len, "query-named-block-nodes: no list");
        rc = -EBADMSG;
    }
    for (size_t i = 0; rc == 0 && i < json_object_array_length(ret); i++) {
        json_object *file = NULL;
        const char *f = json_object_object_get_ex(
                            json_object_array_get_idx(ret, i), "file", &file)
                            ? json_object_get_string(file)
                            : "";

        rc = strcmp(f, active) == 0 || strcmp(f, hidden) == 0;
    }
    json_object_put(ret);
    return rc;
}

/* Until the overlays have left QEMU's block graph, or @p until: 0,
 * -ETIME, or -errno. */
static int
overlays_wait(struct colo *c, struct vcha_qmp *q, long long until)
{
    char why[256];
    int rc;

    while ((rc = overlays_in_graph(c, q, until - vcha_now_ms(), why,
                                   sizeof(why))) == 1) {
        if (vcha_now_ms() >= until) {
            return -ETIME;
        }
        vcha_sleep_ms(100);
    }
    return rc;
}

/* Whether the secondary's overlays are there as files. */
static bool
overlays_exist(struct colo *c)
{
    char path[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/active.qcow2", c->ah);
    if (access(path, F_OK) == 0) {
        return true;
    }
    snprintf(path, sizeof(path), "%s/hidden.qcow2", c->ah);
    return access(path, F_OK) == 0;
}

/* After a QEMU that had taken over has ended (or was ended half way
 * through its failover): overlays still there were not (known to be)
 * committed into the disk, which may lack the guest's last writes or
 * hold part of a commit.  They are kept beside it as NAME.kept-TIME,
 * never removed; while any is there the disk is not booted (kept_find). */
static void
overlays_keep(struct colo *c)
{
    static const char *const names[] = {"active.qcow2", "hidden.qcow2"};
    char from[PATH_MAX + 32], to[PATH_MAX + 64];
    long long t = (long long) time(NULL);

    for (size_t i = 0; i < 2; i++) {
        snprintf(from, sizeof(from), "%s/%s", c->ah, names[i]);
        snprintf(to, sizeof(to), "%s.kept-%lld", from, t);
        if (rename(from, to) == 0) {
            vcha_err("%s: the failover's commit of %s into the disk did "
                     "not end: the disk may lack the guest's last writes "
                     "or hold part of the commit; the overlay is kept as %s",
                     c->name, from, to);
        } else if (errno != ENOENT) {
            vcha_err("%s: the failover's commit of %s into the disk did "
                     "not end, and the overlay could not be kept as %s: %s",
                     c->name, from, to, strerror(errno));
        }
    }
}

/* Whether overlays kept by overlays_keep() are there: the name of one in
 * @p buf. */
static bool
kept_find(struct colo *c, char *buf, size_t len)
{
    DIR *d = opendir(c->ah);
    struct dirent *e;
    bool found = false;

    while (d != NULL && !found && (e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".qcow2.kept-") != NULL) {
            snprintf(buf, len, "%s/%.64s", c->ah, e->d_name);
            found = true;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return found;
}

static void
overlays_remove(struct colo *c)
{
    char path[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/active.qcow2", c->ah);
    unlink(path);
    snprintf(path, sizeof(path), "%s/hidden.qcow2", c->ah);
    unlink(path);
    rmdir(c->ah);
}

/* After QEMU of role @p role has ended: a secondary's overlays are of
 * no use; a taken-over secondary's still there were not committed. */
static void
overlays_settle(struct colo *c, enum vcha_role role)
{
    if (role == VCHA_ROLE_PROMOTED && overlays_exist(c)) {
        overlays_keep(c); /* one that cannot be renamed stays as it is */
        return;
    }
    overlays_remove(c);
}

/* The secondary's two overlays, new and empty, as big as the disk. */
static enum vcha_result
overlays_create(struct colo *c)
{
    char why[512] = "", size[32], path[PATH_MAX + 32];
    long long bytes = disk_size(c, why, sizeof(why));
    static const char *const names[] = {"active.qcow2", "hidden.qcow2"};
    struct statvfs fs;
    long long free_mib;
    int rc;

    if (bytes < 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC, "%s", why);
    }
    overlays_remove(c); /* a previous secondary's, now of no use */
    rc = vcha_file_mkdirs(c->ah, 0700);
    rc = rc == 0 && statvfs(c->ah, &fs) < 0 ? -errno : rc;
    if (rc < 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "active_hidden_dir: %s: %s", c->ah,
                               strerror(-rc));
    }
    free_mib = (long long) (fs.f_bavail * fs.f_frsize >> 20);
    if (free_mib < vcha_agent_num(c->a, P_AH_ROOM)) {
        return vcha_agent_fail(c->a, VCHA_ERR_ARGS,
                               "active_hidden_dir: %s has %lld MiB free, "
                               "less than active_hidden_room (%lld MiB)",
                               c->ah, free_mib,
                               vcha_agent_num(c->a, P_AH_ROOM));
    }
    /* each overlay may grow to the disk's size between two checkpoints */
    if (free_mib < 2 * (bytes >> 20)) {
        vcha_warn("active_hidden_dir: %s has %lld MiB free, less than twice "
                  "the disk's %lld MiB: the overlays may fill it",
                  c->ah, free_mib, bytes >> 20);
    }
    snprintf(size, sizeof(size), "%lld", bytes);
    for (size_t i = 0; i < 2; i++) {
        const char *argv[] = {vcha_agent_str(c->a, P_QEMU_IMG),
                              "create",
                              "-q",
                              "-f",
                              "qcow2",
                              path,
                              size,
                              NULL};

        snprintf(path, sizeof(path), "%s/%s", c->ah, names[i]);
        rc = vcha_exec_until(argv, vcha_now_ms() + soft_left(c) / 4, why,
                             sizeof(why));
        if (rc < 0) {
            return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                                   "cannot create %s: %s", path,
                                   why[0] ? why : strerror(-rc));
        }
    }
    return VCHA_OK;
}

/* Wait until QEMU process @p pid has ended or @p until. */
static bool
qemu_wait_end(struct colo *c, int pid, long long until, long long step)
{
    while (vcha_proc_runs(c->name, pid)) {
        if (vcha_now_ms() >= until) {
            return false;
        }
        vcha_sleep_ms(step);
    }
    return true;
}

/* End QEMU: a guest shutdown first when @p graceful (within
 * shutdown_timeout), then QMP quit, then signals, which keep
 * KILL_RESERVE_MS of the operation's time. */
static enum vcha_result
qemu_end(struct colo *c, bool graceful)
{
    long long grace = vcha_agent_num(c->a, P_SHUTDOWN_TIMEOUT);
    int pid = qemu_pid(c);
    struct vcha_qmp *q = NULL;
    char why[512] = "";
    int rc;

    if (pid == 0) {
        return VCHA_OK;
    }
    if (pid < 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "cannot tell whether QEMU of %s runs: %s",
                               c->name, strerror(-pid));
    }
    rc = vcha_qmp_open(c->qmp_agent,
                       until_soft(c, vcha_agent_remaining_ms(c->a) / 8), &q);
    if (rc < 0) {
        vcha_warn("QMP %s: %s", c->qmp_agent, strerror(-rc));
    } else {
        /* a taken-over secondary's commit into the disk ends first */
        if (graceful && overlays_exist(c) &&
            overlays_wait(
                c, q, until_soft(c, vcha_agent_remaining_ms(c->a) / 2)) == 0) {
            overlays_remove(c);
        }
        if (graceful && grace > 0 &&
            qmp_do(c, q, "system_powerdown", NULL,
                   until_soft(c, vcha_agent_remaining_ms(c->a) / 8) -
                       vcha_now_ms(),
                   NULL, why, sizeof(why)) == 0) {
            long long t0 = vcha_now_ms();

            vcha_info("%s: the guest is asked to power off", c->name);
            if (qemu_wait_end(c, pid, until_soft(c, grace), 200)) {
                vcha_info("%s: the guest powered off in %lld ms", c->name,
                          vcha_now_ms() - t0);
            } else {
                vcha_warn("%s: the guest has not powered off in %lld ms",
                          c->name, vcha_now_ms() - t0);
            }
        } else if (graceful && grace > 0) {
            vcha_warn("%s: %s", c->name, why);
        }
        if (vcha_proc_runs(c->name, pid) &&
            qmp_do(c, q, "quit", NULL, until_soft(c, 3000) - vcha_now_ms(),
                   NULL, why, sizeof(why)) == 0) {
            qemu_wait_end(c, pid, until_soft(c, 3000), 50);
        }
        vcha_qmp_close(q);
    }
    if (!vcha_proc_runs(c->name, pid)) {
        return VCHA_OK;
    }
    vcha_warn("QEMU of %s (process %d) did not quit: killing it", c->name, pid);
    rc = vcha_proc_end_hypervisor(c->name, pid, TERM_MS, c->a->deadline_ms);
    if (rc < 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "QEMU of %s (process %d) does not end: %s",
                               c->name, pid, strerror(-rc));
    }
    return VCHA_OK;
}

/* A log moved to PATH.old before a new QEMU starts once past @p max
 * bytes (the console, appended to: the run directory is often a tmpfs),
 * or always (QEMU's own log, which QEMU truncates: what the previous
 * QEMU said before it ended is kept). */
static void
log_trim(const char *path, long long max)
{
    char old[PATH_MAX + 8];
    struct stat st;

    if (stat(path, &st) == 0 && st.st_size > max) {
        snprintf(old, sizeof(old), "%s.old", path);
        if (rename(path, old) < 0) {
            vcha_warn("cannot move %s aside: %s", path, strerror(errno));
        }
    }
}

/* Start QEMU in @p shape and wait until it runs (QEMU's parent exits once
 * its daemon has written the pidfile and listens). */
static enum vcha_result
qemu_launch(struct colo *c, enum vcha_coloqemu_shape shape)
{
    struct vcha_coloqemu q;
    const char *qmp[3], *bad = NULL;
    char **argv = NULL, why[512] = "";
    long long left = vcha_agent_remaining_ms(c->a);
    int rc;

    colo_qemu(c, shape, &q, qmp);
    rc = vcha_coloqemu_argv(&q, &argv, &bad);
    if (rc == -EINVAL) {
        return vcha_agent_fail(c->a, VCHA_ERR_CONFIGURED,
                               "parameter %s cannot make a QEMU command line",
                               field_param(bad));
    }
    if (rc < 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC, "out of memory");
    }
    log_trim(c->serial, LOG_MAX);
    log_trim(c->log, 0);
    unlink(c->pidfile);
    unlink(c->qmp_agent);
    unlink(c->qmp_job);
    unlink(c->qmp_diag);
    rc = vcha_exec_until(
        (const char *const *) argv,
        vcha_now_ms() + (left / 2 < QEMU_READY_MS ? left / 2 : QEMU_READY_MS),
        why, sizeof(why));
    vcha_coloqemu_argv_free(argv);
    if (rc < 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "QEMU of %s did not start: %s", c->name,
                               why[0] ? why : strerror(-rc));
    }
    if (qemu_pid(c) <= 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "QEMU of %s started and ended (see %s)", c->name,
                               c->log);
    }
    return VCHA_OK;
}

/* Failure @p r of an operation that may have left a QEMU of this pair
 * running half set up: it is ended, and the reason of @p r kept. */
static enum vcha_result
fail_ending(struct colo *c, enum vcha_result r)
{
    char reason[sizeof(c->a->reason)];

    snprintf(reason, sizeof(reason), "%s", c->a->reason);
    if (qemu_end(c, false) != VCHA_OK) {
        vcha_warn("%s", c->a->reason);
    }
    snprintf(c->a->reason, sizeof(c->a->reason), "%s", reason);
    return r;
}

/* Remove the role file once no QEMU of this pair runs: while one may,
 * the role file is what says how to end it. */
static void
role_forget(struct colo *c)
{
    if (qemu_pid(c) == 0) {
        unlink(c->role);
    }
}

/* The mark of a secondary's set-up under way, from its QEMU's launch
 * until its QMP set-up is done: a QEMU found with it was left half set
 * up (its agent killed), and is not a secondary that started.  Set or
 * cleared as @p on says: 0 or -1 (errno). */
static int
setup_mark(struct colo *c, bool on)
{
    char path[PATH_MAX + 16];
    int fd;

    snprintf(path, sizeof(path), "%s/setting-up", c->dir);
    if (!on) {
        return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    return fd < 0 ? -1 : close(fd);
}

static bool
setup_marked(struct colo *c)
{
    char path[PATH_MAX + 16];

    snprintf(path, sizeof(path), "%s/setting-up", c->dir);
    return access(path, F_OK) == 0;
}

/* A secondary, from nothing running to waiting for the primary. */
static enum vcha_result
secondary_start(struct colo *c)
{
    struct vcha_qmp *q = NULL;
    char why[512] = "";
    enum vcha_result r;
    int rc;

    if (role_write(c, VCHA_ROLE_UNPROMOTED) < 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC, "cannot write %s",
                               c->role);
    }
    r = setup_mark(c, true) < 0
            ? vcha_agent_fail(c->a, VCHA_ERR_GENERIC, "cannot write in %s: %s",
                              c->dir, strerror(errno))
            : VCHA_OK;
    r = r == VCHA_OK ? overlays_create(c) : r;
    r = r == VCHA_OK ? qemu_launch(c, VCHA_COLOQEMU_SECONDARY) : r;
    if (r != VCHA_OK) {
        return fail_ending(c, r);
    }
    rc = vcha_qmp_open(c->qmp_agent, vcha_now_ms() + soft_left(c) / 4, &q);
    if (rc < 0) {
        snprintf(why, sizeof(why), "QMP %.200s: %s", c->qmp_agent,
                 strerror(-rc));
    } else {
        /* each QMP command a quarter of the time left, within the kill
         * reserve */
        rc = vcha_colo_secondary_ready(
            q, c->repl, (unsigned) vcha_agent_num(c->a, P_BASE_PORT), true,
            vcha_agent_remaining_ms(c->a) / 4, soft_deadline(c), why,
            sizeof(why));
    }
    vcha_qmp_close(q);
    if (rc < 0) {
        /* nothing half set up is left running */
        return fail_ending(c, vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                                              "the secondary of %s could not "
                                              "be set up: %s",
                                              c->name, why));
    }
    setup_mark(c, false);
    repl_publish(c);
    return VCHA_OK;
}

/* ------------------------------------------------------------ actions */

static enum vcha_result
colo_open(struct vcha_agent *a, struct colo *c)
{
    *c = (struct colo){.a = a};
    if (colo_paths(c) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "run_dir or active_hidden_dir: a path too "
                               "long");
    }
    colo_forwards(c);
    return VCHA_OK;
}

/* The clone it must run in. */
static enum vcha_result
clone_check(struct vcha_agent *a)
{
    const struct vcha_clone *k = &a->clone;

    if (!vcha_clone_is_promotable(k)) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "colo runs as a promotable clone "
                               "(promotable=true)");
    }
    if (!k->notify) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "colo needs the clone's notify=true");
    }
    if (k->clone_max > 2 || k->clone_node_max > 1 || k->promoted_max > 1) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "a COLO pair: clone-max 2, clone-node-max 1, "
                               "promoted-max 1");
    }
    return VCHA_OK;
}

static enum vcha_result
colo_start(struct vcha_agent *a)
{
    struct colo c;
    enum vcha_result r = colo_open(a, &c);
    enum vcha_role role;
    int rc;

    r = r == VCHA_OK ? clone_check(a) : r;
    if (r != VCHA_OK) {
        return r;
    }
    rc = colo_repl_address(&c);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_ARGS,
                               "replication_address: %s of them is this "
                               "node's",
                               rc == -ENOENT ? "none" : "more than one");
    }
    if ((rc = vcha_file_mkdirs(c.dir, 0700)) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot create %s: %s",
                               c.dir, strerror(-rc));
    }
    rc = qemu_pid(&c);
    if (rc > 0 && role_read(&c, &role) == 0 && role != VCHA_ROLE_NONE &&
        !(role == VCHA_ROLE_UNPROMOTED && setup_marked(&c))) {
        return job_add(&c); /* started already */
    }
    if (rc != 0) {
        /* a QEMU of this name with no role recorded: not one of ours to
         * trust; ended, and begun afresh */
        r = qemu_end(&c, false);
        if (r != VCHA_OK) {
            return r;
        }
    }
    r = secondary_start(&c);
    r = r == VCHA_OK ? job_add(&c) : r;
    if (r != VCHA_OK) {
        repl_withdraw(&c);
        r = fail_ending(&c, r); /* no secondary left without its job */
        role_forget(&c);
        return r;
    }
    score_set(&c, score_cold(&c));
    return VCHA_OK;
}

static enum vcha_result
colo_stop(struct vcha_agent *a)
{
    struct colo c;
    enum vcha_result r = colo_open(a, &c);
    enum vcha_role role = VCHA_ROLE_NONE;

    if (r != VCHA_OK) {
        return r;
    }
    role_read(&c, &role);
    score_set(&c, VCHA_PROMOTION_NONE);
    repl_withdraw(&c);
    job_remove(&c);
    r = qemu_end(&c, role == VCHA_ROLE_PROMOTED);
    if (r != VCHA_OK) {
        return r;
    }
    overlays_settle(&c, role);
    setup_mark(&c, false);
    unlink(c.role);
    return VCHA_OK;
}

/*
 * Parameters that cannot be used say nothing of whether QEMU runs: a
 * probe that said "not running", or a stop that did nothing, would let
 * Pacemaker promote the peer while this guest lives on.  QEMU is found by
 * the resource's name: a probe fails with the configuration error while
 * it runs; a stop ends it (through the run directory of the usable
 * parameters when they give one, else by signals) and drops the job.
 */
static enum vcha_result
colo_config_error(struct vcha_agent *a, enum vcha_result r)
{
    struct colo c = {.a = a};
    int pid;

    colo_name(&c);
    pid = qemu_pid(&c);
    if (a->probe) {
        if (pid == 0) {
            vcha_warn("probe: %s; no QEMU of %s runs here", a->reason, c.name);
            a->reason[0] = '\0';
            return VCHA_NOT_RUNNING;
        }
        return r;
    }
    vcha_warn("stop: %s; stopping QEMU of %s all the same", a->reason, c.name);
    a->reason[0] = '\0';
    if (a->params != NULL && colo_open(a, &c) == VCHA_OK) {
        return colo_stop(a);
    }
    a->reason[0] = '\0';
    colo_name(&c);
    score_set(&c, VCHA_PROMOTION_NONE);
    job_remove(&c);
    if (pid < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot tell whether QEMU of %s runs: %s",
                               c.name, strerror(-pid));
    }
    if (pid > 0 &&
        vcha_proc_end_hypervisor(c.name, pid, TERM_MS, a->deadline_ms) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "QEMU of %s (process %d) does not end", c.name,
                               pid);
    }
    return VCHA_OK;
}

/* Whether the QEMU on @p q is a secondary in COLO: 1, 0, or -errno when
 * that cannot be told. */
static int
in_colo_secondary(struct colo *c, struct vcha_qmp *q, long long ms, char *why,
                  size_t len)
{
    json_object *ret = NULL, *v = NULL;
    int rc = qmp_do(c, q, "query-colo-status", NULL, ms, &ret, why, len);

    if (rc == 0 && json_object_object_get_ex(ret, "mode", &v)) {
        rc = strcmp(json_object_get_string(v), "secondary") == 0;
    } else if (rc == 0) {
        snprintf(why, len, "query-colo-status: no mode");
        rc = -EBADMSG;
    }
    json_object_put(ret);
    return rc;
}

/* Failover on a secondary in COLO: it goes on alone, as the primary.  A
 * step that hangs (QEMU waiting on a peer that is gone) gets an
 * out-of-band yank of the migration, which breaks what it waits on, and
 * is then followed through: the failover by QEMU's COLO status leaving
 * "secondary", another step tried again.  Once the failover is done the
 * guest runs here and its commit into the disk has begun: a later step
 * that fails is only logged (ending QEMU then would lose the guest and
 * cut the commit).  *begun says whether the failover was asked for. */
static int
take_over(struct colo *c, struct vcha_qmp *q, bool *begun, char *why,
          size_t len)
{
    bool done = false;

    static const struct {
        const char *command, *key, *value;
        bool may_fail;
    } steps[] = {
        {"nbd-server-stop", NULL, NULL, true},
        {"x-colo-lost-heartbeat", NULL, NULL, false},
        {"object-del", "id", "f2", true},
        {"object-del", "id", "f1", true},
        {"chardev-remove", "id", "compsec0", true},
        {"chardev-remove", "id", "mirror0", true},
    };
    long long yank = vcha_agent_num(c->a, P_YANK_TIMEOUT);

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        bool failover = strcmp(steps[i].command, "x-colo-lost-heartbeat") == 0;
        json_object *args =
            steps[i].key
                ? obj(steps[i].key, json_object_new_string(steps[i].value))
                : NULL;
        int rc;

        *begun = *begun || failover;
        rc = qmp_do(c, q, steps[i].command, args, yank, NULL, why, len);
        if (rc == -ETIME && vcha_qmp_has_oob(q)) {
            json_object *inst = json_object_new_array(), *ans = NULL;

            json_object_array_add(
                inst, obj("type", json_object_new_string("migration")));
            vcha_warn("QMP %s of %s hangs: yank", steps[i].command, c->name);
            vcha_qmp_exec_oob(q, "yank", obj("instances", inst),
                              until_soft(c, yank), &ans, NULL);
            json_object_put(ans);
            /* the hung command's answer comes later (and is skipped) */
            while (failover && (rc = in_colo_secondary(
                                    c, q, until_soft(c, yank) - vcha_now_ms(),
                                    why, len)) != 0) {
                if (vcha_now_ms() >= soft_deadline(c)) {
                    snprintf(why, len, "the failover did not end after yank");
                    return -ETIME;
                }
                vcha_sleep_ms(100);
            }
            if (!failover) {
                args = steps[i].key
                           ? obj(steps[i].key,
                                 json_object_new_string(steps[i].value))
                           : NULL;
                rc =
                    qmp_do(c, q, steps[i].command, args,
                           until_soft(c, yank) - vcha_now_ms(), NULL, why, len);
            }
        }
        if (rc < 0 && !(steps[i].may_fail && rc == -EREMOTEIO)) {
            if (!done) {
                return rc;
            }
            vcha_warn("%s: after the failover: %s", c->name, why);
        }
        done = done || failover;
        why[0] = '\0';
    }
    /* the overlays are committed into the disk: done when they leave the
     * graph; then they are removed (a stop keeps them otherwise) */
    if (overlays_wait(c, q, soft_deadline(c)) == 0) {
        overlays_remove(c);
    } else {
        vcha_warn("%s: the failover's commit into the disk has not ended",
                  c->name);
    }
    return 0;
}

/* The newest data is here (its epoch is the highest recorded): 0, or a
 * failure saying where it is not. */
static enum vcha_result
newest_here(struct colo *c)
{
    long long high = epoch_highest(c), mine = epoch_mine(c);
    char kept[PATH_MAX + 80];

    if (kept_find(c, kept, sizeof(kept))) {
        score_set(c, VCHA_PROMOTION_NONE);
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "%s is kept from a failover whose commit into "
                               "the disk did not end: the disk is not booted "
                               "until it is committed (qemu-img) or removed",
                               kept);
    }
    if (high < 0) {
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "cannot read the data epochs of the cluster's "
                               "nodes: %s",
                               strerror((int) -high));
    }
    if (mine < high) {
        score_set(c, VCHA_PROMOTION_NONE);
        return vcha_agent_fail(c->a, VCHA_ERR_GENERIC,
                               "the data here (epoch %lld) is older than "
                               "another node's (epoch %lld): the guest does "
                               "not boot from it",
                               mine, high);
    }
    return VCHA_OK;
}

static enum vcha_result
colo_promote(struct vcha_agent *a)
{
    struct colo c;
    enum vcha_result r = colo_open(a, &c);
    enum vcha_role role = VCHA_ROLE_NONE;
    struct vcha_qmp *q = NULL;
    char why[512] = "";
    bool begun = false;
    int pid, rc;

    if (r != VCHA_OK) {
        return r;
    }
    pid = qemu_pid(&c);
    if (role_read(&c, &role) < 0 || pid <= 0 || role == VCHA_ROLE_NONE) {
        return vcha_agent_fail(a, VCHA_NOT_RUNNING, "%s is not running here",
                               c.name);
    }
    if (role == VCHA_ROLE_PROMOTED) {
        return VCHA_OK;
    }
    repl_withdraw(&c); /* no primary replicates to it any more */
    rc = vcha_qmp_open(c.qmp_agent,
                       vcha_now_ms() + vcha_agent_remaining_ms(a) / 8, &q);
    if (rc < 0) {
        snprintf(why, sizeof(why), "QMP %.200s: %s", c.qmp_agent,
                 strerror(-rc));
    } else {
        rc = in_colo_secondary(&c, q, vcha_agent_remaining_ms(a) / 8, why,
                               sizeof(why));
    }
    if (rc < 0) {
        /* an in-sync secondary must not be mistaken for one that is not */
        vcha_qmp_close(q);
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot tell whether the secondary of %s is in "
                               "COLO: %s",
                               c.name, why);
    }
    if (rc == 1) {
        vcha_info("%s: the secondary takes over", c.name);
        r = epoch_bump(&c);
        if (r == VCHA_OK && role_write(&c, VCHA_ROLE_PROMOTED) < 0) {
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot write %s", c.role);
        }
        rc = r == VCHA_OK ? take_over(&c, q, &begun, why, sizeof(why)) : 0;
        vcha_qmp_close(q);
        if (r != VCHA_OK) {
            return r;
        }
        if (rc < 0) {
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                "the secondary of %s could not take over: %s",
                                c.name, why);
            r = fail_ending(&c, r);
            if (begun) {
                overlays_keep(&c); /* a commit may have begun */
            }
            role_forget(&c);
            return r;
        }
    } else {
        /* no state of a primary here: the guest boots from this disk,
         * if it holds the newest data */
        vcha_qmp_close(q);
        r = newest_here(&c);
        r = r == VCHA_OK ? epoch_bump(&c) : r;
        if (r != VCHA_OK) {
            return r;
        }
        vcha_info("%s: no replica in sync here; the guest boots", c.name);
        r = qemu_end(&c, false);
        if (r == VCHA_OK) {
            overlays_remove(&c); /* the secondary's, of no use */
        }
        if (r == VCHA_OK && role_write(&c, VCHA_ROLE_PROMOTED) < 0) {
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot write %s", c.role);
        }
        r = r == VCHA_OK ? qemu_launch(&c, VCHA_COLOQEMU_PRIMARY) : r;
        if (r != VCHA_OK) {
            r = fail_ending(&c, r);
            role_forget(&c);
            return r;
        }
    }
    score_set(&c, SCORE_PROMOTED);
    return VCHA_OK;
}

static enum vcha_result
colo_demote(struct vcha_agent *a)
{
    struct colo c;
    enum vcha_result r = colo_open(a, &c);
    enum vcha_role role = VCHA_ROLE_NONE;

    if (r != VCHA_OK) {
        return r;
    }
    if (role_read(&c, &role) < 0 || role == VCHA_ROLE_NONE ||
        (role != VCHA_ROLE_PROMOTED && qemu_pid(&c) <= 0)) {
        return vcha_agent_fail(a, VCHA_NOT_RUNNING, "%s is not running here",
                               c.name);
    }
    if (role != VCHA_ROLE_PROMOTED) {
        return VCHA_OK;
    }
    /* a primary whose QEMU died is demoted too: a secondary waits again */
    score_set(&c, VCHA_PROMOTION_NONE);
    repl_withdraw(&c);
    r = qemu_end(&c, true);
    if (r != VCHA_OK) {
        return r;
    }
    overlays_settle(&c, role);
    if (colo_repl_address(&c) < 0) {
        role_forget(&c);
        return vcha_agent_fail(a, VCHA_ERR_ARGS,
                               "replication_address: no single one of them "
                               "is this node's");
    }
    r = secondary_start(&c);
    if (r != VCHA_OK) {
        role_forget(&c);
        return r;
    }
    score_set(&c, score_cold(&c));
    return VCHA_OK;
}

/* Run states of a guest that no longer serves. */
static bool
status_failed(const char *s)
{
    static const char *const bad[] = {"guest-panicked", "internal-error",
                                      "io-error", "shutdown", NULL};

    for (size_t i = 0; bad[i] != NULL; i++) {
        if (strcmp(s, bad[i]) == 0) {
            return true;
        }
    }
    return false;
}

static enum vcha_result
colo_monitor(struct vcha_agent *a)
{
    struct colo c;
    enum vcha_result r = colo_open(a, &c);
    enum vcha_role role = VCHA_ROLE_NONE;
    struct vcha_kv *health = NULL;
    int pid;

    if (r != VCHA_OK) {
        return r;
    }
    pid = qemu_pid(&c);
    if (pid < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot tell whether QEMU of %s runs: %s",
                               c.name, strerror(-pid));
    }
    if (role_read(&c, &role) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "%s is unreadable", c.role);
    }
    if (pid == 0) {
        if (role != VCHA_ROLE_NONE && !a->probe) {
            return vcha_agent_fail(a, VCHA_NOT_RUNNING,
                                   "QEMU of %s has ended (see %s)", c.name,
                                   c.log);
        }
        return VCHA_NOT_RUNNING;
    }
    if (role == VCHA_ROLE_NONE) {
        role = VCHA_ROLE_UNPROMOTED; /* a QEMU of ours that start left */
    }
    if (role == VCHA_ROLE_UNPROMOTED && setup_marked(&c)) {
        /* a start cut off half way: no secondary a primary can use */
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "the secondary of %s was left half set up",
                               c.name);
    }
    if (a->probe) {
        score_set(&c,
                  role == VCHA_ROLE_PROMOTED ? SCORE_PROMOTED : score_cold(&c));
        return role == VCHA_ROLE_PROMOTED ? VCHA_RUNNING_PROMOTED : VCHA_OK;
    }
    int rc = job_health(&c, &health);

    if (role == VCHA_ROLE_PROMOTED) {
        const char *status = fig(health, "status");

        score_set(&c, SCORE_PROMOTED);
        if (rc == 0 && status_failed(status)) {
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "the guest of %s is %s",
                                c.name, status);
        }
        vcha_kv_free(health);
        return vcha_result_promoted(r);
    }
    long long cps = 0;

    vcha_kv_get_ll(health, "fig.checkpoints", &cps);
    score_set(&c, rc == 0 && strcmp(fig(health, "role"), "secondary") == 0 &&
                          cps > 0
                      ? SCORE_IN_SYNC
                      : score_cold(&c));
    vcha_kv_free(health);
    return VCHA_OK;
}

/* Whether @p node is one of @p w. */
static bool
among(const struct vcha_words *w, const char *node)
{
    for (size_t i = 0; i < w->n; i++) {
        if (strcmp(w->v[i], node) == 0) {
            return true;
        }
    }
    return false;
}

/* The node of the other instance, after a start or a promotion: one
 * started or active that is not this node and not stopping.  0, or
 * -ENOENT. */
static int
peer_node(const struct vcha_notify *n, const char *me, char *buf, size_t len)
{
    static const enum vcha_notify_list from[] = {VCHA_NOTIFY_START,
                                                 VCHA_NOTIFY_ACTIVE};
    const struct vcha_words *stop = &n->lists[VCHA_NOTIFY_STOP].unames;

    for (size_t l = 0; l < sizeof(from) / sizeof(from[0]); l++) {
        const struct vcha_words *w = &n->lists[from[l]].unames;

        for (size_t i = 0; i < w->n; i++) {
            if (strcmp(w->v[i], me) != 0 && !among(stop, w->v[i])) {
                snprintf(buf, len, "%s", w->v[i]);
                return 0;
            }
        }
    }
    return -ENOENT;
}

/* Until the primary's QEMU has run replicate_after, for at most half of
 * what is left of the operation's time. */
static void
repl_wait(struct colo *c)
{
    long long after = vcha_agent_num(c->a, P_REPL_AFTER);
    int pid = qemu_pid(c);
    long long age = pid > 0 ? vcha_proc_age_ms(pid) : -1, wait = after - age;

    if (age < 0 || wait <= 0) {
        return;
    }
    if (wait > soft_left(c) / 2) {
        wait = soft_left(c) / 2;
        vcha_warn("%s: QEMU has run %lld ms, replicate_after is %lld ms: "
                  "the notify's timeout allows a wait of %lld ms only",
                  c->name, age, after, wait);
    }
    vcha_info("%s: QEMU has run %lld ms: replication in %lld ms", c->name, age,
              wait);
    vcha_sleep_ms(wait);
}

/* The primary starts replication to the secondary on @p peer, if one
 * waits there (its address published). */
static void
replicate(struct colo *c, const char *peer)
{
    struct vcha_colorepl r = {.base_port =
                                  (unsigned) vcha_agent_num(c->a, P_BASE_PORT),
                              .sock_dir = c->dir,
                              .delay_ms = vcha_agent_num(c->a, P_COLO_DELAY)};
    long long ms[VCHA_COLOREPL_N_PHASES];
    struct vcha_qmp *q = NULL;
    char attr[256], why[512] = "", *addr = NULL;
    int rc = vcha_attr_get(repl_attr(c, attr, sizeof(attr)), peer, &addr,
                           vcha_agent_remaining_ms(c->a) / 8);

    if (rc < 0) {
        vcha_info("%s: no secondary waits on %s (%s): no replication", c->name,
                  peer, rc == -ENODATA ? "no address" : strerror(-rc));
        return;
    }
    r.peer = addr;
    repl_wait(c);
    rc = vcha_qmp_open(c->qmp_agent,
                       until_soft(c, vcha_agent_remaining_ms(c->a) / 8), &q);
    if (rc < 0) {
        snprintf(why, sizeof(why), "QMP %.200s: %s", c->qmp_agent,
                 strerror(-rc));
    } else if (overlays_in_graph(c, q, soft_left(c) / 8, why, sizeof(why)) ==
               1) {
        /* a block job of its own would be refused while QEMU commits */
        snprintf(why, sizeof(why),
                 "the failover's commit into the disk still runs");
        rc = -EBUSY;
    } else {
        vcha_info("%s: replication to the secondary on %s (%s)", c->name, peer,
                  addr);
        rc = vcha_colo_replicate(q, &r, soft_deadline(c), ms, why, sizeof(why));
    }
    vcha_qmp_close(q);
    if (rc == 0) {
        vcha_info("%s: in COLO with %s: the disk copied in %lld ms, the "
                  "guest paused %lld ms, filters %lld ms, migration %lld ms",
                  c->name, peer, ms[VCHA_COLOREPL_MIRROR],
                  ms[VCHA_COLOREPL_PAUSE], ms[VCHA_COLOREPL_NET],
                  ms[VCHA_COLOREPL_MIGRATE]);
    } else if (rc != -EALREADY) {
        vcha_warn("%s: no replication to %s: %s", c->name, peer, why);
    }
    free(addr);
}

/* The primary goes on alone: its secondary stops or is gone. */
static void
go_alone(struct colo *c)
{
    struct vcha_qmp *q = NULL;
    char why[512] = "";
    int rc = vcha_qmp_open(
        c->qmp_agent, until_soft(c, vcha_agent_remaining_ms(c->a) / 8), &q);

    if (rc == 0) {
        rc = vcha_colo_unreplicate(q, soft_deadline(c), why, sizeof(why));
    } else {
        snprintf(why, sizeof(why), "QMP %.200s: %s", c->qmp_agent,
                 strerror(-rc));
    }
    vcha_qmp_close(q);
    if (rc < 0) {
        vcha_warn("%s: leaving COLO: %s", c->name, why);
    }
}

/*
 * On the primary: after the peer's start, or this instance's promotion,
 * replication starts to the secondary waiting on the other node; before
 * and after the peer's stop (a stop, or its node fenced), the primary
 * leaves COLO and goes on alone.  A notify never fails: what could not be
 * done is logged, and the pair runs as before.
 */
static enum vcha_result
colo_notify(struct vcha_agent *a)
{
    const struct vcha_notify *n = a->notify;
    struct colo c;
    enum vcha_result r = colo_open(a, &c);
    enum vcha_role role = VCHA_ROLE_NONE;
    char me[256], peer[256];

    if (r != VCHA_OK || n == NULL || role_read(&c, &role) < 0 ||
        role != VCHA_ROLE_PROMOTED || qemu_pid(&c) <= 0) {
        a->reason[0] = '\0';
        return VCHA_OK;
    }
    vcha_agent_node_name(a, me, sizeof(me));
    if (n->operation == VCHA_NOTIFY_STOP) {
        const struct vcha_words *w = &n->lists[VCHA_NOTIFY_STOP].unames;

        for (size_t i = 0; i < w->n; i++) {
            if (strcmp(w->v[i], me) != 0) {
                go_alone(&c);
                break;
            }
        }
        return VCHA_OK;
    }
    if (n->type == VCHA_NOTIFY_POST &&
        (n->operation == VCHA_NOTIFY_START ||
         n->operation == VCHA_NOTIFY_PROMOTE) &&
        peer_node(n, me, peer, sizeof(peer)) == 0) {
        replicate(&c, peer);
    }
    return VCHA_OK;
}

/* New checkpoint settings go to the colo job of a running pair. */
static enum vcha_result
colo_reload(struct vcha_agent *a)
{
    struct colo c;
    enum vcha_result r = colo_open(a, &c);

    if (r != VCHA_OK) {
        return r;
    }
    return qemu_pid(&c) > 0 ? job_add(&c) : VCHA_OK;
}

static enum vcha_result
colo_validate(struct vcha_agent *a, int level)
{
    struct colo c;
    enum vcha_result r = colo_open(a, &c);
    struct vcha_coloqemu q;
    const char *qmp[3], *bad;
    int rc;

    if (r != VCHA_OK) {
        return r;
    }
    colo_qemu(&c, VCHA_COLOQEMU_SECONDARY, &q, qmp);
    q.qemu = NULL; /* found in PATH: checked below */
    bad = vcha_coloqemu_check(&q);
    if (bad != NULL) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "parameter %s is invalid", field_param(bad));
    }
    if (vcha_agent_num(a, P_PERIOD) >= vcha_agent_num(a, P_COLO_DELAY)) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "period must be shorter than colo_delay");
    }
    if (level < 10) {
        return VCHA_OK;
    }
    if (vcha_exec_find(vcha_agent_str(a, P_QEMU)) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED, "qemu: %s not found",
                               vcha_agent_str(a, P_QEMU));
    }
    if (vcha_exec_find(vcha_agent_str(a, P_QEMU_IMG)) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED, "qemu_img: %s not found",
                               vcha_agent_str(a, P_QEMU_IMG));
    }
    if (access(vcha_agent_str(a, P_DISK), R_OK | W_OK) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_ARGS, "disk %s: %s",
                               vcha_agent_str(a, P_DISK), strerror(errno));
    }
    rc = colo_repl_address(&c);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_ARGS,
                               "replication_address: %s of them is this "
                               "node's",
                               rc == -ENOENT ? "none" : "more than one");
    }
    return VCHA_OK;
}

static const struct vcha_action_def actions[] = {
    {.name = "start", .fn = colo_start, .timeout_s = 60, .depth = -1},
    {.name = "stop", .fn = colo_stop, .timeout_s = 120, .depth = -1},
    {.name = "promote", .fn = colo_promote, .timeout_s = 60, .depth = -1},
    {.name = "demote", .fn = colo_demote, .timeout_s = 120, .depth = -1},
    {.name = "monitor",
     .fn = colo_monitor,
     .timeout_s = 30,
     .interval_s = 9,
     .depth = 0,
     .role = "Promoted"},
    {.name = "monitor",
     .fn = colo_monitor,
     .timeout_s = 30,
     .interval_s = 10,
     .depth = 0,
     .role = "Unpromoted"},
    {.name = "notify", .fn = colo_notify, .timeout_s = 120, .depth = -1},
    {.name = "reload-agent", .fn = colo_reload, .timeout_s = 20, .depth = -1},
    {NULL},
};

static const struct vcha_agent_def colo = {
    .name = "colo",
    .version = "1.0",
    .shortdesc = "A QEMU COLO pair: a VM run in lock-step on two nodes",
    .longdesc =
        "Runs a QEMU guest as a COLO pair (COarse-grained LOck-stepping): "
        "the promoted instance runs the guest (the COLO primary), the "
        "unpromoted one a replica (the COLO secondary) that QEMU keeps in "
        "step with it by checkpoints, so that when the primary's node dies "
        "the secondary goes on with the same running guest.  Configure it "
        "as a promotable clone with notify=true, clone-max=2 and "
        "promoted-max=1.  QEMU runs directly, not under libvirt and not as "
        "a child of the agent.  The colo job of vchad checkpoints by the "
        "policy given (colo, periodic, threshold or hybrid).  Promotion "
        "scores never promote a replica without the primary's whole state: "
        "a secondary in COLO scores above one that is not, and with no "
        "replica in sync only the node with the newest data (its data "
        "epoch) may start the guest.  Replication starts from the running "
        "primary in the notify after the peer's start or the promotion (the "
        "guest paused while its memory is copied; the notify's timeout "
        "bounds the first copy of the disk), and the primary goes on alone "
        "when the peer stops or its node is fenced.",
    .params = params,
    .n_params = N_PARAMS,
    .actions = actions,
    .validate = colo_validate,
    .config_error = colo_config_error,
};

int
main(int argc, char **argv)
{
    return vcha_agent_main(&colo, argc, argv);
}
