// Package zk is the dispatcher's ZooKeeper source: Twitcher's watches, held
// once, centrally, and fanned out over NATS.
package zk

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/source"
)

// Config configures the ZooKeeper source (dispatcher flags --zk*, config
// key zk:).
type Config struct {
	// Servers is HOST:PORT[,HOST:PORT...]; empty disables the source.
	Servers string `yaml:"servers"`
	// Chroot is prefixed to every path.
	Chroot string `yaml:"chroot"`
	// Auth is digest:USER:PASS.
	Auth string `yaml:"auth"`
	// SessionTimeout is the ZooKeeper session timeout.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// Watch lists the roots watched whatever the agents declare: PATH or
	// PATH/** for a subtree.
	Watch []string `yaml:"watch"`
}

// DefaultSessionTimeout is used when SessionTimeout is zero.
const DefaultSessionTimeout = 10 * time.Second

// Enabled reports whether a ZooKeeper ensemble is configured.
func (c Config) Enabled() bool { return c.Servers != "" }

// Validate names the first bad field.
func (c Config) Validate() error { return nil }

// Source watches ZooKeeper.
type Source struct{ cfg Config }

var _ source.Source = (*Source)(nil)

// New builds the source; it does no I/O.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Source{cfg: cfg}, nil
}

// Name is "zk".
func (s *Source) Name() string { return "zk" }

// Run watches until ctx ends.
func (s *Source) Run(ctx context.Context, env source.Env) error {
	return errors.New("zk: not implemented yet")
}
