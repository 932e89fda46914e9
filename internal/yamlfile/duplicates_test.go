package yamlfile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/yamlfile"
	"gopkg.in/yaml.v3"
)

func TestDuplicates(t *testing.T) {
	const doc = `a: 1
list:
  - name: x
    env: {K: 1, K: 2}
    name: y
b: &anchor {c: 1}
d: *anchor
a: 3
`
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range yamlfile.Duplicates(&n, "") {
		e.File = "f.yaml"
		got = append(got, e.Error())
	}
	want := []string{
		`f.yaml:4: list[0].env: duplicate key "K" (first at line 4)`,
		`f.yaml:5: list[0]: duplicate key "name" (first at line 3)`,
		`f.yaml:8: duplicate key "a" (first at line 1)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Duplicates =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckDuplicates(t *testing.T) {
	if err := yamlfile.CheckDuplicates("f.yaml", []byte("a: 1\nb: {a: 1}\n")); err != nil {
		t.Errorf("no duplicates: %v", err)
	}
	if err := yamlfile.CheckDuplicates("f.yaml", []byte("a: [\n")); err != nil {
		t.Errorf("syntax error is the decoder's to report, got %v", err)
	}
	err := yamlfile.CheckDuplicates("f.yaml", []byte("a: 1\nn:\n  x: 1\n  x: 2\n"))
	var ye *yamlfile.Error
	if !errors.As(err, &ye) || err.Error() != `f.yaml:4: n: duplicate key "x" (first at line 3)` {
		t.Errorf("CheckDuplicates = %v", err)
	}
}

// Root records every duplicate key through the caller's Wrap and still
// returns the mapping.
func TestParser_RootDuplicates(t *testing.T) {
	p := newParser()
	root := p.Root([]byte("watches: []\nwatches: []\n"), "x")
	if root == nil {
		t.Fatal("Root = nil")
	}
	err := p.Err()
	if !errors.Is(err, errTest) || err.Error() != `f.yaml:2: duplicate key "watches" (first at line 1)` {
		t.Errorf("Err = %v", err)
	}
}
