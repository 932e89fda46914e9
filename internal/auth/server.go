package auth

import (
	"fmt"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
)

// Trust is an auth directory's trust root as a server needs it.
type Trust struct {
	Operator *jwt.OperatorClaims
	// SysPub and AccountPub are the SYS and HERALD accounts' public keys;
	// SysJWT and AccountJWT their JWTs.
	SysPub, SysJWT         string
	AccountPub, AccountJWT string
}

// LoadTrust reads d's operator and account JWTs.
func (d Dir) LoadTrust() (Trust, error) {
	ojwt, err := d.ReadJWT(OperatorJWTFile)
	if err != nil {
		return Trust{}, err
	}
	oc, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		return Trust{}, fmt.Errorf("%s: %w", d.path(OperatorJWTFile), err)
	}
	t := Trust{Operator: oc}
	if t.SysJWT, err = d.ReadJWT(SysJWTFile); err != nil {
		return Trust{}, err
	}
	if t.SysPub, err = subjectOf(t.SysJWT); err != nil {
		return Trust{}, fmt.Errorf("%s: %w", d.path(SysJWTFile), err)
	}
	if t.AccountJWT, err = d.ReadJWT(AccountJWTFile); err != nil {
		return Trust{}, err
	}
	if t.AccountPub, err = subjectOf(t.AccountJWT); err != nil {
		return Trust{}, fmt.Errorf("%s: %w", d.path(AccountJWTFile), err)
	}
	return t, nil
}

// Configure makes opts trust t: the operator, the system account, and an
// in-memory account resolver preloaded with SYS and HERALD. Accounts are
// updated on the running server with Apply.
func (t Trust) Configure(opts *server.Options) error {
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
	if opts.MaxControlLine < MaxControlLine {
		opts.MaxControlLine = MaxControlLine
	}
	return nil
}

// Apply gives the running server s the HERALD account JWT accountJWT (a
// revocation): the resolver stores it and the account takes its claims
// now, disconnecting revoked users. A JWT about another account or not
// issued by t's operator is refused.
func (t Trust) Apply(s *server.Server, accountJWT string) error {
	ac, err := jwt.DecodeAccountClaims(accountJWT)
	if err != nil {
		return fmt.Errorf("account jwt: %w", err)
	}
	if ac.Subject != t.AccountPub || (ac.Issuer != t.Operator.Subject && !t.Operator.SigningKeys.Contains(ac.Issuer)) {
		return fmt.Errorf("account jwt: not the %s account of operator %s", Account, t.Operator.Subject)
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
