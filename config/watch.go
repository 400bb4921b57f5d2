package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// Receiver takes a newly loaded catalog. An error refuses it and the
// receiver keeps the catalog it had.
type Receiver interface {
	Apply(c *Catalog) error
}

// ReloadHook observes every reload decision the watcher takes after start:
//   - applied true, err nil: a new catalog was applied;
//   - applied false, err non-nil: the file was refused (unreadable, invalid,
//     or rejected by the receiver) and the previous catalog is kept;
//   - applied false, err nil: a change was seen but held back, because the
//     file was changed in place and has not yet stayed unchanged for one
//     poll interval, or was being written while read.
//
// A poll that finds the file as it was calls no hook. The hook runs on the
// watcher's goroutine, so it must not block.
type ReloadHook func(applied bool, err error)

// WatcherOption configures a Watcher.
type WatcherOption func(*Watcher)

// WithReloadHook sets the hook told of each reload decision.
func WithReloadHook(h ReloadHook) WatcherOption {
	return func(w *Watcher) { w.hook = h }
}

// Watcher reloads a catalog file when it changes or when asked (SIGHUP).
// A file that fails to load is refused; the receiver keeps the last good one.
//
// A file replaced by rename (a new inode: `mv new.yaml catalog.yaml`, or a
// Kubernetes ConfigMap symlink swap) is complete by construction and is
// applied at the next poll. A file rewritten in place may be caught half
// written, and a half catalog can be valid (cut before `keys:`, it is a
// catalog without keys), so it is applied only once its size, mtime and
// content hash have stayed the same across one whole poll interval. A signal
// is an operator saying the file is complete: it applies at once.
type Watcher struct {
	path     string
	interval time.Duration
	recv     Receiver
	log      *zap.Logger
	hook     ReloadHook
	// seen is the file the last decision was taken on (applied, refused or
	// unreadable), so that one bad file is reported once, not every poll.
	seen fileState
	// pending is an in-place change seen at the previous poll; it is
	// applied if the next poll sees exactly the same file.
	pending *fileState
}

// NewWatcher loads the file once, synchronously, and refuses to start on a
// bad one. The hook is not called for this first load.
func NewWatcher(path string, interval time.Duration, recv Receiver, log *zap.Logger, opts ...WatcherOption) (*Watcher, error) {
	w := &Watcher{path: path, interval: interval, recv: recv, log: log, hook: func(bool, error) {}}
	for _, o := range opts {
		o(w)
	}
	c, state, err := loadFile(path)
	if err != nil {
		return nil, err
	}
	if err := recv.Apply(c); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	w.seen = state
	return w, nil
}

// Run polls for changes and reloads on each value from reload, until ctx ends.
func (w *Watcher) Run(ctx context.Context, reload <-chan os.Signal) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	w.loop(ctx, reload, t.C)
}

// loop is Run with the ticker's channel passed in, so that tests decide
// when a poll happens.
func (w *Watcher) loop(ctx context.Context, reload <-chan os.Signal, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			w.reloadNow()
		case <-ticks:
			w.poll()
		}
	}
}

// poll is one tick: it reads the file and applies, holds back or refuses it.
func (w *Watcher) poll() {
	snap, err := readCatalogFile(w.path)
	if errors.Is(err, errTornRead) {
		// Stability has to be proven again from a clean read.
		w.pending = nil
		w.hold("the file was being written while read")
		return
	}
	cur := snap.state
	if err != nil {
		cur = fileState{err: err.Error()}
	}
	if cur == w.seen {
		w.pending = nil
		return
	}
	if err != nil {
		w.seen, w.pending = cur, nil
		w.refuse("file change", err)
		return
	}
	if cur.sameFile(w.seen) || !cur.hasID {
		if w.pending == nil || *w.pending != cur {
			w.pending = &cur
			w.hold("the file changed in place; it is applied once it stays unchanged for one poll interval")
			return
		}
	}
	w.seen, w.pending = cur, nil
	w.apply(snap, "file change")
}

// reloadNow is a signal: the file is read through the same path as a poll
// but applied without waiting for it to settle.
func (w *Watcher) reloadNow() {
	w.pending = nil
	snap, err := readCatalogFile(w.path)
	if err != nil {
		if !errors.Is(err, errTornRead) {
			w.seen = fileState{err: err.Error()}
		}
		w.refuse("signal", err)
		return
	}
	w.seen = snap.state
	w.apply(snap, "signal")
}

func (w *Watcher) apply(snap snapshot, cause string) {
	c, err := Load(snap.data)
	if err != nil {
		w.refuse(cause, fmt.Errorf("catalog %s: %w", w.path, err))
		return
	}
	if err := w.recv.Apply(c); err != nil {
		w.refuse(cause, fmt.Errorf("catalog %s: %w", w.path, err))
		return
	}
	w.log.Info("catalog reloaded", zap.String("file", w.path), zap.String("cause", cause),
		zap.Int("routes", len(c.Routes)), zap.Int("keys", len(c.Keys)))
	w.hook(true, nil)
}

func (w *Watcher) refuse(cause string, err error) {
	w.log.Error("catalog reload refused; keeping the previous catalog",
		zap.String("file", w.path), zap.String("cause", cause), zap.Bool("invalid", errors.Is(err, ErrInvalidCatalog)), zap.Error(err))
	w.hook(false, err)
}

func (w *Watcher) hold(why string) {
	w.log.Info("catalog change held back", zap.String("file", w.path), zap.String("reason", why))
	w.hook(false, nil)
}
