package watch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/rs/zerolog"
)

// rescans runs a Tree over root and records what each rescan read.
type rescans struct {
	mu    sync.Mutex
	n     int
	files []string // of the last rescan
}

func (r *rescans) rescan(root string) func() []string {
	return func() []string {
		d, _ := watch.ReadDir(root)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.n++
		if d == nil {
			return nil
		}
		r.files = d.Files
		return d.Dirs
	}
}

func (r *rescans) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// waitFile waits until a rescan has read p.
func (r *rescans) waitFile(t *testing.T, p string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !slices.Contains(r.files, p) {
			return fmt.Errorf("no rescan has read %s yet (last read %v)", p, r.files)
		}
		return nil
	})
}

// TestTree_RescansOnChangeAndFollowsNewSubdirs: a file written in the
// root, in a subdirectory created while the tree runs, and later in that
// subdirectory alone (which only a watch on it reports) each bring a
// rescan that reads it, and so does a reload request.
func TestTree_RescansOnChangeAndFollowsNewSubdirs(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFile(t, root, "a.yaml", "watches: []\n")
	tree := watch.WatchTree(root, zerolog.Nop())
	r := &rescans{}
	tree.Sync(r.rescan(root)())
	reload := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tree.Run(ctx, 10*time.Millisecond, reload, r.rescan(root))
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })

	b := testutil.WriteFile(t, root, "b.yaml", "watches: []\n")
	r.waitFile(t, b)
	if err := os.MkdirAll(filepath.Join(root, "later", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := testutil.WriteFile(t, filepath.Join(root, "later", "sub"), "c.yaml", "watches: []\n")
	r.waitFile(t, c)
	d := testutil.WriteFile(t, filepath.Join(root, "later", "sub"), "d.yml", "watches: []\n")
	r.waitFile(t, d)

	n := r.count()
	reload <- struct{}{}
	testutil.Eventually(t, 20*time.Second, func() error {
		if r.count() == n {
			return fmt.Errorf("no rescan after the reload request")
		}
		return nil
	})
}

// TestTree_SyncWatchesExactlyTheDirsRead: Sync reports a directory it
// starts watching once, and forgets one the last rescan did not read.
func TestTree_SyncWatchesExactlyTheDirsRead(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	tree := watch.WatchTree(root, zerolog.Nop())
	defer tree.Close()
	for i, c := range []struct {
		dirs []string
		want bool
	}{
		{[]string{root, sub}, true},
		{[]string{root, sub}, false},
		{[]string{root}, false},
		{[]string{root, sub}, true},
	} {
		if got := tree.Sync(c.dirs); got != c.want {
			t.Errorf("step %d: Sync(%v) = %v, want %v", i, c.dirs, got, c.want)
		}
	}
}
