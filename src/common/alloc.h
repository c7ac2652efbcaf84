/* alloc.h: every allocation of tsarchive goes through this hook table, so tests can
 * make the Nth allocation fail (hiredis alloc.h). */
#ifndef TS_ALLOC_H
#define TS_ALLOC_H

#include <stddef.h>

typedef struct ts_alloc_hooks {
    void *(*malloc_fn)(size_t);
    void *(*calloc_fn)(size_t, size_t);
    void *(*realloc_fn)(void *, size_t);
    void (*free_fn)(void *);
} ts_alloc_hooks;

/* Replaces the hooks; returns the previous ones. */
ts_alloc_hooks ts_alloc_set_hooks(const ts_alloc_hooks *hooks);
/* Restores malloc/calloc/realloc/free. */
void ts_alloc_reset_hooks(void);
/* Test aid: the nth allocation from now (1 = the next) and every later one fail,
 * until ts_alloc_fail_after(0). Counts calls to ts_malloc, ts_calloc, ts_realloc. */
void ts_alloc_fail_after(long nth);

void *ts_malloc(size_t n);
void *ts_calloc(size_t count, size_t n);
void *ts_realloc(void *p, size_t n);
void ts_free(void *p);
char *ts_strdup(const char *s);
char *ts_strndup(const char *s, size_t n);

#endif
