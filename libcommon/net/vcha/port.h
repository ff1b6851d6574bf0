/*
 * vcha - a TCP port probe: does a service accept connections on an
 * address and port, within a deadline.  Numeric addresses only (the
 * address of a container or VM, never a name to resolve).
 */
#ifndef VCHA_PORT_H
#define VCHA_PORT_H

#include <stddef.h>

/**
 * Connect to @p address (IPv4 or IPv6, numeric) port @p port by @p
 * deadline (CLOCK_MONOTONIC ms, see vcha_now_ms()), then close at once.
 * Returns 0 when the connection was accepted, -EINVAL for an address or
 * port that is not one (@p why says which), -ETIME when no answer came in
 * time (a dead host, a full accept queue, a firewall that drops), or the
 * connection's error: -ECONNREFUSED (nothing listens), -EHOSTUNREACH,
 * -ENETUNREACH, ...  On an error @p why says what failed.
 */
int vcha_port_probe(const char *address, unsigned port, long long deadline,
                    char *why, size_t whylen);

#endif
