package rollout

import (
	"fmt"
	"slices"
	"testing"
)

// TestOrder: name order sorts; random order is the same on every host
// for one event (a hash of the event id and each name) and another for
// another event.
func TestOrder(t *testing.T) {
	hosts := func() []string {
		var h []string
		for i := range 20 {
			h = append(h, fmt.Sprintf("web-%02d", 19-i))
		}
		return h
	}
	byName := hosts()
	order(byName, OrderName, "e1")
	if !slices.IsSorted(byName) {
		t.Errorf("order name: %v", byName)
	}
	a, b, c := hosts(), hosts(), hosts()
	slices.Reverse(b) // another host saw them in another order
	order(a, OrderRandom, "e1")
	order(b, OrderRandom, "e1")
	order(c, OrderRandom, "e2")
	if !slices.Equal(a, b) {
		t.Errorf("random order differs between hosts for one event:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) || slices.Equal(a, byName) {
		t.Errorf("random order is the same for two events, or by name: %v", a)
	}
}

func TestSpec_Resolve(t *testing.T) {
	for _, c := range []struct {
		s     Spec
		hosts int
		want  int
	}{
		{Spec{MaxHosts: 3}, 100, 3},
		{Spec{MaxPercent: 10}, 100, 10},
		{Spec{MaxPercent: 10}, 101, 11},
		{Spec{MaxPercent: 10}, 5, 1},
		{Spec{MaxPercent: 100}, 7, 7},
		{Spec{}, 7, 1},
	} {
		if got := c.s.Resolve(c.hosts); got != c.want {
			t.Errorf("%+v over %d hosts: %d, want %d", c.s, c.hosts, got, c.want)
		}
	}
	for in, ok := range map[string]bool{"3": true, "10%": true, " 2.5 % ": true, "0": false, "-1": false, "0%": false, "101%": false, "x": false, "%": false} {
		if _, _, err := ParseMaxHosts(in); (err == nil) != ok {
			t.Errorf("ParseMaxHosts(%q): %v", in, err)
		}
	}
}
