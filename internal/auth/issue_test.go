package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/natsconn"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func initDir(t *testing.T) auth.Dir {
	t.Helper()
	d := auth.Dir(filepath.Join(t.TempDir(), "auth"))
	if _, err := d.Init(now); err != nil {
		t.Fatal(err)
	}
	return d
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestInit_WritesTrustRootWithSecretModes(t *testing.T) {
	d := auth.Dir(filepath.Join(t.TempDir(), "auth"))
	wrote, err := d.Init(now)
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(t, string(d)); m != 0o700 {
		t.Errorf("dir mode %v, want 0700", m)
	}
	for _, f := range wrote {
		want := os.FileMode(0o600)
		if strings.HasSuffix(f, ".jwt") {
			want = 0o644
		}
		if m := mode(t, f); m != want {
			t.Errorf("%s: mode %v, want %v", f, m, want)
		}
	}
	for _, f := range []string{auth.OperatorSeedFile, auth.AccountSeedFile, auth.SysSeedFile, auth.DispatcherCredsFile, auth.AdminCredsFile, auth.SysCredsFile, auth.RegistryFile} {
		if m := mode(t, d.Path(f)); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, m)
		}
	}
	reg, err := auth.LoadRegistry(string(d))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []auth.Role{auth.RoleDispatcher, auth.RoleAdmin} {
		id, ok := reg.Lookup(string(r))
		if !ok || id.Role != r || !strings.HasPrefix(id.PublicKey, "U") || !id.Active() {
			t.Errorf("registry %s: %+v, %v", r, id, ok)
		}
	}
	if name, err := natsconn.CredsName(d.Path(auth.DispatcherCredsFile)); err != nil || name != "dispatcher" {
		t.Errorf("dispatcher.creds names %q (%v), want dispatcher", name, err)
	}
}

func TestInit_RefusesExistingTrustRoot(t *testing.T) {
	d := initDir(t)
	before, _ := os.ReadFile(d.Path(auth.OperatorSeedFile))
	_, err := d.Init(now)
	if !errors.Is(err, auth.ErrExists) {
		t.Fatalf("second Init: %v, want ErrExists", err)
	}
	after, _ := os.ReadFile(d.Path(auth.OperatorSeedFile))
	if string(before) != string(after) {
		t.Fatal("the operator seed was overwritten")
	}
}

func TestAdd_CredsTokenAndRegistry(t *testing.T) {
	d := initDir(t)
	iss, err := d.Add(auth.Spec{Name: "ci", Role: auth.RolePublisher, Types: []string{"deploy.*"}, Keys: []string{"/app/**"}, HTTPToken: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(string(d), "publishers", "ci.creds"); iss.Creds != want {
		t.Errorf("creds %s, want %s", iss.Creds, want)
	}
	for _, f := range []string{iss.Creds, iss.TokenFile} {
		if m := mode(t, f); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, m)
		}
	}
	if m := mode(t, filepath.Dir(iss.Creds)); m != 0o700 {
		t.Errorf("publishers dir mode %v, want 0700", m)
	}
	tok, _ := os.ReadFile(iss.TokenFile)
	if strings.TrimSpace(string(tok)) != iss.Token || iss.Token == "" {
		t.Errorf("token file %q, token %q", tok, iss.Token)
	}
	raw, _ := os.ReadFile(d.Path(auth.RegistryFile))
	if strings.Contains(string(raw), iss.Token) {
		t.Fatal("the registry holds the token itself")
	}
	reg, _ := auth.LoadRegistry(string(d))
	id, ok := reg.ByToken(iss.Token)
	if !ok || id.Name != "ci" || !id.MayPublish("deploy.app", "/app/x") || id.MayPublish("deploy.app", "/other") {
		t.Errorf("ByToken: %+v, %v", id, ok)
	}
	if name, err := natsconn.CredsName(iss.Creds); err != nil || name != "ci" {
		t.Errorf("creds name %q (%v)", name, err)
	}
}

func TestAdd_Refusals(t *testing.T) {
	d := initDir(t)
	if _, err := d.Add(auth.Spec{Name: "web-1", Role: auth.RoleAgent}, now); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		spec auth.Spec
		want error
		says string
	}{
		{auth.Spec{Name: "web-1", Role: auth.RoleViewer}, auth.ErrDuplicate, "web-1"},
		{auth.Spec{Name: "admin", Role: auth.RoleAgent}, auth.ErrDuplicate, "admin"},
		{auth.Spec{Name: "a.b", Role: auth.RoleAgent}, auth.ErrInvalidName, "a.b"},
		{auth.Spec{Name: "*", Role: auth.RoleAgent}, auth.ErrInvalidName, "*"},
		{auth.Spec{Name: "p", Role: auth.RolePublisher, Types: []string{"zk.*"}}, auth.ErrInvalidGrant, "--types"},
		{auth.Spec{Name: "p", Role: auth.RolePublisher, Types: []string{"a"}, Keys: []string{"/web-*"}}, auth.ErrInvalidGrant, "--keys"},
	}
	for _, c := range cases {
		_, err := d.Add(c.spec, now)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Add(%+v) = %v, want %v naming %q", c.spec, err, c.want, c.says)
		}
	}
	if _, err := d.Add(auth.Spec{Name: "x", Role: auth.RoleAdmin}, now); err == nil {
		t.Error("Add of an admin succeeded")
	}
	if _, err := os.Stat(filepath.Join(string(d), "publishers", "p.creds")); !os.IsNotExist(err) {
		t.Errorf("a refused publisher left creds: %v", err)
	}
}

func TestRevoke_MarksRegistryAndAccount(t *testing.T) {
	d := initDir(t)
	iss, err := d.Add(auth.Spec{Name: "web-1", Role: auth.RoleAgent}, now)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := d.Revoke("web-1", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := d.ReadJWT(auth.AccountJWTFile)
	if acc != onDisk {
		t.Error("the returned account JWT is not the one written")
	}
	reg, _ := auth.LoadRegistry(string(d))
	if id, _ := reg.Lookup("web-1"); id.Active() {
		t.Error("web-1 is still active in the registry")
	}
	if !strings.Contains(revocations(t, acc), iss.Identity.PublicKey) {
		t.Error("the account JWT does not revoke web-1's key")
	}
	if _, err := d.Revoke("web-1", now); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Errorf("second revoke: %v", err)
	}
	if _, err := d.Revoke("nobody", now); !errors.Is(err, auth.ErrUnknown) {
		t.Errorf("revoke nobody: %v", err)
	}
}
