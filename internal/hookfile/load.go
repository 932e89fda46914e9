package hookfile

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/heraldhq/herald/events/call"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/heraldhq/herald/internal/handlerspec"
	"github.com/heraldhq/herald/internal/yamlfile"
	"github.com/rs/zerolog"
)

// Set is what the hooks directory holds at one moment. It is never changed
// once built: a reload builds a new one.
type Set struct {
	// Hooks by name.
	Hooks []*Hook
	// Jobs are the job opt-in files by job name.
	Jobs map[string]*JobFile
	// Handlers are the handlers: entries of every hook file, in file and
	// list order.
	Handlers []handlerspec.Handler
	// Broken maps a file whose current content failed to load to why; its
	// previous version (if any) is still in the set.
	Broken map[string]string
}

// Hook returns the hook called name, or nil.
func (s *Set) Hook(name string) *Hook {
	for _, h := range s.Hooks {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// fileState is what the loader holds of one file.
type fileState struct {
	hash    [32]byte // content loaded (zero: never loaded)
	errHash [32]byte // content that last failed, so it is logged once
	errText string
	hooks   *File    // last good hook file
	job     *JobFile // last good job file
}

// Loader reads the hooks directory. It is used by one goroutine at a time.
type Loader struct {
	dir     string
	methods []string // the known call methods (empty: call.DefaultMethods)
	log     zerolog.Logger
	files   map[string]*fileState // hook files and job files, by path
}

// NewLoader returns a loader of dir that knows methods (empty: the
// default call methods) and logs what changes to log.
func NewLoader(dir string, methods []string, log zerolog.Logger) *Loader {
	return &Loader{dir: dir, methods: methods, log: log, files: map[string]*fileState{}}
}

// LoadDir reads a hooks directory once, as the engine does at start with
// the default call methods: the set of everything that loaded, and every
// file that did not with why.
func LoadDir(dir string) (*Set, map[string]error, error) {
	l := NewLoader(dir, nil, zerolog.Nop())
	errs := map[string]error{}
	set, _, err := l.Scan(func(p string, err error) { errs[p] = err })
	if err != nil {
		return nil, nil, err
	}
	return set, errs, nil
}

// Scan loads what changed and returns the set in effect and whether it
// changed. A file that fails to read, parse or validate, or that defines a
// hook or handler name another file holds, is reported through bad (once
// per content) and its previous version stays. A file that is gone is
// dropped. A missing directory is an error, and nothing changes.
func (l *Loader) Scan(bad func(path string, err error)) (*Set, bool, error) {
	if l.dir == "" {
		return &Set{Jobs: map[string]*JobFile{}, Broken: map[string]string{}}, false, nil
	}
	hookPaths, err := listYAML(l.dir)
	if err != nil {
		return nil, false, fmt.Errorf("hooks dir: %w", err)
	}
	jobPaths, err := listYAML(filepath.Join(l.dir, JobsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("hooks dir: %w", err)
	}
	changed := false
	seen := map[string]bool{}
	for _, p := range hookPaths {
		seen[p] = true
		if l.load(p, false, bad) {
			changed = true
		}
	}
	for _, p := range jobPaths {
		seen[p] = true
		if l.load(p, true, bad) {
			changed = true
		}
	}
	for p, st := range l.files {
		if !seen[p] {
			delete(l.files, p)
			if st.hooks != nil || st.job != nil {
				changed = true
				l.log.Info().Str("file", p).Msg("hook file removed")
			}
		}
	}
	return l.build(), changed, nil
}

// load reads one file and keeps it if it is valid and changed; it reports
// whether the loaded version changed.
func (l *Loader) load(p string, isJob bool, bad func(string, error)) bool {
	st := l.files[p]
	if st == nil {
		st = &fileState{}
		l.files[p] = st
	}
	had := st.hooks != nil || st.job != nil
	fail := func(sum [32]byte, err error) bool {
		if st.errHash != sum || sum == ([32]byte{}) {
			ev := l.log.Error().Str("file", p).Strs("errors", strings.Split(err.Error(), "\n"))
			if had {
				ev.Msg("hook file is invalid; its previous version stays active")
			} else {
				ev.Msg("hook file is invalid; not loaded")
			}
			if bad != nil {
				bad(p, err)
			}
		}
		st.errHash, st.errText = sum, err.Error()
		return false
	}
	data, err := yamlfile.ReadFile(p)
	if err != nil {
		var ye *yamlfile.Error
		if errors.As(err, &ye) {
			return fail([32]byte{}, (*FieldError)(ye))
		}
		return fail([32]byte{}, fmt.Errorf("%w: %s: %w", ErrInvalid, p, err))
	}
	sum := sha256.Sum256(data)
	if had && st.hash == sum {
		st.errHash, st.errText = [32]byte{}, ""
		return false
	}
	if st.errHash == sum {
		return false // still the same broken content
	}
	if isJob {
		j, err := ParseJobFile(p, data)
		if err == nil {
			err = l.checkJob(p, j)
		}
		if err != nil {
			return fail(sum, err)
		}
		st.job = j
	} else {
		f, err := Parse(p, data)
		if err == nil {
			err = l.checkNames(p, f)
		}
		if err == nil {
			var warns []*FieldError
			warns, err = f.CheckMethods(l.methods)
			for _, w := range warns {
				l.log.Warn().Str("file", p).Str("warning", w.Error()).Msg("hook file: a methods glob matches no call method")
			}
		}
		if err != nil {
			return fail(sum, err)
		}
		l.logChanges(p, st.hooks, f)
		st.hooks = f
	}
	st.hash, st.errHash, st.errText = sum, [32]byte{}, ""
	return true
}

// checkNames rejects a file defining a hook or handler name that another
// file holds.
func (l *Loader) checkNames(p string, f *File) error {
	var errs []error
	for other, st := range l.files {
		if other == p || st.hooks == nil {
			continue
		}
		for _, h := range f.Hooks {
			if st.hooks.hook(h.Name) != nil {
				errs = append(errs, &FieldError{File: p, Line: h.Line, Field: "name",
					Msg: fmt.Sprintf("hook %q is already defined in %s", h.Name, other)})
			}
		}
		for _, h := range f.Handlers {
			for _, o := range st.hooks.Handlers {
				if o.Name == h.Name {
					errs = append(errs, &FieldError{File: p, Line: h.Line, Field: "name",
						Msg: fmt.Sprintf("handler %q is already defined in %s", h.Name, other)})
				}
			}
		}
	}
	return errors.Join(errs...)
}

// checkJob rejects a second file for the same job (web.yaml and web.yml).
func (l *Loader) checkJob(p string, j *JobFile) error {
	for other, st := range l.files {
		if other != p && st.job != nil && st.job.Name == j.Name {
			return &FieldError{File: p, Msg: fmt.Sprintf("job %q is already defined in %s", j.Name, other)}
		}
	}
	return nil
}

func (f *File) hook(name string) *Hook {
	for _, h := range f.Hooks {
		if h.Name == name {
			return h
		}
	}
	return nil
}

func (l *Loader) logChanges(p string, old, f *File) {
	for _, h := range f.Hooks {
		var prev *Hook
		if old != nil {
			prev = old.hook(h.Name)
		}
		switch {
		case prev == nil:
			l.log.Info().Str("hook", h.Name).Str("file", p).Str("phase", h.Phase).Str("run", h.Run.String()).Msg("hook loaded")
		case !prev.equal(h):
			l.log.Info().Str("hook", h.Name).Str("file", p).Str("phase", h.Phase).Str("run", h.Run.String()).Msg("hook changed")
		}
	}
	if old != nil {
		for _, h := range old.Hooks {
			if f.hook(h.Name) == nil {
				l.log.Info().Str("hook", h.Name).Str("file", p).Msg("hook removed")
			}
		}
	}
}

// build assembles the set from the files' good versions.
func (l *Loader) build() *Set {
	s := &Set{Jobs: map[string]*JobFile{}, Broken: map[string]string{}}
	paths := make([]string, 0, len(l.files))
	for p := range l.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		st := l.files[p]
		if st.errText != "" {
			s.Broken[p] = st.errText
		}
		if st.hooks != nil {
			s.Hooks = append(s.Hooks, st.hooks.Hooks...)
			s.Handlers = append(s.Handlers, st.hooks.Handlers...)
		}
		if st.job != nil {
			s.Jobs[st.job.Name] = st.job
		}
	}
	sortHooks(s.Hooks)
	return s
}

// listYAML returns the hook files of dir (*.yaml, *.yml, not hidden), by
// name.
func listYAML(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || !IsHookFile(e.Name()) {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	slices.Sort(out)
	return out, nil
}

// Matching returns the hooks that apply to a call of method on job in
// phase: the hooks of that phase whose methods and jobs match and whose
// scope admits the job; when there are none, the generic hooks that match
// (generic reports that). Sorted by name.
func (s *Set) Matching(phase, method string, job call.Job) (hooks []*Hook, generic bool) {
	key := job.String()
	inScope := func(h *Hook) bool {
		if h.Scope != ScopeJob {
			return true
		}
		jf := s.Jobs[job.Name]
		return jf != nil && jf.Matches(job.Cluster, job.Role, job.Name) && jf.Enabled(job.Env)
	}
	pick := func(ph string) []*Hook {
		var out []*Hook
		for _, h := range s.Hooks {
			if h.Phase == ph && h.MatchesMethod(method) && h.MatchesJob(key) && inScope(h) {
				out = append(out, h)
			}
		}
		return out
	}
	if hs := pick(phase); len(hs) > 0 {
		return hs, false
	}
	hs := pick(call.PhaseGeneric)
	return hs, len(hs) > 0
}
