/* check.h: the assertions the C integration tests share (those not on cmocka): each
 * prints the expression, both sides and file:line, and exits 1; SKIP_CODE is what
 * CTest takes for a skip (SKIP_RETURN_CODE), always with the reason printed. */
#ifndef TS_TESTS_CHECK_H
#define TS_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define SKIP_CODE 77

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b) {                                                                            \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    _a, _b);                                                                       \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define CHECK_OK(call, errp)                                                                       \
    do {                                                                                           \
        int _rc = (call);                                                                          \
        if (_rc != TS_OK) {                                                                        \
            fprintf(stderr, "%s:%d: %s failed: %d %s\n", __FILE__, __LINE__, #call, _rc,           \
                    (errp)->msg);                                                                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#endif
