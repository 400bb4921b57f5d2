package standin

import "time"

// ProjectClusterHeader is the route's cluster_header in envoy/envoy.yaml.
const ProjectClusterHeader = "x-cpen-upstream-cluster"

// ProjectConfig is envoy/envoy.yaml expressed as a Config: the ext_proc
// filter (SEND/BUFFERED/SEND/BUFFERED, allow_mode_override, message_timeout
// 10s, fail closed, request_attributes source.address), the route
// (cluster_header, timeout 0s, request_headers_to_remove), the connection
// manager (use_remote_address, no trusted hops, normalize_path,
// merge_slashes, no HTTP/1 trailers), the router's suppress_envoy_headers,
// the listener's 4 MiB buffer limit and the cpen_extproc cluster's HTTP/2
// settings (windows 1 MiB per stream and 4 MiB per connection,
// connection_keepalive 30s/5s), the ext_proc filter's receiving namespace
// cpen and the access log's json_format (ProjectAccessLogFormat); the access
// log itself is off until the caller sets AccessLog. Callers may adjust the
// result.
func ProjectConfig(extProcAddr string, clusters map[string]string) Config {
	return Config{
		ExtProcAddr:       extProcAddr,
		AllowModeOverride: true,
		MessageTimeout:    10 * time.Second,
		ClusterHeader:     ProjectClusterHeader,
		Clusters:          clusters,
		BufferLimitBytes:  4 << 20,
		UseRemoteAddress:  true,
		XFFNumTrustedHops: 0,
		RequestAttributes: []string{attrSourceAddress},
		NormalizePath:     true,
		MergeSlashes:      true,
		RequestHeadersToRemove: []string{
			ProjectClusterHeader, "x-forwarded-for", "x-envoy-external-address",
		},
		SuppressEnvoyHeaders:        true,
		KeepaliveInterval:           30 * time.Second,
		KeepaliveTimeout:            5 * time.Second,
		InitialStreamWindowSize:     1 << 20,
		InitialConnectionWindowSize: 4 << 20,
		ReceivingNamespaces:         []string{ProjectMetadataNamespace},
		AccessLogFormat:             ProjectAccessLogFormat(),
	}
}

// ProjectMetadataNamespace is the dynamic metadata namespace the sidecar
// writes and envoy/envoy.yaml's ext_proc filter receives.
const ProjectMetadataNamespace = "cpen"

// ProjectAccessLogFormat is the json_format of envoy/envoy.yaml's access
// log: the request line, outcome, sizes and timing, and one field per key of
// the sidecar's dynamic metadata. A new map on every call.
func ProjectAccessLogFormat() map[string]string {
	return map[string]string{
		"start_time":       "%START_TIME%",
		"method":           "%REQ(:METHOD)%",
		"path":             "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
		"response_code":    "%RESPONSE_CODE%",
		"response_flags":   "%RESPONSE_FLAGS%",
		"duration_ms":      "%DURATION%",
		"bytes_received":   "%BYTES_RECEIVED%",
		"bytes_sent":       "%BYTES_SENT%",
		"request_id":       "%REQ(X-REQUEST-ID)%",
		"upstream_cluster": "%UPSTREAM_CLUSTER%",

		"cpen_route_id":                   "%DYNAMIC_METADATA(cpen:route_id)%",
		"cpen_alias":                      "%DYNAMIC_METADATA(cpen:alias)%",
		"cpen_status":                     "%DYNAMIC_METADATA(cpen:status)%",
		"cpen_reason_code":                "%DYNAMIC_METADATA(cpen:reason_code)%",
		"cpen_error_code":                 "%DYNAMIC_METADATA(cpen:error_code)%",
		"cpen_estimated_total_usd_per_1m": "%DYNAMIC_METADATA(cpen:estimated_total_usd_per_1m)%",
		"cpen_input_tokens":               "%DYNAMIC_METADATA(cpen:input_tokens)%",
		"cpen_output_tokens":              "%DYNAMIC_METADATA(cpen:output_tokens)%",
		"cpen_cost_usd":                   "%DYNAMIC_METADATA(cpen:cost_usd)%",
		"cpen_processing_us":              "%DYNAMIC_METADATA(cpen:processing_us)%",
	}
}
