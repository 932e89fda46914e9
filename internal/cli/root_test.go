package cli_test

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/cli"
)

func TestMain_RunHelp(t *testing.T) {
	t.Run("help lists every command on stdout", func(t *testing.T) {
		r := run(t, nil, nil, "help")
		if r.err != nil || r.errOut != "" {
			t.Fatalf("exit %d stderr %q", r.code(), r.errOut)
		}
		for _, c := range []string{"publish", "tail", "status", "validate", "HERALD_NATS"} {
			if !strings.Contains(r.out, c) {
				t.Errorf("help does not mention %s:\n%s", c, r.out)
			}
		}
	})
	t.Run("help CMD and CMD -h show the command's flags", func(t *testing.T) {
		for cmd, flags := range map[string][]string{
			"publish":  {"-type", "-key", "-data", "-data-file", "-content-type", "-version", "-source", "-nats", "-nats-creds", "-timeout"},
			"tail":     {"-outcomes", "-type", "-json", "-count", "-nats", "-nats-user"},
			"status":   {"-json", "-nats", "-nats-token-file", "-nats-password-file"},
			"validate": {"PATH..."},
		} {
			r := run(t, nil, nil, "help", cmd)
			h := run(t, nil, nil, cmd, "-h")
			if r.err != nil || h.err != nil {
				t.Fatalf("%s: help exit %d, -h exit %d", cmd, r.code(), h.code())
			}
			if r.out != h.errOut {
				t.Errorf("%s: 'help %s' and '%s -h' differ:\n%s\n---\n%s", cmd, cmd, cmd, r.out, h.errOut)
			}
			for _, f := range flags {
				if !strings.Contains(r.out, f) {
					t.Errorf("%s usage lacks %s:\n%s", cmd, f, r.out)
				}
			}
		}
	})
	for name, args := range map[string][]string{
		"no command":                   nil,
		"unknown command":              {"frobnicate"},
		"help unknown command":         {"help", "frobnicate"},
		"unknown flag":                 {"status", "--bogus"},
		"password on the command line": {"status", "--nats-user", "u", "--nats-password", "hunter2"},
		"token on the command line":    {"publish", "--type", "t", "--key", "k", "--nats-token", "hunter2"},
	} {
		t.Run(name+" is a usage error", func(t *testing.T) {
			r := run(t, nil, nil, args...)
			if r.code() != cli.ExitUsage || r.errOut == "" || r.out != "" {
				t.Errorf("exit %d stdout %q stderr %q, want 2 and a message on stderr", r.code(), r.out, r.errOut)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, cli.ExitOK},
		{cli.ErrUsage, cli.ExitUsage},
		{fmt.Errorf("wrapped: %w", cli.ErrUsage), cli.ExitUsage},
		{cli.ErrInvalidWatchFiles, cli.ExitFailure},
		{errors.New("boom"), cli.ExitFailure},
		{flag.ErrHelp, cli.ExitFailure},
	} {
		if got := cli.ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
