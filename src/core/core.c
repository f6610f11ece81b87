/*
 * core.c - status codes, per-thread error details, and the small OS helpers
 * every layer shares (hashing, JSON strings, spinning); the OS services
 * (clock, futex, party identity) are in src/platform/.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

/* The only mutable state outside objects: the calling thread's last error. */
static _Thread_local char tls_error[512];

const char *sabre_status_name(int status)
{
    switch (status) {
    case SABRE_OK:
        return "SABRE_OK";
    case SABRE_EINVAL:
        return "SABRE_EINVAL";
    case SABRE_ENOMEM:
        return "SABRE_ENOMEM";
    case SABRE_ENOSPC:
        return "SABRE_ENOSPC";
    case SABRE_EIO:
        return "SABRE_EIO";
    case SABRE_ENOENT:
        return "SABRE_ENOENT";
    case SABRE_EEXIST:
        return "SABRE_EEXIST";
    case SABRE_ECORRUPT:
        return "SABRE_ECORRUPT";
    case SABRE_EVERSION:
        return "SABRE_EVERSION";
    case SABRE_ELAYOUT:
        return "SABRE_ELAYOUT";
    case SABRE_ESCHEMA:
        return "SABRE_ESCHEMA";
    case SABRE_EAGAIN:
        return "SABRE_EAGAIN";
    case SABRE_ETIMEDOUT:
        return "SABRE_ETIMEDOUT";
    case SABRE_EBUSY:
        return "SABRE_EBUSY";
    case SABRE_ESTALE:
        return "SABRE_ESTALE";
    case SABRE_EDETACHED:
        return "SABRE_EDETACHED";
    case SABRE_EPEER:
        return "SABRE_EPEER";
    case SABRE_ENOTSUP:
        return "SABRE_ENOTSUP";
    case SABRE_EPERM:
        return "SABRE_EPERM";
    case SABRE_EFULL:
        return "SABRE_EFULL";
    case SABRE_ECYCLE:
        return "SABRE_ECYCLE";
    case SABRE_EJOB:
        return "SABRE_EJOB";
    case SABRE_ESTATE:
        return "SABRE_ESTATE";
    case SABRE_ERANGE:
        return "SABRE_ERANGE";
    case SABRE_ECLOSED:
        return "SABRE_ECLOSED";
    default:
        return "SABRE_E?";
    }
}

const char *sabre_strerror(int status)
{
    switch (status) {
    case SABRE_OK:
        return "success";
    case SABRE_EINVAL:
        return "invalid argument";
    case SABRE_ENOMEM:
        return "out of memory";
    case SABRE_ENOSPC:
        return "no space left";
    case SABRE_EIO:
        return "system call failed";
    case SABRE_ENOENT:
        return "not found";
    case SABRE_EEXIST:
        return "already exists";
    case SABRE_ECORRUPT:
        return "corrupt shared data";
    case SABRE_EVERSION:
        return "ABI version mismatch";
    case SABRE_ELAYOUT:
        return "layout mismatch";
    case SABRE_ESCHEMA:
        return "schema error";
    case SABRE_EAGAIN:
        return "nothing available, try again";
    case SABRE_ETIMEDOUT:
        return "timed out";
    case SABRE_EBUSY:
        return "busy";
    case SABRE_ESTALE:
        return "stale handle or entity";
    case SABRE_EDETACHED:
        return "handle detached (buffers transferred away)";
    case SABRE_EPEER:
        return "peer died or stopped responding";
    case SABRE_ENOTSUP:
        return "not supported";
    case SABRE_EPERM:
        return "permission denied";
    case SABRE_EFULL:
        return "full";
    case SABRE_ECYCLE:
        return "dependency cycle";
    case SABRE_EJOB:
        return "job failed";
    case SABRE_ESTATE:
        return "invalid in the current state";
    case SABRE_ERANGE:
        return "value out of range";
    case SABRE_ECLOSED:
        return "closed by the other side";
    default:
        return "unknown status";
    }
}

const char *sabre_last_error(void)
{
    return tls_error;
}

void sabre_clear_error(void)
{
    tls_error[0] = '\0';
}

int sabre__fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_error, sizeof tls_error, fmt, ap);
    va_end(ap);
    return status;
}

static int status_from_errno(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return SABRE_ENOSPC;
    case ENOENT:
        return SABRE_ENOENT;
    case EEXIST:
        return SABRE_EEXIST;
    case EACCES:
    case EPERM:
        return SABRE_EPERM;
    case ENOMEM:
        return SABRE_ENOMEM;
    case EINVAL:
        return SABRE_EINVAL;
    case ENOSYS:
    case EOPNOTSUPP:
        return SABRE_ENOTSUP;
    default:
        return SABRE_EIO;
    }
}

int sabre__fail_errno(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tls_error, sizeof tls_error, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof tls_error)
        snprintf(tls_error + n, sizeof tls_error - (size_t)n, ": %s", strerror(err));
    return status_from_errno(err);
}

uint64_t sabre__fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

sabre__dur_t sabre__fmt_ns(uint64_t ns)
{
    static const struct {
        uint64_t unit;
        const char *name;
    } units[] = {{3600000000000ull, "h"},
                 {60000000000ull, "min"},
                 {1000000000ull, "s"},
                 {1000000ull, "ms"},
                 {1000ull, "us"}};
    sabre__dur_t d;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ns >= units[i].unit) {
            snprintf(d.s, sizeof d.s, "%.3g %s", (double)ns / (double)units[i].unit, units[i].name);
            return d;
        }
    snprintf(d.s, sizeof d.s, "%llu ns", (unsigned long long)ns);
    return d;
}

bool sabre__strlcpy(char *dst, const char *src, size_t cap)
{
    if (cap == 0)
        return false;
    size_t n = strnlen(src, cap);
    if (n == cap) {
        memcpy(dst, src, cap - 1);
        dst[cap - 1] = '\0';
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

bool sabre__is_status(int rc)
{
    return rc < 0 && strcmp(sabre_status_name(rc), "SABRE_E?") != 0;
}

bool sabre__spin_expired(uint64_t spin_ns, uint64_t start, unsigned *spins)
{
    if (spin_ns == UINT64_MAX)
        return false;
    if (++*spins != 1 && (*spins & 63u) != 0)
        return false;
    uint64_t waited = sabre__now_ns() - start;
    if (waited >= sabre__spin_limit_ns(spin_ns))
        return true;
    if (waited >= 2000)
        sabre__plat_yield();
    return false;
}

void sabre__json_str(void *file, const char *s, size_t n)
{
    FILE *f = file;
    fputc('"', f);
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        default:
            if (c < 0x20 || c >= 0x7f)
                fprintf(f, "\\u%04x", c); /* bytes above ASCII as Latin-1 code points */
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

void sabre__fmt_bytes(char *dst, size_t cap, uint64_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(dst, cap, "%llu B", (unsigned long long)n);
    else
        snprintf(dst, cap, "%.1f %s", v, units[u]);
}

int sabre__grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return SABRE_OK;
    uint64_t ncap = *cap ? (uint64_t)*cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    if (ncap > UINT32_MAX)
        ncap = UINT32_MAX;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return sabre__fail(SABRE_ENOMEM, "out of memory growing an array to %llu entries",
                           (unsigned long long)ncap);
    *arr = p;
    *cap = (uint32_t)ncap;
    return SABRE_OK;
}
