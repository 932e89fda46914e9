package bus

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// WorkConfig configures Work.
type WorkConfig struct {
	// Name names what the consumer delivers in log lines ("outcome",
	// "call.post/call.err").
	Name string
	// Durable is the consumer's name, logged when it is lost.
	Durable string
	// MaxConcurrent bounds the handlers running at once; it is also each
	// Consume's PullMaxMessages. Must be positive.
	MaxConcurrent int
	// Slots, when set, is the semaphore the handlers take a slot of, so
	// that other work of the caller shares the bound; nil means one of
	// MaxConcurrent slots of Work's own.
	Slots chan struct{}
	// KeepAlive, when positive, is how often a progress ack is sent for
	// each held message until its handler returns: a third of the
	// consumer's ack wait.
	KeepAlive time.Duration
	// Setup creates or binds the consumer again after Consume failed or
	// the consumer was deleted on the server, retrying until it works; it
	// returns an error only when ctx ended.
	Setup func(ctx context.Context) (jetstream.Consumer, error)
	// Log receives the loop's own lines.
	Log zerolog.Logger
}

// Validate names the first bad field.
func (c WorkConfig) Validate() error {
	switch {
	case c.MaxConcurrent <= 0:
		return errors.New("max_concurrent: must be positive")
	case c.KeepAlive < 0:
		return errors.New("keep_alive: must not be negative")
	case c.Setup == nil:
		return errors.New("setup: must be set")
	}
	return nil
}

// Work consumes cons until ctx ends, calling handle for each message in a
// goroutine of its own, then waits for the handlers running and returns.
//
// A message is held from its delivery until handle returns: held messages
// get progress acks every KeepAlive, one redelivered while held is ignored,
// and at most MaxConcurrent handlers run at once, or as many as Slots
// holds (the others wait, held, and are naked if ctx ends first). handle
// acks, naks or terms the message itself. A message without metadata is
// termed. Once Work stops consuming, a message still delivered is naked,
// to be handled again.
//
// A consumer deleted on the server (by hand, or with its stream) ends a
// Consume for good: Work waits a second, calls Setup and goes on.
func Work(ctx context.Context, cons jetstream.Consumer, cfg WorkConfig, handle func(context.Context, jetstream.Msg)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	w := &worker{cfg: cfg, handle: handle, sem: cfg.Slots, held: map[uint64]bool{}}
	if w.sem == nil {
		w.sem = make(chan struct{}, cfg.MaxConcurrent)
	}
	defer w.wg.Wait()
	defer func() {
		w.mu.Lock()
		w.closed = true // no wg.Go from receive after this, so wg.Wait is safe
		w.mu.Unlock()
	}()
	for {
		lost := make(chan struct{})
		var once sync.Once
		cc, err := cons.Consume(func(m jetstream.Msg) { w.receive(ctx, m) },
			jetstream.PullMaxMessages(cfg.MaxConcurrent),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				switch {
				case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
					once.Do(func() { close(lost) })
				case !errors.Is(err, jetstream.ErrNoHeartbeat):
					cfg.Log.Debug().Err(err).Msg("consume " + cfg.Name + " messages")
				}
			}))
		if err != nil {
			cfg.Log.Error().Err(err).Msg("cannot consume " + cfg.Name + " events; setting the consumer up again")
		} else {
			cfg.Log.Info().Str("consumer", cfg.Durable).Msg("consuming " + cfg.Name + " events")
			select {
			case <-ctx.Done():
			case <-lost:
				cfg.Log.Warn().Str("consumer", cfg.Durable).Msg(cfg.Name + " consumer deleted on the server; setting it up again")
			}
			cc.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		if cons, err = cfg.Setup(ctx); err != nil || cons == nil {
			return nil // ctx ended while setting up
		}
	}
}

// worker is the state of one Work.
type worker struct {
	cfg    WorkConfig
	handle func(context.Context, jetstream.Msg)
	sem    chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	held   map[uint64]bool // stream sequences being handled
	closed bool            // set once Work stops consuming
}

// receive is called by the consumer, one message at a time; it must not
// block, so each message is handled in a goroutine of its own. The
// consumer's MaxAckPending bounds how many there are.
func (w *worker) receive(ctx context.Context, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	seq := md.Sequence.Stream
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || ctx.Err() != nil {
		// Stopping: Consume's Stop does not wait for a callback already
		// called, and a message redelivered meanwhile is not handled.
		_ = m.Nak()
		return
	}
	if w.held[seq] {
		return // redelivered while still being handled here
	}
	w.held[seq] = true
	w.wg.Go(func() {
		defer func() {
			w.mu.Lock()
			delete(w.held, seq)
			w.mu.Unlock()
		}()
		stop := w.keepAlive(m)
		defer stop()
		select {
		case w.sem <- struct{}{}:
		case <-ctx.Done():
			_ = m.Nak()
			return
		}
		defer func() { <-w.sem }()
		if ctx.Err() != nil {
			// Both were ready and select took the slot: stopping wins.
			_ = m.Nak()
			return
		}
		w.handle(ctx, m)
	})
}

// keepAlive tells the server m is being worked on, every KeepAlive, until
// stop is called.
func (w *worker) keepAlive(m jetstream.Msg) (stop func()) {
	if w.cfg.KeepAlive <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(w.cfg.KeepAlive)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
