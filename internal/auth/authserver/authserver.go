// Package authserver makes a NATS server trust an auth directory's
// operator (the dispatcher's embedded server), gives a running one a new
// account JWT (a revocation), follows a directory for the dispatcher and
// gives its in-process client the dispatcher's credentials. It is apart from package auth so that
// what links auth (the herald command) does not link the NATS server. It
// knows nothing of how identities are issued or what they may do.
package authserver

import (
	"fmt"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Configure makes opts trust t: the operator, the system account, and an
// in-memory account resolver preloaded with SYS and HERALD. Accounts are
// updated on the running server with Apply.
func Configure(opts *server.Options, t auth.Trust) error {
	res := &server.MemAccResolver{}
	if err := res.Store(t.SysPub, t.SysJWT); err != nil {
		return err
	}
	if err := res.Store(t.AccountPub, t.AccountJWT); err != nil {
		return err
	}
	opts.TrustedOperators = []*jwt.OperatorClaims{t.Operator}
	opts.SystemAccount = t.SysPub
	opts.AccountResolver = res
	if opts.MaxControlLine < auth.MaxControlLine {
		opts.MaxControlLine = auth.MaxControlLine
	}
	return nil
}

// Apply gives the running server s the HERALD account JWT accountJWT (a
// revocation): the resolver stores it and the account takes its claims
// now, disconnecting revoked users. A JWT about another account or not
// issued by t's operator is refused.
func Apply(s *server.Server, t auth.Trust, accountJWT string) error {
	ac, err := jwt.DecodeAccountClaims(accountJWT)
	if err != nil {
		return fmt.Errorf("account jwt: %w", err)
	}
	if ac.Subject != t.AccountPub || (ac.Issuer != t.Operator.Subject && !t.Operator.SigningKeys.Contains(ac.Issuer)) {
		return fmt.Errorf("account jwt: not the %s account of operator %s", auth.Account, t.Operator.Subject)
	}
	res := s.AccountResolver()
	if res == nil {
		return fmt.Errorf("the server has no account resolver")
	}
	if err := res.Store(ac.Subject, accountJWT); err != nil {
		return err
	}
	acc, err := s.LookupAccount(ac.Subject)
	if err != nil {
		return fmt.Errorf("account %s: %w", ac.Subject, err)
	}
	s.UpdateAccountClaims(acc, ac)
	return nil
}

// Follow loads dir for a dispatcher: its trust root when the dispatcher
// embeds the server (embedded), and a Watcher of its registry and account
// JWT. With embedded, each changed account JWT is applied to the server
// srv returns (nil: not running yet, retried at the next change check),
// and applied is called after each. onError gets every failure to re-read
// or apply. Run the watcher with its Run.
func Follow(dir string, embedded bool, srv func() *server.Server, applied func(), onError func(error)) (*auth.Watcher, *auth.Trust, error) {
	if !embedded {
		w, err := auth.NewWatcher(dir, nil, onError)
		return w, nil, err
	}
	t, err := auth.Dir(dir).LoadTrust()
	if err != nil {
		return nil, nil, err
	}
	w, err := auth.NewWatcher(dir, func(accountJWT string) error {
		s := srv()
		if s == nil {
			return fmt.Errorf("the embedded server is not running")
		}
		if err := Apply(s, t, accountJWT); err != nil {
			return err
		}
		applied()
		return nil
	}, onError)
	return w, &t, err
}

// ClientOptions are the options of an in-process client connecting as
// dir's dispatcher identity: its credentials and its own inbox prefix.
func ClientOptions(dir string) ([]nats.Option, error) {
	creds := auth.Dir(dir).Path(auth.DispatcherCredsFile)
	name, err := natsconn.CredsName(creds)
	if err != nil {
		return nil, err
	}
	return []nats.Option{nats.UserCredentials(creds), nats.CustomInboxPrefix(natsconn.InboxPrefix(name))}, nil
}
