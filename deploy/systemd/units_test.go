// Package systemd_test checks the systemd units shipped in deploy/systemd
// with systemd's own tools: they parse without a warning, read the NATS
// credential from a file with LoadCredential= and keep their hardening
// (systemd-analyze security's exposure score) at or under the figures in
// README.md. It knows nothing about Herald's code.
package systemd_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// maxExposure is each unit's systemd-analyze security score after
// hardening (README.md has the before and after): a change that loosens a
// unit past it fails here.
var maxExposure = map[string]float64{
	"herald-agent.service":      2.4,
	"herald-dispatcher.service": 1.1,
}

// requireAnalyze fails, saying how to install it, when systemd-analyze
// is missing: these checks must not pass by skipping.
func requireAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is not on PATH (%v): run `apt-get install -y systemd` (.ci/run does; no systemd needs to run)", err)
	}
	return p
}

// analyze runs systemd-analyze and returns its stdout and stderr.
// verifyAndScore checks the unit file p with systemd-analyze verify and
// returns its exposure score from systemd-analyze security, with that
// command's output.
func verifyAndScore(t *testing.T, bin, p string) (float64, string) {
	t.Helper()
	if out, errOut, err := analyze(t, bin, "verify", "--man=no", p); err != nil || strings.TrimSpace(out+errOut) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s%s", err, out, errOut)
	}
	out, errOut, err := analyze(t, bin, "security", "--offline=true", "--no-pager", p)
	m := exposure.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security --offline=true: %v\n%s%s", err, out, errOut)
	}
	got, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return got, out
}

func analyze(t *testing.T, bin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "SYSTEMD_LOG_LEVEL=warning")
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// unitCopy writes the unit into a temp dir with its binary replaced by
// /bin/true, which verify insists exists.
func unitCopy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`/usr/local/bin/(agent|dispatcher)\b`).ReplaceAllString(string(b), "/bin/true")
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var exposure = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

func TestUnits(t *testing.T) {
	bin := requireAnalyze(t)
	for name, limit := range maxExposure {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			unit := string(b)
			if !regexp.MustCompile(`(?m)^LoadCredential=\S+:/etc/herald/\S+$`).MatchString(unit) {
				t.Errorf("no LoadCredential= of a file under /etc/herald")
			}
			exec := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindStringSubmatch(unit)
			if exec == nil || !strings.Contains(exec[1], "%d/") {
				t.Errorf("ExecStart %q does not read the credential from $CREDENTIALS_DIRECTORY (%%d)", exec)
			}
			for _, f := range []string{"--nats-password ", "--nats-token ", "--nats-password=", "--nats-token="} {
				if strings.Contains(unit, f) {
					t.Errorf("the unit passes a secret on the command line (%s)", f)
				}
			}

			got, out := verifyAndScore(t, bin, unitCopy(t, name))
			if got > limit {
				t.Errorf("exposure %.1f, want at most %.1f:\n%s", got, limit, out)
			}
		})
	}
}

// TestDispatcherAuthDropIn: the dispatcher unit with the --auth drop-in
// (herald-dispatcher-auth.conf, for the embedded server with herald auth's
// identities) still passes systemd-analyze verify and keeps the unit's
// score, and starts the dispatcher with --auth and no password.
func TestDispatcherAuthDropIn(t *testing.T) {
	bin := requireAnalyze(t)
	drop, err := os.ReadFile("herald-dispatcher-auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(string(drop)[strings.Index(string(drop), "[Service]"):], "[Service]\n")
	if !ok {
		t.Fatal("herald-dispatcher-auth.conf has no [Service] section")
	}
	p := unitCopy(t, "herald-dispatcher.service")
	unit, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Empty assignments reset LoadCredential= and ExecStart= in one file
	// as in a drop-in: the drop-in's lines end the [Service] section.
	body = regexp.MustCompile(`/usr/local/bin/dispatcher\b`).ReplaceAllString(body, "/bin/true")
	merged := strings.Replace(string(unit), "\n[Install]", "\n"+body+"\n[Install]", 1)
	if err := os.WriteFile(p, []byte(merged), 0o644); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "--auth /etc/herald/auth") || strings.Contains(body, "--nats-password-file") {
		t.Errorf("the drop-in's ExecStart does not start the dispatcher with --auth alone:\n%s", body)
	}
	if got, _ := verifyAndScore(t, bin, p); got > maxExposure["herald-dispatcher.service"] {
		t.Errorf("exposure with the drop-in %.1f, want at most %.1f", got, maxExposure["herald-dispatcher.service"])
	}
}
