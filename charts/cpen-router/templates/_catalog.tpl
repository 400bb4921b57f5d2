{{- /*
cpen-router.catalog: the text of the catalog the chart ships in its ConfigMap: catalog.inline as
YAML, or files/catalog.yaml (the sidecar's default catalog, comments kept) when inline is empty.
Empty with catalog.existingConfigMap, whose content the chart cannot see.
*/ -}}
{{- define "cpen-router.catalog" -}}
{{- if .Values.catalog.existingConfigMap -}}
{{- else if .Values.catalog.inline -}}
{{- toYaml .Values.catalog.inline -}}
{{- else -}}
{{- .Files.Get "files/catalog.yaml" -}}
{{- end -}}
{{- end -}}

{{- /*
cpen-router.catalogProviders: the providers of the catalog in use, as JSON {"providers": [...]}: the
catalog's own, or catalog.providers when the catalog sits in an existing ConfigMap.
*/ -}}
{{- define "cpen-router.catalogProviders" -}}
{{- $list := list -}}
{{- if .Values.catalog.existingConfigMap -}}
{{- $list = .Values.catalog.providers | default list -}}
{{- else -}}
{{- $catalog := include "cpen-router.catalog" . | fromYaml -}}
{{- if hasKey $catalog "Error" -}}
{{- fail (printf "catalog: not YAML: %s" $catalog.Error) -}}
{{- end -}}
{{- $list = $catalog.providers | default list -}}
{{- end -}}
{{- dict "providers" $list | toJson -}}
{{- end -}}

{{- /*
cpen-router.providerClusters: one entry per Envoy cluster the catalog's providers name, in catalog
order, as JSON {"clusters": [{"name", "host", "port"}]}. The authority is "host" (port 443) or
"host:port". Providers sharing a cluster must agree on its authority.
*/ -}}
{{- define "cpen-router.providerClusters" -}}
{{- $providers := (include "cpen-router.catalogProviders" . | fromJson).providers -}}
{{- $out := list -}}
{{- $seen := dict -}}
{{- range $i, $p := $providers -}}
{{- $cluster := $p.cluster | default "" | toString -}}
{{- $authority := $p.authority | default "" | toString -}}
{{- if not $cluster -}}
{{- fail (printf "catalog: provider %d (%v) has no cluster" $i ($p.name | default "unnamed")) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?$" $authority) -}}
{{- fail (printf "catalog: provider cluster %q has authority %q; Envoy needs a DNS name, optionally with :port" $cluster $authority) -}}
{{- end -}}
{{- if hasKey $seen $cluster -}}
{{- if ne (index $seen $cluster) $authority -}}
{{- fail (printf "catalog: cluster %q has two authorities, %q and %q" $cluster (index $seen $cluster) $authority) -}}
{{- end -}}
{{- else -}}
{{- $_ := set $seen $cluster $authority -}}
{{- $parts := splitList ":" $authority -}}
{{- $port := 443 -}}
{{- if eq (len $parts) 2 -}}
{{- $port = index $parts 1 | atoi -}}
{{- end -}}
{{- if or (lt $port 1) (gt $port 65535) -}}
{{- fail (printf "catalog: provider cluster %q has port %d in its authority" $cluster $port) -}}
{{- end -}}
{{- $out = append $out (dict "name" $cluster "host" (index $parts 0) "port" $port) -}}
{{- end -}}
{{- end -}}
{{- dict "clusters" $out | toJson -}}
{{- end -}}

{{- /*
cpen-router.keyEnvs: the env variables the catalog's providers read their keys from (api_key_env),
each once, in catalog order, as JSON {"names": [...]}.
*/ -}}
{{- define "cpen-router.keyEnvs" -}}
{{- $providers := (include "cpen-router.catalogProviders" . | fromJson).providers -}}
{{- $names := list -}}
{{- range $providers -}}
{{- $env := .api_key_env | default "" | toString -}}
{{- if and $env (not (has $env $names)) -}}
{{- if not (regexMatch "^[A-Za-z_][A-Za-z0-9_]*$" $env) -}}
{{- fail (printf "catalog: provider %v has api_key_env %q, not an environment variable name" .name $env) -}}
{{- end -}}
{{- $names = append $names $env -}}
{{- end -}}
{{- end -}}
{{- dict "names" $names | toJson -}}
{{- end -}}
