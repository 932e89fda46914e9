package testutil

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

// HTTPIdentity is an identity with the HTTP bearer token token, as
// herald auth issues one with --http-token.
func HTTPIdentity(name string, role auth.Role, token string) auth.Identity {
	return auth.Identity{Name: name, Role: role, TokenSHA256: auth.TokenHash(token), Created: time.Now().UTC()}
}

// WriteRegistry writes dir/identities.json holding ids, atomically (a
// rename), as herald auth does.
func WriteRegistry(tb testing.TB, dir string, ids ...auth.Identity) {
	tb.Helper()
	b, err := json.Marshal(auth.Registry{Identities: ids})
	if err != nil {
		tb.Fatal(err)
	}
	tmp := filepath.Join(dir, ".identities.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, auth.RegistryFile)); err != nil {
		tb.Fatal(err)
	}
}
