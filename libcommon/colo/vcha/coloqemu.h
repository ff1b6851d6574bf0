/*
 * vcha - the command line of the QEMU process of one replica of a COLO
 * pair, in one of two shapes:
 *
 *   primary    a standalone primary that boots the guest at once: its disk
 *              is child 0 of a quorum node colo-disk0, so that replication
 *              (child 1) and the COLO network filters can be added later
 *              by QMP, to a running guest;
 *   secondary  a replica ready to receive the primary's state
 *              ("-incoming defer", the migration started by QMP): its disk
 *              is parent0 under a replication node (active and hidden
 *              qcow2 files) under the quorum colo-disk0, and the filters
 *              that feed it the primary's packets and return its own to
 *              the primary's compare wait on chardev servers of its own,
 *              so that it needs no peer to start.
 *
 * Both share the rest: the name, accelerator, CPU and memory, no default
 * devices, a daemon with a pidfile, QEMU's log (-D: where the trace event
 * of each checkpoint goes, vcha/colotrace.h), the serial console in a
 * file, QMP sockets, a user-mode network with host forwards, and the
 * guest's kernel or a boot from its disk.
 *
 * Values that QEMU reads inside a comma-separated option ("-drive a=b,c=d")
 * end at the first lone ',' (",," stands for one comma):
 *   - paths there (disk, active_hidden_dir, qmp, serial) have each ','
 *     doubled;
 *   - names and addresses there (name, cpu, nic, addresses) may not hold a
 *     ',' at all, nor anything else outside their rule below: refused.
 * Paths QEMU takes whole (qemu, pidfile, log, kernel, initrd) go
 * in as they are.  Every path must be absolute.
 */
#ifndef VCHA_COLOQEMU_H
#define VCHA_COLOQEMU_H

#include <stdbool.h>
#include <stddef.h>

/** Which replica. */
enum vcha_coloqemu_shape {
    VCHA_COLOQEMU_PRIMARY = 0, /**< standalone, booting the guest */
    VCHA_COLOQEMU_SECONDARY,   /**< waiting for the primary's state */
};

/** The guest disk's format. */
enum vcha_coloqemu_format {
    VCHA_COLOQEMU_RAW = 0,
    VCHA_COLOQEMU_QCOW2,
};

/**
 * A host forward of the user-mode network:
 * host_addr:host_port (TCP) to the guest's port guest_port.
 */
struct vcha_coloqemu_fwd {
    const char *host_addr; /**< an IPv4 address of this host */
    unsigned host_port;    /**< 1..65535 */
    unsigned guest_port;   /**< 1..65535 */
};

/**
 * One replica's QEMU.  The strings are borrowed, never freed here.  A
 * field marked "NULL: X" (or "0: X") may be left zero for X.
 */
struct vcha_coloqemu {
    enum vcha_coloqemu_shape shape;
    /** the program, an absolute path; NULL: "qemu-system-x86_64" (PATH) */
    const char *qemu;
    /**
     * the guest's name (-name guest=NAME): printable ASCII, no space and
     * no ','; what vcha_proc_hypervisor() finds the process by
     */
    const char *name;
    bool kvm;             /**< -accel kvm; false: -accel tcg */
    unsigned tb_size_mib; /**< TCG's translation cache, up to 65536; 0:
                               QEMU's default (refused with kvm) */
    /** CPU model: letters, digits, '.', '_', '-'; NULL: "qemu64" */
    const char *cpu;
    unsigned memory_mib; /**< -m, 1..16777216 */
    unsigned cpus;       /**< -smp, 1..1024 */
    const char *pidfile; /**< -pidfile, written by QEMU once it runs */
    const char *log;     /**< -D: QEMU's log */
    const char *serial;  /**< the guest's console, appended to */
    /** QMP server sockets (unix), one for each client; at least one */
    const char *const *qmp;
    size_t n_qmp;
    /** the user-mode network's host forwards (may be none) */
    const struct vcha_coloqemu_fwd *fwd;
    size_t n_fwd;
    /** the guest's IPv4 address that forwards go to; NULL: "10.0.2.15" */
    const char *guest_addr;
    /** NIC model (as cpu); NULL: "virtio-net-pci"; e.g. "e1000" */
    const char *nic;
    const char *disk; /**< the guest's disk image */
    enum vcha_coloqemu_format format;
    /** the guest's kernel; NULL: boot from the disk */
    const char *kernel;
    const char *initrd; /**< NULL: none; only with a kernel */
    const char *append; /**< its command line; NULL: none; only with one */
    /* the secondary's alone (ignored for a primary) */
    /** where its active.qcow2 and hidden.qcow2 are */
    const char *active_hidden_dir;
    /** the IPv4 or IPv6 address (no name) the primary reaches it at */
    const char *repl_addr;
    /**
     * its first port there, 1..65532: base_port + 2 takes the primary's
     * mirrored packets (chardev mirror0), base_port + 3 gives the
     * secondary's to the primary's compare (compsec0); base_port (NBD)
     * and base_port + 1 (the migration) are opened by QMP later
     */
    unsigned base_port;
};

/**
 * Check @p q: NULL when it holds, else the name of its first field that
 * does not ("name", "pidfile", "fwd.host_addr", "repl_addr", ...): a
 * NULL or empty value where one is needed, a relative path, a name or
 * address outside its rule, a number out of range, an enum out of range,
 * an initrd or append without a kernel, a TCG setting with kvm.
 */
const char *vcha_coloqemu_check(const struct vcha_coloqemu *q);

/**
 * The argv of @p q's QEMU, NULL-terminated, in *out (free it with
 * vcha_coloqemu_argv_free(); for vcha_exec_until(), cast it to
 * const char *const *).  In this order, with the defaults above:
 *
 *   QEMU -name guest=NAME,debug-threads=on
 *   -accel tcg[,tb-size=TB] | -accel kvm    -cpu CPU -m MEM -smp CPUS
 *   -display none -nodefaults -no-user-config -device pvpanic -msg timestamp=on
 *   -daemonize -pidfile PIDFILE -D LOG
 *   -chardev file,id=serial0,path=SERIAL,append=on -serial chardev:serial0
 *   -qmp unix:path=QMP,server=on,wait=off          (for each QMP socket)
 *   -netdev user,id=hn0[,hostfwd=tcp:HOST:PORT-GUEST:GPORT]...
 *   -device NIC,netdev=hn0,romfile=
 *   [-kernel KERNEL [-initrd INITRD] [-append APPEND]]
 * then a primary's
 *   -drive if=virtio,id=colo-disk0,driver=quorum,read-pattern=fifo,
 *          vote-threshold=1,children.0.driver=FORMAT,
 *          children.0.file.filename=DISK
 * or a secondary's (R: repl_addr, B: base_port, AH: active_hidden_dir)
 *   -chardev socket,id=mirror0,host=R,port=B+2,server=on,wait=off,nodelay=on
 *   -chardev socket,id=compsec0,host=R,port=B+3,server=on,wait=off,nodelay=on
 *   -object filter-redirector,id=f1,netdev=hn0,queue=tx,indev=mirror0
 *   -object filter-redirector,id=f2,netdev=hn0,queue=rx,outdev=compsec0
 *   -object filter-rewriter,id=rew0,netdev=hn0,queue=all
 *   -drive if=none,id=parent0,driver=FORMAT,file.filename=DISK
 *   -drive if=none,id=childs0,driver=replication,mode=secondary,
 *          file.driver=qcow2,top-id=colo-disk0,
 *          file.file.filename=AH/active.qcow2,file.backing.driver=qcow2,
 *          file.backing.file.filename=AH/hidden.qcow2,
 *          file.backing.backing=parent0
 *   -drive if=virtio,id=colo-disk0,driver=quorum,read-pattern=fifo,
 *          vote-threshold=1,children.0=childs0
 *   -incoming defer
 *
 * The QMP socket's key is spelt out ("path="): QEMU would read a '=' in
 * a path given without it as the end of an option's name.
 *
 * Returns 0; -EINVAL when vcha_coloqemu_check() refuses @p q (*bad then
 * names the field; @p bad may be NULL); -ENOMEM.  *out is NULL on any
 * failure.
 */
int vcha_coloqemu_argv(const struct vcha_coloqemu *q, char ***out,
                       const char **bad);

/** Free an argv of vcha_coloqemu_argv(); NULL is fine. */
void vcha_coloqemu_argv_free(char **argv);

#endif
