// Command agent is Herald's per-host agent: it loads watch files, consumes
// the events they select from NATS JetStream, runs their actions under the
// watch's run mode and publishes every outcome. See package internal/agent.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := agent.Run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case err == nil:
		os.Exit(0)
	case errors.Is(err, version.ErrRequested):
		fmt.Println(version.Get().String("agent"))
		os.Exit(0)
	case errors.Is(err, agent.ErrUsage):
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(2)
	default:
		os.Exit(1) // a failed start or an unclean stop: Run logged it
	}
}
