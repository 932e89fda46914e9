package watchrun

import (
	"fmt"
	"slices"
	"testing"

	"github.com/heraldhq/herald/events"
)

// A chain of supersessions carries every id forward, newest last, bounded
// to the last MaxSuperseded, with the full count.
func TestSuperseded_ChainIsCarriedAndBounded(t *testing.T) {
	for _, n := range []int{1, 5, events.MaxSuperseded, events.MaxSuperseded + 1, 2*events.MaxSuperseded + 7, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ds := make([]*Delivery, n+1)
			ids := make([]string, n+1)
			for i := range ds {
				ids[i] = fmt.Sprintf("e%d", i)
				ds[i] = &Delivery{Event: events.Event{ID: ids[i]}}
			}
			for i := 1; i <= n; i++ {
				ds[i].absorb("w", ds[i-1])
			}
			for i := 0; i < n; i++ {
				if s := ds[i].takeSuperseded("w"); s != nil {
					t.Fatalf("event %d still holds %d ids after being superseded", i, s.count)
				}
			}
			s := ds[n].takeSuperseded("w")
			want := ids[max(0, n-events.MaxSuperseded):n]
			if s == nil || s.count != n || !slices.Equal(s.list(), want) {
				t.Fatalf("last event holds %+v ids, want count %d and the last %d ids", s, n, len(want))
			}
			if other := ds[n].takeSuperseded("other"); other != nil {
				t.Fatalf("another watch got %d ids", other.count)
			}
		})
	}
}
