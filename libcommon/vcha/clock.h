/* vcha - the one clock used for deadlines. */
#ifndef VCHA_CLOCK_H
#define VCHA_CLOCK_H

/** CLOCK_MONOTONIC in milliseconds. */
long long vcha_now_ms(void);

#endif
