package watch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Dir is what ReadDir found in a watches directory.
type Dir struct {
	// Files are the watch files, in path order.
	Files []string
	// Dirs are the directory itself and every directory read under it
	// (the agent watches each for changes).
	Dirs []string
	// Unreadable are the paths (files or directories) that could not be
	// read; what they held is unknown, not gone.
	Unreadable []string
}

// Unread reports whether p is one of the Unreadable paths or inside one:
// whether it is there is unknown.
func (d *Dir) Unread(p string) bool {
	for _, u := range d.Unreadable {
		if p == u || strings.HasPrefix(p, u+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// ReadDir reads a watches directory recursively, as the agent and herald
// validate both do: every *.yaml and *.yml file (IsWatchFile) in path
// order, hidden files and hidden directories skipped, symlinks followed.
// A directory reached twice (a symlink loop, or two links to one
// directory) is read once. Entries that cannot be read are reported,
// joined, in err, and what was found is returned anyway; only a dir that
// cannot be read at all returns nil.
func ReadDir(dir string) (*Dir, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("watches dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("watches dir %s: not a directory", dir)
	}
	if _, err := os.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("watches dir: %w", err)
	}
	w := &walker{seen: map[fileID]bool{}}
	w.visit(fi)
	w.walk(dir)
	return &w.out, errors.Join(w.errs...)
}

// fileID identifies a directory whatever path reaches it.
type fileID struct{ dev, ino uint64 }

type walker struct {
	seen map[fileID]bool
	out  Dir
	errs []error
}

// visit records a directory and reports whether it is new.
func (w *walker) visit(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	id := fileID{uint64(st.Dev), st.Ino}
	if w.seen[id] {
		return false
	}
	w.seen[id] = true
	return true
}

func (w *walker) walk(dir string) {
	w.out.Dirs = append(w.out.Dirs, dir)
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		w.errs = append(w.errs, fmt.Errorf("read dir: %w", err))
		w.out.Unreadable = append(w.out.Unreadable, dir)
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if e.Type()&os.ModeSymlink == 0 && !e.IsDir() {
			if e.Type().IsRegular() && IsWatchFile(e.Name()) {
				w.out.Files = append(w.out.Files, p)
			}
			continue
		}
		fi, err := os.Stat(p) // follows symlinks
		if err != nil {
			if IsWatchFile(e.Name()) || e.IsDir() {
				w.errs = append(w.errs, fmt.Errorf("watch file: %w", err))
				w.out.Unreadable = append(w.out.Unreadable, p)
			}
			continue
		}
		switch {
		case fi.IsDir():
			if w.visit(fi) {
				w.walk(p)
			}
		case fi.Mode().IsRegular() && IsWatchFile(e.Name()):
			w.out.Files = append(w.out.Files, p)
		}
	}
}
