package bus

import (
	"sort"
	"strings"

	"github.com/heraldhq/herald/events"
)

// NoneFilter is a subject no event uses: a consumer must have a filter, and
// an agent with no watches should receive nothing.
const NoneFilter = events.EventPrefix + "._none._"

// ReduceFilters returns a set of subject filters covering the same subjects
// with no two overlapping, as JetStream requires of a consumer's
// FilterSubjects. A filter covered by another is dropped; two that overlap
// without one covering the other are widened to their common prefix + ">".
func ReduceFilters(in []string) []string {
	set := map[string]bool{}
	for _, f := range in {
		set[f] = true
	}
	for changed := true; changed; {
		changed = false
		list := sortedKeys(set)
	outer:
		for i, a := range list {
			for _, b := range list[i+1:] {
				switch {
				case covers(a, b):
					delete(set, b)
				case covers(b, a):
					delete(set, a)
				case overlap(a, b):
					delete(set, a)
					delete(set, b)
					set[widen(a, b)] = true
				default:
					continue
				}
				changed = true
				break outer
			}
		}
	}
	out := sortedKeys(set)
	if len(out) == 0 {
		return []string{NoneFilter}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// covers reports whether every subject matched by b is matched by a.
func covers(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i, t := range at {
		if t == ">" {
			return len(bt) > i
		}
		if i >= len(bt) {
			return false
		}
		switch {
		case t == "*":
			if bt[i] == ">" {
				return false
			}
		case t != bt[i]:
			return false
		}
	}
	return len(at) == len(bt)
}

// overlap reports whether some subject matches both filters.
func overlap(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		if i == len(at) || i == len(bt) {
			return len(at) == len(bt)
		}
		x, y := at[i], bt[i]
		if x == ">" || y == ">" {
			return true
		}
		if x != "*" && y != "*" && x != y {
			return false
		}
	}
}

func widen(a, b string) string {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	var common []string
	for i := 0; i < len(at) && i < len(bt) && at[i] == bt[i] && at[i] != "*" && at[i] != ">"; i++ {
		common = append(common, at[i])
	}
	return strings.Join(append(common, ">"), ".")
}
