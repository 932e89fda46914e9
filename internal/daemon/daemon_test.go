package daemon_test

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/daemon"
	"github.com/heraldhq/herald/internal/testutil"
)

func TestWait_ReloadsOnSIGHUPUntilTheEnd(t *testing.T) {
	// The test's own handler keeps a SIGHUP sent before Wait listens from
	// ending the test process.
	own := make(chan os.Signal, 16)
	signal.Notify(own, syscall.SIGHUP)
	defer signal.Stop(own)
	ctx, cancel := context.WithCancel(context.Background())
	var reloads atomic.Int32
	done := make(chan struct{})
	go func() { daemon.Wait(ctx, nil, func() { reloads.Add(1) }); close(done) }()
	// Signal until Wait has installed its handler and reloaded.
	testutil.Eventually(t, 10*time.Second, func() error {
		if reloads.Load() > 0 {
			return nil
		}
		_ = syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
		return context.DeadlineExceeded
	})
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return when ctx ended")
	}
}

func TestWait_EndsWhenFailed(t *testing.T) {
	failed := make(chan struct{})
	close(failed)
	done := make(chan struct{})
	go func() {
		daemon.Wait(context.Background(), failed, func() { t.Error("reload without SIGHUP") })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return when failed was closed")
	}
}
