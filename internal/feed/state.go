package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// syncEvery bounds how long a written position may stay in the page cache
// only: a crash of the agent loses nothing written, a crash of the host at
// most this much.
const syncEvery = time.Second

// state is the file's content.
type state struct {
	// Created identifies the events stream the sequences belong to.
	Created time.Time `json:"stream_created"`
	// Cursor: every event at or below it is decided.
	Cursor uint64 `json:"cursor"`
	// Done lists the decided events above the cursor.
	Done []uint64 `json:"done,omitempty"`
}

type stateFile struct {
	path     string
	initial  *state
	lastSync time.Time
}

func openState(path string) (*stateFile, error) {
	sf := &stateFile{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return sf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("feed: %s: %w (delete it to start from the stream's end)", path, err)
	}
	sf.initial = &s
	return sf, nil
}

func (sf *stateFile) loaded() (state, bool) {
	if sf.initial == nil {
		return state{}, false
	}
	return *sf.initial, true
}

// write replaces the file atomically; fsync when sync or when the last
// fsync is older than syncEvery.
func (sf *stateFile) write(s state, sync bool) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := sf.path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		return err
	}
	if sync || time.Since(sf.lastSync) >= syncEvery {
		if err := fh.Sync(); err != nil {
			fh.Close()
			return err
		}
		sf.lastSync = time.Now()
	}
	if err := fh.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, sf.path); err != nil {
		return err
	}
	if sync {
		if d, err := os.Open(filepath.Dir(sf.path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}

// persistLoop writes the state whenever it changed, until ctx ends.
func (f *Feed) persistLoop(ctx context.Context) {
	t := time.NewTicker(syncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.flush:
			f.writeState(false)
		case <-t.C:
			f.writeState(false)
		}
	}
}

func (f *Feed) writeState(sync bool) {
	f.mu.Lock()
	if !f.dirty && !sync {
		f.mu.Unlock()
		return
	}
	s := state{Created: f.created, Cursor: f.cursor, Done: make([]uint64, 0, len(f.done))}
	for seq := range f.done {
		s.Done = append(s.Done, seq)
	}
	f.dirty = false
	f.mu.Unlock()
	if s.Created.IsZero() {
		return
	}
	slices.Sort(s.Done)
	if err := f.st.write(s, sync); err != nil {
		f.cfg.Log.Error().Err(err).Str("file", f.st.path).Msg("feed: cannot write the position; events decided since the last write will run again after a restart")
		f.mu.Lock()
		f.dirty = true
		f.mu.Unlock()
	}
}
