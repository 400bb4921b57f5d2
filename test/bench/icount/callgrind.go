package icount

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrIncompleteDump is a callgrind dump without its closing totals line:
// still being written, or cut short.
var ErrIncompleteDump = errors.New("callgrind dump incomplete (no totals line)")

// ErrDumpFormat is a file that does not read as a callgrind dump with an
// Ir event.
var ErrDumpFormat = errors.New("not a callgrind dump with Ir")

// ParseIr returns the instructions executed (event Ir) that a callgrind
// dump accounts for. The header's "events:" line names the columns; the
// "totals:" line, which callgrind writes last, holds their sums, so a dump
// without it is incomplete. The header's "summary:" line, when present,
// must agree with it.
func ParseIr(dump []byte) (uint64, error) {
	t, err := parseTotals(dump)
	if err != nil {
		return 0, err
	}
	ir, ok := t.count("Ir")
	if !ok {
		return 0, fmt.Errorf("%w: events %q have no Ir", ErrDumpFormat, t.events)
	}
	return ir, nil
}

// totals are a complete dump's sums, by event.
type totals struct {
	events []string
	counts []uint64
}

// count is the sum of event name, and whether the dump counted it.
func (t totals) count(name string) (uint64, bool) {
	for i, ev := range t.events {
		if ev == name {
			return t.counts[i], true
		}
	}
	return 0, false
}

// parseTotals reads the events line and the totals line of a dump, and
// checks the summary line, when present, against the totals.
func parseTotals(dump []byte) (totals, error) {
	var t totals
	var summary, total []byte
	for line := range bytes.Lines(dump) {
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case bytes.HasPrefix(line, []byte("events:")):
			t.events = strings.Fields(string(line[len("events:"):]))
		case bytes.HasPrefix(line, []byte("summary:")):
			summary = line[len("summary:"):]
		case bytes.HasPrefix(line, []byte("totals:")):
			total = line[len("totals:"):]
		}
	}
	if len(t.events) == 0 {
		return t, fmt.Errorf("%w: no events line", ErrDumpFormat)
	}
	if total == nil {
		return t, ErrIncompleteDump
	}
	var err error
	if t.counts, err = columns(total, len(t.events)); err != nil {
		return t, fmt.Errorf("totals: %w", err)
	}
	if summary != nil {
		s, err := columns(summary, len(t.events))
		if err != nil {
			return t, fmt.Errorf("summary: %w", err)
		}
		for i, ev := range t.events {
			if s[i] != t.counts[i] {
				return t, fmt.Errorf("%w: summary %s %d, totals %s %d", ErrDumpFormat, ev, s[i], ev, t.counts[i])
			}
		}
	}
	return t, nil
}

// columns reads the n counts of a summary or totals line; callgrind
// leaves trailing zero counts out, so a missing column is 0.
func columns(counts []byte, n int) ([]uint64, error) {
	f := bytes.Fields(counts)
	if len(f) == 0 {
		return nil, fmt.Errorf("%w: no counts", ErrDumpFormat)
	}
	if len(f) > n {
		return nil, fmt.Errorf("%w: %d counts for %d events", ErrDumpFormat, len(f), n)
	}
	out := make([]uint64, n)
	for i, c := range f {
		v, err := strconv.ParseUint(string(c), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: count %q: %w", ErrDumpFormat, c, err)
		}
		out[i] = v
	}
	return out, nil
}
