package bus_test

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats-server/v2/server"
)

// TestReduceFilters_Property checks, for random filter sets, that the
// reduced set has no two overlapping filters (JetStream rejects those) and
// still lets through every subject any input filter matched.
func TestReduceFilters_Property(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	toks := []string{"a", "b", "c", "*"}
	gen := func() string {
		n := 1 + r.Intn(4)
		parts := []string{"herald", "event"}
		for i := range n {
			if i == n-1 && r.Intn(4) == 0 {
				parts = append(parts, ">")
				break
			}
			parts = append(parts, toks[r.Intn(len(toks))])
		}
		return strings.Join(parts, ".")
	}
	for range 3000 {
		var in []string
		for range 1 + r.Intn(5) {
			in = append(in, gen())
		}
		out := bus.ReduceFilters(in)
		for i, a := range out {
			for _, b := range out[i+1:] {
				if server.SubjectsCollide(a, b) {
					t.Fatalf("reduce(%v) = %v: %q and %q overlap", in, out, a, b)
				}
			}
		}
		for range 30 {
			n := 1 + r.Intn(4)
			parts := []string{"herald", "event"}
			for range n {
				parts = append(parts, toks[r.Intn(3)])
			}
			subj := strings.Join(parts, ".")
			matchIn, matchOut := false, false
			for _, f := range in {
				matchIn = matchIn || server.SubjectMatchesFilter(subj, f)
			}
			for _, f := range out {
				matchOut = matchOut || server.SubjectMatchesFilter(subj, f)
			}
			if matchIn && !matchOut {
				t.Fatalf("reduce(%v) = %v drops %q", in, out, subj)
			}
		}
	}
	if got := bus.ReduceFilters(nil); len(got) != 1 || got[0] != bus.NoneFilter {
		t.Fatalf("no watches: %v", got)
	}
}
