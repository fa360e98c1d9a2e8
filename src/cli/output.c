/* Printing resources: kubectl's table, -o yaml, -o json, and describe. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skiff/buf.h"
#include "skiff/time.h"
#include "skiff/yaml.h"

static const char *md_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
    return s ? s : "";
}

/* "5s", "3m", "2h", "4d" as kubectl's AGE column. */
static void age(const json_t *obj, char *buf, size_t n)
{
    int64_t created;
    if (skiff_time_parse(md_str(obj, "creationTimestamp"), &created, NULL) != 0) {
        snprintf(buf, n, "<unknown>");
        return;
    }
    int64_t s = (skiff_time_now_us() - created) / SKIFF_US_PER_SEC;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(buf, n, "%llds", (long long)s);
    else if (s < 7200)
        snprintf(buf, n, "%lldm", (long long)(s / 60));
    else if (s < 172800)
        snprintf(buf, n, "%lldh", (long long)(s / 3600));
    else
        snprintf(buf, n, "%lldd", (long long)(s / 86400));
}

/* The STATUS column: status.phase, or the first true condition's type, or "-". */
static const char *status_of(const json_t *obj)
{
    const json_t *st = json_object_get(obj, "status"), *conds;
    const char *phase = json_string_value(json_object_get(st, "phase"));
    size_t i;
    json_t *c;
    if (phase)
        return phase;
    conds = json_object_get(st, "conditions");
    json_array_foreach(conds, i, c) {
        if (skiff_str_ieq(json_string_value(json_object_get(c, "status")), "True"))
            return json_string_value(json_object_get(c, "type"));
    }
    return "-";
}

/* ---- extra columns per kind, as kubectl prints a CRD's printer columns ---- */

/* status.<key> as a string, or "" */
static const char *status_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(json_object_get(obj, "status"), key);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* The Ready condition's status ("True", "False", "Unknown"), or "". */
static const char *ready_of(const json_t *obj)
{
    const json_t *conds = json_object_get(json_object_get(obj, "status"), "conditions");
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) {
        if (skiff_str_ieq(json_string_value(json_object_get(c, "type")), "Ready"))
            return json_string_value(json_object_get(c, "status"));
    }
    return "";
}

/* The predictor's traffic entry for the latest revision (latest = true) or
 * the previous one: KServe's PREV / LATEST columns show its percent, and
 * PREVROLLEDOUTREVISION the previous one's name. */
static const json_t *isvc_traffic(const json_t *obj, bool latest)
{
    const json_t *pred = json_object_get(
        json_object_get(json_object_get(obj, "status"), "components"), "predictor");
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(pred, "traffic"), i, t) {
        if (json_is_true(json_object_get(t, "latestRevision")) == latest)
            return t;
    }
    return NULL;
}

static void percent(const json_t *t, char *b, size_t n)
{
    if (t)
        snprintf(b, n, "%lld", (long long)json_integer_value(json_object_get(t, "percent")));
    else
        b[0] = '\0';
}

static void col_url(const json_t *o, char *b, size_t n)
{
    snprintf(b, n, "%s", status_str(o, "url"));
}
static void col_ready(const json_t *o, char *b, size_t n)
{
    snprintf(b, n, "%s", ready_of(o));
}
static void col_prev(const json_t *o, char *b, size_t n)
{
    percent(isvc_traffic(o, false), b, n);
}
static void col_latest(const json_t *o, char *b, size_t n)
{
    percent(isvc_traffic(o, true), b, n);
}
static void col_prev_rev(const json_t *o, char *b, size_t n)
{
    const char *s = json_string_value(json_object_get(isvc_traffic(o, false), "revisionName"));
    snprintf(b, n, "%s", s ? s : "");
}
static void col_latest_rev(const json_t *o, char *b, size_t n)
{
    const json_t *pred = json_object_get(
        json_object_get(json_object_get(o, "status"), "components"), "predictor");
    const char *s = json_string_value(json_object_get(pred, "latestReadyRevision"));
    snprintf(b, n, "%s", s ? s : "");
}

struct column {
    const char *header;
    void (*value)(const json_t *obj, char *buf, size_t n);
};

/* kubectl get isvc: NAME URL READY PREV LATEST PREVROLLEDOUTREVISION
 * LATESTREADYREVISION AGE (KServe's printer columns). */
static const struct column isvc_columns[] = {
    {"URL", col_url}, {"READY", col_ready}, {"PREV", col_prev}, {"LATEST", col_latest},
    {"PREVROLLEDOUTREVISION", col_prev_rev}, {"LATESTREADYREVISION", col_latest_rev},
};

static const struct {
    const char *kind;
    const struct column *cols;
    size_t n;
} kind_columns[] = {
    {"InferenceService", isvc_columns, sizeof isvc_columns / sizeof *isvc_columns},
};

/* A table with the kind's own columns (the items share one kind). */
static bool print_kind_table(const json_t *items, size_t namew)
{
    const char *kind = json_string_value(json_object_get(json_array_get(items, 0), "kind"));
    const struct column *cols = NULL;
    size_t ncols = 0, i, w[8];
    json_t *o;
    char v[512], a[32];

    for (i = 0; kind && i < sizeof kind_columns / sizeof *kind_columns; i++)
        if (strcmp(kind_columns[i].kind, kind) == 0) {
            cols = kind_columns[i].cols;
            ncols = kind_columns[i].n;
        }
    if (!cols || ncols > sizeof w / sizeof *w)
        return false;
    for (size_t c = 0; c < ncols; c++) {
        w[c] = strlen(cols[c].header);
        json_array_foreach(items, i, o) {
            cols[c].value(o, v, sizeof v);
            if (strlen(v) > w[c])
                w[c] = strlen(v);
        }
    }
    printf("%-*s", (int)namew, "NAME");
    for (size_t c = 0; c < ncols; c++)
        printf("   %-*s", (int)w[c], cols[c].header);
    printf("   AGE\n");
    json_array_foreach(items, i, o) {
        printf("%-*s", (int)namew, md_str(o, "name"));
        for (size_t c = 0; c < ncols; c++) {
            cols[c].value(o, v, sizeof v);
            printf("   %-*s", (int)w[c], v);
        }
        age(o, a, sizeof a);
        printf("   %s\n", a);
    }
    return true;
}

void cli_print_table(const json_t *items)
{
    size_t i, w = 4;
    json_t *o;
    char a[32];

    json_array_foreach(items, i, o) {
        size_t l = strlen(md_str(o, "name"));
        if (l > w)
            w = l;
    }
    if (json_array_size(items) > 0 && print_kind_table(items, w))
        return;
    printf("%-*s   %-12s %s\n", (int)w, "NAME", "STATUS", "AGE");
    json_array_foreach(items, i, o) {
        age(o, a, sizeof a);
        printf("%-*s   %-12s %s\n", (int)w, md_str(o, "name"), status_of(o), a);
    }
}

int cli_print_object(const json_t *obj, const char *format, struct skiff_err *err)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    int rc = 0;
    if (strcmp(format, "json") == 0) {
        char *s = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!s)
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        puts(s);
        free(s);
        return 0;
    }
    if ((rc = skiff_yaml_emit(obj, &b)) == 0)
        fputs(b.ptr, stdout);
    skiff_buf_release(&b);
    return rc ? skiff_err_set(err, rc, "cannot print the object as YAML") : 0;
}

static void print_section(const char *title, const json_t *v)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    if (!v || (json_is_object(v) && json_object_size(v) == 0)) {
        printf("%s: <none>\n", title);
        return;
    }
    printf("%s:\n", title);
    if (skiff_yaml_emit(v, &b) == 0) {
        /* indent every line by two spaces */
        for (char *line = b.ptr, *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            if (!nl) {
                printf("  %s\n", line);
                break;
            }
            printf("  %.*s\n", (int)(nl - line), line);
        }
    }
    skiff_buf_release(&b);
}

void cli_describe(const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    char a[32];
    age(obj, a, sizeof a);
    printf("Name:              %s\n", md_str(obj, "name"));
    if (*md_str(obj, "namespace"))
        printf("Namespace:         %s\n", md_str(obj, "namespace"));
    printf("Kind:              %s\n", json_string_value(json_object_get(obj, "kind")));
    printf("API Version:       %s\n", json_string_value(json_object_get(obj, "apiVersion")));
    printf("UID:               %s\n", md_str(obj, "uid"));
    printf("Resource Version:  %s\n", md_str(obj, "resourceVersion"));
    printf("Generation:        %lld\n",
           (long long)json_integer_value(json_object_get(md, "generation")));
    printf("Created:           %s (%s ago)\n", md_str(obj, "creationTimestamp"), a);
    print_section("Labels", json_object_get(md, "labels"));
    print_section("Annotations", json_object_get(md, "annotations"));
    print_section("Spec", json_object_get(obj, "spec"));
    print_section("Status", json_object_get(obj, "status"));
}
