package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A regular file whose byte count disagrees with the size fstat gives was
// changing while read, and is refused. Procfs files are regular files that
// report size 0, so they stand in for a file grown by a busy writer.
func TestReadRefusesTornRead(t *testing.T) {
	const proc = "/proc/self/status"
	if _, err := os.Stat(proc); err != nil {
		t.Skip("no procfs")
	}
	if _, err := readCatalogFile(proc); !errors.Is(err, errTornRead) {
		t.Fatalf("error %v, want errTornRead", err)
	}

	// The watcher holds such a read back instead of applying or refusing it.
	w, rec, hooks, _ := newTestWatcher(t, catalogYAML("k1"))
	w.path = proc
	w.poll()
	assertEvents(t, hooks.take(), heldEvent)
	assertApplied(t, rec, []string{"k1"})
}

// The state of a read describes the bytes read: their hash and length,
// and the file's identity.
func TestReadDescribesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	writeFile(t, path, "tiers: []\n")
	a, err := readCatalogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.data) != "tiers: []\n" || a.state.size != 10 || !a.state.hasID || a.state.ino != inode(t, path) {
		t.Fatalf("read %q, state %+v", a.data, a.state)
	}
	b, err := readCatalogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.state != b.state {
		t.Errorf("two reads of an unchanged file differ: %+v, %+v", a.state, b.state)
	}
	writeFile(t, path, "tiers: {}\n") // same size, maybe the same mtime: the hash tells
	c, err := readCatalogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.state.sum == a.state.sum || !c.state.sameFile(a.state) {
		t.Errorf("in-place rewrite: state %+v, before %+v", c.state, a.state)
	}
}
