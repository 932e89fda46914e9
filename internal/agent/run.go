package agent

import (
	"context"
	"errors"
	"flag"
	"io"

	"github.com/heraldhq/herald/internal/daemon"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/version"
)

// ErrUsage is wrapped by the errors of Run that are the caller's fault: a
// bad command line, config file or config (cmd/agent exits 2). The error
// reads as the one it wraps.
var ErrUsage = errors.New("usage")

// usageError marks err as the caller's fault without changing its message.
type usageError struct{ err error }

func (e usageError) Error() string   { return e.err.Error() }
func (e usageError) Unwrap() []error { return []error{ErrUsage, e.err} }

// Run is the agent command: it parses args, starts the agent and runs it
// until ctx is cancelled (main cancels it on SIGTERM or SIGINT), then stops
// it, giving runs the config's shutdown grace. SIGHUP reloads the watches.
// A ctx cancelled while the agent starts stops it the same way.
//
// -h prints the usage to stderr and returns nil; --version returns
// version.ErrRequested for main to print the version. Errors wrapping
// ErrUsage are the caller's fault; Run does not print them (main does). Any
// other error is a failed start or an unclean stop, which Run has already
// logged ("agent failed to start", "agent stopped uncleanly").
func Run(ctx context.Context, args []string, stderr io.Writer) error {
	opts, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		if errors.Is(err, version.ErrRequested) {
			return err
		}
		return usageError{err}
	}
	log, err := logging.New(stderr, opts.Config.LogFormat, opts.Config.LogLevel)
	if err != nil {
		return usageError{err}
	}
	a, err := New(opts.Config, log)
	if err != nil {
		return usageError{err}
	}
	if err := a.Start(ctx); err != nil {
		if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
			log.Error().Err(err).Msg("agent failed to start")
			_ = a.Close(context.Background())
			return err
		}
		// ctx ended while starting: stop what started, as below.
	}
	daemon.Wait(ctx, nil, func() {
		log.Info().Msg("SIGHUP: reloading watches")
		a.Reload()
	})
	log.Info().Msg("agent stopping")
	cctx, cancel := context.WithTimeout(context.Background(), opts.Config.ShutdownGrace)
	defer cancel()
	if err := a.Close(cctx); err != nil {
		log.Error().Err(err).Msg("agent stopped uncleanly")
		return err
	}
	log.Info().Msg("agent stopped")
	return nil
}
