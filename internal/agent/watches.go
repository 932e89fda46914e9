package agent

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/heraldhq/herald/internal/agent/watchrun"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/heraldhq/herald/internal/yamlfile"
)

// fileState is what the agent has loaded from one watch file.
type fileState struct {
	hash    [32]byte
	names   []string // watches this file defines, as loaded
	errHash [32]byte // content that last failed, so it is logged once
}

// Reload asks the agent to rescan its watches directory (as SIGHUP does).
func (a *Agent) Reload() {
	select {
	case a.reloadCh <- struct{}{}:
	default:
	}
}

// watchDir rescans the watches directory when it changes (see
// watch.Tree.Run) or a reload is asked for, until the agent closes.
func (a *Agent) watchDir(tree *watch.Tree) {
	defer a.wg.Done()
	tree.Run(a.ctx, a.cfg.Reload, a.reloadCh, func() []string {
		a.rescan(true)
		return a.watchedDirs()
	})
}

// watchedDirs are the directories of the watches tree, as last read.
func (a *Agent) watchedDirs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dirs
}

// rescan loads what changed in the watches directory. A file that fails to
// parse or validate is logged and its previous version stays active. A file
// that is gone stops its watches. When live, the consumer's filters follow
// and new and changed watches get their run_on_load run.
func (a *Agent) rescan(live bool) {
	tree, err := watch.ReadDir(a.cfg.Watches)
	if tree == nil {
		a.log.Error().Err(err).Str("dir", a.cfg.Watches).Msg("cannot read the watches dir; keeping the loaded watches")
		return
	}
	if err != nil && err.Error() != a.dirErr { // logged once until it changes
		a.log.Error().Strs("errors", splitErrors(err)).Str("dir", a.cfg.Watches).
			Msg("cannot read part of the watches dir; what was loaded from there stays active")
	}
	a.dirErr = ""
	if err != nil {
		a.dirErr = err.Error()
	}
	seen := map[string]bool{}
	var loaded []*watchrun.Runtime
	for _, p := range tree.Files {
		seen[p] = true
		loaded = append(loaded, a.loadFile(p)...)
	}
	var gone []string
	a.mu.Lock()
	a.dirs = tree.Dirs
	for p := range a.files {
		if !seen[p] && !tree.Unread(p) {
			gone = append(gone, p)
		}
	}
	a.mu.Unlock()
	sort.Strings(gone)
	for _, p := range gone {
		a.unloadFile(p)
	}
	a.metrics.watches.Set(float64(len(a.runtimes())))
	if !live {
		return
	}
	// Filters first, then run_on_load: an event stored in between is both
	// delivered and read, and the policy runs its stream sequence once;
	// the other order would lose it.
	a.setFilters()
	for _, rt := range loaded {
		if rt.Watch().RunsOnLoad() {
			a.runOnLoad(rt)
		}
	}
	a.announce(false)
}

// loadFile parses one file and applies it if it is valid and changed. It
// returns the runtimes that are new or changed.
func (a *Agent) loadFile(p string) []*watchrun.Runtime {
	data, err := yamlfile.ReadFile(p)
	if err != nil {
		a.metrics.reloadErrs.Inc()
		a.log.Error().Err(err).Str("file", p).Msg("cannot read watch file; its previous version stays active")
		return nil
	}
	sum := sha256.Sum256(data)
	a.mu.Lock()
	st, had := a.files[p]
	a.mu.Unlock()
	if had && st.hash == sum {
		return nil
	}
	f, err := watch.Parse(p, data)
	if err == nil {
		err = a.checkNames(p, f)
	}
	if err == nil {
		err = checkActions(p, f)
	}
	if err != nil {
		if st.errHash != sum {
			a.metrics.reloadErrs.Inc()
			ev := a.log.Error().Str("file", p).Strs("errors", splitErrors(err))
			if had {
				ev.Msg("watch file is invalid; its previous version stays active")
			} else {
				ev.Msg("watch file is invalid; not loaded")
			}
		}
		st.errHash = sum
		a.mu.Lock()
		if had {
			a.files[p] = st
		} else {
			a.files[p] = fileState{errHash: sum} // no hash: retried on every change
		}
		a.mu.Unlock()
		return nil
	}

	newNames := map[string]*watch.Watch{}
	for _, w := range f.Watches {
		newNames[w.Name] = w
	}
	var changed []*watchrun.Runtime
	for _, name := range st.names {
		if _, keep := newNames[name]; !keep {
			a.removeWatch(name, p)
		}
	}
	var names []string
	for _, w := range f.Watches {
		names = append(names, w.Name)
		a.mu.Lock()
		rt := a.watches[w.Name]
		a.mu.Unlock()
		log := a.log.With().Str(logging.FieldWatch, w.Name).Str("file", p).Logger()
		switch {
		case rt == nil:
			nrt, err := watchrun.New(a.env, w)
			if err != nil {
				log.Error().Err(err).Msg("cannot build watch; skipped")
				continue
			}
			a.mu.Lock()
			a.watches[w.Name] = nrt
			a.mu.Unlock()
			changed = append(changed, nrt)
			log.Info().Str("on", w.On).Str("run_mode", w.RunMode).Msg("watch loaded")
		case !rt.Watch().Equal(w):
			if err := rt.Update(w); err != nil {
				log.Error().Err(err).Msg("cannot update watch; previous version stays active")
				continue
			}
			changed = append(changed, rt)
			log.Info().Str("on", w.On).Str("run_mode", w.RunMode).Msg("watch changed")
		}
	}
	a.mu.Lock()
	a.files[p] = fileState{hash: sum, names: names}
	a.mu.Unlock()
	return changed
}

// checkNames rejects a file that defines a watch another file holds.
func (a *Agent) checkNames(p string, f *watch.File) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, w := range f.Watches {
		for other, st := range a.files {
			if other == p {
				continue
			}
			for _, n := range st.names {
				if n == w.Name {
					errs = append(errs, &watch.FieldError{File: p, Line: w.Line, Field: "name",
						Msg: fmt.Sprintf("watch %q is already defined in %s", w.Name, other)})
				}
			}
		}
	}
	return errors.Join(errs...)
}

// checkActions builds each watch's action once before the file is applied,
// so that a watch that cannot be built makes its file invalid (logged, and
// the previous version stays active) instead of being skipped while the
// rest of the file loads.
func checkActions(p string, f *watch.File) error {
	var errs []error
	for i, w := range f.Watches {
		if _, err := watchrun.BuildAction(w); err != nil {
			errs = append(errs, &watch.FieldError{File: p, Line: w.Line, Field: fmt.Sprintf("watches[%d]", i), Msg: err.Error()})
		}
	}
	return errors.Join(errs...)
}

func (a *Agent) unloadFile(p string) {
	a.mu.Lock()
	st := a.files[p]
	delete(a.files, p)
	a.mu.Unlock()
	for _, name := range st.names {
		a.removeWatch(name, p)
	}
	a.log.Info().Str("file", p).Strs("watches", st.names).Msg("watch file removed")
}

func (a *Agent) removeWatch(name, file string) {
	a.mu.Lock()
	rt := a.watches[name]
	delete(a.watches, name)
	a.mu.Unlock()
	if rt != nil {
		rt.Remove()
		a.log.Info().Str(logging.FieldWatch, name).Str("file", file).Msg("watch removed; an in-flight run finishes")
	}
}

func splitErrors(err error) []string {
	return strings.Split(err.Error(), "\n")
}
