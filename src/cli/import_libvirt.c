/* import_libvirt.c: `ecshot instance import-libvirt URI`, the inventory from a libvirt host.
 *
 * Every domain of the host (running or not) that carries the ecshot
 * element in its <metadata> (see import_libvirt.h) becomes the instance it
 * describes, with the console URL "libvirt:URI#NAME"; a domain without the
 * element is listed as skipped. Re-running the command updates what it
 * registered before and never duplicates: all instances go to the store in
 * one store_instance_import, which adds new ones and replaces existing ones
 * (every field and the whole set of tags) in one transaction, all or none.
 * The status comes from the element's optional status attribute; without
 * it an instance keeps the status it has in the store, and a new one is
 * Running (ecshotd checks the domain's live state on every call anyway).
 *
 * Strict, like the rest of the operator interface: an element that is
 * there but wrong (unknown attributes or children, a value the store would
 * refuse, two domains claiming one instance id) stops the command before
 * the store is touched, naming the domain. The connection is read-only;
 * credentials come from libvirt's auth.conf or are asked for on the
 * terminal. The metadata is parsed with libxml2 without network access,
 * entity substitution or DTDs. */
#include "cli/import_libvirt.h"
#include "cli/cli.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"
#include "store/store.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2

/* Longest metadata element read; the element is a few hundred bytes. */
#define METADATA_MAX (64 * 1024)
#define NEW_INSTANCE_STATUS "Running"

/* One domain of the host. */
typedef struct domain_entry {
    char *name;
    instance *inst;          /* NULL: no ecshot metadata, skipped */
    int has_status;          /* the element named a status */
} domain_entry;


/* libvirt prints errors itself unless told not to; this command words them. */
static void libvirt_quiet(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

/* ---- the metadata element -------------------------------------------------------- */

typedef struct parse_error {
    char text[512];
} parse_error;

__attribute__((format(printf, 2, 3))) static int refuse(parse_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_named(const xmlNode *node, const char *name)
{
    if (!xmlStrEqual(node->name, BAD_CAST name))
        return 0;
    /* libvirt hands the element back without its prefix; one written with
     * a namespace must use ours. */
    return !node->ns || xmlStrEqual(node->ns->href, BAD_CAST ECSHOT_LIBVIRT_XMLNS);
}

static int is_blank(const xmlChar *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

/* Copies an attribute's value into field (size bytes), refusing what does
 * not fit rather than cutting it. */
static int take_value(const xmlAttr *attr, char *field, size_t size, parse_error *e)
{
    xmlChar *v = xmlNodeListGetString(attr->doc, attr->children, 1);
    const char *s = v ? (const char *)v : "";
    size_t len = strlen(s);
    int rc = 0;
    if (len >= size)
        rc = refuse(e, "attribute %s is longer than %zu bytes", (const char *)attr->name,
                    size - 1);
    else
        memcpy(field, s, len + 1);
    xmlFree(v);
    return rc;
}

/* The instance element's attributes: id, region, account, type, status. */
static int read_attributes(const xmlNode *root, instance *inst, int *has_status, parse_error *e)
{
    int seen_id = 0, seen_region = 0, seen_account = 0, seen_type = 0;
    for (const xmlAttr *a = root->properties; a; a = a->next) {
        const char *name = (const char *)a->name;
        int rc;
        if (a->ns)
            return refuse(e, "unknown attribute %s:%s", (const char *)a->ns->prefix, name);
        if (strcmp(name, "id") == 0) {
            rc = take_value(a, inst->id, sizeof inst->id, e);
            seen_id = 1;
        } else if (strcmp(name, "region") == 0) {
            rc = take_value(a, inst->region, sizeof inst->region, e);
            seen_region = 1;
        } else if (strcmp(name, "account") == 0) {
            rc = take_value(a, inst->account_id, sizeof inst->account_id, e);
            seen_account = 1;
        } else if (strcmp(name, "type") == 0) {
            rc = take_value(a, inst->type, sizeof inst->type, e);
            seen_type = 1;
        } else if (strcmp(name, "status") == 0) {
            rc = take_value(a, inst->status, sizeof inst->status, e);
            *has_status = 1;
        } else {
            return refuse(e, "unknown attribute %s", name);
        }
        if (rc < 0)
            return rc;
    }
    const char *missing = !seen_id        ? "id"
                          : !seen_region  ? "region"
                          : !seen_account ? "account"
                          : !seen_type    ? "type"
                                          : NULL;
    if (missing)
        return refuse(e, "attribute %s is missing", missing);
    if (!store_valid_id(inst->id))
        return refuse(e, "id: not 1 to 127 printable ASCII characters without space");
    if (!store_valid_id(inst->region))
        return refuse(e, "region: not 1 to 127 printable ASCII characters without space");
    if (!store_valid_owner(inst->account_id))
        return refuse(e, "account: not 1 to 127 printable ASCII characters without space, "
                         "'/' or ':'");
    if (!store_valid_id(inst->type))
        return refuse(e, "type: not 1 to 127 printable ASCII characters without space");
    if (*has_status && !store_valid_status(inst->status))
        return refuse(e, "status: not Pending, Starting, Running, Stopping or Stopped");
    return 0;
}

/* One <tag key="KEY">VALUE</tag>: text only inside. */
static int read_tag(const xmlNode *node, instance *inst, parse_error *e)
{
    if (inst->tag_count == STORE_TAGS_MAX)
        return refuse(e, "more than %d tags", STORE_TAGS_MAX);
    const xmlAttr *key = node->properties;
    if (!key || key->next || key->ns || !xmlStrEqual(key->name, BAD_CAST "key"))
        return refuse(e, "a tag needs exactly one attribute, key");
    for (const xmlNode *c = node->children; c; c = c->next)
        if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE &&
            c->type != XML_COMMENT_NODE)
            return refuse(e, "a tag holds text only");
    instance_tag *t = &inst->tags[inst->tag_count];
    if (take_value(key, t->key, sizeof t->key, e) < 0)
        return -1;
    xmlChar *value = xmlNodeGetContent(node);
    size_t len = value ? strlen((const char *)value) : 0;
    if (len >= sizeof t->value) {
        xmlFree(value);
        return refuse(e, "tag %s: the value is longer than %zu bytes", t->key, sizeof t->value - 1);
    }
    memcpy(t->value, value ? (const char *)value : "", len + 1);
    xmlFree(value);
    if (!store_valid_tag(t->key, t->value))
        return refuse(e, "tag %s: key or value not acceptable (UTF-8 without control "
                         "characters, key 1 to 127 bytes)", t->key);
    for (size_t i = 0; i < inst->tag_count; i++)
        if (strcmp(inst->tags[i].key, t->key) == 0)
            return refuse(e, "tag %s given twice", t->key);
    inst->tag_count++;
    return 0;
}

static int read_element(const xmlNode *root, instance *inst, int *has_status, parse_error *e)
{
    if (!is_named(root, "instance"))
        return refuse(e, "the element is <%s>, not <instance>", (const char *)root->name);
    if (read_attributes(root, inst, has_status, e) < 0)
        return -1;
    for (const xmlNode *c = root->children; c; c = c->next) {
        if (c->type == XML_COMMENT_NODE)
            continue;
        if (c->type == XML_TEXT_NODE && is_blank(c->content))
            continue;
        if (c->type != XML_ELEMENT_NODE || !is_named(c, "tag"))
            return refuse(e, "<instance> holds only <tag> elements");
        if (read_tag(c, inst, e) < 0)
            return -1;
    }
    return 0;
}

/* Parses the element libvirt returned into inst (status, console URL and
 * everything else left as they are when not given). */
static int parse_metadata(const char *xml, instance *inst, int *has_status, parse_error *e)
{
    size_t len = strlen(xml);
    if (len > METADATA_MAX)
        return refuse(e, "larger than %d bytes", METADATA_MAX);
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *err = xmlGetLastError();
        refuse(e, "not well-formed XML: %s", err && err->message ? err->message : "?");
        size_t n = strlen(e->text);
        while (n > 0 && (e->text[n - 1] == '\n' || e->text[n - 1] == ' '))
            e->text[--n] = '\0';
        return -1;
    }
    int rc;
    if (doc->intSubset || doc->extSubset)
        rc = refuse(e, "a document type declaration is not allowed");
    else
        rc = read_element(xmlDocGetRootElement(doc), inst, has_status, e);
    xmlFreeDoc(doc);
    return rc;
}

/* ---- the host ---------------------------------------------------------------------- */

static void entries_free(domain_entry *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].name);
        free(d[i].inst);
    }
    free(d);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const domain_entry *)a)->name, ((const domain_entry *)b)->name);
}

/* The ecshot element of dom into *xml (NULL when it has none). */
static int domain_metadata(virDomainPtr dom, const char *name, char **xml)
{
    *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, ECSHOT_LIBVIRT_XMLNS, 0);
    if (*xml)
        return 0;
    const virError *err = virGetLastError();
    int code = err ? err->code : VIR_ERR_INTERNAL_ERROR;
    if (code == VIR_ERR_NO_DOMAIN_METADATA || code == VIR_ERR_NO_DOMAIN)
        return 0; /* none, or the domain went away since it was listed */
    return cli_fail(EXIT_FAILED, "%s: reading its metadata: %s", name, virGetLastErrorMessage());
}

/* One domain: its name and, when it has the element, its instance. */
static int read_domain(virDomainPtr dom, const char *uri, domain_entry *out)
{
    const char *name = virDomainGetName(dom);
    if (!name || !(out->name = strdup(name)))
        return cli_fail(EXIT_FAILED, "out of memory");
    char *xml;
    if (domain_metadata(dom, name, &xml) != 0)
        return EXIT_FAILED;
    if (!xml)
        return 0;
    instance *inst = calloc(1, sizeof *inst);
    if (!inst) {
        free(xml);
        return cli_fail(EXIT_FAILED, "out of memory");
    }
    out->inst = inst;
    parse_error e = {{0}};
    int rc = parse_metadata(xml, inst, &out->has_status, &e);
    free(xml);
    if (rc < 0)
        return cli_fail(EXIT_FAILED, "domain %s: ecshot metadata: %s", name, e.text);
    int n = snprintf(inst->console_url, sizeof inst->console_url, "libvirt:%s#%s", uri, name);
    if (n < 0 || (size_t)n >= sizeof inst->console_url || !console_url_valid(inst->console_url))
        return cli_fail(EXIT_FAILED, "domain %s: its console URL libvirt:%s#%s is not usable", name,
                    uri, name);
    return 0;
}

/* Every domain of the host, sorted by name, into *out. */
static int read_host(const char *uri, domain_entry **out, size_t *count)
{
    virConnectPtr conn = virConnectOpenAuth(uri, virConnectAuthPtrDefault, VIR_CONNECT_RO);
    if (!conn)
        return cli_fail(EXIT_FAILED, "libvirt %s: %s", uri, virGetLastErrorMessage());
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0) {
        int rc = cli_fail(EXIT_FAILED, "libvirt %s: listing domains: %s", uri,
                      virGetLastErrorMessage());
        virConnectClose(conn);
        return rc;
    }
    domain_entry *d = calloc(n > 0 ? (size_t)n : 1, sizeof *d);
    int rc = d ? 0 : cli_fail(EXIT_FAILED, "out of memory");
    for (int i = 0; i < n && rc == 0; i++)
        rc = read_domain(doms[i], uri, &d[i]);
    for (int i = 0; i < n; i++)
        virDomainFree(doms[i]);
    free(doms);
    virConnectClose(conn);
    if (rc != 0) {
        entries_free(d, d ? (size_t)n : 0);
        return rc;
    }
    qsort(d, (size_t)n, sizeof *d, by_name);
    *out = d;
    *count = (size_t)n;
    return 0;
}

static int by_instance_id(const void *a, const void *b)
{
    const domain_entry *x = *(const domain_entry *const *)a, *y = *(const domain_entry *const *)b;
    return strcmp(x->inst->id, y->inst->id);
}

/* Two domains that claim one instance id stop the command. */
static int check_unique_ids(domain_entry *d, size_t n)
{
    domain_entry **claimed = malloc((n ? n : 1) * sizeof *claimed);
    if (!claimed)
        return cli_fail(EXIT_FAILED, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (d[i].inst)
            claimed[m++] = &d[i];
    qsort(claimed, m, sizeof *claimed, by_instance_id);
    int rc = 0;
    for (size_t i = 1; i < m && rc == 0; i++)
        if (strcmp(claimed[i - 1]->inst->id, claimed[i]->inst->id) == 0)
            rc = cli_fail(EXIT_FAILED, "domains %s and %s both claim instance %s", claimed[i - 1]->name,
                      claimed[i]->name, claimed[i]->inst->id);
    free(claimed);
    return rc;
}

/* ---- the store ---------------------------------------------------------------------- */

/* Fills in the status of instances whose element named none: the one in
 * the store, or Running for a new instance. */
static int settle_statuses(store *s, domain_entry *d, size_t n)
{
    instance *old = malloc(sizeof *old);
    if (!old)
        return cli_fail(EXIT_FAILED, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!d[i].inst || d[i].has_status)
            continue;
        int r = store_instance_get(s, d[i].inst->id, old);
        if (r == STORE_OK)
            memcpy(d[i].inst->status, old->status, sizeof old->status);
        else if (r == STORE_NOT_FOUND)
            snprintf(d[i].inst->status, sizeof d[i].inst->status, "%s", NEW_INSTANCE_STATUS);
        else
            rc = cli_fail(EXIT_FAILED, "reading instance %s from the store failed", d[i].inst->id);
    }
    free(old);
    return rc;
}

static int import_entries(const char *store_url, domain_entry *d, size_t n, size_t imported)
{
    if (imported == 0)
        return 0;
    instance *items = malloc(imported * sizeof *items);
    if (!items)
        return cli_fail(EXIT_FAILED, "out of memory");
    store *s = store_open(store_url); /* on failure the store logged why */
    int rc = s ? settle_statuses(s, d, n) : EXIT_FAILED;
    if (rc == 0) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (d[i].inst)
                items[k++] = *d[i].inst;
        int r = store_instance_import(s, items, k);
        if (r == STORE_INVALID)
            rc = cli_fail(EXIT_FAILED, "the store refused the instances: an account does not exist "
                                   "(create it first) or a field is not acceptable");
        else if (r != STORE_OK)
            rc = cli_fail(EXIT_FAILED, "importing into the store failed");
    }
    store_close(s);
    free(items);
    return rc;
}

/* ---- the command ------------------------------------------------------------------------ */

/* The URI must not contain '#' (the console URL's separator) nor control
 * characters. */
static int check_uri(const char *uri)
{
    if (!*uri || strchr(uri, '#'))
        return cli_fail(EXIT_USAGE, "the libvirt URI must be non-empty and without '#'");
    for (const char *p = uri; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return cli_fail(EXIT_USAGE, "the libvirt URI contains control characters");
    return 0;
}

int cmd_instance_import_libvirt(const char *store_url, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-')
        return cli_fail(EXIT_USAGE, "usage: ecshot --store URL instance import-libvirt URI");
    if (!store_url || !*store_url)
        return cli_fail(EXIT_USAGE, "no store: give --store URL");
    const char *uri = argv[0];
    int rc = check_uri(uri);
    if (rc)
        return rc;

    /* A daemon that goes away mid-command must be an error, not SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    virSetErrorFunc(NULL, libvirt_quiet);
    xmlInitParser();
    domain_entry *d = NULL;
    size_t n = 0;
    rc = read_host(uri, &d, &n);
    if (rc)
        return rc;
    size_t imported = 0;
    for (size_t i = 0; i < n; i++)
        imported += d[i].inst != NULL;
    rc = check_unique_ids(d, n);
    if (rc == 0)
        rc = import_entries(store_url, d, n, imported);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            if (d[i].inst)
                printf("imported %s as %s\n", d[i].name, d[i].inst->id);
            else
                printf("skipped %s: no ecshot metadata\n", d[i].name);
        }
        printf("imported %zu instances, skipped %zu domains\n", imported, n - imported);
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = cli_fail(EXIT_FAILED, "cannot write to stdout");
    }
    entries_free(d, n);
    return rc;
}
