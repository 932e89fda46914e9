package yamlfile_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/yamlfile"
)

var errTest = errors.New("invalid test file")

// wrapped is a caller's own error type, as watch and hooks define theirs.
type wrapped yamlfile.Error

func (e *wrapped) Error() string { return (*yamlfile.Error)(e).Error() }
func (e *wrapped) Unwrap() error { return errTest }

func newParser() *yamlfile.Parser {
	return &yamlfile.Parser{Path: "f.yaml", Wrap: func(e *yamlfile.Error) error { return (*wrapped)(e) }}
}

func TestError_Error(t *testing.T) {
	for _, tc := range []struct {
		e    yamlfile.Error
		want string
	}{
		{yamlfile.Error{File: "f.yaml", Line: 3, Field: "a.b", Msg: "bad"}, "f.yaml:3: a.b: bad"},
		{yamlfile.Error{File: "f.yaml", Field: "a", Msg: "bad"}, "f.yaml: a: bad"},
		{yamlfile.Error{File: "f.yaml", Line: 2, Msg: "bad"}, "f.yaml:2: bad"},
		{yamlfile.Error{File: "f.yaml", Msg: "bad"}, "f.yaml: bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestKeys(t *testing.T) {
	type s struct {
		A int `yaml:"a"`
		B int `yaml:"b,omitempty"`
		C int `yaml:"-"`
		D int
	}
	got := yamlfile.Keys(reflect.TypeFor[s]())
	if want := map[string]bool{"a": true, "b": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keys = %v, want %v", got, want)
	}
}

func TestParser_Root(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		p := newParser()
		if root := p.Root(nil, "x"); root != nil || p.Err() != nil {
			t.Errorf("Root(empty) = %v, %v", root, p.Err())
		}
	})
	t.Run("syntax error is located and wrapped", func(t *testing.T) {
		p := newParser()
		if root := p.Root([]byte("a: 1\nb: [\n"), "x"); root != nil {
			t.Fatalf("Root = %v, want nil", root)
		}
		err := p.Err()
		if !errors.Is(err, errTest) || !strings.HasPrefix(err.Error(), "f.yaml:") {
			t.Errorf("Err = %v, want a located error wrapping the caller's sentinel", err)
		}
	})
	t.Run("not a mapping", func(t *testing.T) {
		p := newParser()
		p.Root([]byte("- 1\n"), "a list: thing")
		if err := p.Err(); err == nil || err.Error() != "f.yaml:1: want a mapping with a list: thing" {
			t.Errorf("Err = %v", err)
		}
	})
}

func TestParser_DecodeFields(t *testing.T) {
	type s struct {
		N int               `yaml:"n"`
		M map[string]string `yaml:"m"`
	}
	p := newParser()
	root := p.Root([]byte("n: x\nm: {k: v, extra: 1}\nbogus: 2\n"), "x")
	var out s
	lines, ok := p.DecodeFields(root, "top.", yamlfile.Keys(reflect.TypeFor[s]()), &out)
	if ok {
		t.Error("DecodeFields ok with a type error and an unknown key")
	}
	if lines["n"] != 1 || lines["m"] != 2 || lines["bogus"] != 3 {
		t.Errorf("lines = %v", lines)
	}
	if out.M["k"] != "v" {
		t.Errorf("m not decoded: %v", out.M)
	}
	p.UnknownKeys(root.Content[3], "top.m.", map[string]bool{"k": true}, "unknown field (want k)")
	want := "f.yaml:1: top.n: cannot unmarshal !!str `x` into int\n" +
		"f.yaml:3: top.bogus: unknown field\n" +
		"f.yaml:2: top.m.extra: unknown field (want k)"
	if err := p.Err(); err == nil || err.Error() != want {
		t.Errorf("Err =\n%v\nwant\n%s", err, want)
	}
}

// TestParser_DecodeField_HidesEnvValues: a decode error under an env:
// mapping names file, line and field but never the value, which may be a
// secret; elsewhere the value stays in the message, to help.
func TestParser_DecodeField_HidesEnvValues(t *testing.T) {
	type s struct {
		Env     map[string]string `yaml:"env"`
		Timeout int               `yaml:"timeout"`
	}
	p := newParser()
	root := p.Root([]byte("env: \"TOKEN=hunter2\"\ntimeout: soon\n"), "x")
	var out s
	p.DecodeFields(root, "hooks[0].", yamlfile.Keys(reflect.TypeFor[s]()), &out)
	want := "f.yaml:1: hooks[0].env: cannot unmarshal !!str (value hidden) into map[string]string\n" +
		"f.yaml:2: hooks[0].timeout: cannot unmarshal !!str `soon` into int"
	if err := p.Err(); err == nil || err.Error() != want {
		t.Errorf("Err =\n%v\nwant\n%s", err, want)
	}
	for field, want := range map[string]bool{"env": true, "hooks[0].env": true, "call_hooks.x.env": true, "environment": false, "hooks[0].exec": false} {
		if got := yamlfile.IsEnvField(field); got != want {
			t.Errorf("IsEnvField(%q) = %v", field, got)
		}
	}
}
