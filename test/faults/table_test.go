package faults

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// row is one scenario's outcome.
type row struct {
	Scenario  string
	Sent      int
	Succeeded int
	// Refused counts expected refusals by HTTP status.
	Refused map[int]int
	Lost    int
	// P99 is the 99th percentile latency of the requests started while
	// the fault was on.
	P99 time.Duration
}

// table is the suite's report, filled by scenarios running one at a time.
type table struct {
	mu   sync.Mutex
	rows []row
}

func (t *table) add(r row) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, r)
}

func (t *table) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.rows)
}

// markdown renders the rows in the order the scenarios ran.
func (t *table) markdown() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	b.WriteString("| scenario | sent | succeeded | refused (status: count) | lost | p99 during fault |\n")
	b.WriteString("|---|---:|---:|---|---:|---:|\n")
	for _, r := range t.rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %d | %s |\n",
			r.Scenario, r.Sent, r.Succeeded, refusals(r.Refused), r.Lost, r.P99.Round(time.Millisecond))
	}
	return b.String()
}

// refusals lists statuses in ascending order, "none" for an empty map.
func refusals(m map[int]int) string {
	if len(m) == 0 {
		return "none"
	}
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d: %d", c, m[c])
	}
	return strings.Join(parts, ", ")
}

func TestTableMarkdown(t *testing.T) {
	var tb table
	tb.add(row{Scenario: "a", Sent: 10, Succeeded: 7, Refused: map[int]int{503: 1, 429: 2}, P99: 1234567 * time.Nanosecond})
	tb.add(row{Scenario: "b", Sent: 3, Succeeded: 2, Lost: 1, P99: 40 * time.Millisecond})
	want := "| scenario | sent | succeeded | refused (status: count) | lost | p99 during fault |\n" +
		"|---|---:|---:|---|---:|---:|\n" +
		"| a | 10 | 7 | 429: 2, 503: 1 | 0 | 1ms |\n" +
		"| b | 3 | 2 | none | 1 | 40ms |\n"
	if got := tb.markdown(); got != want {
		t.Errorf("markdown:\n%s\nwant:\n%s", got, want)
	}
}
