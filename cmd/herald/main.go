// Command herald is Herald's command line for people: publish an event, tail
// events or outcomes, show agent status, validate watch, hook and job
// files, read and write KV keys, run an operation between hooks.d hooks
// (op), wrap a scheduler call in its hooks (call), and print its version
// and shell completion scripts. All the work is in package cli; main only
// wires the process to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := (&cli.Main{}).Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode(err))
}
