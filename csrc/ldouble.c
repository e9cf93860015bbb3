/* Long double arithmetic for INCRBYFLOAT / HINCRBYFLOAT.
 *
 * Redis computes these in C `long double` (80-bit on x86-64) and prints them
 * with "%.17Lf"; Rust has no such type, so the exact same C operations live
 * here to give byte-identical replies. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LD_CHARS (5 * 1024)

/* Redis' string2ld. Returns 1 on success. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[MAX_LD_CHARS];
    char *end;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || end[0] != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) || isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Adds b to a (a may be NULL for 0) and writes Redis' human form to out.
 * Returns the length, -1 if a is not a float, -2 if b is not, -3 for NaN/Inf. */
int rc_ld_add(const char *a, size_t alen, const char *b, size_t blen, char *out, size_t outlen) {
    long double x = 0, y;
    int l;
    if (a && !parse_ld(a, alen, &x)) return -1;
    if (!parse_ld(b, blen, &y)) return -2;
    x += y;
    if (isnan(x) || isinf(x)) return -3;
    l = snprintf(out, outlen, "%.17Lf", x);
    if (l < 0 || (size_t)l + 1 > outlen) return -3;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') { out[0] = '0'; l = 1; }
    return l;
}
