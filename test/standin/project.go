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
// connection_keepalive 30s/5s). Callers may adjust the result.
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
	}
}
