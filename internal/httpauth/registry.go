package httpauth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/heraldhq/herald/internal/auth"
)

// Registry gives the current identities registry.
type Registry interface {
	Current() (*auth.Registry, error)
}

// FileRegistry is DIR/identities.json, read again whenever it is another
// file (herald auth replaces it with a rename) or its modification time
// or size changes (one stat per call): herald auth
// revoke takes effect at the next request. A file that cannot be read or
// parsed after a good one leaves the last good registry in force and the
// error is returned with it.
type FileRegistry struct {
	path string

	mu   sync.Mutex
	info os.FileInfo // of the file read last (same file, mtime, size)
	reg  *auth.Registry
}

var _ Registry = (*FileRegistry)(nil)

// NewFileRegistry follows the registry of the auth directory dir.
func NewFileRegistry(dir string) *FileRegistry {
	return &FileRegistry{path: filepath.Join(dir, auth.RegistryFile)}
}

// Path is the registry file followed.
func (f *FileRegistry) Path() string { return f.path }

// Current returns the registry as the file holds it now; with an error,
// the last good one (nil when there never was one).
func (f *FileRegistry) Current() (*auth.Registry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	if errors.Is(err, os.ErrNotExist) {
		_, err = auth.LoadRegistry(filepath.Dir(f.path)) // says to run herald auth init
	}
	if err != nil {
		return f.reg, fmt.Errorf("identities registry: %w", err)
	}
	if f.reg != nil && f.info != nil && os.SameFile(f.info, st) && st.ModTime().Equal(f.info.ModTime()) && st.Size() == f.info.Size() {
		return f.reg, nil
	}
	reg, err := auth.LoadRegistry(filepath.Dir(f.path))
	if err != nil {
		return f.reg, fmt.Errorf("identities registry: %w", err)
	}
	f.reg, f.info = reg, st
	return reg, nil
}
