/* skiff apply: validate every document of every file first (errors with
 * file:line:column, nothing sent if any is wrong), then send each one. */
#include "cli.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/features.h"
#include "skiff/resource.h"
#include "skiff/yaml.h"

const char cmd_apply_usage[] =
    "Usage: skiff apply -f FILE|DIR [-f FILE|DIR ...] [-R]\n\n"
    "Create or update the resources in YAML (or JSON) files, as kubectl apply\n"
    "does. Every document is validated first; if any is wrong, the errors are\n"
    "printed with file:line:column and nothing is applied (exit code 2).\n"
    "Unknown fields of upstream kinds are kept and reported as warnings.\n\n"
    "Options:\n"
    "  -f, --filename PATH  a file, a folder of *.yaml/*.yml/*.json files, or - for stdin\n"
    "  -R, --recursive      also read the folders inside a folder\n\n"
    "Examples:\n"
    "  skiff apply -f examples/seed/workflow.yaml\n"
    "  skiff apply -f examples/ -R\n"
    "  cat isvc.yaml | skiff apply -f -\n";

#define MAX_FILES 4096

struct file_list {
    char *paths[MAX_FILES];
    size_t n;
};

static int has_ext(const char *name)
{
    return skiff_str_endswith(name, ".yaml") || skiff_str_endswith(name, ".yml") ||
           skiff_str_endswith(name, ".json");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int collect(const char *path, bool recursive, bool top, struct file_list *fl,
                   struct skiff_err *err)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    size_t first;

    if (strcmp(path, "-") == 0 || (stat(path, &st) == 0 && S_ISREG(st.st_mode))) {
        if (fl->n == MAX_FILES)
            return skiff_err_set(err, SKIFF_ETOOBIG, "more than %d files", MAX_FILES);
        fl->paths[fl->n++] = strdup(path);
        return 0;
    }
    if (stat(path, &st) != 0)
        return skiff_err_sys(err, SKIFF_EINVAL, "cannot read '%s'", path);
    if (!S_ISDIR(st.st_mode))
        return skiff_err_set(err, SKIFF_EINVAL, "'%s' is not a file or a folder", path);
    if (!top && !recursive)
        return 0;
    if (!(d = opendir(path)))
        return skiff_err_sys(err, SKIFF_EIO, "cannot open folder '%s'", path);
    first = fl->n;
    while ((de = readdir(d)) != NULL) {
        char child[4096];
        int rc = 0;
        if (de->d_name[0] == '.')
            continue;
        snprintf(child, sizeof child, "%s/%s", path, de->d_name);
        if (stat(child, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (recursive)
                rc = collect(child, recursive, false, fl, err);
        } else if (has_ext(de->d_name)) {
            rc = collect(child, recursive, false, fl, err);
        }
        if (rc) {
            closedir(d);
            return rc;
        }
    }
    closedir(d);
    qsort(fl->paths + first, fl->n - first, sizeof *fl->paths, cmp_str);
    return 0;
}

/* Records in the object the folder its file was applied from
 * (annotation skiff.dev/applied-from), so that relative paths in it
 * (a DataSource's file.path) mean what they meant next to the file, as
 * when the file is used offline. Standard input has no folder: nothing. */
static void annotate_origin(json_t *obj, const char *path)
{
    char *abs, *slash;
    json_t *md = json_object_get(obj, "metadata"), *ann;

    if (strcmp(path, "-") == 0 || !json_is_object(md) || !(abs = realpath(path, NULL)))
        return;
    slash = strrchr(abs, '/');
    if (slash)
        slash[slash == abs ? 1 : 0] = '\0';
    ann = json_object_get(md, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(md, "annotations", ann);
    }
    json_object_set_new(ann, SKIFF_ANNOTATION_APPLIED_FROM, json_string(abs));
    free(abs);
}

static int load(const char *path, struct skiff_yaml_docs **docs, struct skiff_err *err)
{
    struct skiff_buf b;
    char chunk[65536];
    size_t r;
    int rc = 0;

    if (strcmp(path, "-") != 0)
        return skiff_yaml_load_file(path, docs, err);
    skiff_buf_init(&b, 64 << 20);
    while (rc == 0 && (r = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (skiff_buf_append(&b, chunk, r))
            rc = skiff_err_set(err, SKIFF_ETOOBIG, "standard input is larger than 64 MiB");
    if (rc == 0)
        rc = skiff_yaml_parse(b.ptr, b.len, "<stdin>", docs, err);
    skiff_buf_release(&b);
    return rc;
}

/* Whether obj is one of the feature store's kinds (skiff.dev/v1). */
static bool feature_kind(const json_t *obj)
{
    static const char *const kinds[] = {"Entity", "DataSource", "FeatureView", "FeatureService"};
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    for (size_t i = 0; api && kind && i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(api, "skiff.dev/v1") == 0 && strcmp(kind, kinds[i]) == 0)
            return true;
    return false;
}

/* A document of the files: file f, document i. */
struct doc_ref {
    size_t f, i;
};

/* The checks for the feature store's documents among those applied, before
 * anything is sent (so a refusal names the file and applies nothing):
 *   1. the check `skiff features apply` makes: the platform's definitions
 *      with these replacing theirs must still resolve, and no feature a
 *      FeatureService reads may change type (skiff_feat_plan_check);
 *   2. an order to send them in: the platform judges each object as it
 *      arrives (its admission, skiff_feat_admission_install), so dropping a
 *      field and the service's use of it must reach it service first, and
 *      adding them, view first (skiff_feat_apply_order).
 * The platform would refuse the same changes (HTTP 403) on its own; this
 * only says so sooner, for the whole set at once, and picks the order.
 * order[0 .. *norder) receives the feature documents in sending order.
 * Nothing to ask the platform when no document is of those kinds. */
static int check_feature_services(struct skiff_yaml_docs *const *docs, size_t nfiles,
                                  struct doc_ref *order, size_t *norder, struct skiff_err *err)
{
    static const char *const plurals[] = {"entities", "datasources", "featureviews",
                                          "featureservices"};
    json_t *local = json_array(), *stored = json_array();
    struct doc_ref *refs = NULL;
    size_t *idx = NULL, n = 0;
    int rc = 0;

    *norder = 0;
    if (!local || !stored) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t f = 0; f < nfiles; f++)
        for (size_t i = 0; i < skiff_yaml_count(docs[f]); i++)
            if (feature_kind(skiff_yaml_doc(docs[f], i)) &&
                json_array_append(local, skiff_yaml_doc(docs[f], i))) {
                rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
                goto out;
            }
    if ((n = json_array_size(local)) == 0)
        goto out;
    for (size_t i = 0; i < sizeof plurals / sizeof *plurals; i++) {
        char path[64];
        json_t *reply = NULL;
        snprintf(path, sizeof path, "/api/v1/%s", plurals[i]);
        if ((rc = cli_api("GET", path, NULL, &reply, NULL, err)))
            goto out;
        rc = json_array_extend(stored, json_object_get(reply, "items"))
                 ? skiff_err_set(err, SKIFF_ENOMEM, "out of memory") : 0;
        json_decref(reply);
        if (rc)
            goto out;
    }
    if ((rc = skiff_feat_plan_check(local, stored, err)))
        goto out;
    if (!(refs = calloc(n, sizeof *refs)) || !(idx = calloc(n, sizeof *idx))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    n = 0;
    for (size_t f = 0; f < nfiles; f++)
        for (size_t i = 0; i < skiff_yaml_count(docs[f]); i++)
            if (feature_kind(skiff_yaml_doc(docs[f], i)))
                refs[n++] = (struct doc_ref){f, i};
    if ((rc = skiff_feat_apply_order(stored, local, idx, err)))
        goto out;
    for (size_t k = 0; k < n; k++)
        order[k] = refs[idx[k]];
    *norder = n;
out:
    free(refs);
    free(idx);
    json_decref(local);
    json_decref(stored);
    return rc;
}

int cmd_apply(int argc, char **argv)
{
    struct file_list fl = {.n = 0};
    struct skiff_yaml_docs *docs[MAX_FILES] = {0};
    struct skiff_err err = SKIFF_ERR_INIT;
    bool recursive = false;
    const char *inputs[256];
    size_t ninputs = 0, errors = 0, total = 0, nfeat = 0;
    struct doc_ref *feat_order = NULL;
    int rc = CLI_OK;

    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--filename") == 0) && i + 1 < argc) {
            if (ninputs == sizeof inputs / sizeof *inputs)
                return cli_usage_error("apply", "too many -f options");
            inputs[ninputs++] = argv[++i];
        } else if (strncmp(argv[i], "--filename=", 11) == 0 && ninputs < 256) {
            inputs[ninputs++] = argv[i] + 11;
        } else if (strcmp(argv[i], "-R") == 0 || strcmp(argv[i], "--recursive") == 0) {
            recursive = true;
        } else {
            return cli_usage_error("apply", "unexpected argument '%s'", argv[i]);
        }
    }
    if (ninputs == 0)
        return cli_usage_error("apply", "no input: give -f FILE or -f DIR");
    for (size_t i = 0; i < ninputs; i++) {
        if (collect(inputs[i], recursive, true, &fl, &err)) {
            rc = cli_fail(&err);
            goto out;
        }
    }
    if (fl.n == 0) {
        fprintf(stderr, "skiff: no *.yaml, *.yml or *.json files in the given folders\n");
        rc = CLI_USAGE;
        goto out;
    }

    /* 1. parse and validate everything */
    for (size_t f = 0; f < fl.n; f++) {
        if (load(fl.paths[f], &docs[f], &err)) {
            cli_fail(&err);
            errors++;
            continue;
        }
        for (size_t i = 0; i < skiff_yaml_count(docs[f]); i++) {
            struct skiff_err verr = SKIFF_ERR_INIT;
            struct skiff_validation v = {.docs = docs[f], .doc_index = i, .err = &verr};
            const struct skiff_kind *k;
            total++;
            if (skiff_resource_validate(skiff_yaml_doc(docs[f], i), &v, &k)) {
                cli_fail(&verr);
                errors++;
            }
            for (size_t w = 0; w < v.nwarnings; w++)
                fprintf(stderr, "warning: %s\n", v.warnings[w]);
            skiff_validation_release(&v);
        }
    }
    if (errors) {
        fprintf(stderr, "skiff: %zu error%s; nothing was applied\n", errors, errors == 1 ? "" : "s");
        rc = CLI_USAGE;
        goto out;
    }
    if (total == 0) {
        fprintf(stderr, "skiff: the input holds no documents\n");
        rc = CLI_USAGE;
        goto out;
    }

    /* 1b. a change of the feature store must not break a service in use */
    if (!(feat_order = calloc(total, sizeof *feat_order))) {
        skiff_err_set(&err, SKIFF_ENOMEM, "out of memory");
        rc = cli_fail(&err);
        goto out;
    }
    if (check_feature_services(docs, fl.n, feat_order, &nfeat, &err)) {
        rc = cli_fail(&err);
        fprintf(stderr, "skiff: nothing was applied\n");
        goto out;
    }

    /* 2. send: PUT by name (apply), POST for generateName (create), in the
     * files' order, the feature store's documents in the order found in 1b
     * (each takes the place of one of them) */
    for (size_t df = 0, next_feat = 0; df < fl.n && rc == CLI_OK; df++) {
        for (size_t di = 0; di < skiff_yaml_count(docs[df]); di++) {
            size_t f = df, i = di;
            if (feature_kind(skiff_yaml_doc(docs[df], di)) && next_feat < nfeat) {
                f = feat_order[next_feat].f;
                i = feat_order[next_feat++].i;
            }
            json_t *obj = skiff_yaml_doc(docs[f], i), *stored = NULL;
            const struct skiff_kind *k;
            const char *name = json_string_value(
                json_object_get(json_object_get(obj, "metadata"), "name"));
            struct cli_api_meta meta;
            char path[1024];

            skiff_kind_for(json_string_value(json_object_get(obj, "apiVersion")),
                           json_string_value(json_object_get(obj, "kind")), &k, NULL);
            annotate_origin(obj, fl.paths[f]);
            if (name)
                snprintf(path, sizeof path, "/api/v1/%s/%s", k->plural, name);
            else
                snprintf(path, sizeof path, "/api/v1/%s", k->plural);
            if (cli_api(name ? "PUT" : "POST", path, obj, &stored, &meta, &err)) {
                skiff_err_prefix(&err, "%s", fl.paths[f]);
                rc = cli_fail(&err);
                break;
            }
            printf("%s/%s %s\n", skiff_kind_qualified(k),
                   json_string_value(json_object_get(json_object_get(stored, "metadata"), "name")),
                   meta.apply_result[0] ? meta.apply_result
                   : meta.status == 201 ? "created" : "configured");
            json_decref(stored);
        }
    }
out:
    free(feat_order);
    for (size_t f = 0; f < fl.n; f++) {
        skiff_yaml_free(docs[f]);
        free(fl.paths[f]);
    }
    return rc;
}
