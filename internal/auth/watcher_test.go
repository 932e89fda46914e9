package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/testutil"
)

// The watcher's registry follows herald auth's writes, and each changed
// account JWT reaches onAccount once.
func TestWatcher_FollowsRegistryAndAccount(t *testing.T) {
	d := initDir(t)
	var mu sync.Mutex
	var applied []string
	w, err := auth.NewWatcher(string(d), func(acc string) error {
		mu.Lock()
		defer mu.Unlock()
		applied = append(applied, acc)
		return nil
	}, func(err error) { t.Log(err) })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.Registry().Lookup("dispatcher"); !ok {
		t.Fatal("the first registry lacks the dispatcher")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	if _, err := d.Add(auth.Spec{Name: "web-1", Role: auth.RoleAgent}, now); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		if _, ok := w.Registry().Lookup("web-1"); !ok {
			return errors.New("web-1 not in the watcher's registry yet")
		}
		return nil
	})
	acc, err := d.Revoke("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(applied) == 0 || applied[len(applied)-1] != acc {
			return errors.New("the revoking account JWT was not applied yet")
		}
		if id, _ := w.Registry().Lookup("web-1"); id.Active() {
			return errors.New("web-1 still active in the watcher's registry")
		}
		return nil
	})
	mu.Lock()
	n := len(applied)
	mu.Unlock()
	if n != 1 {
		t.Errorf("onAccount called %d times, want 1", n)
	}
}
