// Command agent is Herald's per-host agent: it loads watch files, consumes
// the events they select from NATS JetStream, runs their actions under the
// watch's run mode and publishes every outcome.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := agent.ParseFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, version.ErrRequested) {
		fmt.Println(version.Get().String("agent"))
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 2
	}
	log, err := logging.New(os.Stderr, opts.Config.LogFormat, opts.Config.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 2
	}
	a, err := agent.New(opts.Config, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := a.Start(ctx); err != nil {
		log.Error().Err(err).Msg("agent failed to start")
		_ = a.Close(context.Background())
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			log.Info().Msg("SIGHUP: reloading watches")
			a.Reload()
			continue
		case <-ctx.Done():
		}
		break
	}
	log.Info().Msg("agent stopping")
	cctx, cancel := context.WithTimeout(context.Background(), opts.Config.ShutdownGrace)
	defer cancel()
	if err := a.Close(cctx); err != nil {
		log.Error().Err(err).Msg("agent stopped uncleanly")
		return 1
	}
	log.Info().Msg("agent stopped")
	return 0
}
