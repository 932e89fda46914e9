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
	dir := t.TempDir()
	f := httpauth.NewFileRegistry(dir)
	if reg, err := f.Current(); err == nil || reg != nil || !strings.Contains(err.Error(), "herald auth init") {
		t.Fatalf("no registry: %v %v, want an error saying to run herald auth init", reg, err)
	}
	a := testutil.HTTPIdentity("a", auth.RolePublisher, "tok-a")
	testutil.WriteRegistry(t, dir, a)
	reg, err := f.Current()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.ByToken("tok-a"); !ok {
		t.Fatal("tok-a not found")
	}
	// Revoked: the next call sees it.
	a.Revoked = time.Now().UTC()
	testutil.WriteRegistry(t, dir, a)
	if reg, err = f.Current(); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.ByToken("tok-a"); ok {
		t.Fatal("revoked tok-a still accepted")
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
	dir := t.TempDir()
	testutil.WriteRegistry(t, dir, testutil.HTTPIdentity("v", auth.RoleViewer, "tok-v"), testutil.HTTPIdentity("p", auth.RolePublisher, "tok-p"))
	g := httpauth.Guard{Registry: httpauth.NewFileRegistry(dir), Log: zerolog.Nop()}
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
		{"Bearer tok-p", http.StatusForbidden, ""},
		{"bearer tok-v", http.StatusOK, ""},
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
		if strings.Contains(rec.Body.String(), "tok-") {
			t.Errorf("%q: the body echoes the token: %s", c.header, rec.Body)
		}
		if want := map[bool]string{true: "v", false: ""}[c.code == http.StatusOK]; seen != want {
			t.Errorf("%q: handler saw identity %q, want %q", c.header, seen, want)
		}
	}
}
