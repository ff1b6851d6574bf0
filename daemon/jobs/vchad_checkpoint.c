/*
 * vchad - the checkpoint job: every interval, one CRIU checkpoint of an LXC
 * container into its generation store (see vcha/ct.h), and its figures as
 * node attributes.
 *
 * Parameters: the checkpoint job's contract (vcha/ckptjob.h), which
 * ocf:vcha:criuct registers with; interval_ms and timeout_ms.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vcha/ckptjob.h>
#include <vcha/clock.h>
#include <vcha/ct.h>
#include <vcha/genstore.h>
#include <vcha/param.h>

#include "../vchad_job.h"

/* The parameters as ocf:vcha:criuct sent them: one contract. */
static int
validate(const struct vcha_kv *p, char *why, size_t whylen)
{
    struct vcha_params *params = NULL;
    int rc = vcha_job_params_parse(&vcha_ckpt_job, p, &params, why, whylen);

    vcha_params_free(params);
    return rc;
}

/* Age of the newest committed generation, for the node attribute. */
static void
newest_age(const char *store, int out_fd)
{
    struct vcha_gen_info *gens = NULL;
    size_t n = 0;

    if (vcha_genstore_list(store, &gens, &n) == 0 && n > 0 &&
        gens[0].created_ms > 0) {
        vchad_figure(out_fd, "newest_age_ms", "%lld",
                     vcha_realtime_ms() - gens[0].created_ms);
    }
    vcha_gen_list_free(gens, n);
}

static int
run(const struct vchad_job *job, int out_fd)
{
    struct vcha_params *p = NULL;
    struct vcha_kv *fig = vcha_kv_new();
    struct vcha_ct *ct = NULL;
    char why[1024] = "";
    struct vcha_ct_ckpt o = {.store = vchad_job_param(job, "store")};
    int rc = vcha_job_params_parse(&vcha_ckpt_job, vchad_job_params(job), &p,
                                   why, sizeof(why));

    if (rc < 0) {
        if (why[0] == '\0') {
            snprintf(why, sizeof(why), "%s", strerror(-rc));
        }
        goto done; /* checked when it was added: out of memory */
    }
    o.keep = (unsigned) vcha_param_num(p, VCHA_CKPT_KEEP);
    /* the programs run in process groups of their own, which the daemon's
     * kill at the timeout does not reach: they get what is left */
    o.deadline = vchad_job_deadline(job);
    o.compress =
        vcha_ckpt_compress(vcha_param_str(p, VCHA_CKPT_COMPRESS), o.store);
    if (fig == NULL) {
        rc = -ENOMEM;
        snprintf(why, sizeof(why), "out of memory");
        goto done;
    }
    rc = vcha_ct_open(vchad_job_param(job, "container"),
                      vchad_job_param(job, "lxcpath"), &ct, why, sizeof(why));
    if (rc == 0 && vcha_ct_running(ct, o.deadline, NULL) <= 0) {
        rc = -ESRCH;
        snprintf(why, sizeof(why), "container %s is not running", ct->name);
    }
    if (rc == 0) {
        rc = vcha_ct_checkpoint(ct, &o, fig, why, sizeof(why));
    } else if (why[0] == '\0') {
        snprintf(why, sizeof(why), "container %s: %s",
                 vchad_job_param(job, "container"), strerror(-rc));
    }
    for (size_t i = 0; i < vcha_kv_count(fig); i++) {
        vchad_figure(out_fd, vcha_kv_key(fig, i), "%s", vcha_kv_value(fig, i));
    }
done:
    newest_age(o.store, out_fd);
    if (rc < 0) {
        vchad_figure(out_fd, "error", "%s", why);
    }
    vcha_kv_free(fig);
    vcha_ct_free(ct);
    vcha_params_free(p);
    return rc;
}

static int
publish(const struct vchad_job *job, const struct vcha_kv *figures, bool ok,
        struct vcha_kv *attrs)
{
    static const struct vchad_attr_map map[] = {
        {"newest_age_ms", "checkpoint-age-ms"},
        {"freeze_ms", "freeze-ms"},
        {"rootfs_copy", "rootfs-copy"}, /* tracked, or full: see why */
        {"image_mb", "image-mb"},
        {"generation", "generation"},
    };

    (void) ok;
    return vchad_publish_figures(job, figures, map,
                                 sizeof(map) / sizeof(map[0]), attrs);
}

const struct vchad_job_type vchad_checkpoint_job = {
    .name = "checkpoint",
    .validate = validate,
    .run = run,
    .publish = publish,
};
