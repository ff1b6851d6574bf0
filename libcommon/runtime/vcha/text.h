/*
 * vcha - percent-encoding, for text that must stay one token, one line or
 * one value in a URI.
 */
#ifndef VCHA_TEXT_H
#define VCHA_TEXT_H

#include <stdio.h>

/*
 * What vcha_pct_write() and vcha_pct_encode() escape, besides '%',
 * control bytes and DEL, which they always escape.
 */
enum vcha_pct_flags {
    VCHA_PCT_SPACE = 1 << 0,  /**< space and bytes >= 0x80: one ASCII word */
    VCHA_PCT_EQUALS = 1 << 1, /**< '=': a KEY=VALUE separator */
    /** all but letters, digits and "-._~/": a URI query value */
    VCHA_PCT_URI = 1 << 2,
};

/** The value of hexadecimal digit @p c (either case), or -1. */
int vcha_hex_digit(char c);

/**
 * Write @p s to @p out percent-encoded ("%XX", upper case) as @p flags
 * (enum vcha_pct_flags) say.  Returns 0, or -EIO when @p out failed.
 */
int vcha_pct_write(FILE *out, const char *s, unsigned flags);

/** @p s percent-encoded as a new string (free()), or NULL (ENOMEM). */
char *vcha_pct_encode(const char *s, unsigned flags);

/**
 * Decode the percent-encoded string @p s in place.  Returns 0, or -EBADMSG
 * (@p s is then undefined) for a malformed escape, an escaped NUL or a raw
 * control byte or DEL.
 */
int vcha_pct_decode(char *s);

#endif
