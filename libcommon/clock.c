/* vcha - monotonic milliseconds for deadlines. */
#include <config.h>

#include <time.h>

#include <vcha/clock.h>

long long
vcha_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
