/*
 * check.h - the tiny assertion harness used by every test.
 *
 * CHECK(cond)            fail (print file:line and the expression) if false
 * CHECK_OK(expr)         expr must return SABRE_OK; prints sabre_last_error()
 * CHECK_ERR(expr, code)  expr must return `code`; prints what it returned
 * CHECK_EQ(a, b)         integer equality, prints both values
 * CHECK_STR_CONTAINS(s, sub)
 * check_scale(n)         n scaled by $SABRE_TEST_SCALE percent (default 100,
 *                        min 1): sanitizer runs use it to shrink stress loops
 * check_xorshift(&state)  next value of a deterministic xorshift64* generator
 * check_sb_t, check_sb_add(&sb, fmt, ...)
 *                        a growing NUL-terminated string (free sb.p when done)
 * check_slurp(p, buf, n)  reads file p into buf (NUL-terminated, at most n-1 bytes;
 *                        empty if the file cannot be read)
 * check_done()           prints "N checks passed, 0 failed" and returns 0
 * A failed check prints and exits(1) at once.
 */
#ifndef SABRE_TEST_CHECK_H
#define SABRE_TEST_CHECK_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sabre/status.h"

static unsigned long check_count_;

#define CHECK_FAIL_(...)                                                                           \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);                                    \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        exit(1);                                                                                   \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        check_count_++;                                                                            \
        if (!(cond))                                                                               \
            CHECK_FAIL_("%s", #cond);                                                              \
    } while (0)

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        check_count_++;                                                                            \
        int check_rc_ = (expr);                                                                    \
        if (check_rc_ != SABRE_OK)                                                                 \
            CHECK_FAIL_("%s returned %s (%s)", #expr, sabre_status_name(check_rc_),                \
                        sabre_last_error());                                                       \
    } while (0)

#define CHECK_ERR(expr, code)                                                                      \
    do {                                                                                           \
        check_count_++;                                                                            \
        int check_rc_ = (expr);                                                                    \
        if (check_rc_ != (code))                                                                   \
            CHECK_FAIL_("%s returned %s, want %s (%s)", #expr, sabre_status_name(check_rc_),       \
                        sabre_status_name(code), sabre_last_error());                              \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        check_count_++;                                                                            \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_)                                                                  \
            CHECK_FAIL_("%s == %s: %lld != %lld", #a, #b, check_a_, check_b_);                     \
    } while (0)

#define CHECK_STR_CONTAINS(s, sub)                                                                 \
    do {                                                                                           \
        check_count_++;                                                                            \
        const char *check_s_ = (s);                                                                \
        if (!check_s_ || !strstr(check_s_, (sub)))                                                 \
            CHECK_FAIL_("'%s' does not contain '%s'", check_s_ ? check_s_ : "(null)", (sub));      \
    } while (0)

static inline unsigned long check_scale(unsigned long n)
{
    const char *s = getenv("SABRE_TEST_SCALE");
    unsigned long pct = s ? strtoul(s, NULL, 10) : 100;
    unsigned long r = n * pct / 100;
    return r ? r : 1;
}

static inline uint64_t check_xorshift(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dull;
}

typedef struct check_sb {
    char *p;
    size_t len, cap;
} check_sb_t;

static inline void check_sb_add(check_sb_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void check_sb_add(check_sb_t *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        CHECK(b->p != NULL);
    }
}

static inline void check_slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

static inline int check_done(void)
{
    printf("%lu checks passed, 0 failed\n", check_count_);
    return 0;
}

#endif
