package rollout

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the key-value bucket of every rollout's state; Stream is the
// stream behind it.
const (
	Bucket = "herald_rollouts"
	Stream = "KV_" + Bucket
	// SubjectPrefix is the subjects of the bucket's keys.
	SubjectPrefix = "$KV." + Bucket + "."
)

// Token encodes a name (an event id, a watch, a host) as one key token:
// unpadded base64url, which a key and a subject both accept whatever the
// name holds.
func Token(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// untoken decodes Token.
func untoken(t string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	return string(b), err == nil
}

// ID names the rollout of one event for one watch: the prefix of its keys.
type ID struct {
	EventID string
	Watch   string
}

func (id ID) prefix() string { return Token(id.EventID) + "." + Token(id.Watch) + "." }

func (id ID) planKey() string         { return id.prefix() + "plan" }
func (id ID) gateKey() string         { return id.prefix() + "gate" }
func (id ID) turnKey(n int) string    { return id.prefix() + "turn." + strconv.Itoa(n) }
func (id ID) hostKey(h string) string { return id.prefix() + "host." + Token(h) }

// turnSubjects are the subjects of the rollout's turns.
func (id ID) turnSubjects() string { return SubjectPrefix + id.prefix() + "turn.*" }

// EventSubjects are the subjects of every rollout of one event (all its
// watches).
func EventSubjects(eventID string) string { return SubjectPrefix + Token(eventID) + ".>" }

// parseSubject splits a key subject of the bucket into its rollout and
// the rest (plan, gate, turn.N, host.TOKEN).
func parseSubject(subj string) (ID, string, bool) {
	rest, ok := strings.CutPrefix(subj, SubjectPrefix)
	if !ok {
		return ID{}, "", false
	}
	parts := strings.SplitN(rest, ".", 3)
	if len(parts) != 3 {
		return ID{}, "", false
	}
	ev, ok1 := untoken(parts[0])
	w, ok2 := untoken(parts[1])
	if !ok1 || !ok2 {
		return ID{}, "", false
	}
	return ID{EventID: ev, Watch: w}, parts[2], true
}

// HostKeySubjects are the subjects agent NAME may write host state on, in
// every rollout (its permissions).
func HostKeySubjects(name string) string { return SubjectPrefix + "*.*.host." + Token(name) }

// SharedKeySubjects are the subjects every agent writes (plan, gate,
// turns), in every rollout.
func SharedKeySubjects() []string {
	return []string{SubjectPrefix + "*.*.plan", SubjectPrefix + "*.*.gate", SubjectPrefix + "*.*.turn.*"}
}

// BucketTTL is how long the bucket keeps a rollout's state after its
// last change: long enough to ask what a rollout did days later.
const BucketTTL = 7 * 24 * time.Hour

// markerTTL is how long the bucket keeps the marker of a key its TTL
// removed (per-key TTLs need markers on).
const markerTTL = 10 * time.Minute

// BucketConfig is the bucket the dispatcher creates (and recreates when it
// is gone), with replicas copies.
func BucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:         Bucket,
		Description:    "herald rollouts: plans, gates, turns (leases) and host states",
		History:        1,
		TTL:            BucketTTL,
		LimitMarkerTTL: markerTTL,
		Storage:        jetstream.FileStorage,
		Replicas:       replicas,
	}
}
