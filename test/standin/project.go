package standin

import "time"

// ProjectClusterHeader is the route's cluster_header in envoy/envoy.yaml.
const ProjectClusterHeader = "x-cpen-upstream-cluster"

// ProjectConfig is envoy/envoy.yaml expressed as a Config: the ext_proc
// filter (SEND/BUFFERED/SEND/BUFFERED, allow_mode_override, message_timeout
// 10s, fail closed), the route (cluster_header, timeout 0s,
// request_headers_to_remove), the connection manager (use_remote_address,
// normalize_path, merge_slashes), the router's suppress_envoy_headers and the
// listener's 4 MiB buffer limit. Callers may adjust the result.
func ProjectConfig(extProcAddr string, clusters map[string]string) Config {
	return Config{
		ExtProcAddr:       extProcAddr,
		AllowModeOverride: true,
		MessageTimeout:    10 * time.Second,
		ClusterHeader:     ProjectClusterHeader,
		Clusters:          clusters,
		BufferLimitBytes:  4 << 20,
		UseRemoteAddress:  true,
		NormalizePath:     true,
		MergeSlashes:      true,
		RequestHeadersToRemove: []string{
			ProjectClusterHeader, "x-forwarded-for", "x-envoy-external-address",
		},
		SuppressEnvoyHeaders: true,
	}
}
