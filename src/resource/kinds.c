/* The kinds table (DESIGN.md, "One model: resources") and name lookup.
 *
 * Adding a kind: a row here (kind, group, versions, plural, short names,
 * upstream?, known spec fields, validator), the validator in the family's
 * kinds_<family>.c, declared in resource_int.h, and a good and a bad object
 * in tests/unit/test_resource.c.
 *
 * The known spec fields of upstream kinds are the `spec.properties` of their
 * CRD schemas (../shared/schemas/, commits in its README): an unknown field
 * is warned about, never rejected, so a newer upstream field does no harm.
 * CronWorkflow's CRD is not among them; its list follows
 * specs/argo-workflows.md 1.2. Skiff's own kinds list the fields skiff reads.
 */
#include "resource_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* WorkflowSpec: argoproj.io_workflows.yaml, spec.properties */
static const char *const workflow_fields[] = {
    "activeDeadlineSeconds", "affinity", "archiveLogs", "arguments", "artifactGC",
    "artifactRepositoryRef", "automountServiceAccountToken", "dnsConfig", "dnsPolicy",
    "entrypoint", "executor", "executorPlugins", "hooks", "hostAliases", "hostNetwork",
    "imagePullSecrets", "metrics", "nodeSelector", "onExit", "parallelism",
    "podDisruptionBudget", "podGC", "podMetadata", "podPriorityClassName", "podResources",
    "podSpecPatch", "priority", "resourceClaims", "retryStrategy", "schedulerName",
    "securityContext", "serviceAccountName", "shutdown", "suspend", "synchronization",
    "templateDefaults", "templates", "tolerations", "ttlStrategy", "volumeClaimGC",
    "volumeClaimTemplates", "volumes", "workflowMetadata", "workflowTemplateRef", NULL,
};

/* CronWorkflowSpec: specs/argo-workflows.md 1.2 (schedule: before v4.0) */
static const char *const cron_workflow_fields[] = {
    "schedules", "schedule", "timezone", "concurrencyPolicy", "startingDeadlineSeconds",
    "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "suspend", "workflowSpec",
    "workflowMetadata", "stopStrategy", "when", NULL,
};

/* ApplicationSpec: application-crd.yaml, spec.properties */
static const char *const application_fields[] = {
    "destination", "ignoreDifferences", "info", "project", "revisionHistoryLimit", "source",
    "sourceHydrator", "sources", "syncPolicy", NULL,
};

/* InferenceServiceSpec: serving.kserve.io_inferenceservices.yaml, spec.properties */
static const char *const inference_service_fields[] = {
    "canary", "explainer", "predictor", "transformer", NULL,
};

/* ServingRuntimeSpec: serving.kserve.io_servingruntimes.yaml, spec.properties */
static const char *const serving_runtime_fields[] = {
    "affinity", "annotations", "builtInAdapter", "containers", "disabled", "grpcDataEndpoint",
    "grpcEndpoint", "hostIPC", "httpDataEndpoint", "imagePullSecrets", "labels", "multiModel",
    "nodeSelector", "protocolVersions", "replicas", "resourceClaims", "schedulerName",
    "storageHelper", "supportedModelFormats", "tolerations", "volumes", "workerSpec", NULL,
};

/* ScaledJobSpec: keda.sh_scaledjobs.yaml, spec.properties */
static const char *const scaled_job_fields[] = {
    "envSourceContainerName", "failedJobsHistoryLimit", "jobTargetRef", "maxReplicaCount",
    "minReplicaCount", "pollingInterval", "rollout", "rolloutStrategy", "scalingStrategy",
    "successfulJobsHistoryLimit", "triggers", NULL,
};

/* skiff.dev/v1: the fields the feature store, drift monitor and identity read
 * (kinds_skiff.c says what each means) */
static const char *const entity_fields[] = {
    "joinKeys", "valueType", "description", "tags", "owner", NULL,
};
static const char *const data_source_fields[] = {
    "file", "postgres", "push", "request", "timestampField", "createdTimestampColumn",
    "fieldMapping", "description", "tags", "owner", NULL,
};
static const char *const feature_view_fields[] = {
    "entities", "source", "fields", "aggregations", "derived", "ttl", "online", "offline",
    "description", "tags", "owner", NULL,
};
static const char *const feature_service_fields[] = {
    "features", "description", "tags", "owner", NULL,
};
static const char *const drift_monitor_fields[] = {
    "featureView", "featureService", "columns", "reference", "current", "schedule", "stattest",
    "stattestThreshold", "perColumn", "driftShare", "alert", "retrain", "description", NULL,
};
static const char *const service_account_fields[] = {
    "roles", "description", NULL,
};
static const char *const role_fields[] = {
    "scopes", "description", NULL,
};

static const struct skiff_kind kinds[] = {
    {"Workflow", "argoproj.io", "v1alpha1", "workflows", "wf", true, workflow_fields,
     resource__validate_workflow, SKIFF_NAMES_DNS1123},
    {"WorkflowTemplate", "argoproj.io", "v1alpha1", "workflowtemplates", "wftmpl", true,
     workflow_fields, resource__validate_workflow_template, SKIFF_NAMES_DNS1123},
    {"CronWorkflow", "argoproj.io", "v1alpha1", "cronworkflows", "cwf,cronwf", true,
     cron_workflow_fields, resource__validate_cron_workflow, SKIFF_NAMES_DNS1123},
    {"Application", "argoproj.io", "v1alpha1", "applications", "app,apps", true,
     application_fields, resource__validate_application, SKIFF_NAMES_DNS1123},
    {"InferenceService", "serving.kserve.io", "v1beta1", "inferenceservices", "isvc", true,
     inference_service_fields, resource__validate_inference_service, SKIFF_NAMES_DNS1123},
    {"ServingRuntime", "serving.kserve.io", "v1alpha1", "servingruntimes", "", true,
     serving_runtime_fields, resource__validate_serving_runtime, SKIFF_NAMES_DNS1123},
    {"ScaledJob", "keda.sh", "v1alpha1", "scaledjobs", "sj", true, scaled_job_fields,
     resource__validate_scaled_job, SKIFF_NAMES_DNS1123},
    {"Entity", "skiff.dev", "v1", "entities", "ent", false, entity_fields,
     resource__validate_entity, SKIFF_NAMES_FEAST},
    {"DataSource", "skiff.dev", "v1", "datasources", "ds", false, data_source_fields,
     resource__validate_data_source, SKIFF_NAMES_FEAST},
    {"FeatureView", "skiff.dev", "v1", "featureviews", "fv", false, feature_view_fields,
     resource__validate_feature_view, SKIFF_NAMES_FEAST},
    {"FeatureService", "skiff.dev", "v1", "featureservices", "fs", false,
     feature_service_fields, resource__validate_feature_service, SKIFF_NAMES_FEAST},
    {"DriftMonitor", "skiff.dev", "v1", "driftmonitors", "dm", false, drift_monitor_fields,
     resource__validate_drift_monitor, SKIFF_NAMES_DNS1123},
    {"ServiceAccount", "skiff.dev", "v1", "serviceaccounts", "sa", false,
     service_account_fields, resource__validate_service_account, SKIFF_NAMES_DNS1123},
    {"Role", "skiff.dev", "v1", "roles", "", false, role_fields, resource__validate_role, SKIFF_NAMES_DNS1123},
};

#define NKINDS (sizeof kinds / sizeof *kinds)

const struct skiff_kind *skiff_kinds(size_t *n)
{
    if (n)
        *n = NKINDS;
    return kinds;
}

/* Is `name` (n bytes) one of the comma-separated words of `list`? */
static bool in_csv(const char *list, const char *name, size_t n, bool any_case)
{
    while (list && *list) {
        size_t len = strcspn(list, ",");
        if (len == n && n > 0 &&
            (any_case ? strncasecmp(list, name, n) : strncmp(list, name, n)) == 0)
            return true;
        list += len + (list[len] == ',');
    }
    return false;
}

static bool names_kind(const struct skiff_kind *k, const char *name, size_t n)
{
    return (strlen(k->kind) == n && strncasecmp(k->kind, name, n) == 0) ||
           (strlen(k->plural) == n && strncasecmp(k->plural, name, n) == 0) ||
           in_csv(k->shorts, name, n, true);
}

/* "wf", "Workflow", "workflows", and as kubectl also takes them,
 * "workflows.argoproj.io" or "wf.argoproj.io". */
const struct skiff_kind *skiff_kind_lookup(const char *name)
{
    const char *dot;
    if (!name || !*name)
        return NULL;
    for (size_t i = 0; i < NKINDS; i++)
        if (names_kind(&kinds[i], name, strlen(name)))
            return &kinds[i];
    if ((dot = strchr(name, '.')))
        for (size_t i = 0; i < NKINDS; i++)
            if (strcasecmp(dot + 1, kinds[i].group) == 0 &&
                names_kind(&kinds[i], name, (size_t)(dot - name)))
                return &kinds[i];
    return NULL;
}

/* "argoproj.io/v1alpha1" (or "a" or "b" when a kind serves several). */
static void accepted(const struct skiff_kind *k, char *buf, size_t cap)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    const char *v = k->versions;
    skiff_buf_init(&b, cap - 1);
    while (*v) {
        size_t len = strcspn(v, ",");
        skiff_buf_appendf(&b, "%s\"%s/%.*s\"", b.len ? " or " : "", k->group, (int)len, v);
        v += len + (v[len] == ',');
    }
    skiff_strlcpy(buf, b.ptr, cap);
    skiff_buf_release(&b);
}

int skiff_kind_for(const char *api_version, const char *kind, const struct skiff_kind **out,
                   struct skiff_err *err)
{
    const struct skiff_kind *k = NULL;
    const char *slash;
    char list[256];

    if (out)
        *out = NULL;
    if (!kind || !*kind)
        return skiff_err_set(err, SKIFF_EINVAL, "kind is required");
    for (size_t i = 0; i < NKINDS && !k; i++)
        if (strcmp(kinds[i].kind, kind) == 0)
            k = &kinds[i];
    if (!k) {
        const struct skiff_kind *near = skiff_kind_lookup(kind);
        if (near)
            return skiff_err_set(err, SKIFF_EINVAL, "unknown kind \"%s\" (did you mean \"%s\"?)",
                                 kind, near->kind);
        struct skiff_buf b = SKIFF_BUF_INIT;
        for (size_t i = 0; i < NKINDS; i++)
            skiff_buf_appendf(&b, "%s%s", i ? ", " : "", kinds[i].kind);
        skiff_err_set(err, SKIFF_EINVAL, "unknown kind \"%s\"; known kinds: %s", kind, b.ptr);
        skiff_buf_release(&b);
        return SKIFF_EINVAL;
    }
    accepted(k, list, sizeof list);
    if (!api_version || !*api_version)
        return skiff_err_set(err, SKIFF_EINVAL, "apiVersion is required: kind %s takes %s",
                             k->kind, list);
    slash = strchr(api_version, '/');
    if (!slash || (size_t)(slash - api_version) != strlen(k->group) ||
        strncmp(api_version, k->group, strlen(k->group)) != 0 ||
        !in_csv(k->versions, slash + 1, strlen(slash + 1), false))
        return skiff_err_set(err, SKIFF_EINVAL, "apiVersion \"%s\" does not serve kind %s: "
                             "use %s", api_version, k->kind, list);
    if (out)
        *out = k;
    return 0;
}
