/* vcha - the checkpoint job's contract. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vcha/ckptjob.h>

#define NAME_MAX_CHARS 64

const char *const vcha_ckpt_compress_options[] = {"auto", "zstd", "none", NULL};

int
vcha_ct_name_check(const char *value, char *why, size_t whylen)
{
    if (value[0] == '\0' || value[0] == '.' || strchr(value, '/') != NULL ||
        strlen(value) > NAME_MAX_CHARS) {
        snprintf(why, whylen,
                 "is not a container name (no '/', no leading "
                 "'.', at most %d characters)",
                 NAME_MAX_CHARS);
        return -EINVAL;
    }
    return 0;
}

static const struct vcha_param_def params[VCHA_CKPT_N_PARAMS] = {
    [VCHA_CKPT_CONTAINER] = {.name = "container",
                             .type = VCHA_PT_STRING,
                             .required = true,
                             .check = vcha_ct_name_check},
    [VCHA_CKPT_LXCPATH] = {.name = "lxcpath",
                           .type = VCHA_PT_STRING,
                           .required = true,
                           .check = vcha_check_abspath},
    [VCHA_CKPT_STORE] = {.name = "store",
                         .type = VCHA_PT_STRING,
                         .required = true,
                         .check = vcha_check_abspath},
    [VCHA_CKPT_KEEP] = {.name = "keep",
                        .type = VCHA_PT_INTEGER,
                        .required = true,
                        .min = VCHA_CKPT_KEEP_MIN,
                        .max = VCHA_CKPT_KEEP_MAX},
    [VCHA_CKPT_COMPRESS] = {.name = "compress",
                            .type = VCHA_PT_SELECT,
                            .required = true,
                            .options = vcha_ckpt_compress_options},
};

const struct vcha_job_def vcha_ckpt_job = {
    .type = "checkpoint",
    .params = params,
    .n_params = VCHA_CKPT_N_PARAMS,
};

long long
vcha_ckpt_job_timeout_ms(long long interval_ms)
{
    long long t = interval_ms > 60000 ? 2 * interval_ms : 120000;

    return t < VCHA_JOB_MAX_TIMEOUT_MS ? t : VCHA_JOB_MAX_TIMEOUT_MS;
}

enum vcha_ct_compress
vcha_ckpt_compress(const char *setting, const char *store)
{
    if (strcmp(setting, "zstd") == 0) {
        return VCHA_CT_COMPRESS_ZSTD;
    }
    if (strcmp(setting, "none") == 0) {
        return VCHA_CT_COMPRESS_NONE;
    }
    return vcha_ct_compress_auto(store);
}
