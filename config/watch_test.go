package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// catalogYAML is a small valid catalog holding the given key ids; keys come
// last, so a cut before `keys:` leaves a valid catalog without keys.
func catalogYAML(keyIDs ...string) string {
	var b strings.Builder
	b.WriteString(`tiers:
  - alias: cpen/middle
    level: middle
    min_total_per_1m: "0.05"
    max_total_per_1m: "0.35"
providers:
  - name: p1
    cluster: c1
routes:
  - id: r1
    tier: middle
    provider: p1
    model: m1
    input_per_1m: "0.04"
    output_per_1m: "0.24"
keys:
`)
	for _, id := range keyIDs {
		sum := sha256.Sum256([]byte(id))
		fmt.Fprintf(&b, "  - id: %s\n    sha256: %q\n    account: acct\n", id, hex.EncodeToString(sum[:]))
	}
	return b.String()
}

// recorder is a Receiver that keeps every catalog it accepts and refuses
// all of them while refuse is set.
type recorder struct {
	applied [][]string // key ids of each applied catalog
	refuse  error
}

var _ Receiver = (*recorder)(nil)

func (r *recorder) Apply(c *Catalog) error {
	if r.refuse != nil {
		return r.refuse
	}
	ids := []string{}
	for _, k := range c.Keys {
		ids = append(ids, k.ID)
	}
	r.applied = append(r.applied, ids)
	return nil
}

// event is one ReloadHook call.
type event struct {
	applied bool
	err     error
}

// hookLog records hook calls made from the test's own goroutine (poll and
// reloadNow called directly).
type hookLog struct{ events []event }

func (h *hookLog) hook(applied bool, err error) { h.events = append(h.events, event{applied, err}) }

// take returns the events recorded since the last take.
func (h *hookLog) take() []event {
	e := h.events
	h.events = nil
	return e
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes content beside path and renames it over path: a new
// inode, the way operators and Kubernetes update the file.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	_, ino, ok := fileID(fi)
	if !ok {
		t.Skip("the platform reports no inode")
	}
	return ino
}

// newTestWatcher writes the first catalog and starts a watcher on it whose
// poll interval is never used: tests call poll and reloadNow themselves.
func newTestWatcher(t *testing.T, first string) (*Watcher, *recorder, *hookLog, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	writeFile(t, path, first)
	rec := &recorder{}
	hooks := &hookLog{}
	w, err := NewWatcher(path, time.Hour, rec, zap.NewNop(), WithReloadHook(hooks.hook))
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	return w, rec, hooks, path
}

func assertApplied(t *testing.T, rec *recorder, want ...[]string) {
	t.Helper()
	if !reflect.DeepEqual(rec.applied, want) {
		t.Fatalf("applied catalogs (key ids) %q, want %q", rec.applied, want)
	}
}

func assertEvents(t *testing.T, got []event, want ...event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("hook events %v, want %v", got, want)
	}
	for i := range got {
		if got[i].applied != want[i].applied || (got[i].err == nil) != (want[i].err == nil) {
			t.Fatalf("hook event %d is %v, want %v", i, got[i], want[i])
		}
	}
}

var (
	appliedEvent = event{applied: true}
	heldEvent    = event{}
	refusedEvent = event{err: errors.New("refused")}
)

// A writer rewrites the file in place, is seen half way (the half is a
// valid catalog without keys), then finishes: the half is never applied, and
// the whole file is applied once it has stayed unchanged for one poll.
func TestInPlaceHalfWriteIsNeverApplied(t *testing.T) {
	w, rec, hooks, path := newTestWatcher(t, catalogYAML("k1"))
	full := catalogYAML("k2", "k3")
	half := full[:strings.Index(full, "keys:")]
	if c, err := Load([]byte(half)); err != nil || len(c.Keys) != 0 {
		t.Fatalf("the half file must be a valid catalog without keys: %v", err)
	}
	ino := inode(t, path)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(half); err != nil {
		t.Fatal(err)
	}
	w.poll()
	assertEvents(t, hooks.take(), heldEvent)
	if _, err := f.WriteString(full[len(half):]); err != nil {
		t.Fatal(err)
	}
	if inode(t, path) != ino {
		t.Fatal("the file was not written in place")
	}
	w.poll() // the whole file, first seen: held
	assertEvents(t, hooks.take(), heldEvent)
	assertApplied(t, rec, []string{"k1"})
	w.poll() // unchanged for one interval: applied
	assertEvents(t, hooks.take(), appliedEvent)
	w.poll() // nothing new
	assertEvents(t, hooks.take())
	assertApplied(t, rec, []string{"k1"}, []string{"k2", "k3"})
}

// A file renamed over the path is applied at the next poll, without waiting.
func TestRenameSwapAppliesAtNextPoll(t *testing.T) {
	w, rec, hooks, path := newTestWatcher(t, catalogYAML("k1"))
	w.poll()
	assertEvents(t, hooks.take())
	replaceFile(t, path, catalogYAML("k2"))
	w.poll()
	assertEvents(t, hooks.take(), appliedEvent)
	w.poll()
	assertEvents(t, hooks.take())
	assertApplied(t, rec, []string{"k1"}, []string{"k2"})
}

// A bad file is refused once and the old catalog kept; it is not retried
// until the file changes again.
func TestBadFileIsRefusedOnceAndOldKept(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"unknown field", catalogYAML("k2") + "colour: blue\n"},
		{"no tiers", "keys: []\n"},
		{"second document", catalogYAML("k2") + "---\nfee_rate: \"0.5\"\n"},
		{"not YAML", "tiers: [\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, rec, hooks, path := newTestWatcher(t, catalogYAML("k1"))
			replaceFile(t, path, tc.content)
			w.poll()
			got := hooks.take()
			assertEvents(t, got, refusedEvent)
			if !errors.Is(got[0].err, ErrInvalidCatalog) {
				t.Errorf("error %v does not match ErrInvalidCatalog", got[0].err)
			}
			w.poll()
			assertEvents(t, hooks.take())
			replaceFile(t, path, catalogYAML("k3"))
			w.poll()
			assertEvents(t, hooks.take(), appliedEvent)
			assertApplied(t, rec, []string{"k1"}, []string{"k3"})
		})
	}
}

// A catalog the receiver refuses is reported like a bad file.
func TestReceiverRefusalKeepsOld(t *testing.T) {
	w, rec, hooks, path := newTestWatcher(t, catalogYAML("k1"))
	refusal := errors.New("receiver says no")
	rec.refuse = refusal
	replaceFile(t, path, catalogYAML("k2"))
	w.poll()
	got := hooks.take()
	assertEvents(t, got, refusedEvent)
	if !errors.Is(got[0].err, refusal) {
		t.Errorf("error %v does not wrap the receiver's", got[0].err)
	}
	assertApplied(t, rec, []string{"k1"})
}

// A file that disappears is reported once; one renamed back is applied.
func TestMissingFileIsReportedOnce(t *testing.T) {
	w, rec, hooks, path := newTestWatcher(t, catalogYAML("k1"))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.poll()
	got := hooks.take()
	assertEvents(t, got, refusedEvent)
	if !errors.Is(got[0].err, os.ErrNotExist) {
		t.Errorf("error %v, want one matching os.ErrNotExist", got[0].err)
	}
	w.poll()
	assertEvents(t, hooks.take())
	replaceFile(t, path, catalogYAML("k2"))
	w.poll()
	assertEvents(t, hooks.take(), appliedEvent)
	assertApplied(t, rec, []string{"k1"}, []string{"k2"})
}

// A signal applies an in-place change at once; the poll that follows finds
// nothing new.
func TestSignalAppliesAtOnce(t *testing.T) {
	w, rec, hooks, path := newTestWatcher(t, catalogYAML("k1"))
	writeFile(t, path, catalogYAML("k2"))
	w.reloadNow()
	assertEvents(t, hooks.take(), appliedEvent)
	w.poll()
	assertEvents(t, hooks.take())
	writeFile(t, path, catalogYAML("k3")+"colour: blue\n")
	w.reloadNow()
	assertEvents(t, hooks.take(), refusedEvent)
	w.poll() // the same bad file: already reported
	assertEvents(t, hooks.take())
	assertApplied(t, rec, []string{"k1"}, []string{"k2"})
}

// A signal pending while an in-place change is held applies it, and the
// held state is dropped.
func TestSignalDuringHold(t *testing.T) {
	w, rec, hooks, path := newTestWatcher(t, catalogYAML("k1"))
	writeFile(t, path, catalogYAML("k2"))
	w.poll()
	assertEvents(t, hooks.take(), heldEvent)
	w.reloadNow()
	w.poll()
	assertEvents(t, hooks.take(), appliedEvent)
	assertApplied(t, rec, []string{"k1"}, []string{"k2"})
}

// Run's loop reacts to signals and ticks, logs what it does, and stops
// with its context.
func TestLoopSignalsAndTicks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	writeFile(t, path, catalogYAML("k1"))
	rec := &recorder{}
	events := make(chan event, 8)
	core, logs := observer.New(zapcore.InfoLevel)
	w, err := NewWatcher(path, time.Hour, rec, zap.New(core),
		WithReloadHook(func(applied bool, err error) { events <- event{applied, err} }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan os.Signal)
	ticks := make(chan time.Time)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.loop(ctx, reload, ticks)
	}()

	writeFile(t, path, catalogYAML("k2"))
	reload <- syscall.SIGHUP
	assertEvents(t, []event{<-events}, appliedEvent)
	replaceFile(t, path, catalogYAML("k3"))
	ticks <- time.Now()
	assertEvents(t, []event{<-events}, appliedEvent)
	replaceFile(t, path, "tiers: []\n")
	ticks <- time.Now()
	assertEvents(t, []event{<-events}, refusedEvent)
	cancel()
	<-done
	if n := len(events); n != 0 {
		t.Errorf("%d more hook events", n)
	}
	assertApplied(t, rec, []string{"k1"}, []string{"k2"}, []string{"k3"})

	var msgs []string
	for _, e := range logs.All() {
		msgs = append(msgs, e.Message+" ("+e.ContextMap()["cause"].(string)+")")
	}
	want := []string{
		"catalog reloaded (signal)",
		"catalog reloaded (file change)",
		"catalog reload refused; keeping the previous catalog (file change)",
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("log %q, want %q", msgs, want)
	}
}

// NewWatcher loads synchronously and refuses to start on a bad file.
func TestNewWatcherRefusesBadFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, catalogYAML("k1")+"colour: blue\n")
	tests := []struct {
		name string
		path string
		want error
	}{
		{"invalid", bad, ErrInvalidCatalog},
		{"missing", filepath.Join(dir, "nope.yaml"), os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			hooks := &hookLog{}
			w, err := NewWatcher(tc.path, time.Hour, rec, zap.NewNop(), WithReloadHook(hooks.hook))
			if w != nil || !errors.Is(err, tc.want) {
				t.Fatalf("NewWatcher = %v, %v; want nil, %v", w, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file", err)
			}
			assertApplied(t, rec)
			assertEvents(t, hooks.take())
		})
	}
}
