package httpauth

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

// Registry gives the current identities registry.
type Registry interface {
	Current() (*auth.Registry, error)
}

// FileRegistry is DIR/identities.json, read again whenever its
// modification time or size changes (one stat per call): herald auth
// revoke takes effect at the next request. A file that cannot be read or
// parsed after a good one leaves the last good registry in force and the
// error is returned with it.
type FileRegistry struct {
	path string

	mu    sync.Mutex
	mtime time.Time
	size  int64
	reg   *auth.Registry
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
	if err != nil {
		return f.reg, fmt.Errorf("identities registry: %w", err)
	}
	if f.reg != nil && st.ModTime().Equal(f.mtime) && st.Size() == f.size {
		return f.reg, nil
	}
	reg, err := auth.LoadRegistry(filepath.Dir(f.path))
	if err != nil {
		return f.reg, fmt.Errorf("identities registry: %w", err)
	}
	f.reg, f.mtime, f.size = reg, st.ModTime(), st.Size()
	return reg, nil
}
