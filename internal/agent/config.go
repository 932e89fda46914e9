package agent

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/internal/agent/localhooks"
	"github.com/heraldhq/herald/internal/feed"
	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/heraldhq/herald/internal/yamlfile"
)

// ErrInvalidConfig wraps every configuration problem.
var ErrInvalidConfig = errors.New("invalid agent config")

// Config is everything the agent needs. Every field has a flag of the same
// name (with '-' for '_') and a key in the --config file.
type Config struct {
	Name      string          `yaml:"name"`
	Watches   string          `yaml:"watches"`
	State     string          `yaml:"state"`
	NATS      natsconn.Config `yaml:"nats"`
	Metrics   string          `yaml:"metrics"`
	LogFormat string          `yaml:"log_format"`
	LogLevel  string          `yaml:"log_level"`
	// Heartbeat is how often the agent announces itself.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// AckWait is accepted for old configs and flags; agents hold no
	// consumer since the feed (see VerifyEvery), so nothing waits for acks.
	AckWait time.Duration `yaml:"ack_wait"`
	// VerifyEvery is how often the agent reads the events stream for
	// events the live path lost though nothing said so (reconnects and
	// drops are read at once).
	VerifyEvery time.Duration `yaml:"verify_every"`
	// ShutdownGrace bounds how long Close waits for runs to stop.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// Reload is the debounce delay between a change in the watches
	// directory and the rescan.
	Reload time.Duration `yaml:"reload_delay"`
	// AcceptHooks lets the dispatcher run call hooks (run: agents) on this
	// host: whoever may publish to herald.callhook.<name> can then run
	// commands as the agent's user. Off, the agent refuses every request.
	AcceptHooks bool `yaml:"accept_hooks"`
	// CallHooks are the hooks this agent runs for the dispatcher (file
	// only): a request names one; what runs is defined here, never in the
	// request. A request naming another hook is refused.
	CallHooks localhooks.Set `yaml:"call_hooks"`
	// MaxCallHooks caps the call hooks running at once; a request beyond
	// it waits for a slot until its timeout.
	MaxCallHooks int `yaml:"max_call_hooks"`
	// OTLP, with an endpoint, exports the runs' spans over OTLP/HTTP.
	OTLP tracing.Config `yaml:"otlp"`
	// ActionBuilder, when set, turns each watch into its action instead of
	// its exec/hooksdir spec. Not a flag or file key: only a program that
	// embeds agents sets it (the bench's fleet simulator, which runs a no-op
	// in process so that it measures the bus, not fork and exec).
	ActionBuilder func(*watch.Watch) (actions.Action, error) `yaml:"-"`
}

// DefaultConfig returns the defaults. The NATS URL defaults to
// $HERALD_NATS, as the CLI's does, then nats://127.0.0.1:4222.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	url := natsconn.DefaultURL
	if env := os.Getenv("HERALD_NATS"); env != "" {
		url = env
	}
	return Config{
		Name:          host,
		Watches:       "/etc/herald/watches.d",
		State:         "/var/lib/herald/agent",
		NATS:          natsconn.Config{URL: url},
		LogFormat:     "json",
		LogLevel:      "info",
		Heartbeat:     10 * time.Second,
		AckWait:       30 * time.Second,
		VerifyEvery:   feed.DefaultVerify,
		ShutdownGrace: 30 * time.Second,
		Reload:        100 * time.Millisecond,
		MaxCallHooks:  localhooks.DefaultMaxRunning,
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fielderr.New(ErrInvalidConfig, "name", "required (the host name could not be read)")
	case c.Watches == "":
		return fielderr.New(ErrInvalidConfig, "watches", "required")
	case c.State == "":
		return fielderr.New(ErrInvalidConfig, "state", "required")
	case c.Heartbeat < 100*time.Millisecond:
		return fielderr.New(ErrInvalidConfig, "heartbeat", "%v is too short (at least 100ms)", c.Heartbeat)
	case c.AckWait < time.Second:
		return fielderr.New(ErrInvalidConfig, "ack_wait", "%v is too short (at least 1s)", c.AckWait)
	case c.VerifyEvery < 100*time.Millisecond:
		return fielderr.New(ErrInvalidConfig, "verify_every", "%v is too short (at least 100ms)", c.VerifyEvery)
	case c.ShutdownGrace <= 0:
		return fielderr.New(ErrInvalidConfig, "shutdown_grace", "must be positive")
	case c.Reload < 0:
		return fielderr.New(ErrInvalidConfig, "reload_delay", "must not be negative")
	case c.MaxCallHooks < 1:
		return fielderr.New(ErrInvalidConfig, "max_call_hooks", "%d: want at least 1", c.MaxCallHooks)
	}
	if err := logging.CheckConfig(ErrInvalidConfig, c.LogFormat, c.LogLevel); err != nil {
		return err
	}
	if err := c.OTLP.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := c.NATS.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// LoadConfigFile reads a YAML config file over c. Unknown and duplicate
// keys and bad values are errors naming the file and line.
func (c *Config) LoadConfigFile(path string) error {
	data, err := yamlfile.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := yamlfile.DecodeStrict(path, data, c); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}
