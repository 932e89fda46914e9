// Package auth holds Herald's identities: who is on the bus (dispatchers,
// agents, publishers, deployers, viewers, the admin), what each role may
// publish and subscribe to, and the registry of issued identities kept in
// an auth directory (identities.json: names, roles, rights, public keys,
// HTTP token hashes, revocations; never a secret). Issuing credentials
// (nkeys and JWTs), the nats-server configuration that enforces them and
// following a directory's changes come from here too; making a running
// server trust it is subpackage authserver's. It knows nothing of
// events' insides, watches, hooks or how the dispatcher serves HTTP: its
// callers ask it "may this identity do that" and enforce the answer.
package auth
