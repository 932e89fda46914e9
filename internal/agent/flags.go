package agent

import (
	"flag"
	"fmt"
	"io"

	"github.com/heraldhq/herald/internal/version"
)

// Options are the command-line settings of cmd/agent.
type Options struct {
	Config     Config
	ConfigFile string
}

func bindFlags(fs *flag.FlagSet, c *Config, configFile *string) {
	fs.StringVar(configFile, "config", "", "YAML config `file`; flags given on the command line override it")
	fs.StringVar(&c.Name, "name", c.Name, "agent name (default: the host name)")
	fs.StringVar(&c.Watches, "watches", c.Watches, "watches `dir`")
	fs.StringVar(&c.State, "state", c.State, "state `dir` (lock file)")
	fs.StringVar(&c.Metrics, "metrics", c.Metrics, "serve Prometheus /metrics and /healthz on `addr` (off when empty)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json or console")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.DurationVar(&c.Heartbeat, "heartbeat", c.Heartbeat, "announcement interval")
	fs.DurationVar(&c.AckWait, "ack-wait", c.AckWait, "accepted for old command lines; unused (agents hold no JetStream consumer)")
	fs.DurationVar(&c.VerifyEvery, "verify-every", c.VerifyEvery, "how often to read the events stream for events the live path lost")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "how long shutdown waits for runs to stop")
	fs.DurationVar(&c.Reload, "reload-delay", c.Reload, "debounce between a change in the watches dir and the reload")
	fs.BoolVar(&c.AcceptHooks, "accept-hooks", c.AcceptHooks, "run the call hooks the dispatcher asks this agent for (run: agents), as its config's call_hooks: defines them; off, they are refused")
	fs.IntVar(&c.MaxCallHooks, "max-call-hooks", c.MaxCallHooks, "how many call hooks may run at once; more wait for a slot until their timeout")
	c.OTLP.AddFlags(fs)
	c.NATS.AddFlags(fs)
}

// ParseFlags parses the agent's command line. With --config the file is
// read first and flags given on the command line override it.
func ParseFlags(args []string, stderr io.Writer) (Options, error) {
	var o Options
	o.Config = DefaultConfig()
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindFlags(fs, &o.Config, &o.ConfigFile)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *showVersion {
		return o, version.ErrRequested
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.ConfigFile != "" {
		c := DefaultConfig()
		if err := c.LoadConfigFile(o.ConfigFile); err != nil {
			return o, err
		}
		over := flag.NewFlagSet("agent", flag.ContinueOnError)
		var ignored string
		bindFlags(over, &c, &ignored)
		var err error
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "config" && f.Name != "version" && err == nil {
				err = over.Set(f.Name, f.Value.String())
			}
		})
		if err != nil {
			return o, err
		}
		o.Config = c
	}
	if err := o.Config.NATS.LoadSecrets(); err != nil {
		return o, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return o, o.Config.Validate()
}
