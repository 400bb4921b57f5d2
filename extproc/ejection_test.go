package extproc

import (
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cpen/router/selector/state"
)

// An operator can read why a tier lost a route, and for how long: the
// failure that ejects it and the first success after are logged at info
// with the route and the cause. A provider's Retry-After on a 429 or 503
// sets how long the route stays out (at least the back-off, at most
// state.RetryAfterMax); on other statuses it is not read.
func TestEjectionLogged(t *testing.T) {
	start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) // newTestServerWithLog's clock
	tests := []struct {
		name       string
		status     string
		retryAfter string
		wantFor    time.Duration
	}{
		{name: "503 without Retry-After", status: "503", wantFor: state.EjectBase},
		{name: "500 ignores Retry-After", status: "500", retryAfter: "30", wantFor: state.EjectBase},
		{name: "429 with delay seconds", status: "429", retryAfter: "7", wantFor: 7 * time.Second},
		{name: "503 with an HTTP date", status: "503", retryAfter: start.Add(90 * time.Second).Format(http.TimeFormat), wantFor: 90 * time.Second},
		{name: "429 with a date already past", status: "429", retryAfter: start.Add(-time.Minute).Format(http.TimeFormat), wantFor: state.EjectBase},
		{name: "429 with a malformed value", status: "429", retryAfter: "soon", wantFor: state.EjectBase},
		{name: "429 asking too much", status: "429", retryAfter: "86400", wantFor: state.RetryAfterMax},
	}
	body := `{"model":"cpen/middle","routing":{"strategy":"cheapest"}}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			s, clk := newTestServerWithLog(t, zap.New(core))
			var extra []string
			if tt.retryAfter != "" {
				extra = []string{"retry-after", tt.retryAfter}
			}
			run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(body),
				respHeaders(tt.status, "application/json", extra...), respBody(`{"error":{"message":"down"}}`))
			ej := logs.FilterMessage("route ejected").All()
			if len(ej) != 1 {
				t.Fatalf("%d ejection lines, want 1: %v", len(ej), logs.All())
			}
			f := ej[0].ContextMap()
			if f["route_id"] != "route_mid_01" || f["cause"] != "upstream failure with status "+tt.status || f["ejected_for"] != tt.wantFor.String() {
				t.Errorf("ejection line %v, want route_mid_01 out for %v", f, tt.wantFor)
			}
			// Still out just before the ejection ends: another route serves.
			clk.t = clk.t.Add(tt.wantFor - time.Nanosecond)
			out := run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(body),
				respHeaders("200", "application/json"), respBody(`{"id":"c","model":"upstream-flash"}`))
			if got := routeOf(t, out); got == "route_mid_01" {
				t.Errorf("route_mid_01 served %v after its ejection began, want it out for %v", tt.wantFor-time.Nanosecond, tt.wantFor)
			}
			clk.t = clk.t.Add(time.Nanosecond)
			out = run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(body),
				respHeaders("200", "application/json"), respBody(`{"id":"c","model":"upstream-mini"}`))
			if got := routeOf(t, out); got != "route_mid_01" {
				t.Errorf("once the ejection ended served by %s, want route_mid_01", got)
			}
			rec := logs.FilterMessage("route recovered").All()
			if len(rec) != 1 || rec[0].ContextMap()["route_id"] != "route_mid_01" {
				t.Errorf("recovery lines %v", rec)
			}
		})
	}
}
