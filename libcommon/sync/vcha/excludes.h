/*
 * vcha - the package-aware exclusion list of a file sync: what of a VM's
 * tree its in-VM container does not need, as an rsync filter.
 *
 * Input is a root holding a dpkg database (ROOT/var/lib/dpkg/status, the
 * file lists ROOT/var/lib/dpkg/info/PACKAGE[:ARCH].list and, if present,
 * ROOT/var/lib/dpkg/diversions) and globs (fnmatch) naming the packages a
 * container does not need.  Every package in the status file that is not
 * "not-installed" owns the paths of its list.
 *
 * The list is optimised as seed 000 (VCRecovery, Fig. 8) does: all paths
 * of the unneeded packages are walked in dictionary order (with '/' before
 * any other character, so that a directory's tree follows it at once); a
 * path is excluded when it belongs to unneeded packages only, and an
 * excluded directory stands for everything below it, which is then
 * skipped.  A directory is collapsed so only when every entry really in it
 * (read under ROOT, with lstat() and readdir()) is itself owned by
 * unneeded packages only, recursively: a file of a needed package, or a
 * file of no package at all (data a service wrote, files made by
 * maintainer scripts such as modules.dep), keeps the directory, whose
 * unneeded contents are then listed one by one or by subdirectory.
 *
 *  - A path listed by needed and unneeded packages alike is kept.
 *  - Diversions (dpkg-divert): the file at the diverted path belongs to
 *    the diverting package, and another package's file of that name,
 *    which dpkg put at the diversion's target, belongs to that package at
 *    the target.  A local diversion (by ':') belongs to no package.
 *  - A listed path that does not exist under ROOT (lstat fails with
 *    ENOENT or ENOTDIR) is skipped.
 *  - Merged /usr: paths are taken as the lists write them, except that a
 *    first component that is a symbolic link to a directory under ROOT
 *    (/lib -> usr/lib, /bin -> usr/bin) is replaced by its target, so
 *    that /lib/modules/X and /usr/lib/modules/X are one path: rsync walks
 *    the real directory and a rule on the alias would never match.  Any
 *    other symbolic link is an ordinary entry: excluding it excludes the
 *    link, not what it points to.  Existence is checked with lstat().
 *
 * Always excluded, because the container is not the VM: the contents of
 * the mount points /proc, /sys, /dev, /run and /tmp (the directories stay,
 * empty); /boot, /lost+found, /vmlinuz* and /initrd.img*; the VM's network
 * configuration (/etc/network/interfaces*, /etc/systemd/network,
 * /etc/netplan); its identity (/etc/hostname, /etc/machine-id,
 * /var/lib/dbus/machine-id, /etc/ssh/ssh_host_*) and /etc/fstab.
 * /etc/hosts is synced: services resolve the names an administrator put
 * there, and the VM's own name in it does no harm in the container.
 *
 * Output is an rsync filter in merge-file syntax, anchored at the root of
 * the transfer: "+ PATTERN" lines (includes, each with its parent
 * directories, so that rsync descends to it) first, then "- PATTERN"
 * lines, every group in dictionary order; a directory is its path with
 * "/" and "***" after it (the directory and all below it).  Paths with wildcard
 * characters are escaped.  Use it as rsync --filter='merge FILE' with the
 * transfer rooted at ROOT.
 */
#ifndef VCHA_EXCLUDES_H
#define VCHA_EXCLUDES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/** What to exclude from a sync of a root's tree. */
struct vcha_excludes_spec {
    const char *root; /**< the tree and its dpkg database ("/" is fine) */
    /** more unneeded package globs (NULL-terminated; NULL: none) */
    const char *const *unneeded;
    /** globs of packages needed whatever an unneeded glob says: the way
        to drop a default (NULL-terminated; NULL: none) */
    const char *const *needed;
    bool no_defaults; /**< use none of vcha_excludes_default_unneeded() */
    /** more paths to exclude, absolute, rsync wildcards allowed */
    const char *const *exclude;
    /** paths to sync whatever excludes them (an include beats an
        exclusion), absolute, rsync wildcards allowed */
    const char *const *include;
};

/** A filter and how it was made. */
struct vcha_excludes {
    char **lines;         /**< filter lines, without newline */
    size_t n_lines;       /**< of them */
    size_t n_excluded;    /**< "- " lines */
    size_t n_packages;    /**< installed packages */
    size_t n_unneeded;    /**< of them unneeded */
    size_t n_paths;       /**< distinct paths of the unneeded packages */
    long long elapsed_ms; /**< to read the database and build the list */
};

/**
 * The default unneeded package globs, NULL-terminated: the kernel
 * (linux-image-*, linux-headers-*, linux-modules-*, linux-kbuild-*),
 * firmware and microcode, boot loaders (grub*, shim*, efibootmgr),
 * initramfs builders, the cluster stack's programs (pacemaker*,
 * corosync*, crmsh, pcs, sbd, fence-agents*, resource-agents*) and vcha
 * itself.  Libraries (libqb, libknet, corosync's and pacemaker's lib*)
 * are not among them: a needed program may link them.
 */
const char *const *vcha_excludes_default_unneeded(void);

/** The always-excluded patterns (see above), NULL-terminated. */
const char *const *vcha_excludes_always(void);

/**
 * Build the filter for @p spec into a new *@p out (free it with
 * vcha_excludes_free()).  Returns 0, or a negative errno with @p why
 * saying what failed, naming the file: -EINVAL for a spec that is not
 * absolute paths and a root, the errno of a dpkg database that is
 * missing or unreadable, -EBADMSG for a status file with no package.
 */
int vcha_excludes_build(const struct vcha_excludes_spec *spec,
                        struct vcha_excludes **out, char *why, size_t whylen);

/** Print the filter's lines to @p out.  Returns 0 or -EIO. */
int vcha_excludes_print(const struct vcha_excludes *ex, FILE *out);

/**
 * Write the filter to @p path atomically (vcha_file_write_atomic(), mode
 * 0644): the old file or the new one, never a part.  0 or a negative
 * errno.
 */
int vcha_excludes_save(const struct vcha_excludes *ex, const char *path);

/** Free @p ex (NULL is fine). */
void vcha_excludes_free(struct vcha_excludes *ex);

#endif
