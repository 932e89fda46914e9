// Package daemon holds what Herald's two daemons (dispatcher and agent) do
// alike while they run: wait for the end, reloading on SIGHUP. It knows
// nothing about what they run or reload.
package daemon

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Wait blocks until ctx ends or failed is closed (nil: never), calling
// reload on every SIGHUP meanwhile, so that SIGHUP never takes the default
// action (ending the process).
func Wait(ctx context.Context, failed <-chan struct{}, reload func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			reload()
		case <-ctx.Done():
			return
		case <-failed:
			return
		}
	}
}
