package agent_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/heraldhq/herald/internal/yamlfile"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfig_LoadConfigFile_DuplicateKey(t *testing.T) {
	p := writeConfig(t, "name: web-1\nwatches: /etc/a\nname: web-2\n")
	c := agent.DefaultConfig()
	err := c.LoadConfigFile(p)
	want := p + `:3: duplicate key "name" (first at line 1)`
	if !errors.Is(err, agent.ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
		t.Errorf("LoadConfigFile = %v, want ErrInvalidConfig with %q", err, want)
	}
}

func TestConfig_LoadConfigFile_TooBig(t *testing.T) {
	p := writeConfig(t, "name: web-1\n"+strings.Repeat("# padding\n", yamlfile.MaxFileSize/10))
	c := agent.DefaultConfig()
	err := c.LoadConfigFile(p)
	if !errors.Is(err, agent.ErrInvalidConfig) || !strings.Contains(err.Error(), p+": file is too big: ") {
		t.Errorf("LoadConfigFile = %v, want ErrInvalidConfig naming %s and its size", err, p)
	}
}

func TestConfig_LoadConfigFile_LocatedErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown key", "name: web-1\nwatches: /etc/a\nbogus: 1\n", ":3: field bogus not found in type agent.Config"},
		{"bad value", "name: web-1\n\nheartbeat: often\n", ":3: cannot unmarshal !!str `often` into time.Duration"},
		{"syntax error", "name: web-1\nnats: [\n", ":2: did not find expected node content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.doc)
			c := agent.DefaultConfig()
			err := c.LoadConfigFile(p)
			want := "invalid agent config: " + p + tc.want
			if !errors.Is(err, agent.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("LoadConfigFile = %v, want ErrInvalidConfig starting %q", err, want)
			}
		})
	}
}

// TestConfig_LoadConfigFile_VerifyEvery: the file's verify_every reaches the
// config and is checked; ack_wait, from configs of agents that held a
// consumer, is still accepted.
func TestConfig_LoadConfigFile_VerifyEvery(t *testing.T) {
	p := writeConfig(t, "name: web-1\nwatches: /etc/a\nack_wait: 7s\nverify_every: 250ms\n")
	c := agent.DefaultConfig()
	if err := c.LoadConfigFile(p); err != nil {
		t.Fatal(err)
	}
	if c.VerifyEvery != 250*time.Millisecond || c.AckWait != 7*time.Second {
		t.Fatalf("verify_every %v, ack_wait %v; want the file's 250ms and 7s", c.VerifyEvery, c.AckWait)
	}
	c.VerifyEvery = 50 * time.Millisecond
	var fe *fielderr.Error
	if err := c.Validate(); !errors.Is(err, agent.ErrInvalidConfig) || !errors.As(err, &fe) || fe.Field != "verify_every" {
		t.Fatalf("Validate with verify_every 50ms = %v, want ErrInvalidConfig naming verify_every", err)
	}
}
