{{- /*
The Envoy bootstrap of mode gateway. It is files/envoy.yaml, the project's bootstrap (kept identical
to envoy/envoy.yaml by the chart tests), with only what differs in a pod changed:
  - the admin address: 127.0.0.1 (0.0.0.0 with admin.expose) on envoy.adminPort;
  - the listener's port: envoy.port;
  - the connection manager's xff_num_trusted_hops: envoy.xffNumTrustedHops;
  - the ext_proc cluster's endpoint: the sidecar's Unix socket (a pipe address);
  - the clusters after it: one per provider cluster of the catalog, each a copy of the first TLS
    provider cluster of the file with its name, endpoint, SNI and certificate name replaced. The
    file's other clusters (the local mock provider) are dropped.
Everything else (connection manager, ext_proc processing mode, route, timeouts, circuit breakers,
HTTP/2 settings of the ext_proc cluster) is the file's.
*/ -}}

{{- define "cpen-router.socketDir" -}}/run/cpen{{- end -}}
{{- define "cpen-router.socketPath" -}}{{ include "cpen-router.socketDir" . }}/extproc.sock{{- end -}}

{{- define "cpen-router.envoyBootstrap" -}}
{{- $bs := .Files.Get "files/envoy.yaml" | fromYaml -}}
{{- if or (hasKey $bs "Error") (not $bs.static_resources) -}}
{{- fail "files/envoy.yaml: not an Envoy bootstrap" -}}
{{- end -}}
{{- $adminHost := ternary "0.0.0.0" "127.0.0.1" (.Values.admin.expose | default false) -}}
{{- $_ := set $bs "admin" (dict "address" (dict "socket_address" (dict "address" $adminHost "port_value" (int .Values.envoy.adminPort)))) -}}
{{- $sr := $bs.static_resources -}}
{{- if ne (len $sr.listeners) 1 -}}
{{- fail (printf "files/envoy.yaml: %d listeners, the chart expects 1" (len $sr.listeners)) -}}
{{- end -}}
{{- $listener := index $sr.listeners 0 -}}
{{- $_ := set $listener.address.socket_address "port_value" (int .Values.envoy.port) -}}
{{- $hcm := dict -}}
{{- range $listener.filter_chains -}}
{{- range .filters -}}
{{- if eq .name "envoy.filters.network.http_connection_manager" -}}
{{- $hcm = .typed_config -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $hcm -}}
{{- fail "files/envoy.yaml: the listener has no http_connection_manager" -}}
{{- end -}}
{{- $_ := set $hcm "xff_num_trusted_hops" (int .Values.envoy.xffNumTrustedHops) -}}
{{- $extProcName := "" -}}
{{- range $hcm.http_filters -}}
{{- if eq .name "envoy.filters.http.ext_proc" -}}
{{- $extProcName = .typed_config.grpc_service.envoy_grpc.cluster_name -}}
{{- end -}}
{{- end -}}
{{- if not $extProcName -}}
{{- fail "files/envoy.yaml: no ext_proc filter with an envoy_grpc cluster" -}}
{{- end -}}
{{- $extProc := dict -}}
{{- $tlsTemplate := dict -}}
{{- range $sr.clusters -}}
{{- if eq .name $extProcName -}}
{{- $extProc = . -}}
{{- else if and (not $tlsTemplate) (eq (.type | toString) "LOGICAL_DNS") .transport_socket -}}
{{- $tlsTemplate = . -}}
{{- end -}}
{{- end -}}
{{- if not $extProc -}}
{{- fail (printf "files/envoy.yaml: no cluster %q for the ext_proc filter" $extProcName) -}}
{{- end -}}
{{- if not $tlsTemplate -}}
{{- fail "files/envoy.yaml: no LOGICAL_DNS TLS provider cluster to copy" -}}
{{- end -}}
{{- $pipe := dict "pipe" (dict "path" (include "cpen-router.socketPath" .)) -}}
{{- $_ := set $extProc "load_assignment" (dict "cluster_name" $extProcName "endpoints" (list (dict "lb_endpoints" (list (dict "endpoint" (dict "address" $pipe)))))) -}}
{{- $clusters := list $extProc -}}
{{- $providerClusters := (include "cpen-router.providerClusters" . | fromJson).clusters -}}
{{- if not $providerClusters -}}
{{- fail "catalog: no provider clusters, so Envoy could route nothing (with catalog.existingConfigMap, list them in catalog.providers)" -}}
{{- end -}}
{{- range $providerClusters -}}
{{- if eq .name $extProcName -}}
{{- fail (printf "catalog: provider cluster %q is the ext_proc cluster's name" .name) -}}
{{- end -}}
{{- $c := deepCopy $tlsTemplate -}}
{{- $_ := set $c "name" .name -}}
{{- $addr := dict "socket_address" (dict "address" .host "port_value" (int .port)) -}}
{{- $_ := set $c "load_assignment" (dict "cluster_name" .name "endpoints" (list (dict "lb_endpoints" (list (dict "endpoint" (dict "address" $addr)))))) -}}
{{- $tls := $c.transport_socket.typed_config -}}
{{- $_ := set $tls "sni" .host -}}
{{- $host := .host -}}
{{- range $tls.common_tls_context.validation_context.match_typed_subject_alt_names -}}
{{- $_ := set .matcher "exact" $host -}}
{{- end -}}
{{- $clusters = append $clusters $c -}}
{{- end -}}
{{- $_ := set $sr "clusters" $clusters -}}
{{- toYaml $bs -}}
{{- end -}}
