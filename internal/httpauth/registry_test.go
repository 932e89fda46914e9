package httpauth_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/httpauth"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/rs/zerolog"
)

func TestFileRegistry_ReadAgainWhenChanged(t *testing.T) {
	if reg, err := httpauth.NewFileRegistry(t.TempDir()).Current(); err == nil || reg != nil || !strings.Contains(err.Error(), "herald auth init") {
		t.Fatalf("no registry: %v %v, want an error saying to run herald auth init", reg, err)
	}
	d, tok := testutil.AuthDir(t, auth.Spec{Name: "a", Role: auth.RolePublisher, Types: []string{"ci.*"}, HTTPToken: true})
	dir := string(d)
	f := httpauth.NewFileRegistry(dir)
	reg, err := f.Current()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.ByToken(tok["a"]); !ok {
		t.Fatal("a's token not found")
	}
	// Revoked: the next call sees it.
	if _, err := d.Revoke("a", time.Now()); err != nil {
		t.Fatal(err)
	}
	if reg, err = f.Current(); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.ByToken(tok["a"]); ok {
		t.Fatal("revoked a's token still accepted")
	}
	// A broken file keeps the last good registry, with the error.
	if err := os.WriteFile(filepath.Join(dir, auth.RegistryFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err = f.Current()
	if err == nil || reg == nil || !strings.Contains(err.Error(), auth.RegistryFile) {
		t.Fatalf("broken file: %v %v, want the last good registry and an error naming the file", reg, err)
	}
}

func TestGuard_Require(t *testing.T) {
	dir, tok := testutil.AuthDir(t,
		auth.Spec{Name: "v", Role: auth.RoleViewer, HTTPToken: true},
		auth.Spec{Name: "p", Role: auth.RolePublisher, Types: []string{"ci.*"}, HTTPToken: true})
	g := httpauth.Guard{Registry: httpauth.NewFileRegistry(string(dir)), Log: zerolog.Nop()}
	var seen string
	h := g.RequireRight(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.FromContext(r.Context())
		seen = id.Name
	}), "read", auth.Identity.MayRead)
	for _, c := range []struct {
		header string
		code   int
		www    string
	}{
		{"", http.StatusUnauthorized, `Bearer realm="herald"`},
		{"Basic dTpw", http.StatusUnauthorized, `error="invalid_request"`},
		{"Bearer nope", http.StatusUnauthorized, `error="invalid_token"`},
		{"Bearer " + tok["p"], http.StatusForbidden, ""},
		{"bearer " + tok["v"], http.StatusOK, ""},
	} {
		seen = ""
		req := httptest.NewRequest("GET", "/metrics", nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.code || !strings.Contains(rec.Header().Get("WWW-Authenticate"), c.www) {
			t.Errorf("%q: %d %q %s, want %d with %q", c.header, rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body, c.code, c.www)
		}
		if strings.Contains(rec.Body.String(), tok["p"]) || strings.Contains(rec.Body.String(), tok["v"]) {
			t.Errorf("%q: the body echoes the token: %s", c.header, rec.Body)
		}
		if want := map[bool]string{true: "v", false: ""}[c.code == http.StatusOK]; seen != want {
			t.Errorf("%q: handler saw identity %q, want %q", c.header, seen, want)
		}
	}
}
