package cli_test

import (
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/heraldhq/herald/"

// heraldDeps returns the Herald packages that the package in dir imports,
// directly or not, as paths below the module without "internal/" (the
// names the package comment uses: "bus", "events/call", "events").
func heraldDeps(t *testing.T, root, dir string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(dir string)
	walk = func(dir string) {
		p, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range p.Imports {
			rel, ok := strings.CutPrefix(imp, module)
			if !ok || seen[rel] {
				continue
			}
			seen[rel] = true
			walk(filepath.Join(root, rel))
		}
	}
	walk(dir)
	var out []string
	for rel := range seen {
		out = append(out, strings.TrimPrefix(rel, "internal/"))
	}
	sort.Strings(out)
	return out
}

// TestPackageDoc_namesImports: the package comment in root.go names every
// Herald package the herald binary links (what go list -deps ./cmd/herald
// lists), so that it says truthfully what the CLI depends on. A change of
// the CLI's imports, or of what they import, updates that comment.
func TestPackageDoc_namesImports(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "root.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatal("root.go has no package comment")
	}
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(f.Doc.Text(), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '/')
	}) {
		words[w] = true
	}
	deps := heraldDeps(t, root, filepath.Join(root, "cmd", "herald"))
	if len(deps) < 3 {
		t.Fatalf("cmd/herald imports %v: the walk found too little", deps)
	}
	for _, d := range deps {
		if d != "cli" && !words[d] {
			t.Errorf("cmd/herald links package %s; the package comment in root.go does not name it", d)
		}
	}
}
