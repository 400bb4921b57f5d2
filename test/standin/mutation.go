package standin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Envoy's default header limits (max_request_headers_count, max_request_headers_kb;
// the response limits default to the same values).
const (
	maxHeadersCount = 100
	maxHeadersBytes = 60 * 1024
)

// errMutation is wrapped by every mutation that fails the request (Envoy's
// InvalidArgument from MutationUtils), which ends in a status_on_error reply.
var errMutation = errors.New("header mutation rejected")

type checkOp int

const (
	opSet checkOp = iota
	opAppend
	opRemove
)

type checkResult int

const (
	checkOK checkResult = iota
	checkIgnore
	checkFail
)

// check is Envoy's mutation_rules Checker::check with the default rules plus
// the three knobs of MutationRules.
func (m MutationRules) check(op checkOp, name, value string) checkResult {
	if m.allowed(op, name) && (op == opRemove || validRuleValue(name, value)) {
		return checkOK
	}
	if m.DisallowIsError {
		return checkFail
	}
	return checkIgnore
}

func (m MutationRules) allowed(op checkOp, name string) bool {
	if op == opRemove && (strings.HasPrefix(name, ":") || name == "host") {
		return false
	}
	if !m.AllowAllRouting {
		switch name {
		case "host", ":authority", ":method", ":scheme":
			return false
		}
	}
	if strings.HasPrefix(name, ":") && op == opAppend {
		return false
	}
	// Envoy's header prefix is "x-envoy", with no trailing dash.
	if !m.AllowEnvoy && strings.HasPrefix(name, "x-envoy") {
		return false
	}
	return true
}

func validRuleValue(name, value string) bool {
	if !strings.HasPrefix(name, ":") && !validHeaderValue(value) {
		return false
	}
	switch name {
	case "host", ":authority":
		return validAuthority(value)
	case ":scheme":
		return value == "http" || value == "https"
	case ":status":
		n, err := strconv.ParseUint(value, 10, 32)
		return err == nil && n >= 200
	}
	return true
}

// mutateOptions carries the per-call flags of MutationUtils::applyHeaderMutations.
type mutateOptions struct {
	// replacing is CONTINUE_AND_REPLACE: a :method change is then allowed.
	replacing bool
	// skipContentLength drops sets of content-length in modes where Envoy
	// already removed it (STREAMED, or BUFFERED with that header mode SKIP).
	skipContentLength bool
}

// applyHeaderMutation applies remove_headers then set_headers in order, like
// MutationUtils::applyHeaderMutations. It returns how many mutations the rules
// refused and an error wrapping errMutation when the request must fail.
func applyHeaderMutation(m *extprocv3.HeaderMutation, h *headerMap, rules MutationRules, opt mutateOptions) (int, error) {
	rejected := 0
	if len(m.GetRemoveHeaders()) > maxHeadersCount || len(m.GetSetHeaders()) > maxHeadersCount {
		return rejected + 1, fmt.Errorf("%w: more than %d entries", errMutation, maxHeadersCount)
	}
	for _, name := range m.GetRemoveHeaders() {
		if !validHeaderName(name) {
			return rejected + 1, fmt.Errorf("%w: invalid character in remove_headers %q", errMutation, name)
		}
		key := strings.ToLower(name)
		switch rules.check(opRemove, key, "") {
		case checkOK:
			h.remove(key)
		case checkIgnore:
			rejected++
		case checkFail:
			return rejected + 1, fmt.Errorf("%w: invalid attempt to remove %s", errMutation, key)
		}
	}
	for _, sh := range m.GetSetHeaders() {
		hv := sh.GetHeader()
		if hv == nil {
			continue
		}
		if hv.GetValue() != "" && len(hv.GetRawValue()) != 0 {
			return rejected + 1, fmt.Errorf("%w: only one of value or raw_value may be set (%s)", errMutation, hv.GetKey())
		}
		// Only raw_value counts (send_header_raw_value): value alone gives "".
		value := string(hv.GetRawValue())
		if !validHeaderName(hv.GetKey()) || !validHeaderValue(value) {
			return rejected + 1, fmt.Errorf("%w: invalid character in set_headers %q", errMutation, hv.GetKey())
		}
		key := strings.ToLower(hv.GetKey())
		if opt.skipContentLength && key == "content-length" {
			continue
		}
		// The deprecated append BoolValue decides; append_action is ignored.
		//lint:ignore SA1019 Envoy's ext_proc reads this deprecated field, so the stand-in must too.
		appendMode := sh.GetAppend().GetValue()
		op := opSet
		if appendMode && h.has(key) {
			op = opAppend
		}
		res := rules.check(op, key, value)
		if opt.replacing && key == ":method" {
			res = checkOK
		}
		switch res {
		case checkOK:
			if appendMode {
				h.add(key, value)
			} else {
				h.set(key, value)
			}
		case checkIgnore:
			rejected++
		case checkFail:
			return rejected + 1, fmt.Errorf("%w: invalid attempt to modify %s", errMutation, key)
		}
	}
	if len(h.entries) > maxHeadersCount || h.size() > maxHeadersBytes {
		return rejected + 1, fmt.Errorf("%w: headers over the count or size limit", errMutation)
	}
	return rejected, nil
}

// applyBodyMutation is MutationUtils::applyBodyMutations: body replaces (an
// empty body too), clear_body=true empties, anything else leaves data alone.
func applyBodyMutation(bm *extprocv3.BodyMutation, data []byte) []byte {
	switch mut := bm.GetMutation().(type) {
	case *extprocv3.BodyMutation_Body:
		return append([]byte(nil), mut.Body...)
	case *extprocv3.BodyMutation_ClearBody:
		if mut.ClearBody {
			return nil
		}
	}
	return data
}
