package localhooks

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultMaxRunning is max_call_hooks when it is not given: how many call
// hooks one agent runs at once.
const DefaultMaxRunning = 8

// ErrNoSlot is wrapped by Slots.Acquire's error when no slot freed up
// before the deadline.
var ErrNoSlot = errors.New("no free call hook slot")

// Slots caps the call hooks running at once. The zero value is unusable;
// build it with NewSlots.
type Slots struct {
	ch chan struct{}
}

// NewSlots returns n slots (n < 1 means DefaultMaxRunning).
func NewSlots(n int) *Slots {
	if n < 1 {
		n = DefaultMaxRunning
	}
	return &Slots{ch: make(chan struct{}, n)}
}

// Cap is the number of slots.
func (s *Slots) Cap() int { return cap(s.ch) }

// Acquire waits for a free slot until ctx ends or deadline passes. On
// success the caller must call the returned release once.
func (s *Slots) Acquire(ctx context.Context, deadline time.Time) (release func(), err error) {
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch }, nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch }, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: %d call hooks were running until the request's timeout (max_call_hooks %d)", ErrNoSlot, cap(s.ch), cap(s.ch))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
