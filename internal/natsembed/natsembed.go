// Package natsembed runs the NATS server a dispatcher embeds when no
// external one is given: its options from Herald's settings (listen
// address, JetStream store, client auth, TLS, an auth directory's trust),
// starting it and waiting until JetStream answers, and its log in
// zerolog. It knows nothing of Herald's streams, sources or engines, nor
// of the dispatcher's config file.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/auth/authserver"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// ErrConfig wraps a setting the server cannot take (named as the
// dispatcher's config names it).
var ErrConfig = errors.New("invalid embedded nats server settings")

// Config is what the embedded server is started with.
type Config struct {
	// Listen is host:port (port 0: a random one).
	Listen string
	// Data is the JetStream store directory.
	Data string
	// NATS holds the client auth the server requires (user and password,
	// or a token) and the TLS it serves (cert, key, CA to verify clients).
	NATS natsconn.Config
	// Trust, when set, makes the server trust only an auth directory's
	// operator (decentralized auth).
	Trust *auth.Trust
	// Ready bounds the wait for the server to accept clients.
	Ready time.Duration
}

// options turns the config into the server's options: the listen
// address, JetStream under cfg.Data, the client auth it requires and the
// TLS it serves.
func options(cfg Config) (*server.Options, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: nats_listen: %w", ErrConfig, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("%w: nats_listen: %w", ErrConfig, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "herald-dispatcher",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.Data,
		NoSigs:     true,
	}
	switch {
	case cfg.NATS.User != "":
		opts.Username = cfg.NATS.User
		opts.Password = cfg.NATS.Password
	case cfg.NATS.Token != "":
		opts.Authorization = cfg.NATS.Token
	}
	if cfg.NATS.TLSCert != "" {
		verify := cfg.NATS.TLSCA != ""
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: cfg.NATS.TLSCert,
			KeyFile:  cfg.NATS.TLSKey,
			CaFile:   cfg.NATS.TLSCA,
			Verify:   verify,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: nats.tls_cert: %w", ErrConfig, err)
		}
		opts.TLSConfig = tc
		opts.TLS = true
		opts.TLSVerify = verify
		opts.TLSTimeout = 2
	}
	return opts, nil
}

// Start starts the server and waits, up to cfg.Ready, until it accepts
// clients with JetStream on. With cfg.Trust it trusts only that auth
// directory's operator.
func Start(cfg Config, log zerolog.Logger) (*server.Server, error) {
	opts, err := options(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Trust != nil {
		if err := authserver.Configure(opts, *cfg.Trust); err != nil {
			return nil, fmt.Errorf("%w: auth: %w", ErrConfig, err)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	sl := &serverLogger{log: log.With().Str("component", "nats-server").Logger()}
	s.SetLoggerV2(sl, log.GetLevel() <= zerolog.DebugLevel, false, false)
	s.Start()
	if !s.ReadyForConnections(cfg.Ready) || !s.JetStreamEnabled() {
		s.Shutdown()
		s.WaitForShutdown()
		if msg := sl.lastError(); msg != "" {
			return nil, fmt.Errorf("embedded nats server did not start: %s", msg)
		}
		return nil, fmt.Errorf("embedded nats server not ready within %v", cfg.Ready)
	}
	return s, nil
}

// serverLogger sends the embedded server's log to zerolog. Notices (the
// start-up banner among them) are debug, since the dispatcher logs its own
// "dispatcher ready" line with the addresses; a fatal error is logged as an error and remembered rather than
// exiting the process.
type serverLogger struct {
	log  zerolog.Logger
	mu   sync.Mutex
	last string
}

func (l *serverLogger) remember(msg string) {
	l.mu.Lock()
	l.last = msg
	l.mu.Unlock()
}

func (l *serverLogger) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (l *serverLogger) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.log.Debug().Msgf(format, v...) }
func (l *serverLogger) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }

func (l *serverLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.remember(msg)
	l.log.Error().Msg(msg)
}

func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.remember(msg)
	l.log.Error().Bool("fatal", true).Msg(msg)
}
