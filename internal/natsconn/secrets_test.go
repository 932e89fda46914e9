package natsconn_test

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
)

// parse registers the NATS flags on a fresh flag set and parses args.
func parse(t *testing.T, args ...string) natsconn.Config {
	t.Helper()
	var c natsconn.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c
}

func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A secret on the command line parses and is refused, saying where it
// goes instead; the secret itself is not in the message.
func TestConfig_SecretFlagsRefused(t *testing.T) {
	t.Setenv(natsconn.EnvPassword, "")
	t.Setenv(natsconn.EnvToken, "")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--nats-user", "u", "--nats-password", "hunter2"}, []string{"--nats-password", "$HERALD_NATS_PASSWORD", "--nats-password-file", "/proc"}},
		{[]string{"--nats-token", "hunter2"}, []string{"--nats-token", "$HERALD_NATS_TOKEN", "--nats-token-file", "/proc"}},
	} {
		cfg := parse(t, c.args...)
		if err := cfg.LoadSecrets(); !errors.Is(err, natsconn.ErrInvalidConfig) {
			t.Fatalf("%q: LoadSecrets = %v, want ErrInvalidConfig", c.args, err)
		}
		err := cfg.Validate()
		if !errors.Is(err, natsconn.ErrInvalidConfig) {
			t.Fatalf("%q: Validate = %v, want ErrInvalidConfig", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v, want it to name %s", c.args, err, w)
			}
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the secret is in the error: %v", err)
		}
	}
	// The config file's keys stay allowed.
	if err := (natsconn.Config{User: "u", Password: "p"}).Validate(); err != nil {
		t.Errorf("password from a config file: %v", err)
	}
	if err := (natsconn.Config{Token: "t"}).Validate(); err != nil {
		t.Errorf("token from a config file: %v", err)
	}
}

func TestConfig_LoadSecrets(t *testing.T) {
	t.Setenv(natsconn.EnvPassword, "from-env")
	t.Setenv(natsconn.EnvToken, "")
	t.Run("files, trailing newline trimmed", func(t *testing.T) {
		cfg := parse(t, "--nats-user", "u", "--nats-password-file", secretFile(t, "pa ss\n"))
		if err := cfg.LoadSecrets(); err != nil || cfg.Password != "pa ss" {
			t.Fatalf("LoadSecrets = %v, password %q; want %q", err, cfg.Password, "pa ss")
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := cfg.LoadSecrets(); err != nil || cfg.Password != "pa ss" {
			t.Fatalf("LoadSecrets again = %v, password %q; want nothing changed", err, cfg.Password)
		}
		cfg = parse(t, "--nats-token-file", secretFile(t, "tok\r\n"))
		if err := cfg.LoadSecrets(); err != nil || cfg.Token != "tok" {
			t.Fatalf("LoadSecrets = %v, token %q; want tok", err, cfg.Token)
		}
	})
	t.Run("environment when nothing else", func(t *testing.T) {
		cfg := parse(t, "--nats-user", "u")
		if err := cfg.LoadSecrets(); err != nil || cfg.Password != "from-env" {
			t.Fatalf("LoadSecrets = %v, password %q", err, cfg.Password)
		}
		cfg = natsconn.Config{User: "u", Password: "from-file"}
		if err := cfg.LoadSecrets(); err != nil || cfg.Password != "from-file" {
			t.Fatalf("config key: LoadSecrets = %v, password %q", err, cfg.Password)
		}
	})
	t.Run("errors name the flag", func(t *testing.T) {
		for _, c := range []struct {
			cfg  natsconn.Config
			want []string
		}{
			{natsconn.Config{PasswordFile: filepath.Join(t.TempDir(), "missing")}, []string{"--nats-password-file", "nats.password_file", "missing"}},
			{natsconn.Config{PasswordFile: secretFile(t, "\n")}, []string{"--nats-password-file", "empty"}},
			{natsconn.Config{TokenFile: secretFile(t, "")}, []string{"--nats-token-file", "nats.token_file", "empty"}},
			{natsconn.Config{TokenFile: t.TempDir()}, []string{"--nats-token-file"}},
			{natsconn.Config{Password: "p", PasswordFile: secretFile(t, "q")}, []string{"nats.password_file", "nats.password", "exclusive"}},
		} {
			err := c.cfg.LoadSecrets()
			if !errors.Is(err, natsconn.ErrInvalidConfig) {
				t.Fatalf("%+v: %v, want ErrInvalidConfig", c.cfg, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%+v: %v, want %q in it", c.cfg, err, w)
				}
			}
		}
		cfg := natsconn.Config{User: "u", TokenFile: secretFile(t, "t")}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "exclusive") {
			t.Errorf("user with token file: %v", err)
		}
	})
}

// A password read from a file authenticates against a real server.
func TestConnect_PasswordFile(t *testing.T) {
	t.Setenv(natsconn.EnvPassword, "")
	s := testutil.RunNATSWithOptions(t, &server.Options{Username: "herald", Password: "right"})
	cfg := parse(t, "--nats", s.ClientURL(), "--nats-user", "herald", "--nats-password-file", secretFile(t, "right\n"))
	if err := cfg.LoadSecrets(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	nc, err := natsconn.Connect(cfg, "test", 0)
	if err != nil {
		t.Fatalf("connect with the password file: %v", err)
	}
	nc.Close()
}
