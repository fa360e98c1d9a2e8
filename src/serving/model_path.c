/* Which file a model path names: the file itself, or, for an MLflow model
 * folder, the file its MLmodel names under flavors.xgboost.data (MLflow's
 * xgboost flavor writes `data: model.xgb`). A folder without an MLmodel
 * is accepted when it holds one obvious model file. */
#include "model_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/yaml.h"

/* "dir/name". Caller frees; NULL when out of memory. */
static char *join(const char *dir, const char *name)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    if (skiff_buf_appendf(&b, "%s/%s", dir, name)) {
        skiff_buf_release(&b);
        return NULL;
    }
    return skiff_buf_detach(&b);
}

/* flavors.xgboost.data must stay inside the folder: relative, no "..". */
static bool inside(const char *rel)
{
    if (rel[0] == '\0' || rel[0] == '/')
        return false;
    for (const char *p = rel; (p = strstr(p, "..")); p += 2)
        if ((p == rel || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return false;
    return true;
}

/* signature.inputs is a JSON string: '[{"name": "amount", "type":
 * "double"}, ...]' for a column signature (a tensor signature has no
 * names). Any other shape is ignored: names are a convenience. Returns a
 * new JSON array of strings the caller decrefs, or NULL. */
static json_t *signature_names(const json_t *doc)
{
    const json_t *in = json_object_get(json_object_get(doc, "signature"), "inputs");
    json_t *cols = json_is_string(in) ? json_loads(json_string_value(in), 0, NULL) : NULL;
    json_t *names = json_is_array(cols) && json_array_size(cols) ? json_array() : NULL;
    for (size_t i = 0; names && i < json_array_size(cols); i++) {
        const json_t *n = json_object_get(json_array_get(cols, i), "name");
        if (!json_is_string(n) || json_array_append(names, (json_t *)n)) {
            json_decref(names);
            names = NULL;
        }
    }
    json_decref(cols);
    return names;
}

static int from_mlmodel(const char *dir, const char *mlmodel, char **file, json_t **names,
                        struct skiff_err *err)
{
    struct skiff_yaml_docs *docs = NULL;
    int rc = skiff_yaml_load_file(mlmodel, &docs, err);
    if (rc)
        return rc;
    json_t *doc = skiff_yaml_count(docs) ? skiff_yaml_doc(docs, 0) : NULL;
    json_t *data = json_object_get(json_object_get(json_object_get(doc, "flavors"), "xgboost"),
                                   "data");
    if (!json_is_string(data)) {
        rc = skiff_yaml_err(docs, 0, "/flavors/xgboost/data", err, SKIFF_EINVAL,
                            "an MLflow model of the xgboost flavor needs "
                            "flavors.xgboost.data (the model file)");
    } else if (!inside(json_string_value(data))) {
        rc = skiff_yaml_err(docs, 0, "/flavors/xgboost/data", err, SKIFF_EINVAL,
                            "flavors.xgboost.data '%s' is not a path inside the model folder",
                            json_string_value(data));
    } else if (!(*file = join(dir, json_string_value(data)))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    } else if (names) {
        *names = signature_names(doc);
    }
    skiff_yaml_free(docs);
    return rc;
}

/* No MLmodel: model.json, model.ubj or model.xgb, else the only *.json. */
static int guess(const char *dir, char **file, struct skiff_err *err)
{
    static const char *const names[] = {"model.json", "model.ubj", "model.xgb"};
    struct stat st;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = join(dir, names[i]);
        if (!p)
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            *file = p;
            return 0;
        }
        free(p);
    }
    DIR *d = opendir(dir);
    if (!d)
        return skiff_err_sys(err, SKIFF_EIO, "cannot read model folder '%s'", dir);
    char *found = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 && n++ == 0)
            found = join(dir, e->d_name);
    }
    closedir(d);
    if (n == 1 && found) {
        *file = found;
        return 0;
    }
    free(found);
    if (n == 1)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (n)
        return skiff_err_at(err, SKIFF_EINVAL, dir, 0, 0,
                            "model folder holds %d .json files and no MLmodel to say which "
                            "is the model", n);
    return skiff_err_at(err, SKIFF_ENOTFOUND, dir, 0, 0,
                        "model folder has no MLmodel and no model.json, model.ubj or model.xgb");
}

int model__resolve_path(const char *path, char **file, json_t **names, struct skiff_err *err)
{
    struct stat st;
    *file = NULL;
    if (names)
        *names = NULL;
    if (stat(path, &st) != 0)
        return skiff_err_sys(err, errno == ENOENT ? SKIFF_ENOTFOUND : SKIFF_EIO,
                             "cannot open model '%s'", path);
    if (!S_ISDIR(st.st_mode)) {
        if (!(*file = strdup(path)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        return 0;
    }
    char *mlmodel = join(path, "MLmodel");
    if (!mlmodel)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    int rc = stat(mlmodel, &st) == 0 ? from_mlmodel(path, mlmodel, file, names, err)
                                     : guess(path, file, err);
    free(mlmodel);
    return rc;
}
