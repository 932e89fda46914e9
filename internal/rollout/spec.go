package rollout

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Orders of the hosts of a rollout.
const (
	OrderName   = "name"   // by host name
	OrderRandom = "random" // shuffled, the same way on every host for one event
)

// DefaultLease is how long a turn (and a host's waiting or running state)
// outlives its holder: a host that dies while it holds a turn frees it
// within this time. The holder renews it every Lease/3.
const DefaultLease = 30 * time.Second

// MinLease is the shortest lease: the server's TTLs count in seconds.
const MinLease = 3 * time.Second

// Spec is a watch's rollout: key, resolved.
type Spec struct {
	// MaxHosts is how many hosts run at once; when MaxPercent > 0 it is
	// instead that share of the plan's hosts, rounded up, at least 1.
	MaxHosts   int
	MaxPercent float64
	// Splay: each host waits a random time in [0, Splay) before taking its
	// turn.
	Splay time.Duration
	// Canary hosts go first; the rest start once every canary finished ok.
	Canary int
	// HaltAfterFailures halts the rollout after this many failed, timed
	// out or errored runs (0: never).
	HaltAfterFailures int
	Order             string
	Lease             time.Duration
}

// ErrSpec wraps every problem ParseMaxHosts and Validate find.
var ErrSpec = errors.New("invalid rollout")

// ParseMaxHosts reads max_hosts: a number of hosts, or a share "N%".
func ParseMaxHosts(s string) (n int, percent float64, err error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f <= 0 || f > 100 || math.IsNaN(f) {
			return 0, 0, fmt.Errorf("%w: %q: want a share above 0%% and at most 100%%", ErrSpec, s)
		}
		return 0, f, nil
	}
	n, err = strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, 0, fmt.Errorf("%w: %q: want a number of hosts (1 or more) or a share such as \"10%%\"", ErrSpec, s)
	}
	return n, 0, nil
}

// Resolve is how many hosts may run at once in a rollout over hosts
// hosts.
func (s Spec) Resolve(hosts int) int {
	if s.MaxPercent > 0 {
		n := int(math.Ceil(float64(hosts) * s.MaxPercent / 100))
		return max(n, 1)
	}
	return max(s.MaxHosts, 1)
}

// lease is Lease with its default.
func (s Spec) lease() time.Duration {
	if s.Lease <= 0 {
		return DefaultLease
	}
	return s.Lease
}
