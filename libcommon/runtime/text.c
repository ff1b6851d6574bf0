/*
 * vcha - percent-encoding, for text that must stay one token, one line or
 * one value in a URI.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/text.h>

int
vcha_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool
is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* RFC 3986's unreserved characters, and '/', which a query may hold. */
static bool
is_uri_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c != '\0' && strchr("-._~/", c) != NULL);
}

static bool
needs_escape(unsigned char c, unsigned flags)
{
    return is_control(c) || c == '%' ||
           ((flags & VCHA_PCT_SPACE) && (c == ' ' || c >= 0x80)) ||
           ((flags & VCHA_PCT_EQUALS) && c == '=') ||
           ((flags & VCHA_PCT_URI) && !is_uri_plain(c));
}

int
vcha_pct_write(FILE *out, const char *s, unsigned flags)
{
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if (needs_escape(*p, flags)) {
            fprintf(out, "%%%02X", *p);
        } else {
            fputc(*p, out);
        }
    }
    return ferror(out) ? -EIO : 0;
}

char *
vcha_pct_encode(const char *s, unsigned flags)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int rc;

    if (out == NULL) {
        return NULL;
    }
    rc = vcha_pct_write(out, s, flags);
    if (fclose(out) != 0 || rc < 0) {
        free(text);
        return NULL;
    }
    return text;
}

int
vcha_pct_decode(char *s)
{
    char *out = s;

    for (const char *p = s; *p != '\0'; p++) {
        int hi, lo;

        if (*p != '%') {
            if (is_control((unsigned char) *p)) {
                return -EBADMSG;
            }
            *out++ = *p;
            continue;
        }
        hi = vcha_hex_digit(p[1]);
        lo = hi < 0 ? -1 : vcha_hex_digit(p[2]);
        if (lo < 0 || (hi | lo) == 0) {
            return -EBADMSG;
        }
        *out++ = (char) (hi << 4 | lo);
        p += 2;
    }
    *out = '\0';
    return 0;
}
