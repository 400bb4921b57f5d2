package load

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat. The kernel
// reports them in USER_HZ, which is 100 on every Linux architecture
// (sysconf(_SC_CLK_TCK) returns it; Go has no stdlib sysconf).
const userHZ = 100

// ErrProcFormat reports a /proc file that does not look as expected.
var ErrProcFormat = errors.New("unexpected /proc format")

// ProcCPU is the CPU time a process has used so far, all threads included
// (live and exited ones).
type ProcCPU struct {
	User, System time.Duration
}

// Total is user plus system time.
func (c ProcCPU) Total() time.Duration { return c.User + c.System }

// ProcMem is a process's resident memory, in bytes.
type ProcMem struct {
	RSS  int64 // VmRSS: resident now
	Peak int64 // VmHWM: the highest RSS so far
}

// ReadProcCPU reads utime and stime from /proc/<pid>/stat. Their
// resolution is one clock tick (10 ms).
func ReadProcCPU(pid int) (ProcCPU, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcCPU{}, fmt.Errorf("read cpu of pid %d: %w", pid, err)
	}
	c, err := parseStat(b)
	if err != nil {
		return ProcCPU{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return c, nil
}

// parseStat reads fields 14 (utime) and 15 (stime) of a /proc/<pid>/stat
// line. Field 2, the command name in parentheses, may hold spaces and
// parentheses itself, so counting starts after the last ')'.
func parseStat(b []byte) (ProcCPU, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcCPU{}, fmt.Errorf("%w: stat has no command name", ErrProcFormat)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return ProcCPU{}, fmt.Errorf("%w: stat has %d fields after the command name", ErrProcFormat, len(f))
	}
	u, err := strconv.ParseInt(string(f[utime]), 10, 64)
	if err != nil {
		return ProcCPU{}, fmt.Errorf("%w: utime: %w", ErrProcFormat, err)
	}
	s, err := strconv.ParseInt(string(f[stime]), 10, 64)
	if err != nil {
		return ProcCPU{}, fmt.Errorf("%w: stime: %w", ErrProcFormat, err)
	}
	return ProcCPU{User: ticks(u), System: ticks(s)}, nil
}

func ticks(n int64) time.Duration { return time.Duration(n) * (time.Second / userHZ) }

// ReadProcMem reads VmRSS and VmHWM from /proc/<pid>/status.
func ReadProcMem(pid int) (ProcMem, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ProcMem{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	m, err := parseStatus(b)
	if err != nil {
		return ProcMem{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return m, nil
}

// parseStatus reads the "VmRSS:   1234 kB" and "VmHWM:" lines.
func parseStatus(b []byte) (ProcMem, error) {
	var m ProcMem
	var haveRSS, haveHWM bool
	for line := range bytes.Lines(b) {
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst, haveRSS = &m.RSS, true
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst, haveHWM = &m.Peak, true
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[2]) != "kB" {
			return ProcMem{}, fmt.Errorf("%w: status line %q", ErrProcFormat, bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			return ProcMem{}, fmt.Errorf("%w: status line %q: %w", ErrProcFormat, bytes.TrimSpace(line), err)
		}
		*dst = kb << 10
	}
	if !haveRSS || !haveHWM {
		return ProcMem{}, fmt.Errorf("%w: status has no VmRSS/VmHWM (kernel thread or zombie?)", ErrProcFormat)
	}
	return m, nil
}

// ReadMachineCPU reads the busy CPU time of the whole machine, all CPUs
// summed, from the first line of /proc/stat: user, nice, system, irq,
// softirq and steal (time the hypervisor gave to someone else).
func ReadMachineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read machine cpu: %w", err)
	}
	return parseMachineStat(b)
}

func parseMachineStat(b []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	// cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("%w: /proc/stat starts with %q", ErrProcFormat, line)
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(string(f[i]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: /proc/stat field %d: %w", ErrProcFormat, i, err)
		}
		busy += n
	}
	return ticks(busy), nil
}

// SelfCPU is the CPU time this process has used so far, from getrusage
// (microsecond resolution).
func SelfCPU() (ProcCPU, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return ProcCPU{}, fmt.Errorf("getrusage: %w", err)
	}
	return ProcCPU{
		User:   time.Duration(ru.Utime.Nano()),
		System: time.Duration(ru.Stime.Nano()),
	}, nil
}
