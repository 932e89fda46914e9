package dispatcher

import (
	"fmt"
	"net"
	"strconv"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/auth/authserver"
	"github.com/heraldhq/herald/internal/natsembed"
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
	return natsembed.Start(opts, cfg.ConnectTimeout, log)
}
