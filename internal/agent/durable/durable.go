package durable

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Config is what the consumer is given by the agent.
type Config struct {
	// Name is the agent's name: the durable's name derives from it.
	Name    string
	AckWait time.Duration
	NC      *nats.Conn // its last error tells refused credentials apart
	JS      jetstream.JetStream
	Log     zerolog.Logger
	// Lost counts the times the consumer was deleted on the server.
	Lost prometheus.Counter
	// Filters are the subjects the loaded watches select, not yet reduced.
	Filters func() []string
	// Handle gets every message, one at a time; it must not block. It
	// calls Seen for the messages it takes.
	Handle func(jetstream.Msg)
	// Consuming is called the first time events are consumed.
	Consuming func()
	// NewStream is called when the events stream was recreated: stream
	// sequences start again at 1, so what the agent holds of the old one
	// (held events, run-mode memory) must go.
	NewStream func()
}

// Consumer is the agent's durable consumer on the events stream.
type Consumer struct {
	cfg Config

	mu       sync.Mutex
	filters  []string
	consumer jetstream.Consumer
	// deliverFrom is where a consumer set up again after a loss starts
	// (nil: new events only, for the first one).
	deliverFrom *deliverFrom
	consume     jetstream.ConsumeContext
	lastSeq     atomic.Uint64 // highest stream sequence delivered to this agent
}

// New prepares the consumer; nothing is asked of the server until Ensure
// or SetUp.
func New(cfg Config) *Consumer { return &Consumer{cfg: cfg} }

// Current is the consumer as last created or updated (nil before).
func (c *Consumer) Current() jetstream.Consumer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.consumer
}

func (c *Consumer) currentFilters() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.filters
}

// Name is a valid, stable durable name for the agent's name.
func (c *Consumer) Name() string {
	var b strings.Builder
	for _, r := range c.cfg.Name {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(c.cfg.Name))
	return "herald-agent-" + b.String() + "-" + hex.EncodeToString(sum[:4])
}

// Ensure creates or updates the durable consumer with the filters of the
// loaded watches. force makes it call the server even when the filters did
// not change.
func (c *Consumer) Ensure(ctx context.Context, force bool) error {
	want := bus.ReduceFilters(c.cfg.Filters())
	c.mu.Lock()
	same := strings.Join(want, " ") == strings.Join(c.filters, " ") && c.consumer != nil
	c.mu.Unlock()
	if same && !force {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg := jetstream.ConsumerConfig{
		Durable:        c.Name(),
		Description:    "herald agent " + c.cfg.Name,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.cfg.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  50000,
		FilterSubjects: want,
	}
	c.mu.Lock()
	if c.deliverFrom != nil { // set up again after a loss: see Consume
		cfg.DeliverPolicy, cfg.OptStartSeq = c.deliverFrom.policy, c.deliverFrom.seq
	}
	c.mu.Unlock()
	// Where a durable starts cannot be changed later: an existing one keeps
	// its own (it may have been set up again from a sequence).
	if old, err := c.cfg.JS.Consumer(ctx, events.EventsStream, cfg.Durable); err == nil {
		oc := old.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = oc.DeliverPolicy, oc.OptStartSeq, oc.OptStartTime
	}
	cons, err := c.cfg.JS.CreateOrUpdateConsumer(ctx, events.EventsStream, cfg)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", c.Name(), err)
	}
	c.Seen(cons.CachedInfo().Delivered.Stream)
	c.mu.Lock()
	c.consumer, c.filters = cons, want
	c.mu.Unlock()
	return nil
}

// Seen records that the consumer has reached stream sequence seq.
func (c *Consumer) Seen(seq uint64) {
	for {
		last := c.lastSeq.Load()
		if seq <= last || c.lastSeq.CompareAndSwap(last, seq) {
			return
		}
	}
}

// Stop stops consuming; the agent's Close calls it before it waits.
func (c *Consumer) Stop() {
	c.mu.Lock()
	cc := c.consume
	c.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
}
