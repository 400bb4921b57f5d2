package load

import "time"

// Merge adds up runs against one server that together make one
// measurement, as the slices of an A/B leg taken in turns with the other
// side's: counts, windows and CPU times are summed, latencies pooled, and
// the memory figures are the last run's. Machine CPU is 0 when any run
// could not read it.
func Merge(parts ...Result) Result {
	var m Result
	n := 0
	for _, p := range parts {
		n += len(p.lat)
	}
	lat := make([]time.Duration, 0, n)
	machine := true
	for _, p := range parts {
		m.Concurrency = p.Concurrency
		m.Exchanges += p.Exchanges
		m.Errors += p.Errors
		if m.FirstError == "" {
			m.FirstError = p.FirstError
		}
		m.Window += p.Window
		m.GenCPU += p.GenCPU
		m.MachineCPU += p.MachineCPU
		machine = machine && p.MachineCPU > 0
		if p.Server != nil {
			if m.Server == nil {
				m.Server = &ServerStats{PID: p.Server.PID}
			}
			m.Server.CPU += p.Server.CPU
			m.Server.RSS, m.Server.Peak = p.Server.RSS, p.Server.Peak
		}
		lat = append(lat, p.lat...)
	}
	if !machine {
		m.MachineCPU = 0
	}
	m.summarize(lat)
	return m
}
