package envoy_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// headerOperator matches the access log operators that read a header (REQ, RESP, TRAILER, their
// long names and REQ_WITHOUT_QUERY), with the header (and an alternative after '?') in group 2.
var headerOperator = regexp.MustCompile(`%(REQ|RESP|TRAILER|REQUEST_HEADER|RESPONSE_HEADER|RESPONSE_TRAILER|REQ_WITHOUT_QUERY)\(([^)]*)\)`)

// loggedHeaders are the only headers the access log may read. Authorization, x-api-key and every
// other credential stay out of the log, as the comment in envoy.yaml promises.
var loggedHeaders = []string{":method", ":path", "x-envoy-original-path", "x-request-id"}

func TestAccessLogReadsNoCredentials(t *testing.T) {
	format, err := accessLogFormat(loadMain(t))
	if err != nil {
		t.Fatal(err)
	}
	for field, f := range format {
		for _, m := range headerOperator.FindAllStringSubmatch(f, -1) {
			for _, h := range strings.Split(m[2], "?") {
				if !slices.Contains(loggedHeaders, strings.ToLower(h)) {
					t.Errorf("%s: %q logs header %q; only %v may be logged", field, f, h, loggedHeaders)
				}
			}
		}
	}
	for _, want := range []string{"request_id", "response_code", "cpen_route_id", "cpen_cost_usd", "cpen_processing_us"} {
		if _, ok := format[want]; !ok {
			t.Errorf("access log has no %s field", want)
		}
	}
}
