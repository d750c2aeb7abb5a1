/* csv.c: line and field scanning for the trace readers (see csv.h). Hand-rolled rather than
 * sscanf so that a 10M-line trace parses in about a second and "12abc" is an error, not 12. */
#include "workloads/csv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wl_csv_init(wl_csv *c, const char *path, const char *text, size_t len)
{
    c->path = path;
    c->p = text;
    c->end = text + len;
    c->line = 0;
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        c->p += 3;
}

bool wl_csv_line(wl_csv *c, const char **b, const char **e)
{
    if (c->p >= c->end)
        return false;
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    const char *stop = nl ? nl : c->end;
    *b = c->p;
    *e = stop;
    if (*e > *b && (*e)[-1] == '\r')
        (*e)--;
    c->p = nl ? nl + 1 : c->end;
    c->line++;
    return true;
}

size_t wl_csv_lines_left(const wl_csv *c)
{
    size_t n = 0;
    const char *p = c->p;
    while (p < c->end) {
        const char *nl = memchr(p, '\n', (size_t)(c->end - p));
        n++;
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

size_t wl_csv_split(const char *b, const char *e, wl_field *f, size_t max)
{
    size_t n = 0;
    for (;;) {
        const char *comma = memchr(b, ',', (size_t)(e - b));
        const char *fe = comma ? comma : e;
        if (n < max) {
            f[n].b = b;
            f[n].e = fe;
        }
        n++;
        if (!comma)
            return n;
        b = comma + 1;
    }
}

bool wl_field_is(wl_field f, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(f.e - f.b) == n && memcmp(f.b, s, n) == 0;
}

bool wl_field_i64(wl_field f, int64_t lo, int64_t hi, int64_t *out)
{
    const char *p = f.b;
    bool neg = false;
    if (p < f.e && *p == '-' && lo < 0) {
        neg = true;
        p++;
    }
    if (p == f.e || f.e - p > 19)
        return false;
    uint64_t v = 0;
    for (; p < f.e; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    int64_t s = neg ? -(int64_t)v : (int64_t)v;
    if (s < lo || s > hi)
        return false;
    *out = s;
    return true;
}

bool wl_field_f64(wl_field f, double *out)
{
    char buf[64];
    size_t n = (size_t)(f.e - f.b);
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, f.b, n);
    buf[n] = '\0';
    /* Decimal only: strtod would also take "inf", "nan" and hexadecimal. */
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", buf[i]))
            return false;
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + n || !isfinite(v))
        return false;
    *out = v;
    return true;
}

const char *wl_field_show(wl_field f, char *buf, size_t n)
{
    size_t len = (size_t)(f.e - f.b);
    if (len + 1 <= n) {
        memcpy(buf, f.b, len);
        buf[len] = '\0';
    } else if (n >= 4) {
        memcpy(buf, f.b, n - 4);
        memcpy(buf + n - 4, "...", 4);
    } else if (n) {
        buf[0] = '\0';
    }
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    return buf;
}

db_status wl_csv_error(const wl_csv *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return db_error(DB_ERR_FORMAT, "%s:%zu: %s", c->path, c->line, msg);
}
