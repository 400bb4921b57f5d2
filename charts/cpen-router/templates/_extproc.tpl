{{- /*
cpen-router.extprocContainer: the cpen-extproc container of both modes. In mode gateway it is a
native sidecar of Envoy (an init container with restartPolicy Always): it starts, and its socket
exists, before Envoy starts, and it is stopped only after Envoy has drained and exited. Its ext_proc
listener is then a Unix socket on the pod's shared emptyDir; in mode extproc it is a TCP port.
*/ -}}
{{- define "cpen-router.catalogDir" -}}/etc/cpen/catalog{{- end -}}

{{- define "cpen-router.catalogKey" -}}
{{- if .Values.catalog.existingConfigMap -}}
{{- .Values.catalog.existingConfigMapKey | default "catalog.yaml" -}}
{{- else -}}
catalog.yaml
{{- end -}}
{{- end -}}

{{- define "cpen-router.extprocContainer" -}}
{{- $gateway := eq .Values.mode "gateway" -}}
{{- $redis := include "cpen-router.redisAddress" . -}}
{{- $secret := include "cpen-router.providerKeysSecret" . -}}
{{- $keyEnvs := (include "cpen-router.keyEnvs" . | fromJson).names -}}
name: cpen-extproc
image: {{ include "cpen-router.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- if $gateway }}
# A native sidecar: started before Envoy, stopped after it.
restartPolicy: Always
{{- end }}
args:
  - --catalog={{ include "cpen-router.catalogDir" . }}/{{ include "cpen-router.catalogKey" . }}
  {{- if $gateway }}
  - --grpc-addr=unix:{{ include "cpen-router.socketPath" . }}
  {{- else }}
  - --grpc-addr=:{{ .Values.extproc.grpcPort }}
  {{- end }}
  # Not 127.0.0.1: the kubelet's probes and Prometheus reach it on the pod's address. It serves
  # /healthz, /readyz and /metrics only (/debug/pprof needs --pprof).
  - --admin-addr=:{{ .Values.extproc.adminPort }}
  - --log-level={{ .Values.extproc.logLevel | default "info" }}
  - --drain-delay={{ .Values.extproc.drainDelay }}
  - --drain-timeout={{ .Values.extproc.drainTimeout }}
  {{- with $redis }}
  - --redis-addr={{ . }}
  {{- end }}
  {{- range .Values.extproc.extraArgs }}
  - {{ . | quote }}
  {{- end }}
{{- $env := list -}}
{{- if $secret -}}
{{- range $keyEnvs -}}
{{- $env = append $env (dict "name" . "valueFrom" (dict "secretKeyRef" (dict "name" $secret "key" . "optional" $.Values.providerKeys.optional))) -}}
{{- end -}}
{{- end -}}
{{- if .Values.redis.passwordSecret.name -}}
{{- $env = append $env (dict "name" "CPEN_REDIS_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" .Values.redis.passwordSecret.name "key" .Values.redis.passwordSecret.key))) -}}
{{- end -}}
{{- if .Values.redis.tls -}}
{{- $env = append $env (dict "name" "CPEN_REDIS_TLS" "value" "true") -}}
{{- end -}}
{{- $env = concat $env (.Values.extproc.extraEnv | default list) -}}
{{- with $env }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
ports:
  {{- if not $gateway }}
  - name: grpc
    containerPort: {{ .Values.extproc.grpcPort }}
    protocol: TCP
  {{- end }}
  - name: admin
    containerPort: {{ .Values.extproc.adminPort }}
    protocol: TCP
# /healthz answers once both listeners are bound; in mode gateway Envoy starts only then.
startupProbe:
  httpGet:
    path: /healthz
    port: admin
  periodSeconds: 1
  failureThreshold: 30
readinessProbe:
  {{- if $gateway }}
  # The ext_proc listener is a Unix socket, out of the kubelet's reach; /readyz reports the same
  # state as the gRPC health service (a catalog loaded, not draining).
  httpGet:
    path: /readyz
    port: admin
  {{- else }}
  # The standard grpc.health.v1 service on the ext_proc port: NOT_SERVING from SIGTERM on.
  grpc:
    port: {{ .Values.extproc.grpcPort }}
  {{- end }}
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  httpGet:
    path: /healthz
    port: admin
  periodSeconds: 10
  failureThreshold: 3
{{- with .Values.extproc.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  # The whole ConfigMap, not a subPath: the kubelet then swaps new versions in atomically and the
  # sidecar reloads them (a subPath mount never changes).
  - name: catalog
    mountPath: {{ include "cpen-router.catalogDir" . }}
    readOnly: true
  {{- if $gateway }}
  - name: socket
    mountPath: {{ include "cpen-router.socketDir" . }}
  {{- end }}
  {{- with .Values.extproc.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
