package dispatcher

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/heraldhq/herald/internal/hookfile"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/source/kv"
	"github.com/heraldhq/herald/internal/source/zk"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/heraldhq/herald/internal/version"
	"github.com/heraldhq/herald/internal/yamlfile"
)

// Errors that main maps to exit code 2.
var (
	// ErrInvalidConfig wraps every problem with the configuration, whether
	// it came from a flag or from the --config file.
	ErrInvalidConfig = errors.New("invalid dispatcher config")
	// ErrUsage wraps command-line errors (unknown flag, stray argument).
	ErrUsage = errors.New("usage")
)

// Defaults.
const (
	DefaultNATSListen      = "127.0.0.1:4222"
	DefaultDataDir         = "/var/lib/herald/dispatcher"
	DefaultHTTPAddr        = "127.0.0.1:7070"
	DefaultConnectTimeout  = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
)

// Config is everything the dispatcher needs. Every field has a key in the
// --config file (shown in the yaml tag) and a flag of the same name with '-'
// for '_'; the NATS client settings are the shared --nats* flags.
type Config struct {
	OTLP tracing.Config `yaml:"otlp"` // where spans go (--otlp-endpoint); off without an endpoint
	// NATSListen is where the embedded server listens (host:port; port 0
	// picks a free port). Unused with an external server.
	NATSListen string `yaml:"nats_listen"`
	// Data is the embedded server's JetStream store directory.
	Data string `yaml:"data"`
	// HTTP is the address of the HTTP endpoints; empty disables them.
	HTTP string `yaml:"http"`
	// NATS is the external server when NATS.URL is set. Without a URL the
	// dispatcher embeds a server, and User/Password or Token become what
	// that server requires from clients, TLSCert/TLSKey what it serves and
	// TLSCA what it verifies client certificates with.
	NATS    natsconn.Config  `yaml:"nats"`
	Streams bus.StreamConfig `yaml:"streams"`
	// ZK is the ZooKeeper source; off unless ZK.Servers is set.
	ZK zk.Config `yaml:"zk"`
	// KV is the NATS KV source; always on, it watches what agents declare
	// plus KV.Watch.
	KV kv.Config `yaml:"kv"`
	// LogFormat is json or console; LogLevel debug, info, warn or error.
	LogFormat string `yaml:"log_format"`
	LogLevel  string `yaml:"log_level"`
	// ReadyFile, when set, receives {"nats_url": ..., "http_addr": ...}
	// once the dispatcher is ready (written atomically, removed on Close).
	ReadyFile string `yaml:"ready_file"`
	// ConnectTimeout bounds the wait for the first connection to an
	// external server or for the embedded server to be ready.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ShutdownTimeout bounds a graceful stop.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Hooks is the call hooks directory (hook files and jobs/NAME.yaml),
	// followed for changes; empty means no hook files: every call is
	// allowed.
	Hooks string `yaml:"hooks"`
	// HooksDisabled, when not empty, is why call hooks are disabled
	// dispatcher-wide: every call is allowed without running hooks, and
	// each records a call.hooks_skipped audit event with this reason.
	HooksDisabled string `yaml:"hooks_disabled"`
	// CallMethods are the scheduler-call methods the dispatcher knows
	// (file only); the default, and what empty means, is
	// call.DefaultMethods, Aurora's seven. A call to any other method is
	// denied, and a hook file naming one is a load error.
	CallMethods []string `yaml:"call_methods"`
	// Auth is the auth directory (herald auth init). With it the dispatcher
	// enforces identities: the embedded server trusts its operator and the
	// dispatcher connects with its dispatcher.creds (with an external
	// server, NATS.Creds defaults to it); every /v1/* request needs the
	// bearer token of an identity in DIR/identities.json (re-read when it
	// changes); a scheduler call must come from an identity (recorded as
	// its caller) and only one with the right may skip hooks; the agents'
	// declared selectors count only from active agent identities. Empty:
	// off.
	Auth string `yaml:"auth"`
	// MetricsAuth makes /metrics need the bearer token of a viewer,
	// dispatcher or admin identity (needs auth).
	MetricsAuth bool `yaml:"metrics_auth"`
	// UI serves the web console under /ui/ (internal/console); default on.
	UI bool `yaml:"ui"`
}

// DefaultConfig returns the defaults: an embedded server on
// 127.0.0.1:4222 and HTTP on 127.0.0.1:7070.
func DefaultConfig() Config {
	return Config{
		NATSListen:      DefaultNATSListen,
		Data:            DefaultDataDir,
		HTTP:            DefaultHTTPAddr,
		Streams:         bus.DefaultStreamConfig(),
		LogFormat:       "json",
		LogLevel:        "info",
		ConnectTimeout:  DefaultConnectTimeout,
		ShutdownTimeout: DefaultShutdownTimeout,
		CallMethods:     slices.Clone(call.DefaultMethods),
		UI:              true,
	}
}

// Embedded reports whether the dispatcher runs its own NATS server.
func (c Config) Embedded() bool { return strings.TrimSpace(c.NATS.URL) == "" }

// Validate names the first bad field.
func (c Config) Validate() error {
	if c.Embedded() {
		if err := checkHostPort(c.NATSListen); err != nil {
			return fielderr.New(ErrInvalidConfig, "nats_listen", "%v", err)
		}
		if strings.TrimSpace(c.Data) == "" {
			return fielderr.New(ErrInvalidConfig, "data", "required for the embedded server")
		}
		if c.Streams.Replicas > 1 {
			return fielderr.New(ErrInvalidConfig, "streams.replicas", "the embedded server holds a single replica (got %d)", c.Streams.Replicas)
		}
		if c.NATS.Creds != "" {
			return fielderr.New(ErrInvalidConfig, "nats.creds", "only for an external server (nats.url)")
		}
		if c.Auth != "" && (c.NATS.User != "" || c.NATS.Token != "") {
			return fielderr.New(ErrInvalidConfig, "auth", "the embedded server takes either auth (identities) or nats.user/nats.password or nats.token, not both")
		}
		if c.NATS.User != "" && c.NATS.Password == "" {
			return fielderr.New(ErrInvalidConfig, "nats.password", "required with nats.user for the embedded server")
		}
		if c.NATS.User == "" && c.NATS.Password != "" {
			return fielderr.New(ErrInvalidConfig, "nats.user", "required with nats.password")
		}
		if c.NATS.TLSCA != "" && c.NATS.TLSCert == "" {
			return fielderr.New(ErrInvalidConfig, "nats.tls_ca", "the embedded server verifies client certificates only when it serves TLS (nats.tls_cert, nats.tls_key)")
		}
	}
	if c.Auth != "" {
		if _, err := os.Stat(filepath.Join(c.Auth, auth.RegistryFile)); err != nil {
			return fielderr.New(ErrInvalidConfig, "auth", "%v (run herald auth init --dir %s)", err, c.Auth)
		}
	}
	if c.HTTP != "" {
		if err := checkHostPort(c.HTTP); err != nil {
			return fielderr.New(ErrInvalidConfig, "http", "%v", err)
		}
	}
	if c.MetricsAuth && strings.TrimSpace(c.Auth) == "" {
		return fielderr.New(ErrInvalidConfig, "metrics_auth", "needs auth (the directory whose identities may read /metrics)")
	}
	if err := logging.CheckConfig(ErrInvalidConfig, c.LogFormat, c.LogLevel); err != nil {
		return err
	}
	if c.ConnectTimeout <= 0 {
		return fielderr.New(ErrInvalidConfig, "connect_timeout", "must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		return fielderr.New(ErrInvalidConfig, "shutdown_timeout", "must be positive")
	}
	if err := hookfile.ValidateMethods(c.CallMethods); err != nil {
		return fmt.Errorf("%w: call_methods%v", ErrInvalidConfig, err)
	}
	if err := c.Streams.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := c.NATS.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := c.ZK.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := c.KV.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	return nil
}

// LoadConfigFile reads the YAML file at path over c. Unknown and duplicate
// keys and bad values are errors naming the file and line.
func (c *Config) LoadConfigFile(path string) error {
	data, err := yamlfile.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: config: %w", ErrInvalidConfig, err)
	}
	if err := yamlfile.DecodeStrict(path, data, c); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// bindFlags registers every setting of c on fs.
func (c *Config) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.NATSListen, "nats-listen", c.NATSListen, "embedded NATS server listen `host:port` (port 0: any free port)")
	fs.StringVar(&c.Data, "data", c.Data, "embedded NATS server JetStream store `dir`")
	fs.StringVar(&c.HTTP, "http", c.HTTP, "HTTP listen `host:port` for /v1/*, /healthz, /metrics and the web console /ui/ (empty: off)")
	c.NATS.AddFlags(fs)
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: json or console")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error")
	fs.StringVar(&c.ReadyFile, "ready-file", c.ReadyFile, "write {\"nats_url\",\"http_addr\"} JSON to `file` once ready")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", c.ConnectTimeout, "how long to wait for NATS at start")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long a graceful stop may take")
	fs.StringVar(&c.ZK.Servers, "zk", c.ZK.Servers, "ZooKeeper ensemble `HOST:PORT[,HOST:PORT...]` (off when empty)")
	fs.StringVar(&c.ZK.Chroot, "zk-chroot", c.ZK.Chroot, "ZooKeeper chroot `path`")
	fs.StringVar(&c.ZK.Auth, "zk-auth", c.ZK.Auth, "ZooKeeper auth `digest:USER:PASS` (or $HERALD_ZK_AUTH)")
	fs.DurationVar(&c.ZK.SessionTimeout, "zk-session-timeout", c.ZK.SessionTimeout, "ZooKeeper session timeout")
	fs.Var(newListFlag(&c.ZK.Watch), "zk-watch", "watch ZooKeeper `PATH` (PATH/** for a subtree); repeatable, replaces the config file's list")
	fs.Var(newListFlag(&c.ZK.Allow), "zk-allow", "agents may declare only ZooKeeper paths within `GLOB` (/PATH, /PATH/*, /PATH/**); repeatable, replaces the config file's list (default /**: narrow it)")
	fs.StringVar(&c.Hooks, "hooks", c.Hooks, "call hooks `dir` (hook files, jobs/NAME.yaml); empty: no hooks, every call allowed")
	fs.StringVar(&c.Auth, "auth", c.Auth, "auth `dir` from herald auth init: the embedded server enforces its identities (revocations live), /v1/* needs a bearer token of one; external server: its registry")
	fs.StringVar(&c.HooksDisabled, "hooks-disabled", c.HooksDisabled, "disable call hooks dispatcher-wide for `REASON`: every call allowed and audited")
	fs.BoolVar(&c.MetricsAuth, "metrics-auth", c.MetricsAuth, "/metrics needs the bearer token of a viewer, dispatcher or admin (needs --auth)")
	fs.BoolVar(&c.UI, "ui", c.UI, "serve the web console under /ui/ on --http (with --auth: a viewer token in its login form)")
	c.OTLP.AddFlags(fs)
	fs.Var(newListFlag(&c.KV.Watch), "kv-watch", "watch KV `BUCKET[/KEY]` (BUCKET/PREFIX.> for a prefix); repeatable, replaces the config file's list")
}

// listFlag is a repeatable flag. The first Set of a parse replaces the
// list (so flags override the config file); later ones append.
type listFlag struct {
	list  *[]string
	fresh bool
}

func newListFlag(list *[]string) *listFlag { return &listFlag{list: list, fresh: true} }

func (f *listFlag) String() string {
	if f == nil || f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f *listFlag) Set(v string) error {
	if f.fresh {
		*f.list, f.fresh = nil, false
	}
	*f.list = append(*f.list, v)
	return nil
}

// ParseArgs builds the configuration from the command line: defaults, then
// the --config file if one is named, then every flag given explicitly, then
// the NATS secrets from the environment if still unset. The result is
// validated. flag.ErrHelp is returned (unwrapped) for -h, and
// version.ErrRequested for --version.
func ParseArgs(args []string, output io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("dispatcher", flag.ContinueOnError)
	fs.SetOutput(output)
	var configFile string
	fs.StringVar(&configFile, "config", "", "YAML config `file` (flags given on the command line override it)")
	cfg.bindFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: dispatcher [flags]\n\n"+
			"Runs an embedded NATS server with JetStream (or, with --nats, uses an external one),\n"+
			"ensures the Herald streams and publishes events from its sources.\n\n"+
			"With the embedded server, --nats-user with its password or a token are what it\n"+
			"requires from clients, --nats-tls-cert/--nats-tls-key make it serve TLS and\n"+
			"--nats-tls-ca makes it verify client certificates; --auth DIR makes it require the\n"+
			"identities of herald auth init --dir DIR instead, each with its own permissions.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if *showVersion {
		return Config{}, version.ErrRequested
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if configFile != "" {
		// Load the file, then parse the command line again over it: every
		// flag given explicitly (repeatable ones with all their values)
		// overrides the file.
		cfg = DefaultConfig()
		if err := cfg.LoadConfigFile(configFile); err != nil {
			return Config{}, err
		}
		over := flag.NewFlagSet("dispatcher", flag.ContinueOnError)
		over.SetOutput(io.Discard)
		over.String("config", "", "")
		cfg.bindFlags(over)
		if err := over.Parse(args); err != nil {
			return Config{}, fmt.Errorf("%w: %w", ErrUsage, err)
		}
	}
	if cfg.ZK.Auth == "" {
		cfg.ZK.Auth = os.Getenv("HERALD_ZK_AUTH")
	}
	if err := cfg.NATS.LoadSecrets(); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
