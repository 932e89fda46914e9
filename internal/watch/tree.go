package watch

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"
)

// Tree follows a watches directory and every directory under it with
// fsnotify, and says when to rescan it; what a rescan loads is its
// caller's business. It is used by one goroutine at a time.
type Tree struct {
	root    string
	log     zerolog.Logger
	fw      *fsnotify.Watcher // nil when the system refused one
	watched map[string]bool
}

// WatchTree starts watching root itself; start it before the first read of
// the tree, so that no change in between is missed, and pass what that
// read found to Sync. When fsnotify fails it logs why and returns a Tree
// that reports nothing: only a reload request then rescans.
func WatchTree(root string, log zerolog.Logger) *Tree {
	t := &Tree{root: root, log: log, watched: map[string]bool{}}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		log.Error().Err(err).Msg("cannot watch the watches dir; send SIGHUP to reload")
		return t
	}
	t.fw = fw
	t.Sync(nil)
	return t
}

// Sync makes the tree watch exactly root and dirs, the directories the
// last rescan read. It reports whether it added one.
func (t *Tree) Sync(dirs []string) bool {
	if t.fw == nil {
		return false
	}
	want := map[string]bool{t.root: true}
	for _, d := range dirs {
		want[d] = true
	}
	added := false
	for d := range want {
		if t.watched[d] {
			continue
		}
		if err := t.fw.Add(d); err != nil {
			t.log.Error().Err(err).Str("dir", d).Msg("cannot watch a watches dir; send SIGHUP to reload")
			continue
		}
		t.watched[d] = true
		added = true
	}
	for d := range t.watched {
		if !want[d] {
			_ = t.fw.Remove(d) // gone already, most likely
			delete(t.watched, d)
		}
	}
	return added
}

// Run calls rescan when the tree changes and when reload delivers, until
// ctx ends, and then stops watching. Changes are debounced by delay, and
// rescan is expected to compare file contents, so that editors that write
// in several steps, renames and symlink swaps all end in one consistent
// load. rescan returns the directories it read; every one is watched,
// subdirectories created later too: after a rescan finds a new one, it is
// watched and the tree is rescanned once more, for the files written into
// it before the watch.
func (t *Tree) Run(ctx context.Context, delay time.Duration, reload <-chan struct{}, rescan func() []string) {
	defer t.Close()
	var fsEvents <-chan fsnotify.Event
	var fsErrors <-chan error
	if t.fw != nil {
		fsEvents, fsErrors = t.fw.Events, t.fw.Errors
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fsEvents:
			if !ok {
				fsEvents = nil
				continue
			}
			// Hidden names are editors' temporary files, except "..data"
			// style directories that a symlink swap replaces.
			if base := filepath.Base(ev.Name); strings.HasPrefix(base, ".") && !strings.HasPrefix(base, "..") {
				continue
			}
			debounce = time.After(delay)
		case err, ok := <-fsErrors:
			if !ok {
				fsErrors = nil
				continue
			}
			t.log.Warn().Err(err).Msg("watching the watches dir")
			debounce = time.After(delay)
		case <-reload:
			if t.Sync(rescan()) {
				debounce = time.After(delay)
			}
		case <-debounce:
			debounce = nil
			if t.Sync(rescan()) {
				debounce = time.After(delay)
			}
		}
	}
}

// Close stops watching; Run closes the tree when it returns.
func (t *Tree) Close() {
	if t.fw != nil {
		_ = t.fw.Close()
	}
}
