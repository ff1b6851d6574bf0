/*
 * vcha - liblxc calls made in a child process bounded by a deadline (see
 * ctlxc.c for why), for ct.c only.
 */
#ifndef VCHA_CTLXC_H
#define VCHA_CTLXC_H

#include <stdbool.h>
#include <stddef.h>

struct lxc_container;

/** What a call does in the child with the container @p c. */
typedef int (*vcha_ctlxc_fn)(struct lxc_container *c, void *arg, char *out,
                             size_t outlen);

/** How the container is loaded in the child before the call. */
enum vcha_ctlxc_mode {
    VCHA_CTLXC_AS_IS, /**< its configuration as LXC reads it */
    VCHA_CTLXC_CRIU,  /**< with the settings CRIU needs, in memory */
};

/** The result text of a call: what @p fn wrote into @p out. */
#define VCHA_CTLXC_OUT 4096

/**
 * Load container @p name of @p lxcpath in a child process (leading a new
 * process group, killed should the caller die first), with the settings
 * CRIU needs applied in memory when @p mode says so, and run @p fn there.  @p
 * out (VCHA_CTLXC_OUT bytes) gets the text @p fn wrote, or, when it failed
 * without one, what liblxc logged.  The child and whatever it started in its
 * group are killed at
 * @p deadline (CLOCK_MONOTONIC ms), or once vcha_exec_cancel() was called
 * when @p cancellable.  Returns what @p fn returned (0 or a negative
 * errno), -ENOENT when the container has no configuration, -EINVAL when
 * liblxc cannot load it, -ETIME, -ECANCELED, or -errno.
 */
int vcha_ctlxc_call(const char *name, const char *lxcpath,
                    enum vcha_ctlxc_mode mode, bool cancellable,
                    vcha_ctlxc_fn fn, void *arg, long long deadline, char *out);

/** Whether this kernel enforces AppArmor. */
bool vcha_ctlxc_apparmor_enabled(void);

#endif
