package load

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses; fields count from the last ')'.
	const line = "4242 (we ird) (name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 9 0 100 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := ProcCPU{User: 2500 * time.Millisecond, System: 370 * time.Millisecond}
	if got != want {
		t.Fatalf("parseStat = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "4242 no parens", "4242 (x) S 1 2 3", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 u s"} {
		if _, err := parseStat([]byte(bad)); !errors.Is(err, ErrProcFormat) {
			t.Errorf("parseStat(%q) err = %v, want ErrProcFormat", bad, err)
		}
	}
}

func TestParseStatus(t *testing.T) {
	const status = "Name:\tcpen-extproc\nVmPeak:\t 1300000 kB\nVmHWM:\t   30720 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n"
	got, err := parseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := (ProcMem{RSS: 20 << 20, Peak: 30 << 20}); got != want {
		t.Fatalf("parseStatus = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\nVmHWM:\t12 kB\n", "VmRSS:\tx kB\nVmHWM:\t12 kB\n"} {
		if _, err := parseStatus([]byte(bad)); !errors.Is(err, ErrProcFormat) {
			t.Errorf("parseStatus(%q) err = %v, want ErrProcFormat", bad, err)
		}
	}
}

func TestParseMachineStat(t *testing.T) {
	got, err := parseMachineStat([]byte("cpu  100 5 50 9000 40 3 2 10 0 0\ncpu0 50 2 25 4500 20 1 1 5 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := 1700 * time.Millisecond; got != want { // (100+5+50+3+2+10) ticks
		t.Fatalf("parseMachineStat = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3"} {
		if _, err := parseMachineStat([]byte(bad)); !errors.Is(err, ErrProcFormat) {
			t.Errorf("parseMachineStat(%q) err = %v, want ErrProcFormat", bad, err)
		}
	}
}

// burn uses at least d of CPU time.
func burn(t *testing.T, d time.Duration) {
	t.Helper()
	start, err := SelfCPU()
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for {
		for i := range 1 << 16 {
			x += i * i
		}
		now, err := SelfCPU()
		if err != nil {
			t.Fatal(err)
		}
		if now.Total()-start.Total() >= d {
			_ = x
			return
		}
	}
}

func TestReadOwnProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Fatalf("the harness reads /proc, which this machine lacks: %v", err)
	}
	burn(t, 50*time.Millisecond)
	cpu, err := ReadProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if cpu.Total() < 30*time.Millisecond {
		t.Errorf("ReadProcCPU = %+v after burning 50ms", cpu)
	}
	mem, err := ReadProcMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if mem.RSS <= 0 || mem.Peak < mem.RSS {
		t.Errorf("ReadProcMem = %+v", mem)
	}
	if busy, err := ReadMachineCPU(); err != nil || busy <= 0 {
		t.Errorf("ReadMachineCPU = %v, %v", busy, err)
	}
	if _, err := ReadProcCPU(1 << 30); err == nil {
		t.Error("ReadProcCPU of a pid that cannot exist: no error")
	}
}
