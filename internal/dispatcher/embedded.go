package dispatcher

import (
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/auth/authserver"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// serverOptions turns the config into the embedded server's options: the
// listen address, JetStream under cfg.Data, the client auth it requires and
// the TLS it serves.
func serverOptions(cfg Config) (*server.Options, error) {
	host, portStr, err := net.SplitHostPort(cfg.NATSListen)
	if err != nil {
		return nil, fmt.Errorf("%w: nats_listen: %w", ErrInvalidConfig, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("%w: nats_listen: %w", ErrInvalidConfig, err)
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
			return nil, fmt.Errorf("%w: nats.tls_cert: %w", ErrInvalidConfig, err)
		}
		opts.TLSConfig = tc
		opts.TLS = true
		opts.TLSVerify = verify
		opts.TLSTimeout = 2
	}
	return opts, nil
}

// startServer starts the embedded server and waits until it accepts
// clients with JetStream on. With trust (cfg.Auth), it trusts only the
// auth directory's operator.
func startServer(cfg Config, trust *auth.Trust, log zerolog.Logger) (*server.Server, error) {
	opts, err := serverOptions(cfg)
	if err != nil {
		return nil, err
	}
	if trust != nil {
		if err := authserver.Configure(opts, *trust); err != nil {
			return nil, fmt.Errorf("%w: auth: %w", ErrInvalidConfig, err)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	sl := &serverLogger{log: log.With().Str("component", "nats-server").Logger()}
	s.SetLoggerV2(sl, log.GetLevel() <= zerolog.DebugLevel, false, false)
	s.Start()
	if !s.ReadyForConnections(cfg.ConnectTimeout) || !s.JetStreamEnabled() {
		s.Shutdown()
		s.WaitForShutdown()
		if msg := sl.lastError(); msg != "" {
			return nil, fmt.Errorf("embedded nats server did not start: %s", msg)
		}
		return nil, fmt.Errorf("embedded nats server not ready within %v", cfg.ConnectTimeout)
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
