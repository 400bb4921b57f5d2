package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
)

// errTornRead means the catalog file changed between the start and the end
// of one read, so the bytes read may mix two versions of it.
var errTornRead = errors.New("the file changed while it was being read")

// fileState is what one read saw of the catalog file: which file it was
// (device and inode, where the platform has them), its size and mtime as
// fstat reported them for the open descriptor, and a hash of the bytes read.
// A failed read is a state too, told apart by its error text, so that the
// same failure is reported once rather than at every poll. The type is
// comparable with ==.
type fileState struct {
	dev, ino uint64
	hasID    bool
	size     int64
	mtime    int64 // Unix nanoseconds
	sum      [sha256.Size]byte
	err      string
}

// sameFile reports whether two states name the same file on disk. A state
// without an identity (a failed read, or a platform without inodes) names
// no file, so it matches nothing.
func (s fileState) sameFile(o fileState) bool {
	return s.hasID && o.hasID && s.dev == o.dev && s.ino == o.ino
}

// snapshot is the content of one read together with what it was read from.
type snapshot struct {
	data  []byte
	state fileState
}

// readCatalogFile reads the file, bounded in size, and describes it by
// fstat on the descriptor it read from: a path-based stat could describe a
// file renamed into place after the open. Stat is taken before and after the
// read; if they disagree, or a regular file yields another byte count than
// its size, a writer was busy and the read is refused with errTornRead.
func readCatalogFile(path string) (snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return snapshot{}, fmt.Errorf("read catalog: %w", err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return snapshot{}, fmt.Errorf("read catalog %s: %w", path, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxCatalogBytes+1))
	if err != nil {
		return snapshot{}, fmt.Errorf("read catalog %s: %w", path, err)
	}
	after, err := f.Stat()
	if err != nil {
		return snapshot{}, fmt.Errorf("read catalog %s: %w", path, err)
	}
	if before.Mode().IsRegular() {
		short := len(data) <= MaxCatalogBytes && int64(len(data)) != after.Size()
		if short || before.Size() != after.Size() || !before.ModTime().Equal(after.ModTime()) {
			return snapshot{}, fmt.Errorf("read catalog %s: %w", path, errTornRead)
		}
	}
	st := fileState{size: after.Size(), mtime: after.ModTime().UnixNano(), sum: sha256.Sum256(data)}
	st.dev, st.ino, st.hasID = fileID(after)
	return snapshot{data: data, state: st}, nil
}

// LoadFile reads and loads a catalog file, bounded in size.
func LoadFile(path string) (*Catalog, error) {
	c, _, err := loadFile(path)
	return c, err
}

// loadFile reads and loads a catalog file, and says which file it read.
func loadFile(path string) (*Catalog, fileState, error) {
	snap, err := readCatalogFile(path)
	if err != nil {
		return nil, fileState{}, err
	}
	c, err := Load(snap.data)
	if err != nil {
		return nil, fileState{}, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, snap.state, nil
}
