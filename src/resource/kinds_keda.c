/* KEDA kind: ScaledJob (keda.sh/v1alpha1).
 *
 * The CRD requires jobTargetRef (a batch/v1 JobSpec, whose pod template is
 * required) and triggers, each with a type and its metadata
 * (specs/keda-scaledjob.md 1). Trigger metadata is scaler-specific and is
 * checked by the scaler that reads it.
 */
#include "resource_int.h"

#include "skiff/err.h"

#include <stdint.h>
#include <stdio.h>

int resource__validate_scaled_job(const json_t *obj, struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *spec = json_object_get(obj, "spec"), *ref, *triggers, *t;
    size_t i;
    int rc;

    if ((rc = resource__field(v, spec, "/spec", "jobTargetRef", RT_OBJECT, RF_REQUIRED, &ref)) ||
        (rc = resource__field(v, ref, "/spec/jobTargetRef", "template", RT_OBJECT, RF_REQUIRED,
                              NULL)) ||
        (rc = resource__field(v, spec, "/spec", "triggers", RT_ARRAY, RF_REQUIRED | RF_NONEMPTY,
                              &triggers)))
        return rc;
    json_array_foreach(triggers, i, t) {
        resource__ptr_idx(p, "/spec/triggers", i);
        if (!json_is_object(t))
            return skiff_validation_fail(v, p, SKIFF_EINVAL, "a trigger must be an object");
        if ((rc = resource__field(v, t, p, "type", RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL)) ||
            (rc = resource__field(v, t, p, "name", RT_STRING, 0, NULL)) ||
            (rc = resource__string_map(v, t, p, "metadata")) ||
            (rc = resource__field(v, t, p, "metadata", RT_OBJECT, RF_REQUIRED, NULL)))
            return rc;
    }
    if ((rc = resource__int_range(v, spec, "/spec", "minReplicaCount", 0, INT32_MAX)) ||
        (rc = resource__int_range(v, spec, "/spec", "maxReplicaCount", 0, INT32_MAX)) ||
        (rc = resource__int_range(v, spec, "/spec", "pollingInterval", 1, INT32_MAX)) ||
        (rc = resource__int_range(v, spec, "/spec", "successfulJobsHistoryLimit", 0, INT32_MAX)) ||
        (rc = resource__int_range(v, spec, "/spec", "failedJobsHistoryLimit", 0, INT32_MAX)))
        return rc;
    return 0;
}
