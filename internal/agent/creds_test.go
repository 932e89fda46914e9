package agent_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/testutil"
)

// An agent whose --nats-creds are another identity's warns at start:
// herald auth add-agent credentials allow only their own name's subjects.
func TestStart_WarnsWhenCredsAreAnotherIdentity(t *testing.T) {
	t.Parallel()
	dir, _ := testutil.AuthDir(t, auth.Spec{Name: "web-1", Role: auth.RoleAgent})
	creds := filepath.Join(string(dir), auth.KindDir(auth.RoleAgent), "web-1.creds")
	b := newRig(t)
	const warning = "the credentials are another identity's"
	withCreds := func(c *agent.Config) { c.NATS.Creds = creds }

	own := b.startAgent("web-1", nil, withCreds)
	other := b.startAgent("web-2", nil, withCreds)
	other.waitLog(t, warning)
	if !strings.Contains(other.log.String(), `"identity":"web-1"`) {
		t.Errorf("the warning does not name the identity:\n%s", other.log.String())
	}
	if strings.Contains(own.log.String(), warning) {
		t.Errorf("web-1 with its own credentials warned:\n%s", own.log.String())
	}
}
