package standin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// The connection manager's access log: one line per downstream request,
// written when the stream completes (the response ended, a local reply was
// sent, or the stream was reset), with what the stream info holds then.
// The line is the json_format object: keys sorted, as Envoy always sorts
// them (JsonFormatBuilder::formatValueToFormatElements; json_format_options
// sort_properties is deprecated as a no-op), values as accesslog_format.go
// describes, no spaces, one '\n' at the end.

// logRecord is the stream info and request headers the operators read.
type logRecord struct {
	start         time.Time
	duration      time.Duration
	reqHeaders    *headerMap
	code          int // 0: no status was recorded
	flags         respFlags
	bytesReceived int64
	bytesSent     int64
	cluster       string // "" when none
	metadata      map[string]*structpb.Struct
}

// respFlags are the response flags the stand-in can tell apart; all others
// Envoy might set are never reported. No route sets a retry policy, so URX
// cannot arise. The ext_proc filter's local replies (stream errors, message
// timeouts, immediate responses) set no flag in Envoy either
// (source/extensions/filters/http/ext_proc/ext_proc.cc sends them with
// response code details only), so those requests read "-" in both. Whether
// Envoy flags the buffer limits' 413 and 500, or the reset of a stream whose
// response had started after an ext_proc failure in a streamed body, was not
// checked; the stand-in reports no flag for them.
type respFlags uint8

const (
	// flagUT: the route timeout expired (router onResponseTimeout).
	flagUT respFlags = 1 << iota
	// flagUF: the upstream connection could not be made (router.cc
	// streamResetReasonToResponseFlag, ConnectionFailure).
	flagUF
	// flagUC: the upstream connection ended before the response did
	// (ConnectionTermination), before or after the response headers.
	flagUC
	// flagDC: an HTTP/1 client closed its connection before the response
	// ended (ConnectionManagerImpl::onEvent resets its streams with
	// DownstreamConnectionTermination).
	flagDC
	// flagNC: the route named no existing cluster (the router's
	// cluster_not_found reply).
	flagNC
	// flagDR: an HTTP/2 client reset its stream before the response ended
	// (ActiveStream::onResetStream, DownstreamRemoteReset). Go's HTTP/2
	// server cancels the request alike for a RST_STREAM and for a closed
	// connection, which Envoy would flag DC; the stand-in reports DR for both.
	flagDR
)

// flagNames is the order of Envoy's flag table (ResponseFlagUtils,
// source/common/stream_info/utility.h), which toShortString follows.
var flagNames = []struct {
	flag respFlags
	name string
}{
	{flagUT, "UT"}, {flagUF, "UF"}, {flagUC, "UC"}, {flagDC, "DC"}, {flagNC, "NC"}, {flagDR, "DR"},
}

func (f respFlags) String() string {
	var names []string
	for _, n := range flagNames {
		if f&n.flag != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ",")
}

// logField is one json_format key and its template.
type logField struct {
	key  string
	tmpl logTemplate
}

// accessLog writes whole lines to its writer, one Write per line under a
// lock, so concurrent requests never interleave.
type accessLog struct {
	fields []logField // sorted by key
	mu     sync.Mutex
	w      io.Writer
}

// errNoAccessLogFormat: the stand-in implements only json_format, and an
// access log without a format would need Envoy's default text format.
var errNoAccessLogFormat = errors.New("standin: AccessLog needs an AccessLogFormat (json_format)")

// newAccessLog parses format; w nil means no log, but the format is still
// checked so that a bad one fails in every configuration.
func newAccessLog(format map[string]string, w io.Writer) (*accessLog, error) {
	if w != nil && len(format) == 0 {
		return nil, errNoAccessLogFormat
	}
	keys := make([]string, 0, len(format))
	for k := range format {
		keys = append(keys, k)
	}
	// Byte order, as std::sort on the keys' string_view does.
	slices.Sort(keys)
	l := &accessLog{w: w}
	for _, k := range keys {
		tmpl, err := parseTemplate(k, format[k])
		if err != nil {
			return nil, err
		}
		l.fields = append(l.fields, logField{key: k, tmpl: tmpl})
	}
	if w == nil {
		return nil, nil
	}
	return l, nil
}

// line renders rec as one JSON object and its newline.
func (l *accessLog) line(rec *logRecord) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range l.fields {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, f.key)
		b.WriteByte(':')
		f.tmpl.writeJSON(&b, rec)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func (l *accessLog) write(rec *logRecord) error {
	line := l.line(rec)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(line); err != nil {
		return fmt.Errorf("write access log: %w", err)
	}
	return nil
}

// writeJSON writes the template's value: typed for one command, a string
// for anything else.
func (tm logTemplate) writeJSON(b *bytes.Buffer, rec *logRecord) {
	if len(tm.parts) == 1 && tm.parts[0].op != nil {
		writeJSONValue(b, tm.parts[0].op(rec))
		return
	}
	var s strings.Builder
	for _, p := range tm.parts {
		if p.op == nil {
			s.WriteString(p.literal)
			continue
		}
		s.WriteString(plainString(p.op(rec)))
	}
	writeJSONString(b, s.String())
}

// plainString is a command's text inside a longer template: "-" when absent
// (omit_empty_values is off), a string as it is, anything else as JSON
// (MetadataFormatter::formatMetadata; the uint64 and duration providers
// print plain integers, which is what a whole number gives here).
func plainString(v *structpb.Value) string {
	if v == nil {
		return "-"
	}
	if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
		return s.StringValue
	}
	var b bytes.Buffer
	writeJSONValue(&b, v)
	return b.String()
}

// writeJSONValue is Json::Utility::appendValueToString. Numbers are written
// as Go's encoding/json writes a float64: whole numbers below 1e21 without
// a fraction or exponent. Envoy's Buffer::Util::serializeDouble writes the
// shortest round-trip form, which with libc++ can be an exponent
// (100000 as 1e+05); a reader must parse numbers, not compare their text.
// A NaN or an infinity, which JSON cannot hold, is written as null.
func writeJSONValue(b *bytes.Buffer, v *structpb.Value) {
	switch k := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		b.WriteString("null")
	case *structpb.Value_BoolValue:
		b.WriteString(strconv.FormatBool(k.BoolValue))
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			b.WriteString("null")
			return
		}
		num, _ := json.Marshal(k.NumberValue) // a finite float64 always encodes
		b.Write(num)
	case *structpb.Value_StringValue:
		writeJSONString(b, k.StringValue)
	case *structpb.Value_ListValue:
		b.WriteByte('[')
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONValue(b, e)
		}
		b.WriteByte(']')
	case *structpb.Value_StructValue:
		// Nested objects (a whole metadata namespace) in sorted key order;
		// the order Envoy writes a nested Struct in was not checked, and no
		// JSON reader may rely on it.
		fields := k.StructValue.GetFields()
		keys := make([]string, 0, len(fields))
		for key := range fields {
			keys = append(keys, key)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, key := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, key)
			b.WriteByte(':')
			writeJSONValue(b, fields[key])
		}
		b.WriteByte('}')
	}
}

// writeJSONString quotes s like Json::sanitize: quotes, backslashes and
// control characters escaped, '<', '>' and '&' left alone. Go replaces
// invalid UTF-8 with U+FFFD where Envoy escapes the bytes.
func writeJSONString(b *bytes.Buffer, s string) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Write(bytes.TrimSuffix(out.Bytes(), []byte("\n")))
}
