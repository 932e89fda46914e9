package feed

import (
	"bytes"
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

// syncEvery is how often the position is written when nothing signalled a
// change (a cursor moved by a read).
const syncEvery = time.Second

// writeGap is the least time between two writes of the state: an agent
// that crashes runs again at most the events it decided in this window
// (their outcomes are stored once: the outcome's message id dedups).
const writeGap = 20 * time.Millisecond

// state is the file's content.
type state struct {
	// Created identifies the events stream the sequences belong to.
	Created time.Time `json:"stream_created"`
	// Cursor: every event at or below it is decided.
	Cursor uint64 `json:"cursor"`
	// Done lists the decided events above the cursor as ranges [from, to]
	// of consecutive sequences.
	Done [][2]uint64 `json:"done,omitempty"`
}

// ranges folds sorted sequences into runs of consecutive ones.
func ranges(seqs []uint64) [][2]uint64 {
	var out [][2]uint64
	for _, s := range seqs {
		if n := len(out); n > 0 && out[n-1][1]+1 == s {
			out[n-1][1] = s
			continue
		}
		out = append(out, [2]uint64{s, s})
	}
	return out
}

// checkpointEvery is how often the position is also written whole to a
// second file (PATH.prev, through a temporary file and a rename): the one
// to fall back on should the host crash in the middle of rewriting PATH.
// It is written from the feed's once-a-second tick, never on the write an
// event's decision makes: an event reaches a whole fleet at once, and
// checkpoints taken on it would all come together. A minute apart: a file
// created and renamed costs ~350 µs on an ext4 mounted with discard (this
// project's test machine), fifteen times an in-place rewrite, and the
// fallback is for a host crash, after which the kernel's unflushed writes
// (up to 30 s of them by default) are lost from PATH anyway.
const checkpointEvery = time.Minute

// stateFile is PATH, rewritten in place through a descriptor held while
// the feed runs (no file is created and nothing renamed per write: on ext4
// one pwrite costs a fraction of a create and a rename, so a thousand
// agents on one disk, or one agent on a busy host, cost next to nothing),
// and PATH.prev, its checkpoint. A shorter value than the file holds is
// padded with spaces rather than the file truncated, unless it is less
// than half of it. A crash of the agent loses nothing written; what it
// reads back is the first JSON value of PATH (spaces, or a longer older
// value's tail, may follow it). A crash of the host can tear PATH: then
// PATH.prev, an older position, which only makes the agent run again what
// it had decided since. Neither is flushed to disk but at a clean stop,
// which also closes PATH.
type stateFile struct {
	path       string
	initial    *state
	fh         *os.File  // PATH, open between the first write and a clean stop
	size       int       // PATH's length
	checkpoint time.Time // when PATH.prev was last written
	last       []byte    // what PATH holds
	prev       []byte    // what PATH.prev holds, when written by this process
}

func openState(path string) (*stateFile, error) {
	sf := &stateFile{path: path}
	s, err := readState(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		prev, perr := readState(path + ".prev")
		if perr != nil {
			return nil, fmt.Errorf("feed: %s: %w (and %s.prev: %v; delete both to start from the stream's end)", path, err, path, perr)
		}
		s, err = prev, nil
	}
	if err == nil {
		sf.initial = &s
	}
	return sf, nil
}

// readState decodes the first JSON value of path.
func readState(path string) (state, error) {
	var s state
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func (sf *stateFile) loaded() (state, bool) {
	if sf.initial == nil {
		return state{}, false
	}
	return *sf.initial, true
}

// write rewrites PATH in place with s, and flushes it to disk,
// checkpoints it and closes it when sync (a clean stop).
func (sf *stateFile) write(s state, sync bool) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := sf.rewrite(b, sync); err != nil {
		return err
	}
	sf.last = b
	if sync {
		return sf.checkpointNow(true)
	}
	return nil
}

func (sf *stateFile) rewrite(b []byte, sync bool) (err error) {
	if sf.fh == nil {
		fh, err := os.OpenFile(sf.path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		fi, err := fh.Stat()
		if err != nil {
			fh.Close()
			return err
		}
		sf.fh, sf.size = fh, int(fi.Size())
	}
	defer func() {
		if err != nil || sync {
			if cerr := sf.fh.Close(); err == nil {
				err = cerr
			}
			sf.fh = nil
		}
	}()
	out := b
	if n := len(b); n < sf.size && n >= sf.size/2 {
		out = append(slices.Clip(b), bytes.Repeat([]byte{' '}, sf.size-n)...)
	}
	if _, err := sf.fh.WriteAt(out, 0); err != nil {
		return err
	}
	if len(out) < sf.size {
		if err := sf.fh.Truncate(int64(len(out))); err != nil {
			return err
		}
	}
	sf.size = len(out)
	if sync {
		return sf.fh.Sync()
	}
	return nil
}

// checkpointDue writes PATH.prev when checkpointEvery has passed since the
// last one and PATH holds something newer.
func (sf *stateFile) checkpointDue() error {
	if sf.last == nil || bytes.Equal(sf.last, sf.prev) || time.Since(sf.checkpoint) < checkpointEvery {
		return nil
	}
	return sf.checkpointNow(false)
}

func (sf *stateFile) checkpointNow(sync bool) error {
	if err := writeFileAtomic(sf.path+".prev", sf.last, sync); err != nil {
		return err
	}
	sf.checkpoint, sf.prev = time.Now(), sf.last
	return nil
}

// writeFileAtomic replaces path with b through a temporary file and a
// rename; fsync when sync.
func writeFileAtomic(path string, b []byte, sync bool) error {
	tmp := path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		return err
	}
	if sync {
		if err := fh.Sync(); err != nil {
			fh.Close()
			return err
		}
	}
	if err := fh.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if sync {
		if d, err := os.Open(filepath.Dir(path)); err == nil {
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
			// Coalesce: under load one write covers many decisions.
			select {
			case <-ctx.Done():
				return
			case <-time.After(writeGap):
			}
		case <-t.C:
			f.writeState(false)
			if err := f.st.checkpointDue(); err != nil {
				f.cfg.Log.Error().Err(err).Str("file", f.st.path+".prev").Msg("feed: cannot write the position's checkpoint")
			}
		}
	}
}

// Sync writes the state and flushes it to disk; for after Run returned
// (decisions made since Run's own last write).
func (f *Feed) Sync() { f.writeState(true) }

func (f *Feed) writeState(sync bool) {
	f.mu.Lock()
	f.advance()
	if !f.dirty && !sync {
		f.mu.Unlock()
		return
	}
	s := state{Created: f.created, Cursor: f.cursor}
	done := make([]uint64, 0, len(f.done))
	for seq := range f.done {
		done = append(done, seq)
	}
	f.dirty = false
	f.mu.Unlock()
	if s.Created.IsZero() {
		return
	}
	slices.Sort(done)
	s.Done = ranges(done)
	if err := f.st.write(s, sync); err != nil {
		f.cfg.Log.Error().Err(err).Str("file", f.st.path).Msg("feed: cannot write the position; events decided since the last write will run again after a restart")
		f.mu.Lock()
		f.dirty = true
		f.mu.Unlock()
	}
}

// ReadPosition reads a state file as an agent left it: the sequence at and
// below which every event is decided, and how many above it are decided
// too. For tests and tools.
func ReadPosition(path string) (cursor uint64, doneAbove int, err error) {
	sf, err := openState(path)
	if err != nil {
		return 0, 0, err
	}
	s, ok := sf.loaded()
	if !ok {
		return 0, 0, fmt.Errorf("feed: %s: %w", path, fs.ErrNotExist)
	}
	for _, r := range s.Done {
		doneAbove += int(r[1] - r[0] + 1)
	}
	return s.Cursor, doneAbove, nil
}
