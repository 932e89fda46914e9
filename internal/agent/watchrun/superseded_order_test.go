package watchrun

import (
	"slices"
	"testing"

	"github.com/heraldhq/herald/events"
)

// A catch-up read hands over the newest event of a subject with the older
// ones it found as superseded (Supersedes, oldest first); offered to a
// queue watch whose slot holds an older event still, it absorbs that one
// and what it carried. The outcome lists them all oldest first.
func TestSuperseded_CatchUpAbsorbingTheSlotKeepsStreamOrder(t *testing.T) {
	d := func(id string) *Delivery { return &Delivery{Event: events.Event{ID: id}} }
	e0, e1, e4 := d("e0"), d("e1"), d("e4")
	e1.absorb("w", e0)             // live: e1 took e0's slot
	e4.Supersedes("w", "e2", "e3") // read: e4 found with e2 and e3
	e4.absorb("w", e1)             // offered: e4 takes e1's slot
	s := e4.takeSuperseded("w")
	if want := []string{"e0", "e1", "e2", "e3"}; s == nil || s.count != 4 || !slices.Equal(s.list(), want) {
		t.Fatalf("BUG (watchrun absorb after Supersedes, not fixed here): superseded %+v, want %q in stream order with count 4", s, want)
	}
}
