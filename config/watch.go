package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
)

// Receiver takes a newly loaded catalog. An error refuses it and the
// receiver keeps the catalog it had.
type Receiver interface {
	Apply(c *Catalog) error
}

// LoadFile reads and loads a catalog file, bounded in size.
func LoadFile(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCatalogBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read catalog %s: %w", path, err)
	}
	c, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

// Watcher reloads a catalog file when it changes or when asked (SIGHUP).
// A file that fails to load is refused; the receiver keeps the last good one.
type Watcher struct {
	path string
	poll time.Duration
	recv Receiver
	log  *zap.Logger
	mod  time.Time
	size int64
}

// NewWatcher loads the file once, synchronously, and refuses to start on a
// bad one.
func NewWatcher(path string, poll time.Duration, recv Receiver, log *zap.Logger) (*Watcher, error) {
	w := &Watcher{path: path, poll: poll, recv: recv, log: log}
	w.mod, w.size = w.stat()
	c, err := LoadFile(path)
	if err != nil {
		return nil, err
	}
	if err := recv.Apply(c); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return w, nil
}

// Run polls for changes and reloads on each value from reload, until ctx ends.
func (w *Watcher) Run(ctx context.Context, reload <-chan os.Signal) {
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			w.mod, w.size = w.stat()
			w.reload("signal")
		case <-t.C:
			mod, size := w.stat()
			if mod.Equal(w.mod) && size == w.size {
				continue
			}
			w.mod, w.size = mod, size
			w.reload("file change")
		}
	}
}

func (w *Watcher) stat() (time.Time, int64) {
	fi, err := os.Stat(w.path)
	if err != nil {
		return time.Time{}, -1
	}
	return fi.ModTime(), fi.Size()
}

func (w *Watcher) reload(cause string) {
	c, err := LoadFile(w.path)
	if err == nil {
		err = w.recv.Apply(c)
	}
	if err != nil {
		var p *Problem
		w.log.Error("catalog reload refused; keeping the previous catalog",
			zap.String("file", w.path), zap.String("cause", cause), zap.Bool("invalid", errors.As(err, &p)), zap.Error(err))
		return
	}
	w.log.Info("catalog reloaded", zap.String("file", w.path), zap.String("cause", cause),
		zap.Int("routes", len(c.Routes)), zap.Int("keys", len(c.Keys)))
}
