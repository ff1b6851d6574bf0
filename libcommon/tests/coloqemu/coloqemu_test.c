/*
 * Unit tests for libcommon/colo/coloqemu.c: the QEMU command line of each
 * replica of a COLO pair, compared whole against the expected one; each
 * field refused by name; commas doubled in paths; every allocation failed
 * in turn.
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/coloqemu.h>

/* ------------------------------------------ allocations that can fail */

void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_realloc(void *p, size_t n);

/* When positive, the allocation that brings it to 0 fails. */
static int fail_countdown;

static bool
fail_now(void)
{
    return fail_countdown > 0 && --fail_countdown == 0;
}

void *
__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *
__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

/* ------------------------------------------------------------ helpers */

/* An argv that a failed call must set to NULL. */
static char *not_null[] = {NULL};

static const char *const qmp_socks[] = {
    "/run/vcha/colo/colo1/qmp-ctl.sock",
    "/run/vcha/colo/colo1/qmp-agent.sock",
};

static const struct vcha_coloqemu_fwd fwds[] = {
    {"192.168.122.11", 8080, 80},
    {"192.168.122.11", 8022, 22},
};

/* The example pair's replica of @p shape. */
static struct vcha_coloqemu
example(enum vcha_coloqemu_shape shape)
{
    return (struct vcha_coloqemu){
        .shape = shape,
        .qemu = "/usr/bin/qemu-system-x86_64",
        .name = "colo1",
        .tb_size_mib = 64,
        .memory_mib = 128,
        .cpus = 1,
        .pidfile = "/run/vcha/colo/colo1/qemu.pid",
        .log = "/run/vcha/colo/colo1/qemu.log",
        .serial = "/run/vcha/colo/colo1/serial.log",
        .qmp = qmp_socks,
        .n_qmp = 2,
        .fwd = fwds,
        .n_fwd = 2,
        .disk = "/var/lib/vcha/colo1/disk.img",
        .format = VCHA_COLOQEMU_RAW,
        .kernel = "/var/lib/vcha/colo1/vmlinuz",
        .initrd = "/var/lib/vcha/colo1/initramfs.gz",
        .append = "console=ttyS0 panic=-1",
        .active_hidden_dir = "/run/vcha/colo/colo1",
        .repl_addr = "192.168.122.12",
        .base_port = 9000,
    };
}

/* @p argv as one line, an argument that is not plain in single quotes. */
static char *
joined(char **argv)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                "_./:=,+@%-";
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    for (char **p = argv; *p != NULL; p++) {
        bool quote = **p == '\0' || (*p)[strspn(*p, plain)] != '\0';

        fprintf(f, "%s%s%s%s", p == argv ? "" : " ", quote ? "'" : "", *p,
                quote ? "'" : "");
    }
    assert_int_equal(fclose(f), 0);
    return out;
}

/* The command line of @p q, which must be accepted. */
static char *
line_of(const struct vcha_coloqemu *q)
{
    char **argv = NULL;
    const char *bad = "unset";
    char *line;

    assert_int_equal(vcha_coloqemu_argv(q, &argv, &bad), 0);
    assert_null(bad);
    assert_non_null(argv);
    line = joined(argv);
    vcha_coloqemu_argv_free(argv);
    return line;
}

static void
assert_line(const struct vcha_coloqemu *q, const char *expected)
{
    char *line = line_of(q);

    assert_string_equal(line, expected);
    free(line);
}

#define COMMON                                                                 \
    "/usr/bin/qemu-system-x86_64 -name guest=colo1,debug-threads=on"           \
    " -accel tcg,tb-size=64 -cpu qemu64 -m 128 -smp 1 -display none"           \
    " -nodefaults -no-user-config -device pvpanic -msg timestamp=on"           \
    " -daemonize"                                                              \
    " -pidfile /run/vcha/colo/colo1/qemu.pid"                                  \
    " -D /run/vcha/colo/colo1/qemu.log"                                        \
    " -chardev file,id=serial0,path=/run/vcha/colo/colo1/serial.log,"          \
    "append=on -serial chardev:serial0"                                        \
    " -qmp unix:path=/run/vcha/colo/colo1/qmp-ctl.sock,server=on,wait=off"     \
    " -qmp unix:path=/run/vcha/colo/colo1/qmp-agent.sock,server=on,wait=off"   \
    " -netdev user,id=hn0"                                                     \
    ",hostfwd=tcp:192.168.122.11:8080-10.0.2.15:80"                            \
    ",hostfwd=tcp:192.168.122.11:8022-10.0.2.15:22"                            \
    " -device virtio-net-pci,netdev=hn0,romfile="                              \
    " -kernel /var/lib/vcha/colo1/vmlinuz"                                     \
    " -initrd /var/lib/vcha/colo1/initramfs.gz"                                \
    " -append 'console=ttyS0 panic=-1'"

/* --------------------------------------------------------------- tests */

static void
test_primary_command_line(void **state)
{
    struct vcha_coloqemu q = example(VCHA_COLOQEMU_PRIMARY);

    (void) state;
    assert_null(vcha_coloqemu_check(&q));
    assert_line(&q, COMMON " -drive if=virtio,id=colo-disk0,driver=quorum,"
                           "read-pattern=fifo,vote-threshold=1,"
                           "children.0.driver=raw,"
                           "children.0.file.filename="
                           "/var/lib/vcha/colo1/disk.img");

    /* the secondary's fields do not matter to a primary */
    q.active_hidden_dir = NULL;
    q.repl_addr = "not an address";
    q.base_port = 0;
    assert_null(vcha_coloqemu_check(&q));
}

static void
test_secondary_command_line(void **state)
{
    struct vcha_coloqemu q = example(VCHA_COLOQEMU_SECONDARY);

    (void) state;
    assert_null(vcha_coloqemu_check(&q));
    assert_line(
        &q, COMMON
        " -chardev socket,id=mirror0,host=192.168.122.12,port=9002,"
        "server=on,wait=off,nodelay=on"
        " -chardev socket,id=compsec0,host=192.168.122.12,port=9003,"
        "server=on,wait=off,nodelay=on"
        " -object filter-redirector,id=f1,netdev=hn0,queue=tx,indev=mirror0"
        " -object filter-redirector,id=f2,netdev=hn0,queue=rx,outdev=compsec0"
        " -object filter-rewriter,id=rew0,netdev=hn0,queue=all"
        " -drive if=none,id=parent0,driver=raw,"
        "file.filename=/var/lib/vcha/colo1/disk.img"
        " -drive if=none,id=childs0,driver=replication,mode=secondary,"
        "file.driver=qcow2,top-id=colo-disk0,"
        "file.file.filename=/run/vcha/colo/colo1/active.qcow2,"
        "file.backing.driver=qcow2,"
        "file.backing.file.filename=/run/vcha/colo/colo1/hidden.qcow2,"
        "file.backing.backing=parent0"
        " -drive if=virtio,id=colo-disk0,driver=quorum,read-pattern=fifo,"
        "vote-threshold=1,children.0=childs0"
        " -incoming defer");
}

/* kvm, an e1000, a qcow2 disk booted from, no forward, IPv6, defaults. */
static void
test_variants_and_defaults(void **state)
{
    static const char *const one_qmp[] = {"/run/q.sock"};
    struct vcha_coloqemu q = {
        .shape = VCHA_COLOQEMU_SECONDARY,
        .name = "vm-2.x",
        .kvm = true,
        .cpu = "Skylake-Client-v4",
        .memory_mib = 2048,
        .cpus = 4,
        .pidfile = "/run/p",
        .log = "/run/l",
        .serial = "/run/s",
        .qmp = one_qmp,
        .n_qmp = 1,
        .nic = "e1000",
        .disk = "/srv/d.qcow2",
        .format = VCHA_COLOQEMU_QCOW2,
        .active_hidden_dir = "/run/ah",
        .repl_addr = "fd00::12",
        .base_port = 65532,
    };

    (void) state;
    assert_line(
        &q,
        "qemu-system-x86_64 -name guest=vm-2.x,debug-threads=on -accel kvm"
        " -cpu Skylake-Client-v4 -m 2048 -smp 4 -display none -nodefaults"
        " -no-user-config -device pvpanic -msg timestamp=on -daemonize "
        "-pidfile /run/p"
        " -D /run/l -chardev file,id=serial0,path=/run/s,append=on"
        " -serial chardev:serial0"
        " -qmp unix:path=/run/q.sock,server=on,wait=off"
        " -netdev user,id=hn0 -device e1000,netdev=hn0,romfile="
        " -chardev socket,id=mirror0,host=fd00::12,port=65534,"
        "server=on,wait=off,nodelay=on"
        " -chardev socket,id=compsec0,host=fd00::12,port=65535,"
        "server=on,wait=off,nodelay=on"
        " -object filter-redirector,id=f1,netdev=hn0,queue=tx,indev=mirror0"
        " -object filter-redirector,id=f2,netdev=hn0,queue=rx,outdev=compsec0"
        " -object filter-rewriter,id=rew0,netdev=hn0,queue=all"
        " -drive if=none,id=parent0,driver=qcow2,file.filename=/srv/d.qcow2"
        " -drive if=none,id=childs0,driver=replication,mode=secondary,"
        "file.driver=qcow2,top-id=colo-disk0,"
        "file.file.filename=/run/ah/active.qcow2,"
        "file.backing.driver=qcow2,"
        "file.backing.file.filename=/run/ah/hidden.qcow2,"
        "file.backing.backing=parent0"
        " -drive if=virtio,id=colo-disk0,driver=quorum,read-pattern=fifo,"
        "vote-threshold=1,children.0=childs0"
        " -incoming defer");

    /* a kernel alone, no TCG cache size, a forward to another address */
    q = example(VCHA_COLOQEMU_PRIMARY);
    q.tb_size_mib = 0;
    q.initrd = NULL;
    q.append = NULL;
    q.n_fwd = 1;
    q.guest_addr = "10.0.2.100";
    q.format = VCHA_COLOQEMU_QCOW2;
    {
        char *line = line_of(&q);

        assert_non_null(strstr(line, " -accel tcg -cpu "));
        assert_non_null(strstr(line, " -netdev user,id=hn0,hostfwd=tcp:"
                                     "192.168.122.11:8080-10.0.2.100:80 "));
        assert_non_null(strstr(line, " -kernel /var/lib/vcha/colo1/vmlinuz"
                                     " -drive "));
        assert_non_null(strstr(line, ",children.0.driver=qcow2,"));
        assert_null(strstr(line, "-initrd"));
        assert_null(strstr(line, "-append"));
        free(line);
    }
}

/* Each field made bad in turn: refused, named. */
struct bad_case {
    const char *field;
    void (*spoil)(struct vcha_coloqemu *q);
};

static const char *const relative_qmp[] = {"/run/a.sock", "b.sock"};
static const char *const null_qmp[] = {"/run/a.sock", NULL};
static const struct vcha_coloqemu_fwd fwd_name[] = {{"host1", 80, 80}};
static const struct vcha_coloqemu_fwd fwd_comma[] = {{"10.0.0.1,", 80, 80}};
static const struct vcha_coloqemu_fwd fwd_v6[] = {{"::1", 80, 80}};
static const struct vcha_coloqemu_fwd fwd_hport[] = {{"10.0.0.1", 0, 80}};
static const struct vcha_coloqemu_fwd fwd_hport2[] = {{"10.0.0.1", 65536, 1}};
static const struct vcha_coloqemu_fwd fwd_gport[] = {{"10.0.0.1", 80, 0}};
static const struct vcha_coloqemu_fwd fwd_gport2[] = {{"10.0.0.1", 1, 70000}};

#define SPOIL(fn, body)                                                        \
    static void fn(struct vcha_coloqemu *q)                                    \
    {                                                                          \
        body;                                                                  \
    }

SPOIL(sp_shape, q->shape = (enum vcha_coloqemu_shape) 7)
SPOIL(sp_qemu_rel, q->qemu = "bin/qemu")
SPOIL(sp_qemu_empty, q->qemu = "")
SPOIL(sp_name_null, q->name = NULL)
SPOIL(sp_name_empty, q->name = "")
SPOIL(sp_name_comma, q->name = "a,b")
SPOIL(sp_name_space, q->name = "a b")
SPOIL(sp_name_8bit, q->name = "caf\xc3\xa9")
SPOIL(sp_tb_kvm, q->kvm = true)
SPOIL(sp_tb_big, q->tb_size_mib = 65537)
SPOIL(sp_cpu_comma, q->cpu = "qemu64,+ssse3")
SPOIL(sp_cpu_empty, q->cpu = "")
SPOIL(sp_mem_0, q->memory_mib = 0)
SPOIL(sp_mem_big, q->memory_mib = 16777217)
SPOIL(sp_cpus_0, q->cpus = 0)
SPOIL(sp_cpus_big, q->cpus = 1025)
SPOIL(sp_pidfile_null, q->pidfile = NULL)
SPOIL(sp_pidfile_rel, q->pidfile = "qemu.pid")
SPOIL(sp_log_rel, q->log = "./qemu.log")
SPOIL(sp_serial_rel, q->serial = "")
SPOIL(sp_qmp_none, q->n_qmp = 0)
SPOIL(sp_qmp_nullv, q->qmp = NULL)
SPOIL(sp_qmp_rel, q->qmp = relative_qmp)
SPOIL(sp_qmp_null, q->qmp = null_qmp)
SPOIL(sp_fwd_null, q->fwd = NULL)
SPOIL(sp_fwd_name, q->fwd = fwd_name; q->n_fwd = 1)
SPOIL(sp_fwd_comma, q->fwd = fwd_comma; q->n_fwd = 1)
SPOIL(sp_fwd_v6, q->fwd = fwd_v6; q->n_fwd = 1)
SPOIL(sp_fwd_hport, q->fwd = fwd_hport; q->n_fwd = 1)
SPOIL(sp_fwd_hport2, q->fwd = fwd_hport2; q->n_fwd = 1)
SPOIL(sp_fwd_gport, q->fwd = fwd_gport; q->n_fwd = 1)
SPOIL(sp_fwd_gport2, q->fwd = fwd_gport2; q->n_fwd = 1)
SPOIL(sp_guest_addr, q->guest_addr = "10.0.2.15,")
SPOIL(sp_nic_comma, q->nic = "e1000,id=x")
SPOIL(sp_nic_empty, q->nic = "")
SPOIL(sp_disk_null, q->disk = NULL)
SPOIL(sp_disk_rel, q->disk = "disk.img")
SPOIL(sp_format, q->format = (enum vcha_coloqemu_format) 2)
SPOIL(sp_kernel_rel, q->kernel = "vmlinuz")
SPOIL(sp_initrd_rel, q->initrd = "initrd")
SPOIL(sp_initrd_alone, q->kernel = NULL; q->append = NULL)
SPOIL(sp_append_alone, q->kernel = NULL; q->initrd = NULL)
SPOIL(sp_ah_null, q->active_hidden_dir = NULL)
SPOIL(sp_ah_rel, q->active_hidden_dir = "run/ah")
SPOIL(sp_repl_null, q->repl_addr = NULL)
SPOIL(sp_repl_name, q->repl_addr = "node2")
SPOIL(sp_repl_comma, q->repl_addr = "192.168.122.12,port=1")
SPOIL(sp_base_0, q->base_port = 0)
SPOIL(sp_base_big, q->base_port = 65533)

static const struct bad_case bad_cases[] = {
    {"shape", sp_shape},
    {"qemu", sp_qemu_rel},
    {"qemu", sp_qemu_empty},
    {"name", sp_name_null},
    {"name", sp_name_empty},
    {"name", sp_name_comma},
    {"name", sp_name_space},
    {"name", sp_name_8bit},
    {"tb_size_mib", sp_tb_kvm},
    {"tb_size_mib", sp_tb_big},
    {"cpu", sp_cpu_comma},
    {"cpu", sp_cpu_empty},
    {"memory_mib", sp_mem_0},
    {"memory_mib", sp_mem_big},
    {"cpus", sp_cpus_0},
    {"cpus", sp_cpus_big},
    {"pidfile", sp_pidfile_null},
    {"pidfile", sp_pidfile_rel},
    {"log", sp_log_rel},
    {"serial", sp_serial_rel},
    {"qmp", sp_qmp_none},
    {"qmp", sp_qmp_nullv},
    {"qmp", sp_qmp_rel},
    {"qmp", sp_qmp_null},
    {"fwd", sp_fwd_null},
    {"fwd.host_addr", sp_fwd_name},
    {"fwd.host_addr", sp_fwd_comma},
    {"fwd.host_addr", sp_fwd_v6},
    {"fwd.host_port", sp_fwd_hport},
    {"fwd.host_port", sp_fwd_hport2},
    {"fwd.guest_port", sp_fwd_gport},
    {"fwd.guest_port", sp_fwd_gport2},
    {"guest_addr", sp_guest_addr},
    {"nic", sp_nic_comma},
    {"nic", sp_nic_empty},
    {"disk", sp_disk_null},
    {"disk", sp_disk_rel},
    {"format", sp_format},
    {"kernel", sp_kernel_rel},
    {"initrd", sp_initrd_rel},
    {"initrd", sp_initrd_alone},
    {"append", sp_append_alone},
    {"active_hidden_dir", sp_ah_null},
    {"active_hidden_dir", sp_ah_rel},
    {"repl_addr", sp_repl_null},
    {"repl_addr", sp_repl_name},
    {"repl_addr", sp_repl_comma},
    {"base_port", sp_base_0},
    {"base_port", sp_base_big},
};

static void
test_each_bad_field_named(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const char *field = bad_cases[i].field, *got, *bad = NULL;
        struct vcha_coloqemu q = example(VCHA_COLOQEMU_SECONDARY);
        char **argv = not_null;

        bad_cases[i].spoil(&q);
        got = vcha_coloqemu_check(&q);
        if (got == NULL || strcmp(got, field) != 0) {
            fail_msg("case %zu: %s refused as %s", i, field,
                     got ? got : "nothing");
        }
        assert_int_equal(vcha_coloqemu_argv(&q, &argv, &bad), -EINVAL);
        assert_null(argv);
        assert_string_equal(bad, field);
        argv = not_null;
        assert_int_equal(vcha_coloqemu_argv(&q, &argv, NULL), -EINVAL);
        assert_null(argv);
    }
}

/* A comma in a path: doubled where QEMU splits the option on commas,
 * kept where it takes the path whole; a '=' in a QMP path is fine. */
static void
test_commas_doubled_in_paths(void **state)
{
    static const char *const qmp[] = {"/run/a,b=c/qmp.sock"};
    struct vcha_coloqemu q = example(VCHA_COLOQEMU_SECONDARY);
    char *line;

    (void) state;
    q.qmp = qmp;
    q.n_qmp = 1;
    q.disk = "/srv/x,y/disk.img";
    q.active_hidden_dir = "/run/a,b";
    q.pidfile = "/run/a,b/qemu.pid";
    q.log = "/run/a,b/qemu.log";
    q.serial = "/run/a,b/serial.log";
    q.kernel = "/srv/x,y/vmlinuz";
    q.initrd = "/srv/x,y/initramfs.gz";
    q.append = "console=ttyS0,115200";
    line = line_of(&q);
    assert_non_null(
        strstr(line, " -qmp unix:path=/run/a,,b=c/qmp.sock,server=on,"));
    assert_non_null(strstr(line, ",file.filename=/srv/x,,y/disk.img "));
    assert_non_null(
        strstr(line, ",file.file.filename=/run/a,,b/active.qcow2,"));
    assert_non_null(
        strstr(line, ",file.backing.file.filename=/run/a,,b/hidden.qcow2,"));
    assert_non_null(strstr(line, " -pidfile /run/a,b/qemu.pid "));
    assert_non_null(strstr(line, " -D /run/a,b/qemu.log "));
    assert_non_null(strstr(
        line,
        " -chardev file,id=serial0,path=/run/a,,b/serial.log,append=on "));
    assert_non_null(strstr(line, " -kernel /srv/x,y/vmlinuz "));
    assert_non_null(strstr(line, " -initrd /srv/x,y/initramfs.gz "));
    assert_non_null(strstr(line, " -append console=ttyS0,115200 "));
    free(line);

    q.shape = VCHA_COLOQEMU_PRIMARY;
    q.disk = ",/,,";
    assert_string_equal(vcha_coloqemu_check(&q), "disk");
    q.disk = "/,a,,b,";
    line = line_of(&q);
    assert_non_null(strstr(line, ",children.0.file.filename=/,,a,,,,b,,"));
    free(line);
}

/* Out of memory at each allocation in turn: -ENOMEM, nothing left. */
static void
test_out_of_memory_at_each_allocation(void **state)
{
    (void) state;
    for (int s = 0; s < 2; s++) {
        struct vcha_coloqemu q =
            example(s == 0 ? VCHA_COLOQEMU_PRIMARY : VCHA_COLOQEMU_SECONDARY);
        int n, rc, left;

        for (n = 1;; n++) {
            char **argv = not_null;

            fail_countdown = n;
            rc = vcha_coloqemu_argv(&q, &argv, NULL);
            left = fail_countdown;
            fail_countdown = 0;
            if (rc == 0) {
                assert_true(left > 0); /* fewer than n allocations */
                vcha_coloqemu_argv_free(argv);
                break;
            }
            assert_int_equal(rc, -ENOMEM);
            assert_null(argv);
        }
        assert_true(n > 40); /* one at least for each argument */
    }
    vcha_coloqemu_argv_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primary_command_line),
        cmocka_unit_test(test_secondary_command_line),
        cmocka_unit_test(test_variants_and_defaults),
        cmocka_unit_test(test_each_bad_field_named),
        cmocka_unit_test(test_commas_doubled_in_paths),
        cmocka_unit_test(test_out_of_memory_at_each_allocation),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
