{{- /*
cpen-router.validate: the checks that span several values, which values.schema.json cannot state
clearly. Rendered once, by the Deployment; each failure names the values to change.
*/ -}}
{{- define "cpen-router.validate" -}}
{{- $v := .Values -}}
{{- if and $v.catalog.inline $v.catalog.existingConfigMap -}}
{{- fail "catalog: set catalog.inline or catalog.existingConfigMap, not both" -}}
{{- end -}}
{{- if and $v.catalog.providers (not $v.catalog.existingConfigMap) -}}
{{- fail "catalog.providers: only for catalog.existingConfigMap; otherwise the providers come from the catalog itself" -}}
{{- end -}}
{{- if and $v.catalog.existingConfigMap (not $v.catalog.providers) -}}
{{- if eq $v.mode "gateway" -}}
{{- fail "catalog.providers: list the providers ({name, cluster, authority, api_key_env}) of the catalog in catalog.existingConfigMap; the chart cannot read that ConfigMap, and Envoy needs a cluster per provider" -}}
{{- else if or $v.providerKeys.existingSecret $v.providerKeys.create -}}
{{- fail "catalog.providers: list the providers ({name, cluster, authority, api_key_env}) of the catalog in catalog.existingConfigMap; the chart cannot read that ConfigMap, and the pod needs a key variable per provider" -}}
{{- end -}}
{{- end -}}
{{- if and $v.providerKeys.create $v.providerKeys.existingSecret -}}
{{- fail "providerKeys: set providerKeys.existingSecret or providerKeys.create, not both" -}}
{{- end -}}
{{- if and $v.providerKeys.create (not $v.providerKeys.values) -}}
{{- fail "providerKeys.values: providerKeys.create needs the keys to put in the Secret (ENV_NAME: key)" -}}
{{- end -}}
{{- if and $v.providerKeys.values (not $v.providerKeys.create) -}}
{{- fail "providerKeys.values: set providerKeys.create: true to put these keys in a Secret, or move them to the Secret named by providerKeys.existingSecret" -}}
{{- end -}}
{{- if and (not $v.providerKeys.optional) (not $v.providerKeys.existingSecret) (not $v.providerKeys.create) -}}
{{- fail "providerKeys.optional: false requires the provider-keys Secret; name it in providerKeys.existingSecret" -}}
{{- end -}}
{{- if and $v.redis.enabled $v.redis.address -}}
{{- fail "redis: set redis.address (a Redis you run) or redis.enabled (one the chart runs), not both" -}}
{{- end -}}
{{- if and $v.redis.enabled $v.redis.passwordSecret.name -}}
{{- fail "redis.passwordSecret: the bundled Redis (redis.enabled) has no password; passwordSecret is for redis.address" -}}
{{- end -}}
{{- if and (not $v.redis.address) (or $v.redis.passwordSecret.name $v.redis.tls) -}}
{{- fail "redis.passwordSecret and redis.tls apply to redis.address, which is empty" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- fail (printf "autoscaling: minReplicas %d is above maxReplicas %d" (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled (eq $v.mode "extproc") (not $v.networkPolicy.envoySelector) -}}
{{- fail "networkPolicy.envoySelector: in mode extproc give the labels of the Envoy pods allowed to reach the gRPC port" -}}
{{- end -}}
{{- $ports := dict -}}
{{- $named := list (list "extproc.adminPort" $v.extproc.adminPort) -}}
{{- if eq $v.mode "gateway" -}}
{{- $named = concat $named (list (list "envoy.port" $v.envoy.port) (list "envoy.adminPort" $v.envoy.adminPort)) -}}
{{- else -}}
{{- $named = append $named (list "extproc.grpcPort" $v.extproc.grpcPort) -}}
{{- end -}}
{{- range $named -}}
{{- $key := index . 1 | int | toString -}}
{{- if hasKey $ports $key -}}
{{- fail (printf "%s and %s are both %s; the pod's containers share one network namespace" (index $ports $key) (index . 0) $key) -}}
{{- end -}}
{{- $_ := set $ports $key (index . 0) -}}
{{- end -}}
{{- $_ := include "cpen-router.gracePeriod" . -}}
{{- end -}}
