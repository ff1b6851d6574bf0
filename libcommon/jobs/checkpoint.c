/* vcha - the checkpoint job (ocf:vcha:criuct's, run by vchad). */
#include <config.h>

#include <vcha/job.h>
#include <vcha/jobtypes.h>

long long
vcha_checkpoint_job_timeout_ms(long long interval_ms)
{
    long long t = interval_ms > 60000 ? 2 * interval_ms : 120000;

    return t < VCHA_JOB_MAX_TIMEOUT_MS ? t : VCHA_JOB_MAX_TIMEOUT_MS;
}
