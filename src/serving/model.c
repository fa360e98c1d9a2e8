/* Model runtimes: the public face (include/skiff/serving.h, "model
 * runtimes"). Loading is the same for both runtimes up to the last step:
 * the JSON is read and checked by model_json.c whichever runtime will
 * evaluate it, so a hostile file is refused by our checks, with our
 * messages, before libxgboost sees it. A non-JSON model (MLflow's default
 * model.xgb, or .ubj) is converted to JSON by libxgboost first. */
#include "model_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "skiff/err.h"

/* Is the file JSON text, or one of XGBoost's other formats (legacy
 * binary, UBJSON)? JSON starts with '{' and then '"' or '}' (white space
 * aside); UBJSON starts with '{' too, but then a length marker; the legacy
 * format never starts with '{'. An empty file or a '[' is called JSON so
 * that the JSON parser explains what is wrong with it. */
static int is_json(const char *file, bool *json, struct skiff_err *err)
{
    FILE *fp = fopen(file, "rb");
    int ch;
    if (!fp)
        return skiff_err_sys(err, errno == ENOENT ? SKIFF_ENOTFOUND : SKIFF_EIO,
                             "cannot open model '%s'", file);
    while ((ch = fgetc(fp)) == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
        ;
    *json = ch == EOF || ch == '[';
    if (ch == '{') {
        while ((ch = fgetc(fp)) == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
            ;
        *json = ch == '"' || ch == '}' || ch == EOF;
    }
    fclose(fp);
    return 0;
}

static int read_spec(const char *file, struct model__spec *spec, struct skiff_err *err)
{
    struct stat st;
    json_error_t jerr;
    json_t *root;
    bool json = false;
    int rc;

    if (stat(file, &st) != 0)
        return skiff_err_sys(err, errno == ENOENT ? SKIFF_ENOTFOUND : SKIFF_EIO,
                             "cannot open model '%s'", file);
    if (!S_ISREG(st.st_mode))
        return skiff_err_at(err, SKIFF_EINVAL, file, 0, 0, "model '%s' is not a file", file);
    if ((size_t)st.st_size > MODEL__FILE_MAX)
        return skiff_err_at(err, SKIFF_ETOOBIG, file, 0, 0, "model '%s' is larger than %zu MiB",
                            file, MODEL__FILE_MAX >> 20);
    if ((rc = is_json(file, &json, err)))
        return rc;
    if (json) {
        root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    } else {
        char *text;
        if ((rc = xgb__to_json(file, &text, err)))
            return rc;
        root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        free(text);
    }
    if (!root)
        return skiff_err_at(err, SKIFF_EINVAL, file, jerr.line, jerr.column,
                            "model is not valid JSON: %s", jerr.text);
    rc = model__parse_json(root, file, spec, err);
    json_decref(root);
    return rc;
}

/* A model file without feature names (legacy binary) takes those of its
 * MLflow signature, when it has one name per feature. */
static int names_from_signature(struct skiff_model *m, const json_t *names, struct skiff_err *err)
{
    size_t n = m->spec.nfeatures;
    if (!(m->spec.feature_names = calloc(n, sizeof *m->spec.feature_names)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!(m->spec.feature_names[i] = strdup(json_string_value(json_array_get(names, i)))))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    return 0;
}

int skiff_model_load(const char *path, enum skiff_model_runtime rt, struct skiff_model **out,
                     struct skiff_err *err)
{
    struct skiff_model *m = NULL;
    json_t *names = NULL;
    char *file = NULL;
    int rc;

    *out = NULL;
    if (rt != SKIFF_MODEL_NATIVE && rt != SKIFF_MODEL_XGBOOST)
        return skiff_err_set(err, SKIFF_EINVAL, "unknown model runtime %d", (int)rt);
    if ((rc = model__resolve_path(path, &file, &names, err)))
        return rc;
    if (!(m = calloc(1, sizeof *m))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory loading '%s'", path);
        goto out;
    }
    m->rt = rt;
    if ((rc = read_spec(file, &m->spec, err)))
        goto out;
    m->noutputs = m->spec.transform == MODEL__SOFTMAX ? 1 : m->spec.ngroups;
    if (!m->spec.feature_names && json_array_size(names) == m->spec.nfeatures &&
        (rc = names_from_signature(m, names, err)))
        goto out;
    if (rt == SKIFF_MODEL_XGBOOST && (rc = xgb__open(file, &m->spec, &m->xgb, err)))
        goto out;
    *out = m;
    m = NULL;
out:
    skiff_model_free(m);
    json_decref(names);
    free(file);
    return rc;
}

void skiff_model_free(struct skiff_model *m)
{
    if (!m)
        return;
    xgb__close(m->xgb);
    model__spec_release(&m->spec);
    free(m);
}

size_t skiff_model_nfeatures(const struct skiff_model *m) { return m->spec.nfeatures; }

const char *skiff_model_feature_name(const struct skiff_model *m, size_t i)
{
    return m->spec.feature_names && i < m->spec.nfeatures ? m->spec.feature_names[i] : NULL;
}

size_t skiff_model_noutputs(const struct skiff_model *m) { return m->noutputs; }

int skiff_model_predict(const struct skiff_model *m, const float *x, size_t nrows, double *out,
                        struct skiff_err *err)
{
    if (nrows == 0)
        return 0;
    if (!x || !out)
        return skiff_err_set(err, SKIFF_EINVAL, "predict needs input rows and an output buffer");
    if (m->rt == SKIFF_MODEL_XGBOOST)
        return xgb__predict(m->xgb, x, nrows, m->spec.nfeatures, out, m->noutputs, err);
    tree__predict(&m->spec, x, nrows, out);
    return 0;
}
