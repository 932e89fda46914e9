package dispatcher

import (
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/auth/authserver"
)

// startAuth loads cfg.Auth (its registry, and for the embedded server its
// trust root) and follows it: a changed account JWT (herald auth revoke)
// is given to the embedded server at once, which disconnects the revoked
// users; a changed registry is what Registry returns from then on.
func (d *Dispatcher) startAuth() error {
	var onAccount func(string) error
	if d.cfg.Embedded() {
		t, err := auth.Dir(d.cfg.Auth).LoadTrust()
		if err != nil {
			return fmt.Errorf("%w: auth: %w", ErrInvalidConfig, err)
		}
		d.trust = &t
		onAccount = func(accountJWT string) error {
			d.mu.Lock()
			srv := d.srv
			d.mu.Unlock()
			if srv == nil {
				return errors.New("the embedded server is not running")
			}
			if err := authserver.Apply(srv, t, accountJWT); err != nil {
				return err
			}
			d.log.Info().Str("dir", d.cfg.Auth).Msg("auth: account updated (revocations applied)")
			return nil
		}
	}
	w, err := auth.NewWatcher(d.cfg.Auth, onAccount, func(err error) {
		d.log.Warn().Err(err).Str("dir", d.cfg.Auth).Msg("auth: cannot re-read the auth directory; keeping the last good one")
	})
	if err != nil {
		return fmt.Errorf("%w: auth: %w", ErrInvalidConfig, err)
	}
	d.mu.Lock()
	d.authW = w
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := w.Run(d.runCtx); err != nil {
			d.fail(err)
		}
	}()
	return nil
}

// Registry returns the identities of cfg.Auth as last read (nil without
// auth): the HTTP API maps bearer tokens to identities with it.
func (d *Dispatcher) Registry() *auth.Registry {
	d.mu.Lock()
	w := d.authW
	d.mu.Unlock()
	if w == nil {
		return nil
	}
	return w.Registry()
}
