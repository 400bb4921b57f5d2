{{- /* Names and labels shared by every object of the release. */ -}}

{{- define "cpen-router.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* The release's full name: the Deployment, its Service and the objects that belong to them. */ -}}
{{- define "cpen-router.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* A name derived from the full name: (dict "root" $ "suffix" "redis"). */ -}}
{{- define "cpen-router.childName" -}}
{{- $base := include "cpen-router.fullname" .root | trunc (int (sub 62 (len .suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $base .suffix -}}
{{- end -}}

{{- define "cpen-router.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* The labels every object carries. */ -}}
{{- define "cpen-router.labels" -}}
helm.sh/chart: {{ include "cpen-router.chart" . }}
app.kubernetes.io/name: {{ include "cpen-router.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cpen-router
{{- end -}}

{{- /* The router pods' selector: the same in both modes, so NetworkPolicies need not know the mode. */ -}}
{{- define "cpen-router.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cpen-router.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: router
{{- end -}}

{{- define "cpen-router.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cpen-router.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "cpen-router.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cpen-router.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cpen-router.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- /* Seconds of a "5s" duration; the schema admits only whole seconds. */ -}}
{{- define "cpen-router.seconds" -}}
{{- trimSuffix "s" (toString .) | atoi -}}
{{- end -}}

{{- /*
cpen-router.drainSeconds: how long a router pod takes to stop. In mode gateway Envoy drains first
(its preStop waits drainDelay + drainTimeout) and the sidecar, stopped after Envoy, then holds its
own drainDelay; in mode extproc only the sidecar's drain runs.
*/ -}}
{{- define "cpen-router.drainSeconds" -}}
{{- $delay := include "cpen-router.seconds" .Values.extproc.drainDelay | int -}}
{{- $timeout := include "cpen-router.seconds" .Values.extproc.drainTimeout | int -}}
{{- if eq .Values.mode "gateway" -}}
{{- add $delay $timeout $delay -}}
{{- else -}}
{{- add $delay $timeout -}}
{{- end -}}
{{- end -}}

{{- /*
cpen-router.gracePeriod: terminationGracePeriodSeconds, by default the drain plus 10 s of margin. A
value given must exceed the drain, or the kubelet would kill streams the drain still serves.
*/ -}}
{{- define "cpen-router.gracePeriod" -}}
{{- $drain := include "cpen-router.drainSeconds" . | int -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $drain 10 -}}
{{- else -}}
{{- $grace := .Values.terminationGracePeriodSeconds | int -}}
{{- if le $grace $drain -}}
{{- fail (printf "terminationGracePeriodSeconds: %d must exceed the %d s the drain takes (mode %s, drainDelay %s, drainTimeout %s)" $grace $drain .Values.mode .Values.extproc.drainDelay .Values.extproc.drainTimeout) -}}
{{- end -}}
{{- $grace -}}
{{- end -}}
{{- end -}}

{{- /* The Redis address the sidecar uses: the bundled one, the external one, or none. */ -}}
{{- define "cpen-router.redisAddress" -}}
{{- if .Values.redis.enabled -}}
{{- printf "%s:6379" (include "cpen-router.childName" (dict "root" . "suffix" "redis")) -}}
{{- else -}}
{{- .Values.redis.address -}}
{{- end -}}
{{- end -}}

{{- /* The provider-keys Secret, or nothing when the release has none. */ -}}
{{- define "cpen-router.providerKeysSecret" -}}
{{- if .Values.providerKeys.create -}}
{{- include "cpen-router.childName" (dict "root" . "suffix" "provider-keys") -}}
{{- else -}}
{{- .Values.providerKeys.existingSecret -}}
{{- end -}}
{{- end -}}

{{- /* topologySpreadConstraints, each given the pods' selector unless it names one. */ -}}
{{- define "cpen-router.topologySpread" -}}
{{- $selector := include "cpen-router.selectorLabels" . | fromYaml -}}
{{- $out := list -}}
{{- range .Values.topologySpreadConstraints -}}
{{- $c := deepCopy . -}}
{{- if not (hasKey $c "labelSelector") -}}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) -}}
{{- end -}}
{{- $out = append $out $c -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
