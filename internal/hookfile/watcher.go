package hookfile

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"
)

// Watcher follows a hooks directory and its jobs/ with fsnotify. It is
// used by one goroutine at a time.
type Watcher struct {
	fw           *fsnotify.Watcher // nil when it could not be made
	dir, jobsDir string
	watchingJobs bool
}

// Watch starts watching dir (and its jobs/ once it exists); start it before
// the first scan, so that no change after the scan is missed. When fsnotify
// fails it logs why and returns a Watcher that reports nothing: the hooks
// then reload only on request.
func Watch(dir string, log zerolog.Logger) *Watcher {
	w := &Watcher{dir: dir, jobsDir: filepath.Join(dir, JobsDir)}
	if dir == "" {
		return w
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		log.Error().Err(err).Msg("cannot watch the hooks dir; hooks reload only on Reload")
		return w
	}
	if err := fw.Add(dir); err != nil {
		log.Error().Err(err).Str("dir", dir).Msg("cannot watch the hooks dir")
	}
	w.fw = fw
	w.AddJobs()
	return w
}

// Events returns fsnotify's event and error channels (nil, which never
// deliver, when there is no fsnotify watcher).
func (w *Watcher) Events() (<-chan fsnotify.Event, <-chan error) {
	if w.fw == nil {
		return nil, nil
	}
	return w.fw.Events, w.fw.Errors
}

// Relevant reports whether ev may change what the directory holds: a hook
// file, jobs/ itself or a ".." entry (a Kubernetes ConfigMap swap). A
// removed or renamed jobs/ is watched again by the next AddJobs.
func (w *Watcher) Relevant(ev fsnotify.Event) bool {
	base := filepath.Base(ev.Name)
	if ev.Name == w.jobsDir && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
		w.watchingJobs = false
	}
	return IsHookFile(base) || ev.Name == w.jobsDir || strings.HasPrefix(base, "..")
}

// AddJobs watches jobs/ once it exists.
func (w *Watcher) AddJobs() {
	if w.fw == nil || w.watchingJobs {
		return
	}
	if fi, err := os.Stat(w.jobsDir); err == nil && fi.IsDir() {
		if err := w.fw.Add(w.jobsDir); err == nil {
			w.watchingJobs = true
		}
	}
}

// Close stops watching.
func (w *Watcher) Close() {
	if w.fw != nil {
		_ = w.fw.Close()
	}
}
