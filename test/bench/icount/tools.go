package icount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// ErrToolMissing is valgrind or callgrind_control not found on PATH.
var ErrToolMissing = errors.New("tool not found on PATH")

// ErrDump is a dump request callgrind did not carry out, or a dump file
// that did not appear complete in time.
var ErrDump = errors.New("callgrind dump failed")

const (
	// dumpTimeout bounds callgrind_control and the wait for its file;
	// writing a dump of a large Go program takes a second or two.
	dumpTimeout = time.Minute
	pollEvery   = 50 * time.Millisecond
)

// tools are the valgrind programs a measurement runs.
type tools struct {
	valgrind, control string
}

// findTools looks both programs up on PATH.
func findTools() (tools, error) {
	var t tools
	for _, x := range []struct {
		dst  *string
		name string
	}{{&t.valgrind, "valgrind"}, {&t.control, "callgrind_control"}} {
		p, err := exec.LookPath(x.name)
		if err != nil {
			return tools{}, fmt.Errorf("%w: %s; install valgrind, which brings callgrind_control "+
				"(Debian, Ubuntu: sudo apt-get install valgrind)", ErrToolMissing, x.name)
		}
		*x.dst = p
	}
	return t, nil
}

// callgrindArgs run a program under callgrind writing its dumps to
// dir/cg.<pid>.<part>, with the cache simulation when cacheSim is set.
func callgrindArgs(dir string, cacheSim bool) []string {
	args := []string{"--tool=callgrind", "--callgrind-out-file=" + filepath.Join(dir, "cg.%p")}
	if cacheSim {
		args = append(args, cacheSimArgs()...)
	}
	return args
}

// dumpPath is where callgrind writes dump number part (1-based) of pid.
func dumpPath(dir string, pid, part int) string {
	return filepath.Join(dir, "cg."+strconv.Itoa(pid)+"."+strconv.Itoa(part))
}

// basePath is the file callgrind creates at start and fills at exit; a
// killed process leaves it empty.
func basePath(dir string, pid int) string { return filepath.Join(dir, "cg."+strconv.Itoa(pid)) }

// dump has callgrind write its counters since the last dump (which resets
// them) as dump number part, and returns that dump's Ir, and its cache
// misses when simulated, once the file is complete.
func (t tools) dump(ctx context.Context, dir string, pid, part int) (uint64, Misses, error) {
	dctx, cancel := context.WithTimeout(ctx, dumpTimeout)
	defer cancel()
	out, err := exec.CommandContext(dctx, t.control, "-d", strconv.Itoa(pid)).CombinedOutput()
	if ctx.Err() != nil {
		return 0, Misses{}, ctx.Err()
	}
	if err != nil {
		return 0, Misses{}, fmt.Errorf("%w: callgrind_control -d %d: %w: %s", ErrDump, pid, err, out)
	}
	// callgrind_control returns once callgrind answered, after the file is
	// written; the totals line, written last, confirms it.
	path := dumpPath(dir, pid, part)
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	for {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			ir, perr := ParseIr(b)
			if !errors.Is(perr, ErrIncompleteDump) {
				if perr != nil {
					return 0, Misses{}, fmt.Errorf("%s: %w", path, perr)
				}
				m, _, merr := ParseMisses(b)
				if merr != nil {
					return 0, Misses{}, fmt.Errorf("%s: %w", path, merr)
				}
				return ir, m, nil
			}
		case !errors.Is(err, os.ErrNotExist):
			return 0, Misses{}, fmt.Errorf("%w: %w", ErrDump, err)
		}
		select {
		case <-dctx.Done():
			if ctx.Err() != nil {
				return 0, Misses{}, ctx.Err()
			}
			return 0, Misses{}, fmt.Errorf("%w: %s not complete within %v after callgrind_control answered %q",
				ErrDump, path, dumpTimeout, out)
		case <-poll.C:
		}
	}
}
