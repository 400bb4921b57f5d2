package icount

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
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
	col := -1
	var summary, totals []byte
	for line := range bytes.Lines(dump) {
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case bytes.HasPrefix(line, []byte("events:")):
			for i, ev := range bytes.Fields(line[len("events:"):]) {
				if string(ev) == "Ir" {
					col = i
				}
			}
			if col < 0 {
				return 0, fmt.Errorf("%w: events line %q has no Ir", ErrDumpFormat, line)
			}
		case bytes.HasPrefix(line, []byte("summary:")):
			summary = line[len("summary:"):]
		case bytes.HasPrefix(line, []byte("totals:")):
			totals = line[len("totals:"):]
		}
	}
	if col < 0 {
		return 0, fmt.Errorf("%w: no events line", ErrDumpFormat)
	}
	if totals == nil {
		return 0, ErrIncompleteDump
	}
	ir, err := column(totals, col)
	if err != nil {
		return 0, fmt.Errorf("totals: %w", err)
	}
	if summary != nil {
		s, err := column(summary, col)
		if err != nil {
			return 0, fmt.Errorf("summary: %w", err)
		}
		if s != ir {
			return 0, fmt.Errorf("%w: summary Ir %d, totals Ir %d", ErrDumpFormat, s, ir)
		}
	}
	return ir, nil
}

// column reads the col-th count of a summary or totals line; callgrind
// leaves trailing zero counts out, so a missing column is 0.
func column(counts []byte, col int) (uint64, error) {
	f := bytes.Fields(counts)
	if len(f) == 0 {
		return 0, fmt.Errorf("%w: no counts", ErrDumpFormat)
	}
	if col >= len(f) {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(f[col]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: count %q: %w", ErrDumpFormat, f[col], err)
	}
	return n, nil
}
