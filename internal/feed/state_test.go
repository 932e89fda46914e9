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
