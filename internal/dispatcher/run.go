package dispatcher

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/heraldhq/herald/internal/daemon"
	"github.com/heraldhq/herald/internal/logging"
)

// Run is the dispatcher command: it parses args, starts the dispatcher and
// runs it until ctx is cancelled (main cancels it on SIGTERM or SIGINT) or
// the dispatcher fails, then stops it gracefully. SIGHUP rescans the hook
// files (as a change in the hooks directory does). Errors wrapping ErrUsage
// or ErrInvalidConfig are the caller's fault; any other error is a runtime
// failure. -h prints the usage and returns nil; --version returns
// version.ErrRequested for main to print the version.
func Run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	d, err := New(cfg, WithLogger(log))
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		if ctx.Err() != nil {
			log.Info().Err(err).Msg("stopped while starting")
			return nil
		}
		return err
	}
	daemon.Wait(ctx, d.Done(), func() {
		log.Info().Msg("SIGHUP: reloading hook files")
		d.Reload()
	})
	select {
	case <-d.Done():
		log.Error().Err(d.Err()).Msg("dispatcher failed, stopping")
	default:
		log.Info().Msg("stopping")
	}
	cctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	closeErr := d.Close(cctx)
	return errors.Join(d.Err(), closeErr)
}
