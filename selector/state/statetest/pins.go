package statetest

import (
	"time"

	"github.com/cpen/router/selector/state"
)

// PinCase sets the pin of ("key_demo", "cpen/middle") at each of SetAt
// after the test's start, then reads (key_demo, Alias) at GetAt.
type PinCase struct {
	Name   string
	SetAt  []time.Duration
	GetAt  time.Duration
	Alias  string
	WantOK bool
}

// PinTTLCases is the continuity pin lifetime: kept 24 h after its last
// use, per key and alias.
func PinTTLCases() []PinCase {
	return []PinCase{
		{Name: "missing", GetAt: 0, Alias: "cpen/middle"},
		{Name: "fresh", SetAt: []time.Duration{0}, GetAt: time.Hour, Alias: "cpen/middle", WantOK: true},
		{Name: "last nanosecond", SetAt: []time.Duration{0}, GetAt: state.PinTTL - 1, Alias: "cpen/middle", WantOK: true},
		{Name: "expired at 24h", SetAt: []time.Duration{0}, GetAt: state.PinTTL, Alias: "cpen/middle"},
		{Name: "refreshed by Set", SetAt: []time.Duration{0, 20 * time.Hour}, GetAt: 30 * time.Hour, Alias: "cpen/middle", WantOK: true},
		{Name: "refresh expires 24h after the last Set", SetAt: []time.Duration{0, 20 * time.Hour}, GetAt: 44 * time.Hour, Alias: "cpen/middle"},
		{Name: "per alias", SetAt: []time.Duration{0}, GetAt: 0, Alias: "cpen/low"},
	}
}
