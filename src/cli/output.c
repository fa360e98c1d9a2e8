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
