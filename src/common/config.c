/* config.c: the settings table and everything it drives: YAML parsing (libyaml),
 * TSARCHIVE_* environment overrides, defaults, validation and the dump. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "alloc.h"
#include "log.h"

/* CF_SECRET is dumped as ***; CF_URL (which may carry a password) is dumped with
 * the password part redacted. */
typedef enum { CF_INT, CF_BOOL, CF_STR, CF_SECRET, CF_URL, CF_ENUM, CF_LIST, CF_ADDR } cf_type;
typedef enum { SRC_DEFAULT = 0, SRC_FILE, SRC_ENV } cf_source;

typedef struct cf_key {
    const char *section; /* NULL: top level */
    const char *name;
    cf_type type;
    size_t off;
    const char *def;     /* default, as text */
    long min, max;       /* CF_INT */
    const char *choices; /* CF_ENUM: "a|b|c" */
} cf_key;

#define O(f) offsetof(ts_config, f)
/* The one table. Order is the dump's order. */
static const cf_key keys[] = {
    {NULL, "retention_period_days", CF_INT, O(retention_period_days), "730", 1, 365000, NULL},
    {NULL, "retention_check_interval_hours", CF_INT, O(retention_check_interval_hours), "24", 1, 8760, NULL},
    {NULL, "archival_batch_size", CF_INT, O(archival_batch_size), "10", 1, 10000, NULL},
    {NULL, "lakehouse_enabled", CF_BOOL, O(lakehouse_enabled), "true", 0, 0, NULL},
    {NULL, "lakehouse_storage_account", CF_STR, O(lakehouse_storage_account), "", 0, 0, NULL},
    {NULL, "lakehouse_container", CF_STR, O(lakehouse_container), "timescaledb-archive", 0, 0, NULL},
    {NULL, "lakehouse_connection_string", CF_SECRET, O(lakehouse_connection_string), "", 0, 0, NULL},

    {"database", "url", CF_URL, O(database.url), "", 0, 0, NULL},
    {"database", "include", CF_LIST, O(database.include), "", 0, 0, NULL},
    {"database", "exclude", CF_LIST, O(database.exclude), "", 0, 0, NULL},
    {"database", "lock_timeout_ms", CF_INT, O(database.lock_timeout_ms), "5000", 1, 3600000, NULL},
    {"database", "statement_timeout_ms", CF_INT, O(database.statement_timeout_ms), "0", 0, 86400000, NULL},
    {"database", "cluster_name", CF_STR, O(database.cluster_name), "", 0, 0, NULL},

    {"redis", "url", CF_URL, O(redis.url), "redis://127.0.0.1:6379/0", 0, 0, NULL},
    {"redis", "request_stream", CF_STR, O(redis.request_stream), "database.archival.request", 0, 0, NULL},
    {"redis", "confirmation_stream", CF_STR, O(redis.confirmation_stream), "database.archival.confirmation", 0, 0, NULL},
    {"redis", "deadletter_stream", CF_STR, O(redis.deadletter_stream), "database.archival.deadletter", 0, 0, NULL},
    {"redis", "visibility_timeout_s", CF_INT, O(redis.visibility_timeout_s), "300", 1, 86400, NULL},
    {"redis", "max_deliveries", CF_INT, O(redis.max_deliveries), "5", 1, 1000, NULL},
    {"redis", "deadletter_maxlen", CF_INT, O(redis.deadletter_maxlen), "10000", 0, 100000000, NULL},
    {"redis", "tls_ca_file", CF_STR, O(redis.tls_ca_file), "", 0, 0, NULL},
    {"redis", "tls_cert_file", CF_STR, O(redis.tls_cert_file), "", 0, 0, NULL},
    {"redis", "tls_key_file", CF_STR, O(redis.tls_key_file), "", 0, 0, NULL},
    {"redis", "tls_insecure", CF_BOOL, O(redis.tls_insecure), "false", 0, 0, NULL},
    {"redis", "auth", CF_ENUM, O(redis.auth), "password", 0, 0, "password|entra"},
    {"redis", "entra_user", CF_STR, O(redis.entra_user), "", 0, 0, NULL},

    {"lake", "kind", CF_ENUM, O(lake.kind), "auto", 0, 0, "auto|local|azure"},
    {"lake", "path", CF_STR, O(lake.path), "./lake", 0, 0, NULL},
    {"lake", "prefix", CF_STR, O(lake.prefix), "", 0, 0, NULL},
    {"lake", "block_size_mb", CF_INT, O(lake.block_size_mb), "8", 1, 4000, NULL},
    {"lake", "upload_concurrency", CF_INT, O(lake.upload_concurrency), "4", 1, 64, NULL},
    {"lake", "create_container", CF_BOOL, O(lake.create_container), "true", 0, 0, NULL},
    {"lake", "auth", CF_ENUM, O(lake.auth), "auto", 0, 0, "auto|shared_key|sas|service_principal|managed_identity|workload_identity"},
    {"lake", "tenant_id", CF_STR, O(lake.tenant_id), "", 0, 0, NULL},
    {"lake", "client_id", CF_STR, O(lake.client_id), "", 0, 0, NULL},
    {"lake", "client_secret", CF_SECRET, O(lake.client_secret), "", 0, 0, NULL},
    {"lake", "client_certificate_file", CF_STR, O(lake.client_certificate_file), "", 0, 0, NULL},
    {"lake", "authority_host", CF_STR, O(lake.authority_host), "", 0, 0, NULL},
    {"lake", "imds_endpoint", CF_STR, O(lake.imds_endpoint), "http://169.254.169.254/metadata/identity/oauth2/token", 0, 0, NULL},
    {"lake", "federated_token_file", CF_STR, O(lake.federated_token_file), "", 0, 0, NULL},
    {"lake", "ca_file", CF_STR, O(lake.ca_file), "", 0, 0, NULL},
    {"lake", "max_retries", CF_INT, O(lake.max_retries), "6", 0, 100, NULL},

    {"parquet", "compression", CF_ENUM, O(parquet.compression), "zstd", 0, 0, "uncompressed|snappy|gzip|zstd|lz4_raw"},
    {"parquet", "compression_level", CF_INT, O(parquet.compression_level), "3", 0, 22, NULL},
    {"parquet", "row_group_rows", CF_INT, O(parquet.row_group_rows), "1048576", 1, INT_MAX, NULL},
    {"parquet", "row_group_mb", CF_INT, O(parquet.row_group_mb), "128", 1, 4096, NULL},
    {"parquet", "page_kb", CF_INT, O(parquet.page_kb), "1024", 4, 1048576, NULL},
    {"parquet", "dictionary", CF_BOOL, O(parquet.dictionary), "true", 0, 0, NULL},

    {"http", "retention_listen", CF_ADDR, O(http.retention_listen), "127.0.0.1:8080", 0, 0, NULL},
    {"http", "archiver_listen", CF_ADDR, O(http.archiver_listen), "127.0.0.1:8081", 0, 0, NULL},
    {"http", "token", CF_SECRET, O(http.token), "", 0, 0, NULL},
    {"http", "token_for_get", CF_BOOL, O(http.token_for_get), "false", 0, 0, NULL},

    {"archiver", "workers", CF_INT, O(archiver.workers), "2", 1, 256, NULL},

    {"retention", "max_attempts", CF_INT, O(retention.max_attempts), "5", 1, 1000, NULL},
    {"retention", "retry_backoff_s", CF_INT, O(retention.retry_backoff_s), "60", 1, 86400, NULL},

    {"log", "level", CF_ENUM, O(log.level), "info", 0, 0, "debug|info|warn|error"},
    {"log", "format", CF_ENUM, O(log.format), "text", 0, 0, "text|json"},
};
#undef O
#define NKEYS (int)(sizeof keys / sizeof *keys)

/* Private part: where each value came from, for the dump. */
typedef struct cf_state {
    ts_config pub; /* must stay first */
    cf_source src[NKEYS];
} cf_state;

static void *field(ts_config *c, const cf_key *k)
{
    return (char *)c + k->off;
}

static void free_list(char **l)
{
    if (l)
        for (char **p = l; *p; p++)
            ts_free(*p);
    ts_free(l);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *t[] = {"true", "yes", "on", "1"}, *f[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, f[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

static int parse_addr(const char *s)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long port;
    if (!colon || colon == s)
        return -1;
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    return (errno || *end || end == colon + 1 || port < 1 || port > 65535) ? -1 : 0;
}

/* Splits "a, b,c" into a NULL-terminated list; NULL on no memory. */
static char **split_list(const char *s)
{
    size_t n = 1, i = 0;
    char **l;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    l = ts_calloc(n + 1, sizeof *l);
    if (!l)
        return NULL;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        while (len && isspace((unsigned char)*s))
            s++, len--;
        while (len && isspace((unsigned char)s[len - 1]))
            len--;
        if (len && !(l[i++] = ts_strndup(s, len))) {
            free_list(l);
            return NULL;
        }
        s = e ? e + 1 : s + strlen(s);
    }
    return l;
}

/* Sets key k from text v. `where` names the origin for errors ("f.yaml:3" or
 * "environment variable TSARCHIVE_X"). */
static int set_value(ts_config *c, const cf_key *k, const char *v, const char *where, ts_err *err)
{
    char full[96];
    void *f = field(c, k);
    snprintf(full, sizeof full, "%s%s%s", k->section ? k->section : "", k->section ? "." : "", k->name);
    switch (k->type) {
    case CF_INT: {
        char *end;
        long x;
        errno = 0;
        x = strtol(v, &end, 10);
        if (!*v || *end || errno)
            return ts_err_set(err, TS_ERR_INVALID, "%s: key \"%s\": expected an integer, got \"%s\"",
                              where, full, v);
        if (x < k->min || x > k->max)
            return ts_err_set(err, TS_ERR_INVALID,
                              "%s: key \"%s\": %ld is out of range (expected %ld to %ld)", where,
                              full, x, k->min, k->max);
        *(int *)f = (int)x;
        return 0;
    }
    case CF_BOOL:
        if (parse_bool(v, (bool *)f) != 0)
            return ts_err_set(err, TS_ERR_INVALID,
                              "%s: key \"%s\": expected true or false, got \"%s\"", where, full, v);
        return 0;
    case CF_ENUM: {
        const char *p = k->choices;
        size_t len = strlen(v);
        while (p) {
            const char *bar = strchr(p, '|');
            size_t cl = bar ? (size_t)(bar - p) : strlen(p);
            if (cl == len && strncmp(p, v, len) == 0)
                break;
            p = bar ? bar + 1 : NULL;
        }
        if (!p)
            return ts_err_set(err, TS_ERR_INVALID, "%s: key \"%s\": expected one of %s, got \"%s\"",
                              where, full, k->choices, v);
        break;
    }
    case CF_ADDR:
        if (parse_addr(v) != 0)
            return ts_err_set(err, TS_ERR_INVALID,
                              "%s: key \"%s\": expected HOST:PORT (port 1-65535), got \"%s\"", where,
                              full, v);
        break;
    case CF_LIST: {
        char **l = split_list(v);
        if (!l)
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        free_list(*(char ***)f);
        *(char ***)f = l;
        return 0;
    }
    case CF_STR:
    case CF_SECRET:
    case CF_URL:
        break;
    }
    /* the string kinds */
    char *dup = ts_strdup(v);
    if (!dup)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    ts_free(*(char **)f);
    *(char **)f = dup;
    return 0;
}

ts_config *ts_config_new(void)
{
    cf_state *st = ts_calloc(1, sizeof *st);
    ts_err err;
    if (!st)
        return NULL;
    ts_err_clear(&err);
    for (int i = 0; i < NKEYS; i++) {
        if (set_value(&st->pub, &keys[i], keys[i].def, "default", &err) != 0) {
            ts_config_free(&st->pub);
            return NULL;
        }
    }
    return &st->pub;
}

void ts_config_free(ts_config *c)
{
    if (!c)
        return;
    for (int i = 0; i < NKEYS; i++) {
        void *f = field(c, &keys[i]);
        if (keys[i].type == CF_LIST)
            free_list(*(char ***)f);
        else if (keys[i].type != CF_INT && keys[i].type != CF_BOOL)
            ts_free(*(char **)f);
    }
    for (int i = 0; i < c->ntables; i++)
        ts_free(c->tables[i].name);
    ts_free(c->tables);
    ts_free(c->source);
    ts_free(c);
}

/* Edit distance, for "did you mean". */
static int distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b), row[64];
    if (la > 62 || lb > 62)
        return 99;
    for (int j = 0; j <= lb; j++)
        row[j] = j;
    for (int i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int cur = row[j], best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            prev = cur;
            row[j] = best;
        }
    }
    return row[lb];
}

/* A hint is worth giving for a small typo, or when the two share a long start
 * ("retention_days" for "retention_period_days"). */
static const char *const table_keys[] = {"name", "retention_period_days", "enabled", "time_unit"};

static int close_enough(const char *name, const char *cand, int d)
{
    size_t common = 0;
    while (name[common] && name[common] == cand[common])
        common++;
    return (d <= 3 && d * 3 <= (int)strlen(name) + 1) || common >= 6;
}

/* The candidate closest to name by edit distance, preferring a long shared start. */
static const char *suggest(const char *name, const char *const *cands, int n, int *dist)
{
    const char *best = NULL;
    int bd = 99;
    for (int i = 0; i < n; i++) {
        int d = distance(name, cands[i]);
        if (d < bd || (!close_enough(name, best, bd) && close_enough(name, cands[i], d)))
            bd = d, best = cands[i];
    }
    *dist = bd;
    return best;
}

static const char *sections[] = {"database", "redis", "lake", "parquet", "http",
                                 "archiver", "retention", "log", "tables"};
#define NSECTIONS (int)(sizeof sections / sizeof *sections)

static int unknown_key(const char *where, const char *section, const char *name, ts_err *err)
{
    const char *cands[NKEYS + NSECTIONS], *best;
    char hint[128];
    int n = 0, d;
    for (int i = 0; i < NKEYS; i++)
        if ((!section && !keys[i].section) ||
            (section && keys[i].section && strcmp(section, keys[i].section) == 0))
            cands[n++] = keys[i].name;
    for (int i = 0; i < NSECTIONS && !section; i++)
        cands[n++] = sections[i];
    for (int i = 0; i < 4 && section && strcmp(section, "tables") == 0; i++)
        cands[n++] = table_keys[i];
    best = suggest(name, cands, n, &d);
    if (best && close_enough(name, best, d))
        snprintf(hint, sizeof hint, " (did you mean \"%s%s%s\"?)", section ? section : "",
                 section ? "." : "", best);
    else
        hint[0] = '\0';
    return ts_err_set(err, TS_ERR_INVALID, "%s: unknown key \"%s%s%s\"%s", where,
                      section ? section : "", section ? "." : "", name, hint);
}

static const cf_key *find_key(const char *section, const char *name, int *idx)
{
    for (int i = 0; i < NKEYS; i++)
        if (((!section && !keys[i].section) ||
             (section && keys[i].section && strcmp(section, keys[i].section) == 0)) &&
            strcmp(name, keys[i].name) == 0) {
            *idx = i;
            return &keys[i];
        }
    return NULL;
}

typedef struct yctx {
    yaml_document_t *doc;
    const char *path;
    cf_state *st;
    ts_err *err;
} yctx;

static void where_at(const yctx *y, yaml_node_t *n, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%lu", y->path, (unsigned long)n->start_mark.line + 1);
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A scalar value, or a sequence of scalars joined with commas (for CF_LIST). */
static int node_text(const yctx *y, yaml_node_t *v, const cf_key *k, char *out, size_t len,
                     const char *where)
{
    char full[96];
    snprintf(full, sizeof full, "%s%s%s", k->section ? k->section : "", k->section ? "." : "", k->name);
    if (v->type == YAML_SCALAR_NODE) {
        const char *s = scalar(v);
        /* "key:" with nothing after it is null: only strings may be empty */
        if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0)) {
            if (k->type == CF_INT || k->type == CF_BOOL || k->type == CF_ENUM || k->type == CF_ADDR)
                return ts_err_set(y->err, TS_ERR_INVALID, "%s: key \"%s\": a value is required",
                                  where, full);
            s = "";
        }
        if (strlen(s) >= len)
            return ts_err_set(y->err, TS_ERR_INVALID, "%s: key \"%s\": value is too long", where,
                              full);
        snprintf(out, len, "%s", s);
        return 0;
    }
    if (v->type == YAML_SEQUENCE_NODE && k->type == CF_LIST) {
        size_t o = 0;
        out[0] = '\0';
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            const char *s = scalar(yaml_document_get_node(y->doc, *it));
            if (!s || strchr(s, ','))
                return ts_err_set(y->err, TS_ERR_INVALID,
                                  "%s: key \"%s\": expected a list of names (without commas)", where, full);
            if (o + strlen(s) + 2 >= len)
                return ts_err_set(y->err, TS_ERR_INVALID, "%s: key \"%s\": list is too long", where, full);
            o += (size_t)snprintf(out + o, len - o, "%s%s", o ? "," : "", s);
        }
        return 0;
    }
    return ts_err_set(y->err, TS_ERR_INVALID, "%s: key \"%s\": expected %s, got a %s", where, full,
                      k->type == CF_LIST ? "a list" : "a single value",
                      v->type == YAML_MAPPING_NODE ? "mapping" : "list");
}

static int load_pairs(yctx *y, yaml_node_t *map, const char *section)
{
    char where[600], text[8192];
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(y->doc, p->value);
        const char *name = scalar(kn);
        const cf_key *k;
        int idx;
        where_at(y, kn, where, sizeof where);
        if (!name)
            return ts_err_set(y->err, TS_ERR_INVALID, "%s: expected a key name", where);
        /* duplicate keys hide mistakes: refuse them */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *other = scalar(yaml_document_get_node(y->doc, q->key));
            if (other && strcmp(other, name) == 0)
                return ts_err_set(y->err, TS_ERR_INVALID, "%s: key \"%s%s%s\" appears twice", where,
                                  section ? section : "", section ? "." : "", name);
        }
        if (!section && strcmp(name, "tables") == 0)
            continue; /* handled by load_tables */
        if (!section && vn->type == YAML_MAPPING_NODE) {
            int known = 0;
            for (int i = 0; i < NSECTIONS; i++)
                known |= strcmp(sections[i], name) == 0;
            if (known) {
                if (load_pairs(y, vn, name) != 0)
                    return y->err->code;
                continue;
            }
            /* not a section: a known key gets "expected a single value" below */
        }
        k = find_key(section, name, &idx);
        if (!k) {
            int is_section = 0;
            for (int i = 0; i < NSECTIONS && !section; i++)
                is_section |= strcmp(sections[i], name) == 0;
            if (is_section)
                return ts_err_set(y->err, TS_ERR_INVALID, "%s: key \"%s\": expected a mapping", where,
                                  name);
            return unknown_key(where, section, name, y->err);
        }
        where_at(y, vn, where, sizeof where);
        if (node_text(y, vn, k, text, sizeof text, where) != 0 ||
            set_value(&y->st->pub, k, text, where, y->err) != 0)
            return y->err->code;
        y->st->src[idx] = SRC_FILE;
    }
    return 0;
}

static int load_tables(yctx *y, yaml_node_t *root)
{
    ts_config *c = &y->st->pub;
    char where[600];
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *seq = yaml_document_get_node(y->doc, p->value);
        if (!scalar(kn) || strcmp(scalar(kn), "tables") != 0)
            continue;
        where_at(y, seq, where, sizeof where);
        if (seq->type == YAML_SCALAR_NODE && !*scalar(seq))
            return 0; /* "tables:" with nothing */
        if (seq->type != YAML_SEQUENCE_NODE)
            return ts_err_set(y->err, TS_ERR_INVALID,
                              "%s: key \"tables\": expected a list of {name, retention_period_days, enabled}", where);
        size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
        c->tables = ts_calloc(n ? n : 1, sizeof *c->tables);
        if (!c->tables)
            return ts_err_set(y->err, TS_ERR_NOMEM, "out of memory");
        for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
            yaml_node_t *m = yaml_document_get_node(y->doc, *it);
            ts_table_override *t = &c->tables[c->ntables++];
            t->enabled = true;
            where_at(y, m, where, sizeof where);
            if (m->type != YAML_MAPPING_NODE)
                return ts_err_set(y->err, TS_ERR_INVALID,
                                  "%s: key \"tables\": each entry must be a mapping with a \"name\"", where);
            for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < m->data.mapping.pairs.top; q++) {
                yaml_node_t *qk = yaml_document_get_node(y->doc, q->key);
                const char *name = scalar(qk), *val = scalar(yaml_document_get_node(y->doc, q->value));
                where_at(y, qk, where, sizeof where);
                if (!name || !val)
                    return ts_err_set(y->err, TS_ERR_INVALID, "%s: key \"tables\": expected key: value", where);
                if (strcmp(name, "name") == 0) {
                    if (!*val || !strchr(val, '.'))
                        return ts_err_set(y->err, TS_ERR_INVALID,
                                          "%s: key \"tables.name\": expected \"schema.table\", got \"%s\"", where, val);
                    ts_free(t->name);
                    if (!(t->name = ts_strdup(val)))
                        return ts_err_set(y->err, TS_ERR_NOMEM, "out of memory");
                } else if (strcmp(name, "retention_period_days") == 0) {
                    char *end;
                    long d;
                    errno = 0;
                    d = strtol(val, &end, 10);
                    if (!*val || *end || errno || d < 1 || d > 365000)
                        return ts_err_set(y->err, TS_ERR_INVALID,
                                          "%s: key \"tables.retention_period_days\": expected an integer from 1 to 365000, got \"%s\"",
                                          where, val);
                    t->retention_period_days = (int)d;
                } else if (strcmp(name, "enabled") == 0) {
                    if (parse_bool(val, &t->enabled) != 0)
                        return ts_err_set(y->err, TS_ERR_INVALID,
                                          "%s: key \"tables.enabled\": expected true or false, got \"%s\"", where, val);
                } else if (strcmp(name, "time_unit") == 0) {
                    if ((t->time_unit = ts_time_unit_parse(val)) == TS_TIME_UNIT_NONE)
                        return ts_err_set(y->err, TS_ERR_INVALID,
                                          "%s: key \"tables.time_unit\": expected seconds, milliseconds, "
                                          "microseconds or nanoseconds, got \"%s\"", where, val);
                } else {
                    return unknown_key(where, "tables", name, y->err);
                }
            }
            if (!t->name) {
                where_at(y, m, where, sizeof where);
                return ts_err_set(y->err, TS_ERR_INVALID,
                                  "%s: key \"tables\": entry is missing the required key \"name\"", where);
            }
        }
    }
    return 0;
}

static int load_file(cf_state *st, const char *path, ts_err *err)
{
    FILE *f = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_parser = 0, have_doc = 0, rc = TS_OK;
    yaml_node_t *root;
    yctx y = {&doc, path, st, err};

    f = fopen(path, "rb");
    if (!f) {
        rc = ts_err_set(err, errno == ENOENT ? TS_ERR_NOTFOUND : TS_ERR_IO,
                        "could not open config file \"%s\": %s", path, strerror(errno));
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    have_parser = 1;
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = ts_err_set(err, TS_ERR_INVALID, "%s:%lu: invalid YAML: %s%s%s", path,
                        (unsigned long)(parser.problem_mark.line + 1),
                        parser.problem ? parser.problem : "syntax error",
                        parser.context ? " " : "", parser.context ? parser.context : "");
        goto out;
    }
    have_doc = 1;
    root = yaml_document_get_root_node(&doc);
    if (!root)
        goto out; /* an empty file: the defaults */
    if (root->type == YAML_SCALAR_NODE && !*scalar(root))
        goto out;
    if (root->type != YAML_MAPPING_NODE) {
        rc = ts_err_set(err, TS_ERR_INVALID, "%s:%lu: expected a mapping of settings (key: value) at the top",
                        path, (unsigned long)root->start_mark.line + 1);
        goto out;
    }
    {
        /* a second document in the same file is a mistake, not something to ignore */
        yaml_document_t more;
        if (yaml_parser_load(&parser, &more)) {
            int extra = yaml_document_get_root_node(&more) != NULL;
            unsigned long line = (unsigned long)parser.mark.line;
            yaml_document_delete(&more);
            if (extra) {
                rc = ts_err_set(err, TS_ERR_INVALID,
                                "%s:%lu: expected one YAML document, found a second one", path, line);
                goto out;
            }
        }
    }
    if ((rc = load_pairs(&y, root, NULL)) != 0 || (rc = load_tables(&y, root)) != 0)
        goto out;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    if (f)
        fclose(f);
    return rc;
}

static int load_env(cf_state *st, ts_err *err)
{
    char name[128], where[160];
    for (int i = 0; i < NKEYS; i++) {
        const char *v;
        int n = snprintf(name, sizeof name, "TSARCHIVE_%s%s%s", keys[i].section ? keys[i].section : "",
                         keys[i].section ? "_" : "", keys[i].name);
        for (int j = 0; j < n; j++)
            name[j] = (char)toupper((unsigned char)name[j]);
        v = getenv(name);
        if (!v)
            continue;
        snprintf(where, sizeof where, "environment variable %s", name);
        if (set_value(&st->pub, &keys[i], v, where, err) != 0)
            return err->code;
        st->src[i] = SRC_ENV;
    }
    return 0;
}

static int is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "localhost:", 10) == 0 ||
           strncmp(addr, "[::1]:", 6) == 0;
}

const char *ts_config_lake_kind(const ts_config *c)
{
    if (strcmp(c->lake.kind, "auto") != 0)
        return c->lake.kind;
    /* the original specification's keys name an Azure lake */
    return *c->lakehouse_storage_account || *c->lakehouse_connection_string ? "azure" : "local";
}

/* The key's source (for warnings about settings that take no effect). */
static bool is_set(const ts_config *c, const char *section, const char *name)
{
    const cf_state *st = (const cf_state *)c;
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0 &&
            ((!section && !keys[i].section) ||
             (section && keys[i].section && strcmp(section, keys[i].section) == 0)))
            return st->src[i] != SRC_DEFAULT;
    return false;
}

int ts_config_warnings(const ts_config *c, char warnings[][256], int max)
{
    int n = 0;
    bool azure = strcmp(ts_config_lake_kind(c), "azure") == 0;
    /* the identity settings (from lake.auth on) serve Redis too with redis.auth: entra */
    bool entra = strcmp(c->redis.auth, "entra") == 0;
    static const char *const azure_only[][2] = {
        {NULL, "lakehouse_storage_account"}, {NULL, "lakehouse_connection_string"},
        {"lake", "block_size_mb"}, {"lake", "upload_concurrency"},
        {"lake", "auth"}, {"lake", "tenant_id"}, {"lake", "client_id"}, {"lake", "client_secret"},
        {"lake", "client_certificate_file"}, {"lake", "federated_token_file"}, {"lake", "ca_file"}};
    for (size_t i = 0; i < sizeof azure_only / sizeof *azure_only && n < max; i++)
        if (!azure && !(entra && i >= 4) && is_set(c, azure_only[i][0], azure_only[i][1]))
            snprintf(warnings[n++], 256, "\"%s%s%s\" is set but the lake is a local folder: it is "
                     "ignored", azure_only[i][0] ? azure_only[i][0] : "", azure_only[i][0] ? "." : "",
                     azure_only[i][1]);
    if (azure && is_set(c, "lake", "path") && n < max)
        snprintf(warnings[n++], 256, "\"lake.path\" is set but the lake is Azure: it is ignored");
    if (is_set(c, "http", "token_for_get") && n < max)
        snprintf(warnings[n++], 256, "\"http.token_for_get\" is no longer used: with an http.token, "
                 "every endpoint but /healthz and /readyz asks for it");
    if (!*c->redis.url || (strncmp(c->redis.url, "rediss://", 9) != 0 &&
                           (*c->redis.tls_ca_file || *c->redis.tls_cert_file || c->redis.tls_insecure)))
        if (n < max)
            snprintf(warnings[n++], 256, "the redis.tls_* settings take effect only with a rediss:// "
                     "url");
    if (c->redis.tls_insecure && n < max)
        snprintf(warnings[n++], 256, "\"redis.tls_insecure\" is on: the Redis server's certificate "
                 "is not checked");
    return n;
}

static int validate(const ts_config *c, ts_err *err)
{
    const char *src = c->source ? c->source : "config";
    if (strcmp(ts_config_lake_kind(c), "azure") == 0 && c->lakehouse_enabled && !*c->lakehouse_storage_account &&
        !*c->lakehouse_connection_string)
        return ts_err_set(err, TS_ERR_INVALID,
                          "%s: lake.kind is \"azure\" but neither \"lakehouse_connection_string\" nor "
                          "\"lakehouse_storage_account\" is set (missing required key)", src);
    if (strcmp(ts_config_lake_kind(c), "local") == 0 && !*c->lake.path)
        return ts_err_set(err, TS_ERR_INVALID,
                          "%s: lake.kind is \"local\" but \"lake.path\" is empty (missing required key)", src);
    if (!*c->lakehouse_container)
        return ts_err_set(err, TS_ERR_INVALID, "%s: \"lakehouse_container\" must not be empty", src);
    if (strcmp(c->lake.auth, "service_principal") == 0 &&
        (!*c->lake.tenant_id || !*c->lake.client_id ||
         (!*c->lake.client_secret && !*c->lake.client_certificate_file)))
        return ts_err_set(err, TS_ERR_INVALID,
                          "%s: lake.auth \"service_principal\" needs lake.tenant_id, lake.client_id and "
                          "lake.client_secret or lake.client_certificate_file (missing required key)", src);
    if (*c->lake.client_secret && *c->lake.client_certificate_file)
        return ts_err_set(err, TS_ERR_INVALID,
                          "%s: lake.client_secret and lake.client_certificate_file are both set: choose one",
                          src);
    if (strcmp(c->redis.auth, "entra") == 0 && !*c->redis.entra_user)
        return ts_err_set(err, TS_ERR_INVALID,
                          "%s: redis.auth \"entra\" needs redis.entra_user, the object id of the identity "
                          "(missing required key)", src);
    if (!*c->http.token && (!is_loopback(c->http.retention_listen) || !is_loopback(c->http.archiver_listen)))
        return ts_err_set(err, TS_ERR_INVALID,
                          "%s: http listens on a non-loopback address but \"http.token\" is not set; "
                          "set a token (TSARCHIVE_HTTP_TOKEN) or listen on 127.0.0.1", src);
    for (int i = 0; i < c->ntables; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(c->tables[i].name, c->tables[j].name) == 0)
                return ts_err_set(err, TS_ERR_INVALID, "%s: table \"%s\" is listed twice under \"tables\"",
                                  src, c->tables[i].name);
    return 0;
}

int ts_config_load_env(ts_config *cfg, ts_err *err)
{
    int rc = load_env((cf_state *)cfg, err);
    return rc ? rc : validate(cfg, err);
}

int ts_config_load(ts_config *cfg, const char *path, ts_err *err)
{
    int rc;
    ts_free(cfg->source);
    if (!(cfg->source = ts_strdup(path)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    rc = load_file((cf_state *)cfg, path, err);
    return rc ? rc : ts_config_load_env(cfg, err);
}

int ts_config_retention_days(const ts_config *cfg, const char *schema_table)
{
    for (int i = 0; i < cfg->ntables; i++)
        if (strcmp(cfg->tables[i].name, schema_table) == 0) {
            if (!cfg->tables[i].enabled)
                return 0;
            if (cfg->tables[i].retention_period_days)
                return cfg->tables[i].retention_period_days;
        }
    return cfg->retention_period_days;
}

ts_time_unit ts_config_time_unit(const ts_config *cfg, const char *schema_table)
{
    for (int i = 0; i < cfg->ntables; i++)
        if (strcmp(cfg->tables[i].name, schema_table) == 0)
            return cfg->tables[i].time_unit;
    return TS_TIME_UNIT_NONE;
}

static const char *const unit_names[] = {"", "seconds", "milliseconds", "microseconds",
                                         "nanoseconds"};

const char *ts_time_unit_name(ts_time_unit u)
{
    return (unsigned)u < sizeof unit_names / sizeof *unit_names ? unit_names[u] : "";
}

ts_time_unit ts_time_unit_parse(const char *s)
{
    for (int i = 1; s && i < (int)(sizeof unit_names / sizeof *unit_names); i++)
        if (strcmp(s, unit_names[i]) == 0)
            return (ts_time_unit)i;
    return TS_TIME_UNIT_NONE;
}

void ts_config_register_secrets(const ts_config *cfg)
{
    for (int i = 0; i < NKEYS; i++)
        if (keys[i].type == CF_SECRET) {
            const char *s = *(char *const *)((const char *)cfg + keys[i].off);
            ts_log_add_secret(s);
        }
}

static void dump_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(out, "\\x%02x", (unsigned char)*s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

void ts_config_dump(const ts_config *cfg, FILE *out)
{
    const cf_state *st = (const cf_state *)cfg;
    const char *cur = NULL;
    static const char *srcname[] = {"default", "file", "environment"};
    fprintf(out, "# effective tsarchive configuration (source: %s)\n",
            cfg->source ? cfg->source : "built-in defaults and environment");
    for (int i = 0; i < NKEYS; i++) {
        const cf_key *k = &keys[i];
        const void *f = (const char *)cfg + k->off;
        const char *indent = k->section ? "  " : "";
        if (k->section && (!cur || strcmp(cur, k->section) != 0)) {
            fprintf(out, "%s:\n", k->section);
            cur = k->section;
        }
        fprintf(out, "%s%s: ", indent, k->name);
        switch (k->type) {
        case CF_INT: fprintf(out, "%d", *(const int *)f); break;
        case CF_BOOL: fprintf(out, "%s", *(const bool *)f ? "true" : "false"); break;
        case CF_SECRET: fprintf(out, "%s", **(char *const *)f ? "\"***\"" : "\"\""); break;
        case CF_URL: {
            char red[2048];
            ts_redact(*(char *const *)f, red, sizeof red);
            dump_string(out, red);
            break;
        }
        case CF_LIST: {
            char *const *l = *(char **const *)f;
            fputc('[', out);
            for (int j = 0; l && l[j]; j++) {
                if (j)
                    fputs(", ", out);
                dump_string(out, l[j]);
            }
            fputc(']', out);
            break;
        }
        default: dump_string(out, *(char *const *)f); break;
        }
        fprintf(out, "  # %s\n", srcname[st->src[i]]);
    }
    fprintf(out, "tables:%s\n", cfg->ntables ? "" : " []");
    for (int i = 0; i < cfg->ntables; i++) {
        fprintf(out, "  - name: ");
        dump_string(out, cfg->tables[i].name);
        fprintf(out, "\n    retention_period_days: %d\n    enabled: %s\n",
                cfg->tables[i].retention_period_days ? cfg->tables[i].retention_period_days
                                                     : cfg->retention_period_days,
                cfg->tables[i].enabled ? "true" : "false");
        if (cfg->tables[i].time_unit != TS_TIME_UNIT_NONE)
            fprintf(out, "    time_unit: %s\n", ts_time_unit_name(cfg->tables[i].time_unit));
    }
}
