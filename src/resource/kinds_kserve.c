/* KServe kinds: InferenceService (serving.kserve.io/v1beta1) and
 * ServingRuntime (serving.kserve.io/v1alpha1).
 *
 * The checks are those of KServe's admission webhook and CRD that a file
 * can fail (specs/kserve.md 1.1-1.4, 2): the DNS-1035 name, a predictor with
 * exactly one implementation (model, a legacy framework key, or custom
 * containers), the replica and canary ranges with upstream's messages, and a
 * runtime's containers. Which runtime serves a model is decided when the
 * service is reconciled, not here.
 */
#include "resource_int.h"

#include "skiff/err.h"

#include <stdio.h>
#include <string.h>

/* Legacy per-framework predictor keys (specs/kserve.md 1.2). */
static const char *const frameworks[] = {
    "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx",
    "huggingface", "pmml", "lightgbm", "paddle", NULL,
};

static const char *const scale_metrics[] = {"cpu", "memory", "concurrency", "rps", NULL};

/* The component extension fields of predictor, transformer and explainer. */
static int check_component(const json_t *c, const char *ptr, struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *min, *max, *cc;
    int rc;

    if ((rc = resource__field(v, c, ptr, "minReplicas", RT_INT, 0, &min)) ||
        (rc = resource__field(v, c, ptr, "maxReplicas", RT_INT, 0, &max)) ||
        (rc = resource__field(v, c, ptr, "containerConcurrency", RT_INT, 0, &cc)) ||
        (rc = resource__field(v, c, ptr, "scaleTarget", RT_INT, 0, NULL)) ||
        (rc = resource__enum(v, c, ptr, "scaleMetric", scale_metrics)) ||
        (rc = resource__int_range(v, c, ptr, "canaryTrafficPercent", 0, 100)))
        return rc;
    if (min && json_integer_value(min) < 0)
        return skiff_validation_fail(v, resource__ptr(p, ptr, "minReplicas"), SKIFF_EINVAL,
                                     "'MinReplicas' cannot be less than 0");
    if (max && json_integer_value(max) < 0)
        return skiff_validation_fail(v, resource__ptr(p, ptr, "maxReplicas"), SKIFF_EINVAL,
                                     "'MaxReplicas' cannot be less than 0");
    if (min && max && json_integer_value(max) != 0 &&
        json_integer_value(min) > json_integer_value(max))
        return skiff_validation_fail(v, resource__ptr(p, ptr, "minReplicas"), SKIFF_EINVAL,
                                     "'MinReplicas' cannot be greater than MaxReplicas");
    if (cc && json_integer_value(cc) < 0)
        return skiff_validation_fail(v, resource__ptr(p, ptr, "containerConcurrency"),
                                     SKIFF_EINVAL, "parallelism cannot be less than 0");
    return 0;
}

/* containers: a non-empty list of objects with a name. */
static int check_containers(const json_t *parent, const char *ptr, unsigned flags,
                            struct skiff_validation *v)
{
    char cp[RESOURCE__PTR_MAX], p[RESOURCE__PTR_MAX];
    const json_t *cs, *c;
    size_t i;
    int rc;

    if ((rc = resource__field(v, parent, ptr, "containers", RT_ARRAY, flags, &cs)) || !cs)
        return rc;
    resource__ptr(cp, ptr, "containers");
    json_array_foreach(cs, i, c) {
        resource__ptr_idx(p, cp, i);
        if (!json_is_object(c))
            return skiff_validation_fail(v, p, SKIFF_EINVAL, "a container must be an object");
        if ((rc = resource__field(v, c, p, "name", RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL)) ||
            (rc = resource__field(v, c, p, "image", RT_STRING, 0, NULL)))
            return rc;
    }
    return 0;
}

static int check_predictor(const json_t *pred, struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *model, *fmt, *containers;
    const char *impl = NULL;
    int rc;

    if ((rc = check_component(pred, "/spec/predictor", v)) ||
        (rc = resource__field(v, pred, "/spec/predictor", "model", RT_OBJECT, 0, &model)) ||
        (rc = check_containers(pred, "/spec/predictor", 0, v)))
        return rc;
    /* "exactly one of [model, sklearn, xgboost, ...]" as the webhook says */
    if (model)
        impl = "model";
    for (size_t i = 0; frameworks[i]; i++) {
        if (!json_object_get(pred, frameworks[i]))
            continue;
        if (impl)
            return skiff_validation_fail(v, resource__ptr(p, "/spec/predictor", frameworks[i]),
                                         SKIFF_EINVAL,
                                         "exactly one predictor implementation is allowed, "
                                         "found %s and %s", impl, frameworks[i]);
        impl = frameworks[i];
        if ((rc = resource__field(v, pred, "/spec/predictor", frameworks[i], RT_OBJECT, 0, NULL)))
            return rc;
    }
    containers = json_object_get(pred, "containers");
    if (!impl && json_array_size(containers) == 0)
        return skiff_validation_fail(v, "/spec/predictor/model", SKIFF_EINVAL,
                                     "missing required field (a predictor needs a model, "
                                     "custom containers, or a framework key such as sklearn)");
    if (!model)
        return 0;
    if ((rc = resource__field(v, model, "/spec/predictor/model", "modelFormat", RT_OBJECT,
                              RF_REQUIRED, &fmt)) ||
        (rc = resource__field(v, fmt, "/spec/predictor/model/modelFormat", "name", RT_STRING,
                              RF_REQUIRED | RF_NONEMPTY, NULL)) ||
        (rc = resource__field(v, fmt, "/spec/predictor/model/modelFormat", "version", RT_STRING,
                              0, NULL)) ||
        (rc = resource__field(v, model, "/spec/predictor/model", "storageUri", RT_STRING,
                              RF_NONEMPTY, NULL)) ||
        (rc = resource__field(v, model, "/spec/predictor/model", "runtime", RT_STRING,
                              RF_NONEMPTY, NULL)))
        return rc;
    return 0;
}

int resource__validate_inference_service(const json_t *obj, struct skiff_validation *v)
{
    const json_t *spec = json_object_get(obj, "spec"), *pred, *comp;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    int rc;

    /* the name becomes a host name: a DNS-1035 label */
    if (name && !resource__dns1035_label(name))
        return skiff_validation_fail(v, "/metadata/name", SKIFF_EINVAL,
                                     "a InferenceService name must consist of lower case "
                                     "alphanumeric characters or '-', and must start with "
                                     "alphabetical character (\"%s\")", name);
    if ((rc = resource__field(v, spec, "/spec", "predictor", RT_OBJECT, RF_REQUIRED, &pred)) ||
        (rc = check_predictor(pred, v)))
        return rc;
    if ((rc = resource__field(v, spec, "/spec", "transformer", RT_OBJECT, 0, &comp)))
        return rc;
    if (comp && ((rc = check_component(comp, "/spec/transformer", v)) ||
                 (rc = check_containers(comp, "/spec/transformer", RF_REQUIRED | RF_NONEMPTY, v))))
        return rc;
    if ((rc = resource__field(v, spec, "/spec", "explainer", RT_OBJECT, 0, &comp)))
        return rc;
    if (comp && (rc = check_component(comp, "/spec/explainer", v)))
        return rc;
    return 0;
}

int resource__validate_serving_runtime(const json_t *obj, struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *spec = json_object_get(obj, "spec"), *formats, *f;
    size_t i;
    int rc;

    if ((rc = check_containers(spec, "/spec", RF_REQUIRED | RF_NONEMPTY, v)) ||
        (rc = resource__field(v, spec, "/spec", "supportedModelFormats", RT_ARRAY, 0, &formats)) ||
        (rc = resource__string_list(v, spec, "/spec", "protocolVersions", 0)))
        return rc;
    /* KServe takes a runtime without formats, but no model can then select
     * it: worth a warning, not a rejection */
    if (!formats || json_array_size(formats) == 0) {
        skiff_validation_warn(v, "/spec/supportedModelFormats",
                              "no supportedModelFormats: no InferenceService can use this runtime");
        return 0;
    }
    json_array_foreach(formats, i, f) {
        resource__ptr_idx(p, "/spec/supportedModelFormats", i);
        if (!json_is_object(f))
            return skiff_validation_fail(v, p, SKIFF_EINVAL, "a model format must be an object");
        if ((rc = resource__field(v, f, p, "name", RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL)) ||
            (rc = resource__field(v, f, p, "version", RT_STRING, 0, NULL)) ||
            (rc = resource__field(v, f, p, "autoSelect", RT_BOOL, 0, NULL)) ||
            (rc = resource__int_range(v, f, p, "priority", 1, 2147483647)))
            return rc;
    }
    return 0;
}
