package zk_test

import (
	"strings"
	"testing"

	zksrc "github.com/heraldhq/herald/internal/source/zk"
	"github.com/heraldhq/herald/internal/testutil"
)

// TestSource_AgentPathsOnlyWithinAllow is the attack: an announcement
// declaring zk:/secret/db-password made the dispatcher read that znode
// with its own credentials and publish it. Outside zk.allow it is never
// watched nor read, and nothing is published for it; a path inside is.
func TestSource_AgentPathsOnlyWithinAllow(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	tr := testutil.RunTracker(t, r.js)
	r.create("/secret", "")
	r.create("/secret/db-password", "hunter2")
	r.create("/app", "")
	r.create("/app/config", "c0")
	src := r.start("zk", zksrc.Config{Allow: []string{"/app/**", "/git/head"}}, tr)
	src.synced()

	r.announce("evil", false, "zk:/secret/db-password", "zk:/secret/**", "zk:/app/config")
	waitRoots(t, src, "/app/config")
	r.waitFor("/app/config", zksrc.TypeChanged, "c0")
	r.set("/app/config", "c1")
	r.waitFor("/app/config", zksrc.TypeChanged, "c1")
	src.synced()
	for _, e := range r.evs.all() {
		if strings.HasPrefix(e.Key, "/secret") || strings.Contains(string(e.Data), "hunter2") {
			t.Fatalf("published a path outside zk.allow: %v", e)
		}
	}
	if got := src.log.String(); !strings.Contains(got, "zk: selector outside zk.allow ignored") || !strings.Contains(got, "zk:/secret/db-password") {
		t.Errorf("the refusal is not logged:\n%s", got)
	}
}

func TestConfig_Allow(t *testing.T) {
	if got := (zksrc.Config{}).AllowGlobs(); len(got) != 1 || got[0] != "/**" {
		t.Errorf("default allow = %q, want [/**]", got)
	}
	if got := (zksrc.Config{Allow: []string{}}).AllowGlobs(); len(got) != 0 {
		t.Errorf("empty allow = %q, want none", got)
	}
	err := zksrc.Config{Allow: []string{"/ok/**", "relative/**"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "zk.allow[1]") {
		t.Errorf("Validate = %v, want an error naming zk.allow[1]", err)
	}
}
