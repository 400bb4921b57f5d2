package load

import (
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	ms := time.Millisecond
	a := Result{
		Concurrency: 4, Exchanges: 3, Errors: 1, FirstError: "first", Window: time.Second,
		GenCPU: 30 * ms, MachineCPU: 90 * ms,
		Server: &ServerStats{PID: 7, CPU: 60 * ms, RSS: 100, Peak: 200},
		lat:    []time.Duration{1 * ms, 2 * ms, 9 * ms},
	}
	b := Result{
		Concurrency: 4, Exchanges: 2, Errors: 2, FirstError: "second", Window: 2 * time.Second,
		GenCPU: 20 * ms, MachineCPU: 60 * ms,
		Server: &ServerStats{PID: 7, CPU: 40 * ms, RSS: 110, Peak: 210},
		lat:    []time.Duration{3 * ms, 4 * ms},
	}
	m := Merge(a, b)
	if m.Concurrency != 4 || m.Exchanges != 5 || m.Errors != 3 || m.FirstError != "first" || m.Window != 3*time.Second {
		t.Errorf("counts: %+v", m)
	}
	if m.Rate != 5.0/3 {
		t.Errorf("rate %v, want 5/3 s", m.Rate)
	}
	if m.GenCPU != 50*ms || m.GenCPUPerExchange != 10*ms || m.MachineCPU != 150*ms {
		t.Errorf("generator and machine: %v %v %v", m.GenCPU, m.GenCPUPerExchange, m.MachineCPU)
	}
	if s := m.Server; s == nil || *s != (ServerStats{PID: 7, CPU: 100 * ms, CPUPerExchange: 20 * ms, RSS: 110, Peak: 210}) {
		t.Errorf("server %+v", m.Server)
	}
	// Percentiles of the pooled latencies 1 2 3 4 9 ms, not of either run.
	if want := (Latency{P50: 3 * ms, P90: 9 * ms, P99: 9 * ms, Max: 9 * ms}); m.Latency != want {
		t.Errorf("latency %+v, want %+v", m.Latency, want)
	}
	// The runs' own latencies are left as they were.
	if a.lat[2] != 9*ms || b.lat[0] != 3*ms {
		t.Errorf("merge changed its inputs: %v %v", a.lat, b.lat)
	}
	// A run that could not read the machine's CPU leaves it unknown.
	b.MachineCPU = 0
	if m := Merge(a, b); m.MachineCPU != 0 {
		t.Errorf("machine CPU %v with one run unread, want 0", m.MachineCPU)
	}
	// One run merges to itself.
	if m := Merge(a); m.Exchanges != 3 || m.Latency.P50 != 2*ms || m.Server.CPUPerExchange != 20*ms {
		t.Errorf("merge of one run: %+v", m)
	}
}
