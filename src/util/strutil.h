/* strutil.h: the small text parsers that URL and query readers share. */
#ifndef ECSHOT_UTIL_STRUTIL_H
#define ECSHOT_UTIL_STRUTIL_H

#include <stddef.h>

/* The value of one hexadecimal digit (either case), or -1. */
int hex_digit_value(unsigned char c);

/* Reads s[0..n) as a decimal in [min, max]: digits only (no sign, no
 * spaces), at most 9 of them. Returns 0 and sets *out, or -1. */
int parse_decimal(const char *s, size_t n, long min, long max, long *out);

#endif
