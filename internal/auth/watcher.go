package auth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher follows an auth directory: the registry (for the HTTP API's
// tokens and rights) and the HERALD account JWT (for the embedded
// server's revocations), re-read when a file of the directory changes and
// every PollEvery for a change fsnotify missed. Build it with NewWatcher,
// run it with Run.
type Watcher struct {
	dir Dir
	// onAccount is called (from Run's goroutine) with a changed account
	// JWT.
	onAccount func(accountJWT string) error
	onError   func(error)

	mu      sync.Mutex
	reg     *Registry
	account string
}

// PollEvery is how often a Watcher re-reads the directory without an
// fsnotify event.
const PollEvery = 2 * time.Second

// NewWatcher loads dir's registry and account JWT now (an error if either
// cannot be read). onAccount, when not nil, gets each later account JWT
// that differs; onError each failure to re-read (the last good state
// stays).
func NewWatcher(dir string, onAccount func(string) error, onError func(error)) (*Watcher, error) {
	w := &Watcher{dir: Dir(dir), onAccount: onAccount, onError: onError}
	reg, err := LoadRegistry(dir)
	if err != nil {
		return nil, err
	}
	acc, err := w.dir.ReadJWT(AccountJWTFile)
	if err != nil {
		return nil, err
	}
	w.reg, w.account = reg, acc
	if w.onError == nil {
		w.onError = func(error) {}
	}
	return w, nil
}

// Registry returns the registry as last read.
func (w *Watcher) Registry() *Registry {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reg
}

// Run follows the directory until ctx ends. Without fsnotify (no inotify
// instance left, say) it polls only, and says so through onError.
func (w *Watcher) Run(ctx context.Context) error {
	var fsEvents <-chan fsnotify.Event
	var fsErrors <-chan error
	fw, err := fsnotify.NewWatcher()
	if err == nil {
		defer fw.Close()
		err = fw.Add(string(w.dir))
	}
	if err != nil {
		w.onError(fmt.Errorf("auth: watch %s: %w (re-reading it every %v instead)", string(w.dir), err, PollEvery))
	} else {
		fsEvents, fsErrors = fw.Events, fw.Errors
	}
	tick := time.NewTicker(PollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-fsEvents:
		case err := <-fsErrors:
			w.onError(fmt.Errorf("auth: watch %s: %w", string(w.dir), err))
		case <-tick.C:
		}
		w.reload()
	}
}

// reload re-reads the registry and the account JWT.
func (w *Watcher) reload() {
	reg, err := LoadRegistry(string(w.dir))
	if err != nil {
		w.onError(err)
	} else {
		w.mu.Lock()
		w.reg = reg
		w.mu.Unlock()
	}
	acc, err := w.dir.ReadJWT(AccountJWTFile)
	if err != nil {
		w.onError(err)
		return
	}
	w.mu.Lock()
	changed := acc != w.account
	w.mu.Unlock()
	if !changed {
		return
	}
	if w.onAccount != nil {
		if err := w.onAccount(acc); err != nil {
			w.onError(fmt.Errorf("auth: apply %s: %w", w.dir.path(AccountJWTFile), err))
			return
		}
	}
	w.mu.Lock()
	w.account = acc
	w.mu.Unlock()
}
