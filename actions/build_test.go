package actions_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fielderr"
)

func TestBuild(t *testing.T) {
	t.Run("exec", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		a, err := actions.Build(actions.Spec{
			Kind:      actions.KindExec,
			Argv:      []string{"/bin/sh", "-c", `{ cat; echo " $X"; } > "$OUT"`},
			PipeStdin: true,
			Env:       map[string]string{"OUT": out, "X": "env"},
			URL:       "http://not.used", // fields of other kinds are ignored
		})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if got := a.Kind(); got != actions.KindExec {
			t.Fatalf("Kind() = %q, want %q", got, actions.KindExec)
		}
		res := a.Run(context.Background(), request("/k", []byte("data")))
		if res.Status != events.StatusOK {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		if got, want := readFile(t, out), "data env\n"; got != want {
			t.Fatalf("the command wrote %q, want %q", got, want)
		}
	})
	t.Run("http", func(t *testing.T) {
		rec := newRecorder(t, 200, "")
		a, err := actions.Build(actions.Spec{Kind: actions.KindHTTP, URL: rec.srv.URL, Timeout: poll})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if got := a.Kind(); got != actions.KindHTTP {
			t.Fatalf("Kind() = %q, want %q", got, actions.KindHTTP)
		}
		res := a.Run(context.Background(), request("/k", []byte("data")))
		if res.Status != events.StatusOK {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		if reqs := rec.requests(); len(reqs) != 1 || reqs[0].method != "POST" {
			t.Fatalf("the server got %+v, want one POST", reqs)
		}
	})
	t.Run("hooksdir", func(t *testing.T) {
		dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
		writeHook(t, dir, "10-first", 0o755, `{ cat; echo " $1 $X"; } > "$OUT"`)
		a, err := actions.Build(actions.Spec{
			Kind:      actions.KindHooksDir,
			Dir:       dir,
			PipeStdin: true,
			Env:       map[string]string{"OUT": out, "X": "env"},
		})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if got := a.Kind(); got != actions.KindHooksDir {
			t.Fatalf("Kind() = %q, want %q", got, actions.KindHooksDir)
		}
		res := a.Run(context.Background(), request("/k", []byte("data")))
		if res.Status != events.StatusOK {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		if got := readFile(t, out); !strings.HasPrefix(got, "data ") || !strings.HasSuffix(got, " env\n") {
			t.Fatalf("the hook wrote %q, want the data, its event type and the env", got)
		}
	})
	for _, tc := range []struct {
		name string
		spec actions.Spec
		want string
	}{
		{"none", actions.Spec{Argv: []string{"/bin/true"}}, "invalid action config: no action: want exec, http or hooksdir"},
		{"unknown", actions.Spec{Kind: "smtp"}, `invalid action config: unknown action kind "smtp"`},
		{"exec invalid", actions.Spec{Kind: actions.KindExec}, "invalid action config: argv: is empty"},
		{"http invalid", actions.Spec{Kind: actions.KindHTTP, URL: "ftp://h"}, `invalid action config: url: "ftp://h": want an http:// or https:// URL`},
		{"hooksdir invalid", actions.Spec{Kind: actions.KindHooksDir, Dir: "rel"}, `invalid action config: dir: "rel" must be an absolute path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := actions.Build(tc.spec)
			if err == nil {
				t.Fatalf("Build = %v, want an error", a)
			}
			if !errors.Is(err, actions.ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

// TestValidate_FieldError: each config error is one *fielderr.Error naming
// the field, with ErrInvalidConfig for errors.Is.
func TestValidate_FieldError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		field string
	}{
		{"exec", actions.ExecConfig{Argv: []string{"/bin/true"}, Timeout: -1}.Validate(), "timeout"},
		{"http", actions.HTTPConfig{}.Validate(), "url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fe *fielderr.Error
			if !errors.As(tc.err, &fe) {
				t.Fatalf("error %v (%T) holds no *fielderr.Error", tc.err, tc.err)
			}
			if fe.Field != tc.field || !errors.Is(tc.err, actions.ErrInvalidConfig) {
				t.Errorf("field %q (want %q), errors.Is(ErrInvalidConfig) = %v", fe.Field, tc.field, errors.Is(tc.err, actions.ErrInvalidConfig))
			}
		})
	}
}
