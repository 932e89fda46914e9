package dispatcher

import (
	"fmt"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/auth/authserver"
	"github.com/nats-io/nats-server/v2/server"
)

// startAuth loads cfg.Auth and follows it (authserver.Follow): a changed
// account JWT (herald auth revoke) reaches the embedded server at once,
// which disconnects the revoked users; Registry returns the last registry.
func (d *Dispatcher) startAuth() error {
	srv := func() *server.Server { d.mu.Lock(); defer d.mu.Unlock(); return d.srv }
	w, t, err := authserver.Follow(d.cfg.Auth, d.cfg.Embedded(), srv,
		func() { d.log.Info().Str("dir", d.cfg.Auth).Msg("auth: account updated (revocations applied)") },
		func(err error) {
			d.log.Warn().Err(err).Str("dir", d.cfg.Auth).Msg("auth: cannot re-read the auth directory; keeping the last good one")
		})
	if err != nil {
		return fmt.Errorf("%w: auth: %w", ErrInvalidConfig, err)
	}
	d.mu.Lock()
	d.authW, d.trust = w, t
	d.mu.Unlock()
	d.wg.Go(func() {
		if err := w.Run(d.runCtx); err != nil {
			d.fail(err)
		}
	})
	return nil
}

// Registry returns the identities of cfg.Auth as last read (nil without
// auth): the HTTP API maps bearer tokens to identities with it.
func (d *Dispatcher) Registry() *auth.Registry {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.authW == nil {
		return nil
	}
	return d.authW.Registry()
}
