package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/hookfile"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/heraldhq/herald/internal/yamlfile"
	"gopkg.in/yaml.v3"
)

// validateCmd is "herald validate".
type validateCmd struct {
	// dispatcherConfig is the dispatcher's --config file, read for its
	// call_methods; empty: the default methods.
	dispatcherConfig string
	// history is the dry run against the events stream (history.go).
	history historyFlags
}

func (c *validateCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.dispatcherConfig, "dispatcher-config", "", "the dispatcher's config `FILE`: hook files are checked against its call_methods (default: Aurora's seven methods)")
	c.history.add(fs)
}

// fileKind is what a file is checked as.
type fileKind int

const (
	// kindWatch is an agent's watch file (watches: list), the default.
	kindWatch fileKind = iota
	// kindHooks is a dispatcher hook file (hooks: and/or handlers: lists).
	kindHooks
	// kindJob is a job opt-in file, jobs/NAME.yaml of a hooks directory.
	kindJob
)

// firstName is where a name was first defined in a directory.
type firstName struct {
	file string
	line int
}

// names records the names defined under each directory argument, per kind
// of name ("watch", "hook", "handler", "job"): the agent and the
// dispatcher each load one directory tree, so names must be unique in it.
type names map[string]map[string]firstName

// claim records name in dir and returns where it was defined before, if it
// was.
func (n names) claim(kind, dir, name string, at firstName) (firstName, bool) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	key := kind + "\x00" + dir
	if n[key] == nil {
		n[key] = map[string]firstName{}
	}
	if prev, ok := n[key][name]; ok {
		return prev, true
	}
	n[key][name] = at
	return firstName{}, false
}

// tally counts what the files hold.
type tally struct {
	files, watches, hookFiles, hooks, handlers, jobs int
	// parsed are the valid watches, for the dry run.
	parsed []*watch.Watch
}

func (t tally) String() string {
	s := fmt.Sprintf("%d watches", t.watches)
	if t.hookFiles > 0 {
		s += fmt.Sprintf(", %d hooks, %d handlers", t.hooks, t.handlers)
	}
	if t.jobs > 0 {
		s += fmt.Sprintf(", %d job files", t.jobs)
	}
	return fmt.Sprintf("%s in %d files", s, t.files)
}

func (c *validateCmd) run(ctx context.Context, m *Main, s stdio, args []string) error {
	if len(args) == 0 {
		return usageErrorf("give at least one watch file, hook file, job file or directory")
	}
	if err := c.history.check(); err != nil {
		return err
	}
	var problems, badFiles int
	report := func(err error) {
		for _, e := range splitJoined(err) {
			fmt.Fprintln(s.errOut, e)
			problems++
		}
	}
	known, err := readCallMethods(c.dispatcherConfig)
	if err != nil {
		return err
	}
	files, errs := validateFiles(args, s)
	for _, err := range errs {
		report(err)
		badFiles++
	}
	seen := names{}
	var t tally
	for _, f := range files {
		t.files++
		if err := checkFile(f.path, f.root, seen, &t, methodCheck{known: known, warn: s.errOut}); err != nil {
			report(err)
			badFiles++
		}
	}
	if problems > 0 {
		fmt.Fprintf(s.errOut, "herald validate: %d %s in %d of %d files\n", problems, plural(problems, "problem"), badFiles, max(t.files, badFiles))
		return reported(ErrInvalidWatchFiles)
	}
	if !c.history.on {
		fmt.Fprintf(s.out, "ok: %s\n", t)
		return nil
	}
	fmt.Fprintf(s.errOut, "ok: %s\n", t)
	return c.history.run(ctx, m, s, t.parsed)
}

// methodCheck is what hook files' methods are checked against: the
// dispatcher's call methods, and where warnings go.
type methodCheck struct {
	known []string // empty: the default methods
	warn  io.Writer
}

// checkFile parses one file as its kind says, checks that its names are
// not already defined under root (and a hook file's methods against mc),
// and counts what it holds when it is valid.
func checkFile(path, root string, seen names, t *tally, mc methodCheck) error {
	data, err := yamlfile.ReadFile(path)
	if err != nil {
		var ye *yamlfile.Error
		if errors.As(err, &ye) {
			return ye
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	dir := root
	switch kindOf(path, data) {
	case kindJob:
		j, err := hookfile.ParseJobFile(path, data)
		if err != nil {
			return err
		}
		if prev, dup := seen.claim("job", dir, j.Name, firstName{path, 0}); dup {
			return &hookfile.FieldError{File: path, Msg: fmt.Sprintf("job %q is already defined in %s", j.Name, prev.file)}
		}
		if err := checkJobMethods(j, mc.known); err != nil {
			return err
		}
		t.jobs++
	case kindHooks:
		f, err := hookfile.Parse(path, data)
		if err != nil {
			return err
		}
		var dups []error
		// Parse returns a file only when every entry is valid, so
		// f.Hooks[i] is hooks[i] of the file, and likewise for handlers.
		for i, h := range f.Hooks {
			if prev, dup := seen.claim("hook", dir, h.Name, firstName{path, h.Line}); dup {
				dups = append(dups, &hookfile.FieldError{File: path, Line: h.Line, Field: fmt.Sprintf("hooks[%d].name", i),
					Msg: fmt.Sprintf("duplicate hook name %q (also at %s:%d)", h.Name, prev.file, prev.line)})
			}
		}
		for i, h := range f.Handlers {
			if prev, dup := seen.claim("handler", dir, h.Name, firstName{path, h.Line}); dup {
				dups = append(dups, &hookfile.FieldError{File: path, Line: h.Line, Field: fmt.Sprintf("handlers[%d].name", i),
					Msg: fmt.Sprintf("duplicate handler name %q (also at %s:%d)", h.Name, prev.file, prev.line)})
			}
		}
		warns, err := f.CheckMethods(mc.known)
		for _, w := range warns {
			fmt.Fprintf(mc.warn, "warning: %v\n", w)
		}
		if err != nil {
			dups = append(dups, err)
		}
		if len(dups) > 0 {
			return errors.Join(dups...)
		}
		t.hookFiles++
		t.hooks += len(f.Hooks)
		t.handlers += len(f.Handlers)
	default:
		f, err := watch.Parse(path, data)
		if err != nil {
			return err
		}
		var dups []error
		for i, w := range f.Watches {
			if prev, dup := seen.claim("watch", dir, w.Name, firstName{path, w.Line}); dup {
				dups = append(dups, &watch.FieldError{File: path, Line: w.Line, Field: fmt.Sprintf("watches[%d].name", i),
					Msg: fmt.Sprintf("duplicate watch name %q (also at %s:%d)", w.Name, prev.file, prev.line)})
			}
		}
		if len(dups) > 0 {
			return errors.Join(dups...)
		}
		t.watches += len(f.Watches)
		t.parsed = append(t.parsed, f.Watches...)
	}
	return nil
}

// checkJobMethods checks the methods of a job file's commands against the
// dispatcher's (empty: the default methods): herald deploy of another
// method would be denied.
func checkJobMethods(j *hookfile.JobFile, known []string) error {
	var errs []error
	for _, m := range j.Methods() {
		if err := call.CheckKnownMethod(m, hookfile.MethodsOrDefault(known)); err != nil {
			errs = append(errs, &hookfile.FieldError{File: j.Path, Line: j.Lines["commands."+m], Field: "commands." + m,
				Msg: err.Error() + " (call_methods of the dispatcher config)"})
		}
	}
	return errors.Join(errs...)
}

// readCallMethods reads call_methods from the dispatcher config file at
// path (nothing else of it: the dispatcher checks the rest); empty path,
// or no call_methods in the file, is the default list (nil).
func readCallMethods(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	data, err := yamlfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--dispatcher-config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("--dispatcher-config: %s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "call_methods" {
			continue
		}
		var methods []string
		if err := v.Decode(&methods); err != nil {
			return nil, fmt.Errorf("%s:%d: call_methods: want a list of method names", path, v.Line)
		}
		if err := hookfile.ValidateMethods(methods); err != nil {
			return nil, fmt.Errorf("%s:%d: call_methods%v", path, v.Line, err)
		}
		return methods, nil
	}
	return nil, nil
}

// kindOf says what a file is: a job file when it is in a directory named
// jobs (hookfile.JobsDir), a hook file when its top-level mapping has a hooks
// or handlers key and no watches key, a job file when it has one of the
// keys only a job file of herald deploy has (job, cluster, role, build,
// default_stage, config, commands: a --jobs directory may have any name),
// otherwise a watch file (which is also what a file that is not YAML is
// reported as).
func kindOf(path string, data []byte) fileKind {
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(path); err == nil {
		dir = filepath.Dir(abs)
	}
	if filepath.Base(dir) == hookfile.JobsDir {
		return kindJob
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil || len(doc.Content) == 0 {
		return kindWatch
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return kindWatch
	}
	hookKeys, jobKeys := false, false
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "watches":
			return kindWatch
		case "hooks", "handlers":
			hookKeys = true
		case "job", "cluster", "role", "build", "default_stage", "config", "commands":
			jobKeys = true
		}
	}
	switch {
	case hookKeys:
		return kindHooks
	case jobKeys:
		return kindJob
	}
	return kindWatch
}

// checked is one file to check and the directory its names must be
// unique in: the directory argument it was found under, or its own
// directory when it was named itself.
type checked struct {
	path, root string
}

// validateFiles expands the arguments: a file is itself; a directory is
// read as the agent reads its watches directory (watch.ReadDir:
// recursively, in path order, hidden files and directories skipped), which
// also takes in a hooks directory's jobs subdirectory. Each path is
// returned once. A path that cannot be read is an error; the others are
// still returned.
func validateFiles(args []string, s stdio) ([]checked, []error) {
	var files []checked
	var errs []error
	seen := map[string]bool{}
	add := func(p, root string) {
		key := p
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			files = append(files, checked{p, root})
		}
	}
	for _, arg := range args {
		fi, err := os.Stat(arg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !fi.IsDir() {
			add(arg, filepath.Dir(arg))
			continue
		}
		d, err := watch.ReadDir(arg)
		if err != nil {
			errs = append(errs, splitJoined(err)...)
		}
		if d == nil {
			continue
		}
		for _, p := range d.Files {
			add(p, arg)
		}
		if len(d.Files) == 0 {
			fmt.Fprintf(s.errOut, "herald validate: warning: no watch, hook or job files (*.yaml, *.yml) in %s\n", arg)
		}
	}
	return files, errs
}

// splitJoined flattens errors.Join'ed errors into their parts.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []error{err}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
