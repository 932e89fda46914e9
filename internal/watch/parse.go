package watch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/events"
	"gopkg.in/yaml.v3"
)

// ErrInvalid wraps every problem found in a watch file.
var ErrInvalid = errors.New("invalid watch file")

// FieldError is one problem, located by file, line and field.
type FieldError struct {
	File  string
	Line  int
	Field string // e.g. watches[0].run_mode
	Msg   string
}

func (e *FieldError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
}

func (e *FieldError) Unwrap() error { return ErrInvalid }

// IsWatchFile reports whether name is a file the agent loads: *.yaml or
// *.yml, not hidden.
func IsWatchFile(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") {
		return false
	}
	ext := filepath.Ext(base)
	return ext == ".yaml" || ext == ".yml"
}

// ParseFile reads and parses one watch file.
func ParseFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read watch file: %w", err)
	}
	return Parse(path, data)
}

var knownKeys = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeOf(Watch{})
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			m[tag] = true
		}
	}
	return m
}()

var knownRetryKeys = map[string]bool{"attempts": true, "backoff": true}

// Parse parses a watch file's content. Every problem is reported, joined,
// each as a *FieldError.
func Parse(path string, data []byte) (*File, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return &File{Path: path}, nil
		}
		return nil, &FieldError{File: path, Line: yamlErrLine(err), Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) == 0 {
		return &File{Path: path}, nil
	}
	root := doc.Content[0]
	var errs []error
	fail := func(line int, field, format string, a ...any) {
		errs = append(errs, &FieldError{File: path, Line: line, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if root.Kind != yaml.MappingNode {
		fail(root.Line, "", "want a mapping with a watches: list")
		return nil, errors.Join(errs...)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "watches" {
			fail(k.Line, k.Value, "unknown key (want watches)")
			continue
		}
		list = v
	}
	f := &File{Path: path}
	if list == nil {
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return f, nil
	}
	if list.Kind != yaml.SequenceNode {
		fail(list.Line, "watches", "want a list")
		return nil, errors.Join(errs...)
	}
	names := map[string]int{}
	for i, item := range list.Content {
		field := fmt.Sprintf("watches[%d]", i)
		if item.Kind != yaml.MappingNode {
			fail(item.Line, field, "want a mapping")
			continue
		}
		w := &Watch{File: path, Line: item.Line, lines: map[string]int{}, rawOrder: i}
		bad, unknown := false, false
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], item.Content[j+1]
			w.lines[k.Value] = k.Line
			if !knownKeys[k.Value] {
				fail(k.Line, field+"."+k.Value, "unknown field")
				unknown = true
				continue
			}
			if k.Value == "retry" && v.Kind == yaml.MappingNode {
				for r := 0; r+1 < len(v.Content); r += 2 {
					if !knownRetryKeys[v.Content[r].Value] {
						fail(v.Content[r].Line, field+".retry."+v.Content[r].Value, "unknown field (want attempts, backoff)")
						unknown = true
					}
				}
			}
			// Decode field by field so a type error names its field.
			one := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}
			if err := one.Decode(w); err != nil {
				fail(v.Line, field+"."+k.Value, "%s", cleanDecodeErr(err))
				bad = true
			}
		}
		if bad {
			continue
		}
		for _, fe := range w.validate() {
			fe.File = path
			fe.Field = field + "." + fe.Field
			if fe.Line == 0 {
				fe.Line = w.Line
			}
			errs = append(errs, fe)
		}
		if w.Name != "" {
			if prev, dup := names[w.Name]; dup {
				fail(w.lines["name"], field+".name", "duplicate watch name %q (also at line %d)", w.Name, prev)
			}
			names[w.Name] = w.lines["name"]
		}
		if !unknown {
			f.Watches = append(f.Watches, w)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

func cleanDecodeErr(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	s = strings.TrimSpace(s)
	// "line 3: cannot unmarshal !!str `x` into int" -> drop the line, we add it.
	if i := strings.Index(s, ": "); strings.HasPrefix(s, "line ") && i > 0 {
		s = s[i+2:]
	}
	return s
}

func yamlErrLine(err error) int {
	var line int
	if _, scanErr := fmt.Sscanf(strings.TrimPrefix(err.Error(), "yaml: "), "line %d:", &line); scanErr == nil {
		return line
	}
	return 0
}

// validate checks one watch's values; errors carry the field name and, where
// known, the line.
func (w *Watch) validate() []*FieldError {
	var errs []*FieldError
	bad := func(field, format string, a ...any) {
		errs = append(errs, &FieldError{Line: w.lines[field], Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if w.Name == "" {
		bad("name", "required")
	} else if strings.ContainsAny(w.Name, "\x00\n") {
		bad("name", "must be one line")
	}
	if w.On == "" {
		bad("on", "required (event:<type>, zk:/path or kv:BUCKET/KEY)")
	} else if sel, err := ParseSelector(w.On, w.Key); err != nil {
		field := "on"
		if strings.HasPrefix(err.Error(), "key:") {
			field = "key"
		}
		bad(field, "%v", err)
	} else {
		w.Source = sel
	}
	switch {
	case w.Exec.IsZero() && w.HooksDir == "":
		bad("exec", "required (or hooksdir: a hooks.d directory to run instead)")
	case !w.Exec.IsZero() && w.HooksDir != "":
		bad("hooksdir", "exec and hooksdir are exclusive: give one of them")
	case len(w.Exec.Argv) > 0 && w.Exec.Argv[0] == "":
		bad("exec", "first element (the program) is empty")
	}
	if w.HooksDir != "" {
		if strings.IndexByte(w.HooksDir, 0) >= 0 {
			bad("hooksdir", "contains a NUL byte")
		} else if !filepath.IsAbs(w.HooksDir) {
			bad("hooksdir", "%q must be an absolute path", w.HooksDir)
		}
	}
	switch w.RunMode {
	case "":
		w.RunMode = ModeQueue
	case ModeQueue, ModeDiscard, ModeParallel:
	default:
		bad("run_mode", "%q: want queue, discard or parallel", w.RunMode)
	}
	if w.MaxParallel < 0 {
		bad("max_parallel", "must be positive")
	} else if w.MaxParallel > 0 && w.RunMode != ModeParallel {
		bad("max_parallel", "only applies to run_mode: parallel")
	}
	if w.RunMode == ModeParallel && w.MaxParallel == 0 {
		w.MaxParallel = DefaultMaxParallel
	}
	if w.NotifySignal != "" {
		if _, err := ParseSignal(w.NotifySignal); err != nil {
			bad("notify_signal", "%v", err)
		} else if w.RunMode != ModeQueue {
			bad("notify_signal", "only applies to run_mode: queue")
		}
	}
	if w.Timeout.D < 0 {
		bad("timeout", "must not be negative")
	}
	if w.KillGrace.D < 0 {
		bad("kill_grace", "must not be negative")
	}
	for k := range w.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			bad("env", "invalid variable name %q", k)
		}
		if strings.HasPrefix(k, "HERALD_") {
			bad("env", "%q: HERALD_* variables are set by the agent", k)
		}
	}
	if w.Workdir != "" && !filepath.IsAbs(w.Workdir) {
		bad("workdir", "%q must be an absolute path", w.Workdir)
	}
	if w.Retry != nil {
		if w.Retry.Attempts < 1 {
			bad("retry", "attempts must be at least 1")
		}
		if w.Retry.Backoff.D < 0 {
			bad("retry", "backoff must not be negative")
		}
	}
	switch w.OnFailure {
	case "":
		w.OnFailure = FailureKeep
	case FailureKeep, FailureStop:
	default:
		bad("on_failure", "%q: want keep or stop", w.OnFailure)
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

// ParseSignal accepts "HUP", "SIGHUP" or a number.
func ParseSignal(s string) (syscall.Signal, error) {
	name := strings.ToUpper(strings.TrimPrefix(strings.ToUpper(s), "SIG"))
	if sig, ok := signals[name]; ok {
		return sig, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM, "ALRM": syscall.SIGALRM,
	"CONT": syscall.SIGCONT, "STOP": syscall.SIGSTOP, "WINCH": syscall.SIGWINCH,
}

// Summary is the watch as announced on the bus.
func (w *Watch) Summary() events.WatchSummary {
	return events.WatchSummary{Name: w.Name, On: w.On, RunMode: w.RunMode, File: w.File}
}

// LoadDir parses every watch file in dir. Files that fail are returned in
// errs keyed by path; the others in files. Watch names must be unique across
// the directory; a later file (by name) that repeats a name is an error.
func LoadDir(dir string) (files map[string]*File, errs map[string]error, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read watches dir: %w", err)
	}
	files, errs = map[string]*File{}, map[string]error{}
	for _, e := range entries {
		if e.IsDir() || !IsWatchFile(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, perr := ParseFile(p)
		if perr != nil {
			errs[p] = perr
			continue
		}
		files[p] = f
	}
	return files, errs, nil
}
