package testutil

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

// AuthDir is a real auth directory under tb.TempDir(), as herald auth
// makes one: the trust root, dispatcher.creds and admin.creds (auth
// Dir.Init), then one identity per spec (Dir.Add). tokens maps the name
// of each spec with HTTPToken to its bearer token.
func AuthDir(tb testing.TB, specs ...auth.Spec) (dir auth.Dir, tokens map[string]string) {
	tb.Helper()
	dir = auth.Dir(filepath.Join(tb.TempDir(), "auth"))
	if _, err := dir.Init(time.Now()); err != nil {
		tb.Fatalf("auth init: %v", err)
	}
	tokens = map[string]string{}
	for _, s := range specs {
		is, err := dir.Add(s, time.Now())
		if err != nil {
			tb.Fatalf("auth add %s: %v", s.Name, err)
		}
		if is.Token != "" {
			tokens[s.Name] = is.Token
		}
	}
	return dir, tokens
}
