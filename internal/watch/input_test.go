package watch_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/watch"
	"github.com/heraldhq/herald/internal/yamlfile"
)

// A key given twice is an error naming file, line and the first line, at
// every level: yaml.v3 would take the last one without a word.
func TestParse_DuplicateKeys(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"in a watch", `watches:
  - name: a
    on: event:t
    exec: [x]
    on: event:u
`, `w.yaml:5: watches[0]: duplicate key "on" (first at line 3)`},
		{"in env", `watches:
  - name: a
    on: event:t
    exec: [x]
    env:
      K: 1
      K: 2
`, `w.yaml:7: watches[0].env: duplicate key "K" (first at line 6)`},
		{"in retry", `watches:
  - name: a
    on: event:t
    exec: [x]
    retry: {attempts: 2, attempts: 3}
`, `w.yaml:5: watches[0].retry: duplicate key "attempts" (first at line 5)`},
		{"at the top", `watches:
  - name: a
    on: event:t
    exec: [x]
watches:
  - name: b
    on: event:t
    exec: [x]
`, `w.yaml:5: duplicate key "watches" (first at line 1)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := watch.Parse("w.yaml", []byte(tc.doc))
			if !errors.Is(err, watch.ErrInvalid) {
				t.Fatalf("Parse = %v, want ErrInvalid", err)
			}
			var fe *watch.FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want a *FieldError %q", err, tc.want)
			}
		})
	}
}

func TestParseFile_TooBig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	data := "watches: []\n" + strings.Repeat("# padding\n", yamlfile.MaxFileSize/10)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := watch.ParseFile(p)
	if !errors.Is(err, watch.ErrInvalid) || !strings.HasPrefix(err.Error(), p+": file is too big: ") ||
		!strings.Contains(err.Error(), "1048576 bytes (1 MiB)") {
		t.Errorf("ParseFile = %v, want ErrInvalid naming %s, its size and the limit", err, p)
	}
}

// A user or group this host lacks is a validate error naming file, line
// and field, not a run that fails later.
func TestParse_UnknownUserOrGroup(t *testing.T) {
	for _, tc := range []struct {
		cred, want string
	}{
		{"user: herald-no-such-user", `w.yaml:5: watches[0].user: unknown user "herald-no-such-user"`},
		{"group: herald-no-such-group", `w.yaml:5: watches[0].group: unknown group "herald-no-such-group"`},
		{"user: root", ""},
		{"group: \"0\"", ""},
	} {
		t.Run(tc.cred, func(t *testing.T) {
			doc := "watches:\n  - name: a\n    on: event:t\n    exec: [x]\n    " + tc.cred + "\n"
			_, err := watch.Parse("w.yaml", []byte(doc))
			if tc.want == "" {
				if err != nil {
					t.Errorf("Parse = %v", err)
				}
				return
			}
			if !errors.Is(err, watch.ErrInvalid) || err == nil || err.Error() != tc.want {
				t.Errorf("Parse = %v, want %s", err, tc.want)
			}
		})
	}
}
