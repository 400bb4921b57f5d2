package envoy_test

// The end-to-end suite runs behind test/standin configured by standin.ProjectConfig, which restates
// envoy.yaml in Go. This test holds the two together, so an edit to one side that the other does not
// follow fails here instead of leaving the suite testing a different Envoy than the one deployed.

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpen/router/test/standin"
)

// checkStandinAgrees compares every setting standin.Config mirrors with envoy.yaml.
func checkStandinAgrees(p mainParts, cfg standin.Config) error {
	var errs []error
	differ := func(field string, yamlValue, standinValue any) {
		errs = append(errs, fmt.Errorf("%s: envoy.yaml has %v, standin.ProjectConfig %v", field, yamlValue, standinValue))
	}

	if got := int(p.hcm.GetXffNumTrustedHops()); got != cfg.XFFNumTrustedHops {
		differ("xff_num_trusted_hops / XFFNumTrustedHops", got, cfg.XFFNumTrustedHops)
	}
	if got := p.hcm.GetUseRemoteAddress().GetValue(); got != cfg.UseRemoteAddress {
		differ("use_remote_address / UseRemoteAddress", got, cfg.UseRemoteAddress)
	}
	if got := p.hcm.GetNormalizePath().GetValue(); got != cfg.NormalizePath {
		differ("normalize_path / NormalizePath", got, cfg.NormalizePath)
	}
	if got := p.hcm.GetMergeSlashes(); got != cfg.MergeSlashes {
		differ("merge_slashes / MergeSlashes", got, cfg.MergeSlashes)
	}
	if got := sortedCopy(p.extproc.GetRequestAttributes()); !slices.Equal(got, sortedCopy(cfg.RequestAttributes)) {
		differ("request_attributes / RequestAttributes", got, cfg.RequestAttributes)
	}
	if got := p.extproc.GetMessageTimeout().AsDuration(); got != cfg.MessageTimeout {
		differ("message_timeout / MessageTimeout", got, cfg.MessageTimeout)
	}
	if got := p.extproc.GetAllowModeOverride(); got != cfg.AllowModeOverride {
		differ("allow_mode_override / AllowModeOverride", got, cfg.AllowModeOverride)
	}
	if got := p.extproc.GetFailureModeAllow(); got != cfg.FailureModeAllow {
		differ("failure_mode_allow / FailureModeAllow", got, cfg.FailureModeAllow)
	}
	if got := p.route.GetRoute().GetClusterHeader(); got != cfg.ClusterHeader {
		differ("cluster_header / ClusterHeader", got, cfg.ClusterHeader)
	}
	if got := p.route.GetRequestHeadersToRemove(); !slices.Equal(got, cfg.RequestHeadersToRemove) {
		differ("request_headers_to_remove / RequestHeadersToRemove", got, cfg.RequestHeadersToRemove)
	}
	if got := int(p.listener.GetPerConnectionBufferLimitBytes().GetValue()); got != cfg.BufferLimitBytes {
		differ("listener per_connection_buffer_limit_bytes / BufferLimitBytes", got, cfg.BufferLimitBytes)
	}
	if got := sortedCopy(p.extproc.GetMetadataOptions().GetReceivingNamespaces().GetUntyped()); !slices.Equal(got, sortedCopy(cfg.ReceivingNamespaces)) {
		differ("metadata_options.receiving_namespaces.untyped / ReceivingNamespaces", got, cfg.ReceivingNamespaces)
	}
	if got, err := accessLogFormat(p); err != nil {
		errs = append(errs, err)
	} else if !maps.Equal(got, cfg.AccessLogFormat) {
		errs = append(errs, fmt.Errorf("access log json_format / AccessLogFormat differ: %s", formatDiff(got, cfg.AccessLogFormat)))
	}

	router := &routerv3.Router{}
	if err := p.hcm.GetHttpFilters()[1].GetTypedConfig().UnmarshalTo(router); err != nil {
		errs = append(errs, fmt.Errorf("router: %w", err))
	} else if got := router.GetSuppressEnvoyHeaders(); got != cfg.SuppressEnvoyHeaders {
		differ("suppress_envoy_headers / SuppressEnvoyHeaders", got, cfg.SuppressEnvoyHeaders)
	}

	opts := &upstreamhttpv3.HttpProtocolOptions{}
	if err := p.clusters[extprocCluster].GetTypedExtensionProtocolOptions()[http2OptsKey].UnmarshalTo(opts); err != nil {
		errs = append(errs, fmt.Errorf("ext_proc protocol options: %w", err))
		return errors.Join(errs...)
	}
	h2 := opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions()
	ka := h2.GetConnectionKeepalive()
	if got := ka.GetInterval().AsDuration(); got != cfg.KeepaliveInterval {
		differ("connection_keepalive.interval / KeepaliveInterval", got, cfg.KeepaliveInterval)
	}
	if got := ka.GetTimeout().AsDuration(); got != cfg.KeepaliveTimeout {
		differ("connection_keepalive.timeout / KeepaliveTimeout", got, cfg.KeepaliveTimeout)
	}
	if got := int64(h2.GetInitialStreamWindowSize().GetValue()); got != int64(cfg.InitialStreamWindowSize) {
		differ("initial_stream_window_size / InitialStreamWindowSize", got, cfg.InitialStreamWindowSize)
	}
	if got := int64(h2.GetInitialConnectionWindowSize().GetValue()); got != int64(cfg.InitialConnectionWindowSize) {
		differ("initial_connection_window_size / InitialConnectionWindowSize", got, cfg.InitialConnectionWindowSize)
	}
	return errors.Join(errs...)
}

// accessLogFormat is the json_format of the connection manager's one access log, which must be the
// stdout logger with a flat map of format strings (all the stand-in reproduces).
func accessLogFormat(p mainParts) (map[string]string, error) {
	logs := p.hcm.GetAccessLog()
	if len(logs) != 1 {
		return nil, fmt.Errorf("access_log has %d entries, want 1", len(logs))
	}
	stdout := &streamv3.StdoutAccessLog{}
	if err := logs[0].GetTypedConfig().UnmarshalTo(stdout); err != nil {
		return nil, fmt.Errorf("access log is not the stdout logger: %w", err)
	}
	jf := stdout.GetLogFormat().GetJsonFormat()
	if jf == nil {
		return nil, errors.New("access log has no log_format.json_format")
	}
	out := make(map[string]string, len(jf.GetFields()))
	for k, v := range jf.GetFields() {
		str, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, fmt.Errorf("access log json_format %s is not a format string", k)
		}
		out[k] = str.StringValue
	}
	return out, nil
}

// formatDiff names each key whose format string differs between envoy.yaml (yaml) and the stand-in.
func formatDiff(yaml, standin map[string]string) string {
	show := func(m map[string]string, k string) string {
		if v, ok := m[k]; ok {
			return fmt.Sprintf("%q", v)
		}
		return "(none)"
	}
	keys := slices.Collect(maps.Keys(yaml))
	for k := range standin {
		if _, ok := yaml[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var diffs []string
	for _, k := range keys {
		if y, ok := yaml[k]; !ok || y != standin[k] {
			diffs = append(diffs, fmt.Sprintf("%s: envoy.yaml has %s, standin.ProjectConfig %s", k, show(yaml, k), show(standin, k)))
		}
	}
	return strings.Join(diffs, "; ")
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func projectConfig() standin.Config {
	return standin.ProjectConfig("127.0.0.1:50051", map[string]string{"mock_provider": "http://127.0.0.1:18080"})
}

func TestStandinMirrorsEnvoyYAML(t *testing.T) {
	if err := checkStandinAgrees(loadMain(t), projectConfig()); err != nil {
		t.Fatal(err)
	}
}

// TestStandinCheckCatchesDrift changes one side at a time and expects the check to name the field.
func TestStandinCheckCatchesDrift(t *testing.T) {
	good, err := os.ReadFile(mainConfig)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	tests := []struct {
		name     string
		old, new string // a change to envoy.yaml; old must occur exactly once
		edit     func(*standin.Config)
		wantErr  string
	}{
		{name: "trusted hops in envoy.yaml", old: "xff_num_trusted_hops: 0", new: "xff_num_trusted_hops: 2",
			wantErr: "xff_num_trusted_hops / XFFNumTrustedHops: envoy.yaml has 2, standin.ProjectConfig 0"},
		{name: "trusted hops in the stand-in", edit: func(c *standin.Config) { c.XFFNumTrustedHops = 1 },
			wantErr: "xff_num_trusted_hops / XFFNumTrustedHops: envoy.yaml has 0, standin.ProjectConfig 1"},
		{name: "attributes in envoy.yaml", old: "request_attributes: [source.address]", new: "request_attributes: [source.address, source.port]",
			wantErr: "request_attributes / RequestAttributes"},
		{name: "attributes in the stand-in", edit: func(c *standin.Config) { c.RequestAttributes = nil },
			wantErr: "request_attributes / RequestAttributes"},
		{name: "keepalive interval in envoy.yaml", old: "connection_keepalive: {interval: 30s, timeout: 5s}", new: "connection_keepalive: {interval: 45s, timeout: 5s}",
			wantErr: "connection_keepalive.interval / KeepaliveInterval: envoy.yaml has 45s, standin.ProjectConfig 30s"},
		{name: "keepalive timeout in the stand-in", edit: func(c *standin.Config) { c.KeepaliveTimeout = 6 * time.Second },
			wantErr: "connection_keepalive.timeout / KeepaliveTimeout: envoy.yaml has 5s, standin.ProjectConfig 6s"},
		{name: "buffer limit in envoy.yaml", old: "per_connection_buffer_limit_bytes: 4194304", new: "per_connection_buffer_limit_bytes: 8388608",
			wantErr: "BufferLimitBytes: envoy.yaml has 8388608"},
		{name: "headers to remove in the stand-in", edit: func(c *standin.Config) { c.RequestHeadersToRemove = c.RequestHeadersToRemove[:1] },
			wantErr: "request_headers_to_remove / RequestHeadersToRemove"},
		{name: "receiving namespace in envoy.yaml", old: "receiving_namespaces: {untyped: [cpen]}", new: "receiving_namespaces: {untyped: [cpen, other]}",
			wantErr: "metadata_options.receiving_namespaces.untyped / ReceivingNamespaces: envoy.yaml has [cpen other], standin.ProjectConfig [cpen]"},
		{name: "receiving namespace in the stand-in", edit: func(c *standin.Config) { c.ReceivingNamespaces = nil },
			wantErr: "metadata_options.receiving_namespaces.untyped / ReceivingNamespaces"},
		{name: "an access log field in envoy.yaml", old: `cpen_cost_usd: "%DYNAMIC_METADATA(cpen:cost_usd)%"`, new: `cpen_cost_usd: "%DYNAMIC_METADATA(cpen:cost)%"`,
			wantErr: `access log json_format / AccessLogFormat differ: cpen_cost_usd: envoy.yaml has "%DYNAMIC_METADATA(cpen:cost)%", standin.ProjectConfig "%DYNAMIC_METADATA(cpen:cost_usd)%"`},
		{name: "an access log field dropped from the stand-in", edit: func(c *standin.Config) { delete(c.AccessLogFormat, "cpen_alias") },
			wantErr: `cpen_alias: envoy.yaml has "%DYNAMIC_METADATA(cpen:alias)%", standin.ProjectConfig (none)`},
		{name: "an access log field only in the stand-in", edit: func(c *standin.Config) { c.AccessLogFormat["extra"] = "%DURATION%" },
			wantErr: `extra: envoy.yaml has (none), standin.ProjectConfig "%DURATION%"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := string(good)
			if tt.old != "" {
				if n := strings.Count(raw, tt.old); n != 1 {
					t.Fatalf("%q occurs %d times in %s, want 1: update this case", tt.old, n, mainConfig)
				}
				raw = strings.Replace(raw, tt.old, tt.new, 1)
			}
			p, err := parseMain([]byte(raw))
			if err != nil {
				t.Fatalf("parseMain: %v", err)
			}
			cfg := projectConfig()
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			err = checkStandinAgrees(p, cfg)
			if err == nil {
				t.Fatal("the check accepted a drift")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}
