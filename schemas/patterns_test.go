package schemas_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/heraldhq/herald/schemas"
)

// schemaPattern is one regex of a schema: a "pattern" value or a
// "patternProperties" key.
type schemaPattern struct {
	schema, at, re string
}

// schemaPatterns returns every regex of every schema.
func schemaPatterns(t *testing.T) []schemaPattern {
	t.Helper()
	var out []schemaPattern
	var walk func(schema, at string, v any)
	walk = func(schema, at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if s, ok := v[k].(string); ok && k == "pattern" {
					out = append(out, schemaPattern{schema, at + "/pattern", s})
				}
				if pp, ok := v[k].(map[string]any); ok && k == "patternProperties" {
					for re := range pp {
						out = append(out, schemaPattern{schema, at + "/patternProperties", re})
					}
				}
				walk(schema, at+"/"+k, v[k])
			}
		case []any:
			for i, x := range v {
				walk(schema, fmt.Sprintf("%s/%d", at, i), x)
			}
		}
	}
	for _, n := range schemas.Names() {
		var doc any
		if err := json.Unmarshal(must(schemas.Get(n)), &doc); err != nil {
			t.Fatal(err)
		}
		walk(n, "", doc)
	}
	if len(out) < 10 {
		t.Fatalf("found %d patterns, want the schemas' dozens", len(out))
	}
	return out
}

// portable reports why re is outside the regex subset that ECMA-262 (with
// and without the u flag), Python's re and Go's regexp read alike: literal
// characters, classes, groups without "(?", alternation, anchors,
// quantifiers, the escapes of syntax characters and \t \n \v \f \r \xHH.
// Left out: \p{...} (Python has none), lookaround and named groups (Go has
// none), backreferences, \s \d \w \b (ASCII in Go, Unicode in the others,
// and not the same Unicode), "." (each engine excludes different line
// terminators) and nested or set-operation classes (Python warns, ECMA's v
// flag reads them otherwise). "$" is in: it means the same in all three
// except that Python's also matches before a final newline (see
// TestSchemas_PatternsAgreeAcrossEngines).
func portable(re string) error {
	rs := []rune(re)
	inClass := false
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if r == '\\' {
			if i+1 == len(rs) {
				return fmt.Errorf("trailing backslash")
			}
			i++
			switch e := rs[i]; {
			case strings.ContainsRune(`\.*+?()[]{}|^$/`, e), strings.ContainsRune("tnvfr", e):
			case e == 'x':
				if i+2 >= len(rs) || !isHex(rs[i+1]) || !isHex(rs[i+2]) {
					return fmt.Errorf(`\x at %d needs two hex digits`, i)
				}
				i += 2
			default:
				return fmt.Errorf(`\%c at %d is not portable`, e, i)
			}
			continue
		}
		if inClass {
			switch {
			case r == ']':
				inClass = false
			case r == '[':
				return fmt.Errorf("unescaped [ inside a class at %d", i)
			case i+1 < len(rs) && rs[i+1] == r && strings.ContainsRune("-&~|", r):
				return fmt.Errorf("%c%c inside a class at %d (a set operation for Python and ECMA's v flag)", r, r, i)
			}
			continue
		}
		switch r {
		case '[':
			inClass = true
			if i+1 < len(rs) && rs[i+1] == '^' {
				i++
			}
			if i+1 < len(rs) && rs[i+1] == ']' {
				return fmt.Errorf("] first in a class at %d (a literal in Python and Go, an empty class in ECMA)", i)
			}
		case '(':
			if i+1 < len(rs) && rs[i+1] == '?' {
				return fmt.Errorf("(? at %d: lookaround, named groups and flags are not portable", i)
			}
		case '.':
			return fmt.Errorf(". at %d: each engine excludes different line terminators; use a class", i)
		case '{':
			j := i + 1
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == ',') {
				j++
			}
			if j == i+1 || j == len(rs) || rs[j] != '}' || rs[i+1] == ',' {
				return fmt.Errorf("{ at %d is not a {n}, {n,} or {n,m} quantifier", i)
			}
			i = j
		case ']', '}':
			return fmt.Errorf("unescaped %c at %d", r, i)
		}
	}
	if inClass {
		return fmt.Errorf("unterminated class")
	}
	return nil
}

func isHex(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}

// Every pattern compiles with Go's regexp (what Herald validates with) and
// keeps to the portable subset, so that Python's jsonschema and ECMA-262
// validators (editors, CI tools) read it as Herald does.
func TestSchemas_PatternsPortable(t *testing.T) {
	for _, p := range schemaPatterns(t) {
		if _, err := regexp.Compile(p.re); err != nil {
			t.Errorf("%s%s: %q does not compile with Go: %v", p.schema, p.at, p.re, err)
		}
		if err := portable(p.re); err != nil {
			t.Errorf("%s%s: %q: %v", p.schema, p.at, p.re, err)
		}
	}
	for re, want := range map[string]bool{
		`^[\t\n\v\f\r\x85\p{Z}]*$`: false, `(?P<n>a)`: false, `(?<=a)b`: false, `\s`: false, `\S`: false,
		`a.b`: false, `[[a]]`: false, `[a--b]`: false, `a{,2}`: false, `[^]a]`: false,
		`^[a-z0-9_-]+(\.[a-z]+)*$`: true, `^\+?[1-9][0-9]{0,4}$`: true, `[^\x00-\x1f\x7f]`: true,
	} {
		if got := portable(re) == nil; got != want {
			t.Errorf("portable(%q) = %v, want %v", re, got, want)
		}
	}
}

// blankClass is the schemas' class of white space: the runes Go's
// unicode.IsSpace (and so strings.TrimSpace) calls space, written without
// \s or \p{Z}.
const blankClass = "[\\t\\n\\v\\f\\r \\x85\\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

// The blank-name check of hooks and handlers means what the parsers'
// strings.TrimSpace means, for every rune.
func TestSchemas_BlankClassIsUnicodeSpace(t *testing.T) {
	found := false
	for _, p := range schemaPatterns(t) {
		found = found || strings.Contains(p.re, blankClass)
	}
	if !found {
		t.Fatalf("no schema pattern uses the blank class %q", blankClass)
	}
	re := regexp.MustCompile("^" + blankClass + "$")
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue
		}
		if got, want := re.MatchString(string(r)), unicode.IsSpace(r); got != want {
			t.Errorf("blank class on %U = %v, unicode.IsSpace = %v", r, got, want)
		}
	}
}

// patternProbes are the strings every pattern is tried on, in each engine:
// values of every kind the schemas check, and the characters where engines
// are known to differ (Unicode spaces, line terminators, NUL, a BOM).
var patternProbes = []string{
	"", " ", "a", "all", "x,y", "web-1", "Web_1", "a\x00b", "a\rb", "\t", "\v", "\x1c", "\u0085", "\u00a0", "\u1680",
	"\u2000", "\u200a", "\u200b", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", " a ", "\nx", "a\u2028b",
	"HERALD_X", "K=V", "PATH", "10s", "1m30s", "250ms", "1.5h", "5µs", "5μs", "0", "0.0", ".5", "+3s", "-1s", "10", "1x",
	"HUP", "sighup", "SIGUSR1", "64", "65", "event:git.push", "event:Bad", "zk:/a/b", "zk:/a/**", "zk:/**", "zk:rel",
	"kv:cfg/app.>", "kv:cfg/.x", "/srv/x", "rel/x", "http://h/x", "HTTPS://u@h:1/p?q#f", "http://h /x", "http://h/a\rb",
	"http://h/a\u2028b", "http://", "http://h\u00a0/", "127.0.0.1:4222", "[::1]:0", "h:65536", "h:065535", ":0",
	"*/*/prod/*", "**", "a/**/b", "a/b/c", "a*/b/c/d", "nats://h:4222", "1", "01", "x.y-z_0", "git.push", "a..b",
	"x\n", "all\n", "10s\n", "web-1\n",
}

// engineRun is one engine's verdicts: per pattern, an error or a match per
// probe.
type engineRun []struct {
	Error   string `json:"error"`
	Matches []bool `json:"matches"`
}

func runEngine(t *testing.T, name string, args []string, res []string) (engineRun, bool) {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		return nil, false
	}
	in, err := json.Marshal(map[string]any{"patterns": res, "probes": patternProbes})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	var run engineRun
	if err := json.Unmarshal(out, &run); err != nil || len(run) != len(res) {
		t.Fatalf("%s answered %s (%v)", name, out, err)
	}
	return run, true
}

// ECMA-262 as node reads it: with and without the u flag (validators use
// either), matching with u. Python: re.search, as Python's jsonschema
// does, with warnings (nested sets, ...) as errors.
const (
	nodeScript = `const d = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(d.patterns.map(p => {
  try { new RegExp(p); const re = new RegExp(p, 'u'); return {matches: d.probes.map(s => re.test(s))}; }
  catch (e) { return {error: String(e)}; }
})));`
	pythonScript = `import json, re, sys, warnings
warnings.simplefilter('error')
d = json.load(sys.stdin)
out = []
for p in d['patterns']:
    try:
        r = re.compile(p)
    except Exception as e:
        out.append({'error': str(e)})
        continue
    out.append({'matches': [r.search(s) is not None for s in d['probes']]})
json.dump(out, sys.stdout)`
)

// Every pattern compiles in ECMA-262 (node) and Python's re, and all three
// engines give the same verdict on every probe. The one known difference
// is Python's "$", which also matches before a final newline: probes that
// end in "\n" are compared between Go and ECMA only (a value with a
// trailing newline passes a Python validator where Herald's parser then
// rejects it with file and line). Skipped where node or python3 is absent.
func TestSchemas_PatternsAgreeAcrossEngines(t *testing.T) {
	pats := schemaPatterns(t)
	res := make([]string, len(pats))
	for i, p := range pats {
		res[i] = p.re
	}
	engines := 0
	for _, e := range []struct {
		name string
		args []string
		// skip says which probes this engine is not compared on.
		skip func(probe string) bool
	}{
		{"node", []string{"-e", nodeScript}, func(string) bool { return false }},
		{"python3", []string{"-c", pythonScript}, func(s string) bool { return strings.HasSuffix(s, "\n") }},
	} {
		run, ok := runEngine(t, e.name, e.args, res)
		if !ok {
			t.Logf("%s not found: not compared", e.name)
			continue
		}
		engines++
		for i, p := range pats {
			if run[i].Error != "" {
				t.Errorf("%s%s: %q does not compile in %s: %s", p.schema, p.at, p.re, e.name, run[i].Error)
				continue
			}
			goRE := regexp.MustCompile(p.re)
			for j, probe := range patternProbes {
				if e.skip(probe) {
					continue
				}
				if got, want := run[i].Matches[j], goRE.MatchString(probe); got != want {
					t.Errorf("%s%s: %q on %q: %s says %v, Go says %v", p.schema, p.at, p.re, probe, e.name, got, want)
				}
			}
		}
	}
	if engines == 0 {
		t.Skip("neither node nor python3 is installed")
	}
}
