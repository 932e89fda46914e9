// Package natsconn turns Herald's NATS flags (URLs, user/password, token,
// the files holding them, creds file, TLS CA/cert/key) into a connection
// with sane reconnect
// behaviour: a server that refuses the credentials at start is an error
// (with the server's own message), one that is not up yet is retried, and
// a connection that loses its authorization later keeps reconnecting. The
// dispatcher, the agent and the CLI share it, so a flag means the same
// thing everywhere. Secrets never come from a command line (it is visible
// in /proc) and credentials in URLs never reach an error or a log line
// (RedactURLs). It knows nothing about events or streams.
package natsconn

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultURL is used when no URL is given.
const DefaultURL = "nats://127.0.0.1:4222"

// Config holds the client side of a NATS connection.
type Config struct {
	URL          string `yaml:"url"` // one URL or a comma-separated list
	User         string `yaml:"user"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"` // read by LoadSecrets into Password
	Token        string `yaml:"token"`
	TokenFile    string `yaml:"token_file"` // read by LoadSecrets into Token
	Creds        string `yaml:"creds"`
	TLSCA        string `yaml:"tls_ca"`
	TLSCert      string `yaml:"tls_cert"`
	TLSKey       string `yaml:"tls_key"`

	// refused holds the secret flags given on a command line
	// (--nats-password, --nats-token): they parse, and Validate refuses
	// them.
	refused refusedFlags
	// loaded is set once LoadSecrets has run: a second call (a command
	// that resolves its flags twice) changes nothing.
	loaded bool
}

// ErrInvalidConfig wraps every validation failure.
var ErrInvalidConfig = errors.New("invalid nats config")

// AddFlags registers --nats and the auth flags on fs, writing into c.
// Defaults already in c are kept.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "nats", c.URL, "NATS `URL[,URL...]`")
	c.AddAuthFlags(fs)
}

// AddAuthFlags registers only the auth and TLS flags.
func (c *Config) AddAuthFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.User, "nats-user", c.User, "NATS user name")
	fs.StringVar(&c.PasswordFile, "nats-password-file", c.PasswordFile, "`file` holding the NATS password (or $HERALD_NATS_PASSWORD)")
	fs.StringVar(&c.TokenFile, "nats-token-file", c.TokenFile, "`file` holding the NATS auth token (or $HERALD_NATS_TOKEN)")
	fs.StringVar(&c.refused.password, "nats-password", "", "refused: a password on a command line is visible in /proc; use $HERALD_NATS_PASSWORD or --nats-password-file")
	fs.StringVar(&c.refused.token, "nats-token", "", "refused: a token on a command line is visible in /proc; use $HERALD_NATS_TOKEN or --nats-token-file")
	fs.StringVar(&c.Creds, "nats-creds", c.Creds, "NATS credentials `file`")
	fs.StringVar(&c.TLSCA, "nats-tls-ca", c.TLSCA, "CA `file` to verify the NATS server")
	fs.StringVar(&c.TLSCert, "nats-tls-cert", c.TLSCert, "client certificate `file`")
	fs.StringVar(&c.TLSKey, "nats-tls-key", c.TLSKey, "client key `file`")
}

// Validate checks that the options agree with each other.
func (c Config) Validate() error {
	if err := c.refused.check(); err != nil {
		return err
	}
	if c.User != "" && (c.Token != "" || c.TokenFile != "") {
		return fmt.Errorf("%w: nats-user and nats-token are exclusive", ErrInvalidConfig)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("%w: nats-tls-cert and nats-tls-key go together", ErrInvalidConfig)
	}
	for _, f := range []struct{ field, path string }{{"nats-creds", c.Creds}, {"nats-tls-ca", c.TLSCA}, {"nats-tls-cert", c.TLSCert}, {"nats-tls-key", c.TLSKey}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, f.field, err)
		}
	}
	return nil
}

// Options returns the nats.Options for this config; name identifies the
// client on the server.
func (c Config) Options(name string) []nats.Option {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		// Credentials revoked or changed on a running server: keep trying
		// (each refusal reaches the ErrorHandler) instead of closing the
		// connection for good after two refusals.
		nats.IgnoreAuthErrorAbort(),
		nats.PingInterval(20 * time.Second),
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.Token != "" {
		opts = append(opts, nats.Token(c.Token))
	}
	if c.Creds != "" {
		opts = append(opts, nats.UserCredentials(c.Creds))
		// Replies (JetStream acks, pre verdicts) come on the identity's
		// own inbox prefix, the only one its permissions let it read.
		if name, err := CredsName(c.Creds); err == nil && name != "" && !strings.ContainsAny(name, ". \t*>") {
			opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(name)))
		}
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts
}

// URLs returns the configured URL list, or DefaultURL.
func (c Config) URLs() string {
	if strings.TrimSpace(c.URL) == "" {
		return DefaultURL
	}
	return c.URL
}

// IsAuthError reports whether err is a server's refusal of the
// credentials: authorization violation, expired or revoked.
func IsAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}

// Connect dials the server. Extra options (handlers) are appended. The
// first dial is made once, without retrying: a server that refuses the
// credentials fails Connect at once with its own message (nats:
// Authorization Violation), so that a daemon with a wrong password exits
// instead of retrying forever. With RetryOnFailedConnect (the default) a
// server that is not up yet is then retried in the background; wait is how
// long to wait for that first connection before giving up (zero: do not
// wait), and a refusal of the credentials seen while waiting fails too.
func Connect(c Config, name string, wait time.Duration, extra ...nats.Option) (*nats.Conn, error) {
	opts := append(c.Options(name), extra...)
	fail := func(err error) error { return RedactError(fmt.Errorf("nats: connect %s: %w", c.URLs(), err)) }
	nc, err := nats.Connect(c.URLs(), append(slices.Clone(opts), nats.RetryOnFailedConnect(false))...)
	if err == nil {
		return nc, nil
	}
	if IsAuthError(err) || !retries(opts) {
		return nil, fail(err)
	}
	nc, err = nats.Connect(c.URLs(), opts...)
	if err != nil {
		return nil, fail(err)
	}
	if wait <= 0 {
		return nc, nil
	}
	deadline := time.Now().Add(wait)
	for !nc.IsConnected() {
		if err := nc.LastError(); IsAuthError(err) {
			nc.Close()
			return nil, fail(err)
		}
		if time.Now().After(deadline) {
			err := nc.LastError()
			nc.Close()
			if err == nil {
				err = nats.ErrNoServers
			}
			return nil, fail(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nc, nil
}

// retries reports whether opts leave RetryOnFailedConnect on.
func retries(opts []nats.Option) bool {
	o := nats.GetDefaultOptions()
	for _, opt := range opts {
		_ = opt(&o)
	}
	return o.RetryOnFailedConnect
}
