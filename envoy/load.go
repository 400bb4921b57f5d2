// Package envoy holds the Envoy bootstrap for the cpen-extproc sidecar (envoy.yaml) and the Go code
// that checks it the way Envoy would load it, and renders it for a run on one machine.
package envoy

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	// Every "@type" the bootstrap names must be registered for protojson to resolve its Any. These
	// packages register the typed configs envoy.yaml uses; nothing here refers to them by name.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// validator is what protoc-gen-validate generates on every Envoy config message.
type validator interface{ ValidateAll() error }

// Load parses an Envoy bootstrap in YAML and returns it only if Envoy would accept its shape:
// YAML -> JSON -> protojson with unknown fields rejected and every "@type" resolved, then the
// protoc-gen-validate rules Envoy enforces at load time, on the Bootstrap and on every config packed
// in a google.protobuf.Any (Bootstrap.ValidateAll does not look inside Any, which is where the
// connection manager, ext_proc, router, TLS and protocol options live).
func Load(raw []byte) (*bootstrapv3.Bootstrap, error) {
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	plain, err := jsonCompatible(doc)
	if err != nil {
		return nil, fmt.Errorf("convert YAML: %w", err)
	}
	js, err := json.Marshal(plain)
	if err != nil {
		return nil, fmt.Errorf("encode as JSON: %w", err)
	}
	bs := &bootstrapv3.Bootstrap{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, bs); err != nil {
		return nil, fmt.Errorf("decode into Bootstrap: %w", err)
	}
	if err := Validate(bs); err != nil {
		return nil, err
	}
	return bs, nil
}

// Validate runs the load-time rules on a Bootstrap and on every typed config inside it.
func Validate(bs *bootstrapv3.Bootstrap) error {
	if err := bs.ValidateAll(); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	if err := validateAnys(bs.ProtoReflect(), "bootstrap"); err != nil {
		return fmt.Errorf("validate typed configs: %w", err)
	}
	return nil
}

// jsonCompatible turns a decoded YAML tree into one encoding/json accepts: YAML allows non-string
// mapping keys, JSON (and proto field names) do not.
func jsonCompatible(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			c, err := jsonCompatible(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("mapping key %v (%T) is not a string", k, k)
			}
			c, err := jsonCompatible(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ks, err)
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			c, err := jsonCompatible(val)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = c
		}
		return out, nil
	case time.Time:
		// An unquoted timestamp-looking scalar; Envoy's proto fields want the text.
		return t.Format(time.RFC3339Nano), nil
	default:
		return v, nil
	}
}

// validateAnys walks every set field of m and, for each google.protobuf.Any found (in singular,
// repeated or map fields), unpacks it, runs its ValidateAll and walks it in turn, since typed
// configs nest (connection manager -> http_filters -> ext_proc).
func validateAnys(m protoreflect.Message, path string) error {
	if m.Descriptor().FullName() == "google.protobuf.Any" {
		return validateAny(m, path)
	}
	var errs []error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				errs = append(errs, validateAnys(mv.Message(), fmt.Sprintf("%s[%s]", p, k.String())))
				return true
			})
		case fd.IsList():
			if fd.Message() == nil {
				return true
			}
			list := v.List()
			for i := range list.Len() {
				errs = append(errs, validateAnys(list.Get(i).Message(), fmt.Sprintf("%s[%d]", p, i)))
			}
		case fd.Message() != nil:
			errs = append(errs, validateAnys(v.Message(), p))
		}
		return true
	})
	return errors.Join(errs...)
}

func validateAny(m protoreflect.Message, path string) error {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return fmt.Errorf("%s: Any is a %T, not *anypb.Any", path, m.Interface())
	}
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
	if err != nil {
		return fmt.Errorf("%s: unpack %s: %w", path, a.GetTypeUrl(), err)
	}
	name := string(inner.ProtoReflect().Descriptor().FullName())
	v, ok := inner.(validator)
	if !ok {
		return fmt.Errorf("%s: %s has no ValidateAll, so it cannot be checked", path, name)
	}
	var errs []error
	if err := v.ValidateAll(); err != nil {
		errs = append(errs, fmt.Errorf("%s (%s): %w", path, name, err))
	}
	errs = append(errs, validateAnys(inner.ProtoReflect(), path+"("+name+")"))
	return errors.Join(errs...)
}
