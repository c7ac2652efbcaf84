/* azure_list.c: one List Blobs page, parsed by libxml2: each <Blob>'s <Name>
 * (entities decoded; Encoded="true" names percent-decoded by libcurl), its
 * <Properties>' <Content-Length> and <Content-MD5>, and <NextMarker>.
 *
 * The page comes from the network, so the parser is told to trust nothing: a
 * document with a DOCTYPE is refused as soon as the DOCTYPE is seen (so no entity is
 * ever declared, let alone expanded), nothing is loaded from the network or a file,
 * the page has a size cap (AZ_LIST_PAGE_MAX), and libxml2's own limits (depth, text
 * size) stay on. The whole page is parsed before the first callback: a truncated
 * page is an error, never a short listing. */
#include "azure_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>

#include "codec.h"
#include "common/alloc.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser(); /* once, before threads parse (libxml2's rule) */
}

/* The SAX callback for "<!DOCTYPE": stops the parser; the page is then refused. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
    xmlParserCtxtPtr p = ctx;
    (void)name;
    (void)external_id;
    (void)system_id;
    *(bool *)p->_private = true;
    xmlStopParser(p);
}

/* The first child element of n called name, or NULL. */
static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST name))
            return c;
    return NULL;
}

/* A decimal size: digits only, no sign, no overflow. */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9' || strspn(s, "0123456789") != strlen(s))
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* Calls fn for one <Blob>. */
static int one_blob(xmlNodePtr blob, lake_list_fn fn, void *ud, ts_err *err)
{
    xmlNodePtr name = child(blob, "Name"), props = child(blob, "Properties"), n;
    xmlChar *text = NULL, *enc = NULL, *v = NULL;
    char *decoded = NULL;
    lake_info info = {.name = NULL};
    int rc = TS_OK;

    if (!name) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "azure list blobs: a <Blob> without <Name>");
        goto out;
    }
    if (!(text = xmlNodeGetContent(name))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    info.name = (char *)text;
    /* names with characters XML cannot carry come percent-encoded */
    if ((enc = xmlGetProp(name, BAD_CAST "Encoded")) && xmlStrEqual(enc, BAD_CAST "true")) {
        int len = 0;
        if (!(decoded = curl_easy_unescape(NULL, (const char *)text, 0, &len))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        if ((size_t)len != strlen(decoded)) {
            rc = ts_err_set(err, TS_ERR_FORMAT, "azure list blobs: a <Name> that decodes to a NUL");
            goto out;
        }
        info.name = decoded;
    }
    if (!info.name[0]) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "azure list blobs: a <Blob> with an empty <Name>");
        goto out;
    }
    if ((n = child(props, "Content-Length")) != NULL) {
        v = xmlNodeGetContent(n);
        if (!parse_size((const char *)v, &info.size)) {
            rc = ts_err_set(err, TS_ERR_FORMAT, "azure list blobs: bad <Content-Length>");
            goto out;
        }
        xmlFree(v);
        v = NULL;
    }
    if ((n = child(props, "Content-MD5")) != NULL && (v = xmlNodeGetContent(n)) != NULL && *v)
        info.has_md5 =
            lake_b64_decode((const char *)v, strlen((const char *)v), info.md5, 16) == 16;
    rc = fn(ud, &info);
out:
    xmlFree(v);
    xmlFree(enc);
    xmlFree(text);
    curl_free(decoded);
    return rc;
}

int az_parse_list(const char *xml, size_t len, lake_list_fn fn, void *ud, char **next, ts_err *err)
{
    xmlParserCtxtPtr ctxt = NULL;
    xmlDocPtr doc = NULL;
    xmlNodePtr root, blobs, marker;
    xmlChar *m = NULL;
    bool doctype = false;
    int rc = TS_OK;

    *next = NULL;
    if (!xml || len == 0)
        return ts_err_set(err, TS_ERR_FORMAT, "azure list blobs: an empty answer");
    if (len > AZ_LIST_PAGE_MAX)
        return ts_err_set(err, TS_ERR_TOOBIG, "azure list blobs: a page of %zu bytes, more than %u",
                          len, AZ_LIST_PAGE_MAX);
    pthread_once(&xml_once, xml_init);
    if (!(ctxt = xmlCreateMemoryParserCtxt(xml, (int)len))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* no network, no errors on stderr; and never XML_PARSE_NOENT, _DTDLOAD or _HUGE */
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    ctxt->sax->internalSubset = on_doctype;
    ctxt->_private = &doctype;
    (void)xmlParseDocument(ctxt); /* the outcome is in wellFormed and myDoc */
    doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    if (doctype) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "azure list blobs: the answer has a DOCTYPE");
        goto out;
    }
    if (!ctxt->wellFormed || !doc) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        const char *why = e && e->message ? e->message : "not well-formed";
        size_t wl = strcspn(why, "\n");
        rc =
            ts_err_set(err, TS_ERR_FORMAT, "azure list blobs: the answer is not XML: line %d: %.*s",
                       e ? e->line : 0, (int)(wl < 120 ? wl : 120), why);
        goto out;
    }
    root = xmlDocGetRootElement(doc);
    if (!root || !xmlStrEqual(root->name, BAD_CAST "EnumerationResults")) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "azure list blobs: the answer is not a blob listing");
        goto out;
    }
    if ((blobs = child(root, "Blobs")) != NULL) {
        for (xmlNodePtr b = blobs->children; b; b = b->next) {
            if (b->type != XML_ELEMENT_NODE || !xmlStrEqual(b->name, BAD_CAST "Blob"))
                continue;
            if ((rc = one_blob(b, fn, ud, err)) != 0)
                goto out;
        }
    }
    if ((marker = child(root, "NextMarker")) != NULL) {
        if (!(m = xmlNodeGetContent(marker))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (*m && !(*next = ts_strdup((const char *)m))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
out:
    xmlFree(m);
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return rc;
}
