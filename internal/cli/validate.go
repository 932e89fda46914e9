package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/internal/watch"
)

// validateCmd is "herald validate".
type validateCmd struct{}

func (c *validateCmd) flags(*flag.FlagSet) {}

// firstName is where a watch name was first defined in a directory.
type firstName struct {
	file string
	line int
}

func (c *validateCmd) run(_ context.Context, _ *Main, s stdio, args []string) error {
	if len(args) == 0 {
		return usageErrorf("give at least one watch file or directory")
	}
	var problems, badFiles, nFiles, nWatches int
	report := func(err error) {
		for _, e := range splitJoined(err) {
			fmt.Fprintln(s.errOut, e)
			problems++
		}
	}
	files, errs := watchFiles(args, s)
	for _, err := range errs {
		report(err)
		badFiles++
	}
	// The agent loads one directory, so names must be unique per directory.
	names := map[string]map[string]firstName{}
	for _, path := range files {
		nFiles++
		f, err := watch.ParseFile(path)
		if err != nil {
			report(err)
			badFiles++
			continue
		}
		dir := filepath.Dir(path)
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		if names[dir] == nil {
			names[dir] = map[string]firstName{}
		}
		dup := false
		for i, w := range f.Watches {
			if prev, ok := names[dir][w.Name]; ok {
				report(&watch.FieldError{File: path, Line: w.Line, Field: fmt.Sprintf("watches[%d].name", i),
					Msg: fmt.Sprintf("duplicate watch name %q (also at %s:%d)", w.Name, prev.file, prev.line)})
				dup = true
				continue
			}
			names[dir][w.Name] = firstName{path, w.Line}
		}
		if dup {
			badFiles++
			continue
		}
		nWatches += len(f.Watches)
	}
	if problems > 0 {
		fmt.Fprintf(s.errOut, "herald validate: %d %s in %d of %d files\n", problems, plural(problems, "problem"), badFiles, max(nFiles, badFiles))
		return reported(ErrInvalidWatchFiles)
	}
	fmt.Fprintf(s.out, "ok: %d watches in %d files\n", nWatches, nFiles)
	return nil
}

// watchFiles expands the arguments: a file is itself, a directory is its
// watch files (not recursively), in name order, each path once. A path that
// cannot be read is an error; the others are still returned.
func watchFiles(args []string, s stdio) ([]string, []error) {
	var files []string
	var errs []error
	seen := map[string]bool{}
	add := func(p string) {
		key := p
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			files = append(files, p)
		}
	}
	for _, arg := range args {
		fi, err := os.Stat(arg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !fi.IsDir() {
			add(arg)
			continue
		}
		entries, err := os.ReadDir(arg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n := 0
		for _, e := range entries {
			if e.IsDir() || !watch.IsWatchFile(e.Name()) {
				continue
			}
			add(filepath.Join(arg, e.Name()))
			n++
		}
		if n == 0 {
			fmt.Fprintf(s.errOut, "herald validate: warning: no watch files (*.yaml, *.yml) in %s\n", arg)
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
