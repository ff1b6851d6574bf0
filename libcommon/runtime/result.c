/* vcha - outcome vocabulary and its conversion to OCF exit codes. */
#include <config.h>

#include <vcha/result.h>

static const struct {
    int ocf;
    const char *name;
} result_table[] = {
    [VCHA_OK] = {0, "OCF_SUCCESS"},
    [VCHA_ERR_GENERIC] = {1, "OCF_ERR_GENERIC"},
    [VCHA_ERR_ARGS] = {2, "OCF_ERR_ARGS"},
    [VCHA_ERR_UNIMPLEMENTED] = {3, "OCF_ERR_UNIMPLEMENTED"},
    [VCHA_ERR_PERM] = {4, "OCF_ERR_PERM"},
    [VCHA_ERR_INSTALLED] = {5, "OCF_ERR_INSTALLED"},
    [VCHA_ERR_CONFIGURED] = {6, "OCF_ERR_CONFIGURED"},
    [VCHA_NOT_RUNNING] = {7, "OCF_NOT_RUNNING"},
    [VCHA_RUNNING_PROMOTED] = {8, "OCF_RUNNING_PROMOTED"},
    [VCHA_FAILED_PROMOTED] = {9, "OCF_FAILED_PROMOTED"},
    [VCHA_DEGRADED] = {190, "OCF_DEGRADED"},
    [VCHA_DEGRADED_PROMOTED] = {191, "OCF_DEGRADED_PROMOTED"},
};

#define N_RESULTS (sizeof(result_table) / sizeof(result_table[0]))

int
vcha_result_to_ocf(enum vcha_result r)
{
    if ((unsigned) r >= N_RESULTS) {
        return 1;
    }
    return result_table[r].ocf;
}

const char *
vcha_result_name(enum vcha_result r)
{
    if ((unsigned) r >= N_RESULTS) {
        return "OCF_ERR_GENERIC";
    }
    return result_table[r].name;
}

int
vcha_result_is_hard(enum vcha_result r)
{
    switch (r) {
    case VCHA_ERR_ARGS:
    case VCHA_ERR_UNIMPLEMENTED:
    case VCHA_ERR_PERM:
    case VCHA_ERR_INSTALLED:
    case VCHA_ERR_CONFIGURED:
        return 1;
    default:
        return 0;
    }
}

enum vcha_result
vcha_result_promoted(enum vcha_result r)
{
    switch (r) {
    case VCHA_OK:
        return VCHA_RUNNING_PROMOTED;
    case VCHA_DEGRADED:
        return VCHA_DEGRADED_PROMOTED;
    case VCHA_ERR_GENERIC:
        return VCHA_FAILED_PROMOTED;
    default:
        return r;
    }
}
