package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// OutcomeStoreConfig tunes an OutcomeStore.
type OutcomeStoreConfig struct {
	// TryTimeout bounds one publish attempt: how long to wait for the
	// stream's ack before trying again.
	TryTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts; it
	// doubles from MinBackoff up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxPending is how many publishes may wait for their ack at once;
	// Store blocks briefly beyond it. The default is above the agent's
	// MaxAckPending (50,000), so the events an agent can hold never make
	// its consumer wait on the store.
	MaxPending int
	// OnRetry, if set, hears of an outcome not stored yet: on its first
	// failed attempt and on every RetryReportEvery-th after, so that a
	// store that keeps failing (no stream, no permission to publish on
	// herald.outcome.>) is logged rather than silent.
	OnRetry func(subject, msgID string, attempt int, err error)
}

// RetryReportEvery is how often OnRetry hears of an outcome that keeps
// failing, after its first failure: every 20th attempt, about every 100 s
// at the longest backoff.
const RetryReportEvery = 20

// DefaultOutcomeStoreConfig is what the agent, the hooks and the handlers
// use.
func DefaultOutcomeStoreConfig() OutcomeStoreConfig {
	return OutcomeStoreConfig{TryTimeout: 5 * time.Second, MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second, MaxPending: 65536}
}

// EngineCloseGrace is how long a stopping dispatcher engine gives the
// outcomes it has not stored yet: a moment, not forever (NATS may be down).
const EngineCloseGrace = 5 * time.Second

// NewEngineOutcomeStore is the OutcomeStore of an engine the dispatcher
// runs (the call hooks, the handlers): the default config, each outcome not
// stored yet reported to onRetry (OutcomeStoreConfig.OnRetry; the engines
// log it). The engine closes it with CloseWithin(EngineCloseGrace) once its
// own goroutines have ended.
func NewEngineOutcomeStore(nc *nats.Conn, onRetry func(subject, msgID string, attempt int, err error)) (*OutcomeStore, error) {
	cfg := DefaultOutcomeStoreConfig()
	cfg.OnRetry = onRetry
	return NewOutcomeStore(nc, cfg)
}

// Validate names the first bad field.
func (c OutcomeStoreConfig) Validate() error {
	switch {
	case c.TryTimeout <= 0:
		return fmt.Errorf("outcome store: try_timeout: must be positive")
	case c.MinBackoff <= 0:
		return fmt.Errorf("outcome store: min_backoff: must be positive")
	case c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("outcome store: max_backoff: must be at least min_backoff")
	case c.MaxPending < 1:
		return fmt.Errorf("outcome store: max_pending: must be at least 1")
	}
	return nil
}

// ErrStoreClosed is returned by StoreWait once the store is closed.
var ErrStoreClosed = errors.New("outcome store closed")

// OutcomeStore publishes outcomes to the outcomes stream and reports each
// one once JetStream has stored it. A publish that is not acknowledged
// (no stream, a leader election, a server restart, a lost connection) is
// retried with backoff, without limit, until it is stored or the store is
// closed. Every message carries the outcome's Nats-Msg-Id, so a retry of a
// publish that was stored after all is dropped by the stream's dedup
// window instead of being stored twice.
//
// Publishes are asynchronous: Store returns at once and calls done from
// another goroutine, so a caller that must not block (the agent's consumer)
// never waits for an ack.
type OutcomeStore struct {
	cfg OutcomeStoreConfig
	js  jetstream.JetStream

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // retry goroutines

	mu      sync.Mutex
	pending map[*nats.Msg]*storeReq
	idle    chan struct{} // closed and replaced when pending becomes empty
	closed  bool
}

type storeReq struct {
	done    func()
	attempt int
}

// NewOutcomeStore prepares a store publishing on nc.
func NewOutcomeStore(nc *nats.Conn, cfg OutcomeStoreConfig) (*OutcomeStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &OutcomeStore{cfg: cfg, pending: map[*nats.Msg]*storeReq{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(cfg.TryTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { s.stored(m) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { s.failed(m, err) }),
	)
	if err != nil {
		return nil, fmt.Errorf("outcome store: jetstream: %w", err)
	}
	s.js = js
	return s, nil
}

// StoreID publishes o with Nats-Msg-Id msgID (events.OutcomeMsgID) and
// calls done once it is stored. done is never called if the store is
// closed first.
func (s *OutcomeStore) StoreID(o events.Outcome, msgID string, done func()) error {
	m, err := o.ToMsg(msgID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrStoreClosed
	}
	s.pending[m] = &storeReq{done: done}
	s.mu.Unlock()
	s.publish(m)
	return nil
}

// StoreWait publishes o like StoreID and waits until it is stored, ctx
// ends or the store is closed. It keeps retrying in the background after
// ctx ends, until the store is closed.
func (s *OutcomeStore) StoreWait(ctx context.Context, o events.Outcome, msgID string) error {
	ch := make(chan struct{})
	if err := s.StoreID(o, msgID, func() { close(ch) }); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store outcome %s: %w", msgID, ctx.Err())
	case <-s.ctx.Done():
		return fmt.Errorf("store outcome %s: %w", msgID, ErrStoreClosed)
	}
}

// Pending is the number of outcomes not stored yet.
func (s *OutcomeStore) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

func (s *OutcomeStore) publish(m *nats.Msg) {
	if _, err := s.js.PublishMsgAsync(m); err != nil {
		s.failed(m, err)
	}
}

// Resend publishes again, at once, every outcome not stored yet: for
// after a reconnect, when the acks of what was published on the old
// connection will never come and waiting out TryTimeout would only hold
// the events longer. A second copy of one that was stored after all is
// dropped by the stream's dedup window (its Nats-Msg-Id).
func (s *OutcomeStore) Resend() {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	ms := make([]*nats.Msg, 0, len(s.pending))
	for m := range s.pending {
		ms = append(ms, m)
	}
	s.mu.Unlock()
	for _, m := range ms {
		s.publish(m)
	}
}

// stored is the ack callback: the outcome is in the stream.
func (s *OutcomeStore) stored(m *nats.Msg) {
	s.mu.Lock()
	r, ok := s.pending[m]
	if s.ctx.Err() != nil {
		ok = false // closed: its caller has given up on it
	}
	if ok {
		delete(s.pending, m)
		if len(s.pending) == 0 && s.idle != nil {
			close(s.idle)
			s.idle = nil
		}
	}
	s.mu.Unlock()
	if ok && r.done != nil {
		r.done()
	}
}

// failed schedules another attempt. It may be called with the publisher's
// lock held, so the retry runs in a goroutine of its own.
func (s *OutcomeStore) failed(m *nats.Msg, err error) {
	s.mu.Lock()
	r, ok := s.pending[m]
	if !ok || s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	r.attempt++
	if s.cfg.OnRetry != nil && (r.attempt == 1 || r.attempt%RetryReportEvery == 0) {
		attempt, report := r.attempt, s.cfg.OnRetry
		defer func() { report(m.Subject, m.Header.Get(nats.MsgIdHdr), attempt, err) }()
	}
	wait := s.cfg.MinBackoff << min(r.attempt-1, 16)
	if wait > s.cfg.MaxBackoff || wait <= 0 {
		wait = s.cfg.MaxBackoff
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.publish(m)
	}()
}

// CloseWithin is Close with a deadline d from now: what a daemon that is
// stopping calls, so that an outcome that cannot be stored (NATS down, the
// stream gone) does not hold its shutdown forever.
func (s *OutcomeStore) CloseWithin(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	s.Close(ctx)
}

// Close stops taking outcomes, waits until the ones in flight are stored
// or ctx ends, then stops retrying. The callers of outcomes never stored
// are not called: their events stay unacknowledged. It is safe to call
// more than once.
func (s *OutcomeStore) Close(ctx context.Context) {
	s.mu.Lock()
	s.closed = true
	var idle chan struct{}
	if len(s.pending) > 0 && s.ctx.Err() == nil {
		if s.idle == nil {
			s.idle = make(chan struct{})
		}
		idle = s.idle
	}
	s.mu.Unlock()
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
		}
	}
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
}
