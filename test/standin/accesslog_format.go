package standin

import (
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"
)

// The access log's json_format, as Envoy parses and evaluates it
// (source/common/formatter/substitution_formatter.cc: JsonFormatBuilder,
// SubstitutionFormatParser::parse, JsonFormatterImpl::format):
//
//   - A value without '%' is a literal string.
//   - Otherwise it is a template: literal runs, "%%" for a '%', and
//     commands "%NAME%", "%NAME(ARG)%" or "%NAME(ARG):LEN%".
//   - A template that is exactly one command keeps the command's type:
//     numbers stay JSON numbers, strings stay strings, a metadata struct
//     becomes an object, and an absent value is null (never "-").
//   - A template of several parts is one JSON string; each absent command
//     value inside it reads "-", and non-string values are written as JSON
//     text.
//
// Only the commands below are implemented; any other, or a length limit, is
// refused when the Proxy is built, naming the command, so a log never
// silently shows something else.

// AccessLogFormatError is a json_format the stand-in refuses.
type AccessLogFormatError struct {
	Field    string // the json_format key
	Operator string // the command as written, e.g. "%FOO(x)%"; empty for a syntax error
	Reason   string
}

func (e *AccessLogFormatError) Error() string {
	if e.Operator == "" {
		return fmt.Sprintf("standin: access log field %q: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("standin: access log field %q: operator %s: %s", e.Field, e.Operator, e.Reason)
}

// commandPattern is Envoy's commandWithArgsRegex: an upper-case command,
// an optional (argument) without ')', an optional :length.
var commandPattern = regexp.MustCompile(`^%([A-Z0-9_]+)(?:\((.*?)\))?(?::([0-9]+))?%`)

// logOperator is one command; value returns nil when the value is absent.
type logOperator func(rec *logRecord) *structpb.Value

// logPart is one piece of a template: a literal or a command.
type logPart struct {
	literal string
	op      logOperator
}

// logTemplate is one json_format value.
type logTemplate struct {
	parts []logPart
}

func parseTemplate(field, format string) (logTemplate, error) {
	if !strings.Contains(format, "%") {
		return logTemplate{parts: []logPart{{literal: format}}}, nil
	}
	var parts []logPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, logPart{literal: lit.String()})
			lit.Reset()
		}
	}
	for pos := 0; pos < len(format); {
		if format[pos] != '%' {
			lit.WriteByte(format[pos])
			pos++
			continue
		}
		if strings.HasPrefix(format[pos:], "%%") {
			lit.WriteByte('%')
			pos += 2
			continue
		}
		m := commandPattern.FindStringSubmatchIndex(format[pos:])
		if m == nil {
			return logTemplate{}, &AccessLogFormatError{Field: field,
				Reason: fmt.Sprintf("no valid command at position %d of %q", pos, format)}
		}
		token := format[pos : pos+m[1]]
		name := format[pos+m[2] : pos+m[3]]
		hasArg, arg := m[4] >= 0, ""
		if hasArg {
			arg = format[pos+m[4] : pos+m[5]]
		}
		if m[6] >= 0 {
			return logTemplate{}, &AccessLogFormatError{Field: field, Operator: token,
				Reason: "a length limit is not implemented by the stand-in"}
		}
		op, reason := newOperator(name, hasArg, arg)
		if op == nil {
			return logTemplate{}, &AccessLogFormatError{Field: field, Operator: token, Reason: reason}
		}
		flush()
		parts = append(parts, logPart{op: op})
		pos += m[1]
	}
	flush()
	if len(parts) == 0 {
		// Envoy's parser keeps an empty literal for an empty result.
		parts = []logPart{{}}
	}
	return logTemplate{parts: parts}, nil
}

// newOperator builds the command name(arg), or returns why it cannot. The
// syntax rules (an argument required, optional or refused) are Envoy's
// CommandSyntaxChecker flags for each command.
func newOperator(name string, hasArg bool, arg string) (logOperator, string) {
	noArg := func(op logOperator) (logOperator, string) {
		if hasArg {
			return nil, "takes no argument"
		}
		return op, ""
	}
	switch name {
	case "START_TIME":
		if hasArg && arg != "" {
			return nil, "a custom time format is not implemented by the stand-in"
		}
		return opStartTime, ""
	case "REQ":
		if !hasArg || arg == "" {
			return nil, "needs a header name"
		}
		return reqOperator(arg)
	case "RESPONSE_CODE":
		return noArg(opResponseCode)
	case "RESPONSE_FLAGS":
		return noArg(opResponseFlags)
	case "DURATION":
		return noArg(opDuration)
	case "BYTES_RECEIVED":
		return noArg(opBytesReceived)
	case "BYTES_SENT":
		return noArg(opBytesSent)
	case "UPSTREAM_CLUSTER":
		return noArg(opUpstreamCluster)
	case "DYNAMIC_METADATA":
		if !hasArg {
			return nil, "needs a namespace"
		}
		return metadataOperator(arg)
	}
	return nil, "not implemented by the stand-in"
}

// reqOperator is RequestHeaderFormatter: "NAME" or "NAME?ALTERNATIVE",
// looked up lower-cased in the request headers as the filters and the
// router left them; the first value of the first name present.
func reqOperator(arg string) (logOperator, string) {
	names := strings.Split(arg, "?")
	if len(names) > 2 {
		return nil, "more than one alternative header"
	}
	for i := range names {
		names[i] = strings.ToLower(names[i])
	}
	return func(rec *logRecord) *structpb.Value {
		for _, n := range names {
			if v, ok := rec.reqHeaders.get(n); ok {
				return structpb.NewStringValue(v)
			}
		}
		return nil
	}, ""
}

// metadataOperator is DynamicMetadataFormatter: "NAMESPACE" alone is the
// namespace's whole struct; "NAMESPACE:KEY:..." walks into nested structs
// (Config::Metadata::metadataValue), and a missing key, or a non-struct on
// the way, is absent.
func metadataOperator(arg string) (logOperator, string) {
	path := strings.Split(arg, ":")
	ns, keys := path[0], path[1:]
	if ns == "" {
		return nil, "needs a namespace"
	}
	return func(rec *logRecord) *structpb.Value {
		s, ok := rec.metadata[ns]
		if !ok {
			return nil
		}
		if len(keys) == 0 {
			return structpb.NewStructValue(s)
		}
		var v *structpb.Value
		for _, k := range keys {
			if s == nil {
				return nil
			}
			if v, ok = s.GetFields()[k]; !ok {
				return nil
			}
			s = v.GetStructValue()
		}
		if v.GetKind() == nil {
			return nil
		}
		return v
	}, ""
}

// The StreamInfo operators (source/common/formatter/stream_info_formatter.cc).

// opStartTime is AccessLogDateTimeFormatter::fromTime: UTC, milliseconds,
// "2018-04-03T23:06:09.123Z" (source/common/common/utility.cc).
func opStartTime(rec *logRecord) *structpb.Value {
	return structpb.NewStringValue(rec.start.UTC().Format("2006-01-02T15:04:05.000Z"))
}

// opResponseCode is a StreamInfoUInt64FormatterProvider of
// responseCode().value_or(0): a number, 0 when neither an upstream's headers
// arrived nor a reply went out.
func opResponseCode(rec *logRecord) *structpb.Value {
	return structpb.NewNumberValue(float64(rec.code))
}

// opResponseFlags is ResponseFlagUtils::toShortString: the short names
// joined by ',', or the string "-" when none is set (never null).
func opResponseFlags(rec *logRecord) *structpb.Value {
	return structpb.NewStringValue(rec.flags.String())
}

// opDuration is a StreamInfoDurationFormatterProvider of currentDuration():
// whole milliseconds, truncated.
func opDuration(rec *logRecord) *structpb.Value {
	return structpb.NewNumberValue(float64(rec.duration.Milliseconds()))
}

// opBytesReceived counts the request body bytes the stand-in read from the
// client. Envoy counts what arrived, which for a request refused before its
// body was read (at request_headers) can be more than the stand-in's 0.
func opBytesReceived(rec *logRecord) *structpb.Value {
	return structpb.NewNumberValue(float64(rec.bytesReceived))
}

// opBytesSent counts the response body bytes written to the client.
func opBytesSent(rec *logRecord) *structpb.Value {
	return structpb.NewNumberValue(float64(rec.bytesSent))
}

// opUpstreamCluster is the stream's upstream cluster info, which the
// connection manager sets each time it resolves the route
// (source/common/http/conn_manager_impl.cc, refreshCachedRoute): the
// cluster the route named if that cluster exists, else absent. A request
// refused before the route named an existing cluster has none.
func opUpstreamCluster(rec *logRecord) *structpb.Value {
	if rec.cluster == "" {
		return nil
	}
	return structpb.NewStringValue(rec.cluster)
}
