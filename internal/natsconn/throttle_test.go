package natsconn_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/natsconn"
)

func TestThrottle_OnePerIntervalCountingTheRest(t *testing.T) {
	th := natsconn.NewThrottle(time.Minute)
	t0 := time.Unix(1000, 0)
	for i, c := range []struct {
		at   time.Duration
		ok   bool
		held int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{30 * time.Second, false, 0},
		{59 * time.Second, false, 0},
		{time.Minute, true, 3},
		{time.Minute + time.Second, false, 0},
		{3 * time.Minute, true, 1},
	} {
		ok, held := th.Allow(t0.Add(c.at))
		if ok != c.ok || held != c.held {
			t.Errorf("call %d at +%v: (%v, %d), want (%v, %d)", i, c.at, ok, held, c.ok, c.held)
		}
	}
}
