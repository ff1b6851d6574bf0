/*
 * vchad's vmwatch job (jobs/vchad_vmwatch.c) when its second reader
 * thread cannot start: pthread_create is wrapped (-Wl,--wrap) to fail the
 * second call, and the job must stop and join the first thread before it
 * frees what that thread reads.  Against libvirt's test driver (a real
 * libvirt with no daemon).
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/kv.h>

#include "../vchad_jobs_private.h"

extern const struct vchad_job_type vchad_vmwatch_job;

int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);

/* How many threads were asked for, and how many of those have ended. */
static int created, ended;
static int fail_at; /* the call that fails (1-based), 0: none */

struct thread_start {
    void *(*fn)(void *);
    void *arg;
};

static void *
counted_main(void *p)
{
    struct thread_start start = *(struct thread_start *) p;
    void *r;

    free(p);
    r = start.fn(start.arg);
    __atomic_add_fetch(&ended, 1, __ATOMIC_SEQ_CST);
    return r;
}

int
__wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                      void *(*fn)(void *), void *arg)
{
    struct thread_start *start;
    int rc;

    if (++created == fail_at) {
        return EAGAIN;
    }
    start = malloc(sizeof(*start));
    if (start == NULL) {
        return ENOMEM;
    }
    *start = (struct thread_start){.fn = fn, .arg = arg};
    rc = __real_pthread_create(t, attr, counted_main, start);
    if (rc != 0) {
        free(start);
    }
    return rc;
}

static void
test_second_reader_fails_first_joined(void **state)
{
    struct vchad_job job = {.id = "vm1"};
    int fds[2];
    int rc;

    (void) state;
    created = ended = 0;
    fail_at = 2;
    job.params = vcha_kv_new();
    assert_non_null(job.params);
    assert_int_equal(vcha_kv_set(job.params, "uri", "test:///default"), 0);
    assert_int_equal(vcha_kv_set(job.params, "domain", "test"), 0);
    assert_int_equal(pipe(fds), 0);
    rc = vchad_vmwatch_job.run(&job, fds[1]);
    assert_int_equal(rc, -EAGAIN);
    assert_int_equal(created, 2);
    /* the first reader ended before run() freed its state and returned */
    assert_int_equal(__atomic_load_n(&ended, __ATOMIC_SEQ_CST), 1);
    close(fds[0]);
    close(fds[1]);
    vcha_kv_free(job.params);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_reader_fails_first_joined),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
