package e2e_test

import (
	"strings"
	"testing"
)

// A password or token on a command line (visible in /proc) is refused by
// every binary with exit 2 and a message saying where it goes instead,
// without printing it; the password file, the legitimate path, is in
// TestDaemons_NATSAuth.
func TestNATSSecrets_CommandLineRefused(t *testing.T) {
	t.Parallel()
	const secret = "cmdline-Secret-77"
	f := newFixture(t)
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"agent", []string{"--nats-user", natsUser, "--nats-password", secret, "--name", "a1", "--watches", f.watches, "--state", t.TempDir()}, []string{"$HERALD_NATS_PASSWORD", "--nats-password-file"}},
		{"dispatcher", []string{"--nats-user", natsUser, "--nats-password", secret, "--data", t.TempDir(), "--nats-listen", "127.0.0.1:0", "--http", ""}, []string{"$HERALD_NATS_PASSWORD", "--nats-password-file"}},
		{"dispatcher", []string{"--nats", "nats://127.0.0.1:1", "--nats-token", secret, "--http", ""}, []string{"$HERALD_NATS_TOKEN", "--nats-token-file"}},
		{"herald", []string{"status", "--nats-user", natsUser, "--nats-password", secret}, []string{"$HERALD_NATS_PASSWORD", "--nats-password-file"}},
		{"herald", []string{"publish", "--nats-token", secret, "--type", "t.x", "--key", "/k", "--data", "x"}, []string{"$HERALD_NATS_TOKEN", "--nats-token-file"}},
	} {
		t.Run(c.name+" "+strings.Join(c.args[:2], " "), func(t *testing.T) {
			t.Parallel()
			code, out := runToExit(t, "", c.name, c.args...)
			if code != 2 || !strings.Contains(out, "no longer accepted") || !strings.Contains(out, "/proc") {
				t.Fatalf("exit %d, want 2 with the refusal:\n%s", code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("the refusal does not name %s:\n%s", w, out)
				}
			}
			if strings.Contains(out, secret) {
				t.Fatalf("the secret was printed:\n%s", out)
			}
		})
	}
}

// Credentials in a --nats URL never reach what a binary prints when the
// server refuses them; the right ones in the URL still work.
func TestNATSSecrets_URLCredentialsRedacted(t *testing.T) {
	t.Parallel()
	srv, _ := runNATSAuth(t)
	host := strings.TrimPrefix(srv.ClientURL(), "nats://")
	bad := "nats://" + natsUser + ":" + wrongPassword + "@" + host
	f := newFixture(t)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"agent", []string{"--nats", bad, "--name", "a1", "--watches", f.watches, "--state", t.TempDir()}},
		{"dispatcher", []string{"--nats", bad, "--http", "", "--log-format", "console"}},
		{"herald", []string{"status", "--nats", bad}},
		{"herald", []string{"publish", "--nats", "nats://" + wrongPassword + "@" + host, "--type", "t.x", "--key", "/k", "--data", "x"}},
	} {
		t.Run(c.name+" "+c.args[0], func(t *testing.T) {
			t.Parallel()
			code, out := runToExit(t, "", c.name, c.args...)
			if code != 1 || !strings.Contains(out, "nats: Authorization Violation") || !strings.Contains(out, "xxxxx@"+host) {
				t.Fatalf("exit %d, want 1 with the server's message and the URL redacted:\n%s", code, out)
			}
			if strings.Contains(out, wrongPassword) {
				t.Fatalf("the password in the URL was printed:\n%s", out)
			}
		})
	}
	good := "nats://" + natsUser + ":" + natsPassword + "@" + host
	code, out := runToExit(t, "", "herald", "publish", "--nats", good, "--type", "t.x", "--key", "/k", "--data", "x")
	if strings.Contains(out, natsPassword) {
		t.Fatalf("the password in the URL was printed:\n%s", out)
	}
	// No streams on this server: publish reaches it and fails past the
	// authentication.
	if strings.Contains(out, "Authorization Violation") {
		t.Fatalf("exit %d: the right credentials in the URL were refused:\n%s", code, out)
	}
}
