package auth

import (
	"fmt"

	"github.com/nats-io/jwt/v2"
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
