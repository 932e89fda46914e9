package natsconn

import (
	"fmt"
	"os"
	"strings"
)

// Environment variables holding the secrets, for daemons started by a
// supervisor that sets them (never on a command line).
const (
	EnvPassword = "HERALD_NATS_PASSWORD"
	EnvToken    = "HERALD_NATS_TOKEN"
)

// refusedFlags are the secret flags a command line may no longer carry.
type refusedFlags struct{ password, token string }

// check fails when a secret was given on the command line, saying where
// it goes instead.
func (r refusedFlags) check() error {
	if r.password != "" {
		return fmt.Errorf("%w: --nats-password is no longer accepted (a password on a command line is visible in /proc): set $%s or use --nats-password-file FILE", ErrInvalidConfig, EnvPassword)
	}
	if r.token != "" {
		return fmt.Errorf("%w: --nats-token is no longer accepted (a token on a command line is visible in /proc): set $%s or use --nats-token-file FILE", ErrInvalidConfig, EnvToken)
	}
	return nil
}

// LoadSecrets reads the password and token files (trailing newline
// trimmed), then takes from the environment what neither a file nor the
// config file set, so that secrets need not appear in a process listing.
// A file that cannot be read or holds nothing is an error naming its flag
// and config key; a file next to the value it would set is one too.
// A secret given on the command line fails it as it fails Validate, before
// any other check can complain that the secret is missing. Once it
// succeeded, calling it again does nothing.
func (c *Config) LoadSecrets() error {
	if c.loaded {
		return nil
	}
	if err := c.refused.check(); err != nil {
		return err
	}
	for _, s := range []struct {
		flag, key string
		file      string
		value     *string
	}{
		{"--nats-password-file", "password", c.PasswordFile, &c.Password},
		{"--nats-token-file", "token", c.TokenFile, &c.Token},
	} {
		if s.file == "" {
			continue
		}
		if *s.value != "" {
			return fmt.Errorf("%w: %s (nats.%s_file) and nats.%s are exclusive", ErrInvalidConfig, s.flag, s.key, s.key)
		}
		v, err := readSecret(s.file)
		if err != nil {
			return fmt.Errorf("%w: %s (nats.%s_file): %w", ErrInvalidConfig, s.flag, s.key, err)
		}
		*s.value = v
	}
	if c.Password == "" {
		c.Password = os.Getenv(EnvPassword)
	}
	if c.Token == "" {
		c.Token = os.Getenv(EnvToken)
	}
	c.loaded = true
	return nil
}

// readSecret returns the content of a secret file without its trailing
// newline; an empty one is an error. The error never holds the content.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s: empty file", path)
	}
	return v, nil
}
