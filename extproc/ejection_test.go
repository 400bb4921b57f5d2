package extproc

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cpen/router/selector/state"
)

// An operator can read why a tier lost a route: the failure that ejects
// it and the first success after are logged at info with the route and
// the cause.
func TestEjectionLogged(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	s, clk := newTestServerWithLog(t, zap.New(core))
	body := `{"model":"cpen/middle","routing":{"strategy":"cheapest"}}`
	for range state.EjectAfter {
		run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(body),
			respHeaders("503", "application/json"), respBody(`{"error":{"message":"down"}}`))
	}
	ej := logs.FilterMessage("route ejected").All()
	if len(ej) != 1 {
		t.Fatalf("%d ejection lines, want 1: %v", len(ej), logs.All())
	}
	f := ej[0].ContextMap()
	if f["route_id"] != "route_mid_01" || f["cause"] != "5 consecutive upstream failures, the last with status 503" || f["ejected_for"] != "30s" {
		t.Errorf("ejection line %v", f)
	}
	clk.t = clk.t.Add(state.EjectFor + time.Second)
	run(t, s, reqHeaders("/v1/chat/completions", seedKey), reqBody(body),
		respHeaders("200", "application/json"), respBody(`{"id":"c","model":"upstream-mini"}`))
	rec := logs.FilterMessage("route recovered").All()
	if len(rec) != 1 || rec[0].ContextMap()["route_id"] != "route_mid_01" {
		t.Errorf("recovery lines %v", rec)
	}
}
