// Command dispatcher runs Herald's dispatcher: an embedded (or external)
// NATS JetStream server, the Herald streams and the event sources. See
// package internal/dispatcher.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := dispatcher.Run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case err == nil:
		os.Exit(0)
	case errors.Is(err, version.ErrRequested):
		fmt.Println(version.Get().String("dispatcher"))
		os.Exit(0)
	case errors.Is(err, dispatcher.ErrUsage), errors.Is(err, dispatcher.ErrInvalidConfig):
		fmt.Fprintf(os.Stderr, "dispatcher: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "dispatcher: %v\n", err)
		os.Exit(1)
	}
}
