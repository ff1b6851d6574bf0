/* vcha - a vchad job type's parameters, parsed the same on both sides. */
#include <config.h>

#include <errno.h>
#include <stdio.h>

#include <vcha/jobdef.h>

static const char *
kv_lookup(void *kv, const char *name)
{
    return vcha_kv_get(kv, name);
}

int
vcha_job_params_parse(const struct vcha_job_def *def, const struct vcha_kv *kv,
                      struct vcha_params **out, char *why, size_t whylen)
{
    int rc = vcha_params_parse_with(def->params, def->n_params, kv_lookup,
                                    (void *) kv, out, why, whylen);

    if (rc == 0 && def->check != NULL) {
        rc = def->check(*out, why, whylen);
        if (rc < 0) {
            vcha_params_free(*out);
            *out = NULL;
        }
    }
    return rc;
}
