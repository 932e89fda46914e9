// Package promnames finds the metric names a PromQL expression selects,
// and the expressions of a Grafana dashboard and a Prometheus rule file,
// for the tests that check Herald's dashboard and alert rules
// (deploy/grafana, deploy/prometheus) against what a running dispatcher
// and agent expose on /metrics. It is a tokenizer, not a parser (the
// Prometheus parser would bring the whole Prometheus module for one
// test): it must not know Herald's metrics, evaluate anything or judge
// the syntax beyond balanced brackets and closed strings; promtool checks
// the rules' syntax.
package promnames

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrSyntax is the error of an expression whose strings or brackets are
// not closed.
var ErrSyntax = errors.New("promql")

// grouping are the keywords followed by a list of label names in
// parentheses (or, for group_left and group_right, optionally by one).
var grouping = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// keywords are the other words that are neither metrics nor calls: binary
// operators, modifiers and the number literals inf and nan.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true, "inf": true, "nan": true,
}

// MetricNames returns the sorted, distinct metric names expr selects: each
// identifier that is not a function or aggregation (a word before "(",
// by or without), a
// keyword, a label name (inside {...} or a by/without/on/ignoring/
// group_left/group_right list), a string, a number or duration, a range
// or subquery ([...]), or a Grafana variable ($name, ${name}, [[name]]).
func MetricNames(expr string) ([]string, error) {
	l := &lexer{s: expr}
	seen := map[string]bool{}
	depth := 0
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.i++
		case c == '#':
			for l.i < len(l.s) && l.s[l.i] != '\n' {
				l.i++
			}
		case c == '"' || c == '\'' || c == '`':
			if err := l.skipString(); err != nil {
				return nil, err
			}
		case c == '{':
			if err := l.skipTo('}'); err != nil {
				return nil, err
			}
		case c == '[' && strings.HasPrefix(l.s[l.i:], "[["):
			if err := l.skipVariable(); err != nil {
				return nil, err
			}
		case c == '[':
			if err := l.skipTo(']'); err != nil {
				return nil, err
			}
		case c == '$':
			if err := l.skipVariable(); err != nil {
				return nil, err
			}
		case isDigit(c) || (c == '.' && l.i+1 < len(l.s) && isDigit(l.s[l.i+1])):
			l.skipNumber()
		case isIdentStart(c):
			word := l.ident()
			next := l.peek()
			lower := strings.ToLower(word)
			switch {
			case grouping[lower]:
				if next == '(' {
					if err := l.skipTo(')'); err != nil {
						return nil, err
					}
				}
			case keywords[lower], next == '(', l.nextWordIsGrouping():
				// A call, or an aggregation whose by or without
				// comes first: sum by (le) (...).
			default:
				seen[word] = true
			}
		case c == '(':
			depth++
			l.i++
		case c == ')':
			if depth--; depth < 0 {
				return nil, fmt.Errorf("%w: %q: unbalanced ) at offset %d", ErrSyntax, expr, l.i)
			}
			l.i++
		case c == '}' || c == ']':
			return nil, fmt.Errorf("%w: %q: unbalanced %c at offset %d", ErrSyntax, expr, c, l.i)
		default:
			l.i++
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%w: %q: %d unclosed (", ErrSyntax, expr, depth)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// lexer is a position in an expression.
type lexer struct {
	s string
	i int
}

// peek returns the next character that is not white space, or 0 at the
// end.
func (l *lexer) peek() byte {
	for j := l.i; j < len(l.s); j++ {
		if c := l.s[j]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}

// nextWordIsGrouping reports whether the next word is by or without.
func (l *lexer) nextWordIsGrouping() bool {
	j := l.i
	for j < len(l.s) && (l.s[j] == ' ' || l.s[j] == '\t' || l.s[j] == '\n' || l.s[j] == '\r') {
		j++
	}
	k := j
	for k < len(l.s) && (isIdentStart(l.s[k]) || isDigit(l.s[k])) {
		k++
	}
	w := strings.ToLower(l.s[j:k])
	return w == "by" || w == "without"
}

func (l *lexer) ident() string {
	start := l.i
	for l.i < len(l.s) && (isIdentStart(l.s[l.i]) || isDigit(l.s[l.i])) {
		l.i++
	}
	return l.s[start:l.i]
}

// skipString skips a quoted string: "..." and '...' with backslash
// escapes, `...` raw.
func (l *lexer) skipString() error {
	q, start := l.s[l.i], l.i
	for l.i++; l.i < len(l.s); l.i++ {
		switch c := l.s[l.i]; {
		case c == '\\' && q != '`':
			l.i++
		case c == q:
			l.i++
			return nil
		}
	}
	return fmt.Errorf("%w: %q: string at offset %d is not closed", ErrSyntax, l.s, start)
}

// skipTo skips from an opening bracket to its closing one, close, passing
// over strings (a label value may hold any bracket).
func (l *lexer) skipTo(close byte) error {
	open, start := l.s[l.i], l.i
	for l.i++; l.i < len(l.s); {
		switch c := l.s[l.i]; {
		case c == '"' || c == '\'' || c == '`':
			if err := l.skipString(); err != nil {
				return err
			}
		case c == close:
			l.i++
			return nil
		default:
			l.i++
		}
	}
	return fmt.Errorf("%w: %q: %c at offset %d is not closed", ErrSyntax, l.s, open, start)
}

// skipVariable skips a Grafana variable: $name, ${name...} or [[name]].
func (l *lexer) skipVariable() error {
	start := l.i
	switch {
	case strings.HasPrefix(l.s[l.i:], "[["):
		end := strings.Index(l.s[l.i:], "]]")
		if end < 0 {
			return fmt.Errorf("%w: %q: variable [[ at offset %d is not closed", ErrSyntax, l.s, start)
		}
		l.i += end + 2
	case strings.HasPrefix(l.s[l.i:], "${"):
		end := strings.IndexByte(l.s[l.i:], '}')
		if end < 0 {
			return fmt.Errorf("%w: %q: variable ${ at offset %d is not closed", ErrSyntax, l.s, start)
		}
		l.i += end + 1
	default:
		l.i++
		l.ident()
	}
	return nil
}

// skipNumber skips a number or a duration: 0.99, 1e-3, 0x1f, 5m, 1h30m.
func (l *lexer) skipNumber() {
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch {
		case isDigit(c) || isIdentStart(c) || c == '.':
			l.i++
			if (c == 'e' || c == 'E') && l.i < len(l.s) && (l.s[l.i] == '+' || l.s[l.i] == '-') {
				l.i++
			}
		default:
			return
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
