package hookfile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/events/call"
)

// ValidateMethods checks a dispatcher's call_methods list: method names
// (not globs), each once. An empty list means call.DefaultMethods.
func ValidateMethods(methods []string) error {
	seen := map[string]bool{}
	for i, m := range methods {
		if err := call.ValidateMethod(m); err != nil {
			return fmt.Errorf("[%d]: %s", i, strings.TrimPrefix(err.Error(), call.ErrInvalidCall.Error()+": "))
		}
		if seen[m] {
			return fmt.Errorf("[%d]: method %q is listed twice", i, m)
		}
		seen[m] = true
	}
	return nil
}

// MethodsOrDefault returns methods, or call.DefaultMethods when empty.
func MethodsOrDefault(methods []string) []string {
	if len(methods) == 0 {
		return call.DefaultMethods
	}
	return methods
}

// isGlob reports whether a methods entry is a glob rather than a name.
func isGlob(m string) bool { return strings.ContainsAny(m, `*?[\`) }

// CheckMethods checks the methods of every hook of f against the methods
// the dispatcher knows (empty: call.DefaultMethods). A name outside the
// list is an error: that hook would never run, since calls to unknown
// methods are denied. A glob that matches none of them is returned as a
// warning (it matches no call today, but may once the list grows).
func (f *File) CheckMethods(known []string) (warnings []*FieldError, err error) {
	known = MethodsOrDefault(known)
	var errs []error
	for i, h := range f.Hooks {
		line := h.lines["methods"]
		if line == 0 {
			line = h.Line
		}
		for j, m := range h.Methods {
			at := &FieldError{File: f.Path, Line: line, Field: fmt.Sprintf("hooks[%d].methods[%d]", i, j)}
			if !isGlob(m) {
				if err := call.CheckKnownMethod(m, known); err != nil {
					at.Msg = err.Error() + " (call_methods of the dispatcher config)"
					errs = append(errs, at)
				}
				continue
			}
			matches := false
			for _, k := range known {
				if call.MatchGlob(m, k) {
					matches = true
					break
				}
			}
			if !matches {
				at.Msg = fmt.Sprintf("glob %q matches none of the known methods (%s)", m, strings.Join(known, ", "))
				warnings = append(warnings, at)
			}
		}
	}
	return warnings, errors.Join(errs...)
}
