// Package yamlfile holds what Herald's YAML files share (watch files, hook
// files, job files, the dispatcher's and the agent's --config files): the
// one reader with the size limit (ReadFile), the duplicate-key check
// (Duplicates, CheckDuplicates), an error type that names file, line and
// field, a Parser that collects such errors while decoding a document key
// by key, the strict decode of the --config files with located messages
// (DecodeStrict), and helpers that pull the line out of a yaml.v3 error
// and read a struct's yaml keys.
//
// It knows nothing of what the files mean: each file format keeps its own
// error type and sentinel (converting from Error) and its own validation.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem, located by file, line and field. Its text is
// "FILE:LINE: FIELD: MSG", without ":LINE" when the line is unknown and
// without "FIELD: " when no field is named.
type Error struct {
	File  string
	Line  int
	Field string // e.g. watches[0].run_mode
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
}

// Keys is the set of yaml keys of struct type t's fields (the name part of
// each yaml tag, "-" and untagged fields left out).
func Keys(t reflect.Type) map[string]bool {
	m := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			m[tag] = true
		}
	}
	return m
}

// ErrLine is the line a yaml.v3 syntax error names ("yaml: line N: ..."),
// or 0.
func ErrLine(err error) int {
	var line int
	if _, scanErr := fmt.Sscanf(strings.TrimPrefix(err.Error(), "yaml: "), "line %d:", &line); scanErr == nil {
		return line
	}
	return 0
}

// DecodeErrMsg is a yaml.v3 decode error without its "yaml: unmarshal
// errors:" heading and "line N: " prefix (an Error carries the line).
func DecodeErrMsg(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	s = strings.TrimSpace(s)
	// "line 3: cannot unmarshal !!str `x` into int" -> drop the line, we add it.
	if i := strings.Index(s, ": "); strings.HasPrefix(s, "line ") && i > 0 {
		s = s[i+2:]
	}
	return s
}

// Parser collects located errors for one file.
type Parser struct {
	// Path is the file's name, put in every error.
	Path string
	// Wrap turns each located error into the caller's own error type (so
	// that it unwraps to the caller's sentinel).
	Wrap func(*Error) error
	// Errs are the errors found so far, in order.
	Errs []error
}

// Fail records a problem at line in field.
func (p *Parser) Fail(line int, field, format string, a ...any) {
	p.Errs = append(p.Errs, p.Wrap(&Error{File: p.Path, Line: line, Field: field, Msg: fmt.Sprintf(format, a...)}))
}

// FailField returns the bad(field, format, ...) of a validation of one
// mapping whose keys DecodeFields placed at lines: each problem is
// recorded as prefix+field at its key's line, or at def when the field
// has none.
func (p *Parser) FailField(lines map[string]int, def int, prefix string) func(field, format string, a ...any) {
	return func(field, format string, a ...any) {
		line := lines[field]
		if line == 0 {
			line = def
		}
		p.Fail(line, prefix+field, format, a...)
	}
}

// Err is every recorded problem, joined, or nil.
func (p *Parser) Err() error { return errors.Join(p.Errs...) }

// Root decodes the document and returns its top-level mapping. It returns
// nil for an empty document, and nil with a recorded error for a syntax
// error or a document that is not a mapping ("want a mapping with " +
// want). Every duplicate key of the document is recorded (Duplicates); the
// mapping is still returned, so that the caller reports its other problems.
func (p *Parser) Root(data []byte, want string) *yaml.Node {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			p.Fail(ErrLine(err), "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil
	}
	if len(doc.Content) == 0 {
		return nil
	}
	for _, e := range Duplicates(&doc, "") {
		e.File = p.Path
		p.Errs = append(p.Errs, p.Wrap(e))
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.Fail(root.Line, "", "want a mapping with %s", want)
		return nil
	}
	return root
}

// DecodeField decodes the one key k with value v into out, so that a type
// error names its field (field, at v's line). It reports whether it
// decoded.
func (p *Parser) DecodeField(k, v *yaml.Node, field string, out any) bool {
	one := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}
	if err := one.Decode(out); err != nil {
		msg := DecodeErrMsg(err)
		if IsEnvField(field) {
			msg = HideValues(msg)
		}
		p.Fail(v.Line, field, "%s", msg)
		return false
	}
	return true
}

// IsEnvField reports whether field (such as hooks[0].env or
// call_hooks.x.env) is an env: mapping or lies under one, whose values may
// be secrets.
func IsEnvField(field string) bool {
	for _, part := range strings.Split(field, ".") {
		if part == "env" {
			return true
		}
	}
	return false
}

// quotedValueRe is a value that yaml.v3 quotes in a decode error
// ("cannot unmarshal !!str `VALUE` into ...").
var quotedValueRe = regexp.MustCompile("`[^`]*`")

// HideValues replaces each value a yaml.v3 message quotes with "(value
// hidden)": errors about a file never quote a value under env:.
func HideValues(msg string) string { return quotedValueRe.ReplaceAllString(msg, "(value hidden)") }

// DecodeFields decodes a mapping node into out field by field, so that an
// error names its field (prefix + key); keys not in known are reported as
// "unknown field". It returns the line of every key and whether every key
// was known and decoded.
func (p *Parser) DecodeFields(n *yaml.Node, prefix string, known map[string]bool, out any) (map[string]int, bool) {
	lines := map[string]int{}
	ok := true
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		lines[k.Value] = k.Line
		if !known[k.Value] {
			p.Fail(k.Line, prefix+k.Value, "unknown field")
			ok = false
			continue
		}
		if !p.DecodeField(k, v, prefix+k.Value, out) {
			ok = false
		}
	}
	return lines, ok
}

// UnknownKeys reports each key of mapping n not in known as field
// prefix+key with msg, and whether there was any. A node that is not a
// mapping has no keys.
func (p *Parser) UnknownKeys(n *yaml.Node, prefix string, known map[string]bool, msg string) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	found := false
	for r := 0; r+1 < len(n.Content); r += 2 {
		if k := n.Content[r]; !known[k.Value] {
			p.Fail(k.Line, prefix+k.Value, "%s", msg)
			found = true
		}
	}
	return found
}
