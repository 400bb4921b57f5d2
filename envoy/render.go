package envoy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// PlaintextTemplateCluster is the bootstrap's plaintext cluster (the local mock provider). Render
// copies it for every provider it is given, so those clusters keep its settings (connect timeout,
// circuit breakers) and differ only in name and endpoint.
const PlaintextTemplateCluster = "mock_provider"

// Local says where the processes of a run on one machine listen. Every address is "ip:port" with a
// literal IP: the clusters are STATIC, and Envoy resolves no names for them.
type Local struct {
	// Listener is the address Envoy's one listener binds.
	Listener string
	// Admin is the address of Envoy's admin interface (/ready, /stats).
	Admin string
	// ExtProc is the sidecar's gRPC address, the endpoint of the ext_proc filter's cluster.
	ExtProc string
	// Providers maps a cluster name, as the catalog's providers[].cluster names it, to the address of
	// a plaintext HTTP provider. They replace every provider cluster of the bootstrap.
	Providers map[string]string
}

// Render returns the bootstrap template rewritten for a run on one machine: the listener and admin
// addresses, the ext_proc cluster's endpoint, and the provider clusters replaced by plaintext copies
// of PlaintextTemplateCluster pointing at l.Providers. Everything else (the connection manager, the
// ext_proc filter, the route, the ext_proc cluster's HTTP/2 settings) is the template's. The result
// is YAML that Load accepts; it fails instead of returning a config Envoy would refuse.
func Render(template []byte, l Local) ([]byte, error) {
	bs, err := Load(template)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if err := renderInto(bs, l); err != nil {
		return nil, err
	}
	if err := Validate(bs); err != nil {
		return nil, fmt.Errorf("rendered: %w", err)
	}
	return marshalYAML(bs)
}

func renderInto(bs *bootstrapv3.Bootstrap, l Local) error {
	admin, err := socketAddress(l.Admin, false)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	listenerAddr, err := socketAddress(l.Listener, false)
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	extProcAddr, err := socketAddress(l.ExtProc, true)
	if err != nil {
		return fmt.Errorf("ext_proc: %w", err)
	}
	if len(l.Providers) == 0 {
		return fmt.Errorf("no provider clusters: every request would get Envoy's 503")
	}

	if bs.Admin == nil {
		bs.Admin = &bootstrapv3.Admin{}
	}
	bs.Admin.Address = &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: admin}}

	listeners := bs.GetStaticResources().GetListeners()
	if len(listeners) != 1 {
		return fmt.Errorf("template has %d listeners, want 1", len(listeners))
	}
	listeners[0].Address = &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: listenerAddr}}

	extProcName, err := extProcCluster(bs)
	if err != nil {
		return err
	}
	var extProc, plain *clusterv3.Cluster
	for _, c := range bs.GetStaticResources().GetClusters() {
		switch c.GetName() {
		case extProcName:
			extProc = c
		case PlaintextTemplateCluster:
			plain = c
		}
	}
	if extProc == nil {
		return fmt.Errorf("template lacks the ext_proc cluster %q", extProcName)
	}
	if plain == nil {
		return fmt.Errorf("template lacks the plaintext cluster %q", PlaintextTemplateCluster)
	}
	if plain.GetTransportSocket() != nil || plain.GetType() != clusterv3.Cluster_STATIC {
		return fmt.Errorf("template cluster %q must be STATIC and plaintext", PlaintextTemplateCluster)
	}
	setEndpoint(extProc, extProcAddr)

	clusters := []*clusterv3.Cluster{extProc}
	names := make([]string, 0, len(l.Providers))
	for name := range l.Providers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name == extProcName {
			return fmt.Errorf("provider cluster %q is the ext_proc cluster's name", name)
		}
		addr, err := socketAddress(l.Providers[name], true)
		if err != nil {
			return fmt.Errorf("provider cluster %q: %w", name, err)
		}
		c, ok := proto.Clone(plain).(*clusterv3.Cluster)
		if !ok {
			return fmt.Errorf("clone of %q is not a Cluster", PlaintextTemplateCluster)
		}
		c.Name = name
		setEndpoint(c, addr)
		clusters = append(clusters, c)
	}
	bs.GetStaticResources().Clusters = clusters
	return nil
}

// extProcCluster is the cluster the ext_proc filter's envoy_grpc service names, read from the
// template rather than assumed.
func extProcCluster(bs *bootstrapv3.Bootstrap) (string, error) {
	for _, l := range bs.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(hcm) != nil {
					continue
				}
				for _, hf := range hcm.GetHttpFilters() {
					ep := &extprocv3.ExternalProcessor{}
					if hf.GetTypedConfig().UnmarshalTo(ep) != nil {
						continue
					}
					if name := ep.GetGrpcService().GetEnvoyGrpc().GetClusterName(); name != "" {
						return name, nil
					}
				}
			}
		}
	}
	return "", fmt.Errorf("template has no ext_proc filter with an envoy_grpc cluster")
}

// setEndpoint makes addr the cluster's only endpoint.
func setEndpoint(c *clusterv3.Cluster, addr *corev3.SocketAddress) {
	c.LoadAssignment = &endpointv3.ClusterLoadAssignment{
		ClusterName: c.GetName(),
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: addr}},
				}},
			}},
		}},
	}
}

// socketAddress parses "ip:port". Port 0 (the kernel picks one) is allowed only where Envoy binds,
// never for an endpoint it connects to.
func socketAddress(hostPort string, connect bool) (*corev3.SocketAddress, error) {
	host, portText, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", hostPort, err)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("address %q: host is not an IP literal", hostPort)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("address %q: port: %w", hostPort, err)
	}
	if connect && port == 0 {
		return nil, fmt.Errorf("address %q: port 0 cannot be connected to", hostPort)
	}
	return &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}, nil
}

// renderedHeader opens every rendered file, which is read by people only when a run fails.
const renderedHeader = "# Rendered from envoy/envoy.yaml by envoy.Render for a run on one machine; not for editing.\n"

// marshalYAML writes the bootstrap as block YAML. The proto is first written by protojson (the
// canonical JSON form Envoy reads, "@type" and duration strings included), then re-encoded as YAML
// with integers kept as integers.
func marshalYAML(bs *bootstrapv3.Bootstrap) ([]byte, error) {
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(bs)
	if err != nil {
		return nil, fmt.Errorf("encode rendered bootstrap: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode rendered bootstrap: %w", err)
	}
	var out bytes.Buffer
	out.WriteString(renderedHeader)
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(numbersAsNumbers(doc)); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	return out.Bytes(), nil
}

// numbersAsNumbers replaces json.Number, which the YAML encoder would write as a quoted string,
// with an int64 or float64.
func numbersAsNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			t[k] = numbersAsNumbers(val)
		}
		return t
	case []any:
		for i, val := range t {
			t[i] = numbersAsNumbers(val)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return t.String()
	default:
		return v
	}
}
