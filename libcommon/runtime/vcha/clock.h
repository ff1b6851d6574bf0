/* vcha - the clocks: monotonic for deadlines, real for timestamps. */
#ifndef VCHA_CLOCK_H
#define VCHA_CLOCK_H

/** CLOCK_MONOTONIC in milliseconds. */
long long vcha_now_ms(void);

/**
 * CLOCK_REALTIME in milliseconds: for times recorded in files or shown to
 * people and compared across nodes, never for deadlines.
 */
long long vcha_realtime_ms(void);

/** Sleep @p ms milliseconds (none when @p ms <= 0), signals or not. */
void vcha_sleep_ms(long long ms);

#endif
