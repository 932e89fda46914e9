package feed

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The checkpoint is written by the tick once it is due and PATH holds
// something it does not, never by an event's write, and at a clean stop.
func TestStateFile_CheckpointOnlyWhenDueAndChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.json")
	prev := path + ".prev"
	sf, err := openState(path)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := sf.checkpointDue(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(prev); !os.IsNotExist(err) {
		t.Fatalf("checkpoint before any write: %v", err)
	}
	if err := sf.write(state{Created: created, Cursor: 3}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(prev); !os.IsNotExist(err) {
		t.Fatalf("an event's write wrote the checkpoint: %v", err)
	}
	// The first one is due at once.
	if err := sf.checkpointDue(); err != nil {
		t.Fatal(err)
	}
	if s, err := readState(prev); err != nil || s.Cursor != 3 {
		t.Fatalf("checkpoint: %+v, %v; want cursor 3", s, err)
	}
	if err := sf.write(state{Created: created, Cursor: 5}, false); err != nil {
		t.Fatal(err)
	}
	if err := sf.checkpointDue(); err != nil {
		t.Fatal(err)
	}
	if s, _ := readState(prev); s.Cursor != 3 {
		t.Fatalf("checkpoint written again before checkpointEvery: cursor %d", s.Cursor)
	}
	sf.checkpoint = time.Now().Add(-checkpointEvery)
	if err := sf.checkpointDue(); err != nil {
		t.Fatal(err)
	}
	if s, _ := readState(prev); s.Cursor != 5 {
		t.Fatalf("due checkpoint: cursor %d, want 5", s.Cursor)
	}
	// Nothing new: not written again even when due.
	if err := os.Remove(prev); err != nil {
		t.Fatal(err)
	}
	sf.checkpoint = time.Now().Add(-checkpointEvery)
	if err := sf.checkpointDue(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(prev); !os.IsNotExist(err) {
		t.Fatalf("checkpoint of an unchanged position: %v", err)
	}
	// A clean stop writes both.
	if err := sf.write(state{Created: created, Cursor: 8}, true); err != nil {
		t.Fatal(err)
	}
	if s, err := readState(prev); err != nil || s.Cursor != 8 {
		t.Fatalf("checkpoint at a clean stop: %+v, %v; want cursor 8", s, err)
	}
}

// A shorter position is padded in place (no truncate) unless it is less
// than half the file; what is read back is always the last one written.
func TestStateFile_InPlaceRewritesReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.json")
	sf, err := openState(path)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	long := state{Created: created, Cursor: 100, Done: [][2]uint64{{102, 110}, {120, 130}}}
	for i, s := range []state{
		long,
		{Created: created, Cursor: 131}, // shorter, more than half: padded
		{Created: created, Cursor: 132, Done: [][2]uint64{{134, 134}}}, // longer than the value, not the file
		{Created: created, Cursor: 9999999},
	} {
		if err := sf.write(s, false); err != nil {
			t.Fatal(err)
		}
		got, err := readState(path)
		if err != nil || got.Cursor != s.Cursor || len(got.Done) != len(s.Done) {
			t.Fatalf("write %d: read back %+v, %v; want %+v", i, got, err, s)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	padded := fi.Size()
	// Far shorter than the file: truncated.
	many := state{Created: created, Cursor: 1}
	for i := uint64(0); i < 200; i++ {
		many.Done = append(many.Done, [2]uint64{10 + 2*i, 10 + 2*i})
	}
	if err := sf.write(many, false); err != nil {
		t.Fatal(err)
	}
	if err := sf.write(state{Created: created, Cursor: 2}, true); err != nil {
		t.Fatal(err)
	}
	if fi, err = os.Stat(path); err != nil || fi.Size() >= padded {
		t.Fatalf("after a value far shorter than the file: size %d (was %d), %v; want it truncated", fi.Size(), padded, err)
	}
	if sf.fh != nil {
		t.Fatal("a clean stop left PATH open")
	}
	// After a clean stop, a write opens it again.
	if err := sf.write(state{Created: created, Cursor: 3}, false); err != nil {
		t.Fatal(err)
	}
	if got, err := readState(path); err != nil || got.Cursor != 3 {
		t.Fatalf("write after a clean stop: %+v, %v", got, err)
	}
}
