package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
)

// configMapVolume is a directory laid out the way the kubelet lays out a
// mounted ConfigMap: each version of the data lives in its own timestamped
// directory, `..data` is a symlink to the current one, and every key is a
// symlink through `..data`, so the visible file changes in one rename.
type configMapVolume struct {
	t   *testing.T
	dir string
	cur string // the timestamped directory `..data` points at
	gen int
}

// newConfigMapVolume publishes the first version of the key catalog.yaml.
func newConfigMapVolume(t *testing.T, content string) *configMapVolume {
	t.Helper()
	v := &configMapVolume{t: t, dir: t.TempDir()}
	v.cur = v.writeVersion(content)
	v.must(os.Symlink(v.cur, filepath.Join(v.dir, "..data")))
	v.must(os.Symlink(filepath.Join("..data", "catalog.yaml"), v.path()))
	return v
}

// path is the file the sidecar is pointed at.
func (v *configMapVolume) path() string { return filepath.Join(v.dir, "catalog.yaml") }

// writeVersion writes one version of the data into a new timestamped
// directory and returns its name, relative to the volume as the kubelet's
// symlinks are.
func (v *configMapVolume) writeVersion(content string) string {
	v.t.Helper()
	v.gen++
	name := fmt.Sprintf("..2026_11_29_10_00_00.%09d", v.gen)
	v.must(os.Mkdir(filepath.Join(v.dir, name), 0o755))
	v.must(os.WriteFile(filepath.Join(v.dir, name, "catalog.yaml"), []byte(content), 0o644))
	return name
}

// update is the kubelet's atomic update, step by step: the new version in a
// new directory, a `..data_tmp` symlink to it, that symlink renamed over
// `..data`, the old directory removed. after runs once each step is done,
// so a test can look at the volume between steps.
func (v *configMapVolume) update(content string, after func(step string)) {
	v.t.Helper()
	next := v.writeVersion(content)
	after("new version written")
	tmp := filepath.Join(v.dir, "..data_tmp")
	v.must(os.Symlink(next, tmp))
	after("..data_tmp created")
	v.must(os.Rename(tmp, filepath.Join(v.dir, "..data")))
	after("..data swapped")
	v.must(os.RemoveAll(filepath.Join(v.dir, v.cur)))
	v.cur = next
	after("old version removed")
}

func (v *configMapVolume) must(err error) {
	v.t.Helper()
	if err != nil {
		v.t.Fatal(err)
	}
}

// newConfigMapWatcher starts a watcher on the volume's catalog.yaml whose
// poll interval is never used: the test polls by hand.
func newConfigMapWatcher(t *testing.T, v *configMapVolume) (*Watcher, *recorder, *hookLog) {
	t.Helper()
	rec := &recorder{}
	hooks := &hookLog{}
	w, err := NewWatcher(v.path(), time.Hour, rec, zap.NewNop(), WithReloadHook(hooks.hook))
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	return w, rec, hooks
}

// A ConfigMap update reaches the watcher through the `..data` swap: a poll
// at any step before the rename sees the old catalog unchanged, the poll
// right after the rename applies the new one without waiting for it to
// settle, and removing the old directory changes nothing more.
func TestConfigMapSwapAppliesAtNextPoll(t *testing.T) {
	v := newConfigMapVolume(t, catalogYAML("k1"))
	w, rec, hooks := newConfigMapWatcher(t, v)
	assertApplied(t, rec, []string{"k1"})

	steps := []struct {
		name string
		want []event
	}{
		{"new version written", nil},
		{"..data_tmp created", nil},
		{"..data swapped", []event{appliedEvent}},
		{"old version removed", nil},
	}
	i := 0
	v.update(catalogYAML("k2", "k3"), func(step string) {
		if i >= len(steps) || steps[i].name != step {
			t.Fatalf("step %d is %q", i, step)
		}
		w.poll()
		got := hooks.take()
		t.Logf("%s: %v", step, got)
		assertEvents(t, got, steps[i].want...)
		i++
	})
	if i != len(steps) {
		t.Fatalf("%d steps taken, want %d", i, len(steps))
	}
	assertApplied(t, rec, []string{"k1"}, []string{"k2", "k3"})

	// A second update goes the same way: the path now resolves through a
	// directory that did not exist when the watcher started.
	v.update(catalogYAML("k4"), func(string) {})
	w.poll()
	assertEvents(t, hooks.take(), appliedEvent)
	w.poll()
	assertEvents(t, hooks.take())
	assertApplied(t, rec, []string{"k1"}, []string{"k2", "k3"}, []string{"k4"})
}

// Two updates between polls: only the latest version is applied. The first
// update deletes the file the watcher last saw, so the filesystem may give
// its inode to the file of the second update; the watcher then takes the
// new version for an in-place change and applies it one poll later.
func TestConfigMapSwapTwiceBetweenPolls(t *testing.T) {
	v := newConfigMapVolume(t, catalogYAML("k1"))
	w, rec, hooks := newConfigMapWatcher(t, v)
	before := inode(t, v.path())
	v.update(catalogYAML("k2"), func(string) {})
	v.update(catalogYAML("k3"), func(string) {})
	w.poll()
	if inode(t, v.path()) == before {
		t.Log("the inode was reused: the change is held for one poll")
		assertEvents(t, hooks.take(), heldEvent)
		w.poll()
	}
	assertEvents(t, hooks.take(), appliedEvent)
	w.poll()
	assertEvents(t, hooks.take())
	assertApplied(t, rec, []string{"k1"}, []string{"k3"})
}

// An update to an invalid catalog is refused once, the old catalog stays,
// and the next valid update is applied.
func TestConfigMapSwapToInvalidCatalogKeepsOld(t *testing.T) {
	v := newConfigMapVolume(t, catalogYAML("k1"))
	w, rec, hooks := newConfigMapWatcher(t, v)

	v.update(catalogYAML("k2")+"colour: blue\n", func(string) {})
	w.poll()
	got := hooks.take()
	assertEvents(t, got, refusedEvent)
	if !errors.Is(got[0].err, ErrInvalidCatalog) {
		t.Errorf("error %v does not match ErrInvalidCatalog", got[0].err)
	}
	w.poll() // the same bad version: already reported
	assertEvents(t, hooks.take())
	assertApplied(t, rec, []string{"k1"})

	v.update(catalogYAML("k3"), func(string) {})
	w.poll()
	assertEvents(t, hooks.take(), appliedEvent)
	assertApplied(t, rec, []string{"k1"}, []string{"k3"})
}
