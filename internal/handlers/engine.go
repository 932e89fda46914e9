package handlers

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/heraldhq/herald/internal/source"
)

// DefaultDurable is the name of the durable consumer on the outcomes stream
// that every dispatcher shares.
const DefaultDurable = "herald-handlers"

// Config configures an Engine.
type Config struct {
	// Host names this dispatcher in the outcomes of handler runs; empty
	// means the host name.
	Host string
	// Durable is the shared consumer's name; empty means DefaultDurable.
	// Every dispatcher of one bus must use the same name.
	Durable string
}

// Engine runs handlers for outcomes. It is a source.Source: the dispatcher
// runs it like its event sources. Create it with New, give it handlers with
// SetHandlers (before or while it runs).
type Engine struct {
	cfg Config

	mu       sync.Mutex
	handlers []Handler
}

var _ source.Source = (*Engine)(nil)

// New returns an engine with no handlers.
func New(cfg Config) *Engine {
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.Durable == "" {
		cfg.Durable = DefaultDurable
	}
	return &Engine{cfg: cfg}
}

// Name returns "handlers".
func (e *Engine) Name() string { return "handlers" }

// SetHandlers replaces the handlers. Runs in flight finish with the handler
// they started with. If a handler is invalid or two share a name, nothing is
// replaced and the error says which.
func (e *Engine) SetHandlers(hs []Handler) error {
	seen := map[string]bool{}
	for i := range hs {
		if err := hs[i].Validate(); err != nil {
			return fmt.Errorf("handler %q: %w", hs[i].Name, err)
		}
		if seen[hs[i].Name] {
			return fmt.Errorf("%w: name: duplicate handler name %q", ErrInvalidHandler, hs[i].Name)
		}
		seen[hs[i].Name] = true
	}
	e.mu.Lock()
	e.handlers = append([]Handler(nil), hs...)
	e.mu.Unlock()
	return nil
}

// Run consumes outcomes until ctx ends.
func (e *Engine) Run(ctx context.Context, env source.Env) error {
	<-ctx.Done()
	return nil
}
