package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go/jetstream"
)

// KV bucket settings used when "herald kv put" creates a bucket.
const (
	// KVHistory is how many revisions of each key a created bucket keeps.
	KVHistory = 5
)

// ErrKeyNotFound is returned by kv get and kv del when the key (or its
// bucket) does not exist or was deleted.
var ErrKeyNotFound = errors.New("key not found")

const kvArgs = "put BUCKET/KEY [VALUE | -] | get BUCKET/KEY | del BUCKET/KEY [flags]"

const kvHelp = `Read and write keys of a NATS KV bucket, the source agents select with
"on: kv:BUCKET/KEY" or "on: kv:BUCKET/PREFIX.>" (the dispatcher publishes
kv.put and kv.deleted events for them).

  put BUCKET/KEY VALUE   store VALUE; with - or no VALUE, store stdin.
                         Creates the bucket when missing (history 5, file
                         storage). Prints the new revision.
  get BUCKET/KEY         print the value, as stored (no newline added);
                         exit 1 when the key does not exist or was deleted.
  del BUCKET/KEY         delete the key; exit 1 when it does not exist.

Bucket names are letters, digits, '-' and '_'; keys are letters, digits and
-/_=. and neither start nor end with '.'. Flags may come before or after the
verb; put a value starting with '-' after --.`

// kvCmd is "herald kv".
type kvCmd struct {
	conn connFlags
	fs   *flag.FlagSet
}

func (c *kvCmd) flags(fs *flag.FlagSet) {
	c.fs = fs
	c.conn.add(fs)
}

func (c *kvCmd) run(ctx context.Context, _ *Main, s stdio, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want put, get or del")
	}
	verb := args[0]
	pos, err := parseInterleaved(c.fs, args[1:])
	if err != nil {
		return reported(usageErrorf("%v", err))
	}
	switch verb {
	case "put":
		if len(pos) < 1 || len(pos) > 2 {
			return usageErrorf("put wants BUCKET/KEY and an optional VALUE (- or none for stdin)")
		}
	case "get", "del":
		if len(pos) != 1 {
			return usageErrorf("%s wants exactly BUCKET/KEY", verb)
		}
	default:
		return usageErrorf("unknown kv verb %q: want put, get or del", verb)
	}
	bucket, key, err := parseKVKey(pos[0])
	if err != nil {
		return err
	}
	if err := c.conn.resolve(); err != nil {
		return err
	}
	var value []byte
	if verb == "put" {
		if len(pos) == 2 && pos[1] != "-" {
			value = []byte(pos[1])
		} else if s.in != nil {
			if value, err = readAll(s.in, "stdin"); err != nil {
				return err
			}
		}
	}

	ctx, cancel := context.WithTimeout(ctx, c.conn.timeout)
	defer cancel()
	nc, js, err := c.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	switch verb {
	case "put":
		kv, err := ensureBucket(ctx, js, bucket)
		if err != nil {
			return err
		}
		rev, err := kv.Put(ctx, key, value)
		if err != nil {
			return fmt.Errorf("put %s/%s: %w", bucket, key, streamHint(err))
		}
		fmt.Fprintln(s.out, rev)
	case "get":
		e, err := getKey(ctx, js, bucket, key)
		if err != nil {
			return err
		}
		_, err = s.out.Write(e.Value())
		return err
	case "del":
		return delKey(ctx, js, bucket, key)
	}
	return nil
}

// parseInterleaved parses flags anywhere among args and returns the
// positional arguments; everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseKVKey splits BUCKET/KEY and checks both as agents' selectors do.
func parseKVKey(s string) (bucket, key string, err error) {
	if b, k, ok := strings.Cut(s, "/"); !ok || b == "" || k == "" || strings.HasSuffix(k, ">") {
		return "", "", usageErrorf("%q: want BUCKET/KEY", s)
	}
	sel, perr := watch.ParseSelector(watch.KindKV+":"+s, "")
	if perr != nil {
		return "", "", usageErrorf("%q: %v", s, perr)
	}
	return sel.Bucket, sel.KVKey, nil
}

// ensureBucket binds to bucket, creating it when missing.
func ensureBucket(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:  bucket,
			History: KVHistory,
			Storage: jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrBucketExists) { // created meanwhile
			kv, err = js.KeyValue(ctx, bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kv bucket %s: %w", bucket, streamHint(err))
	}
	return kv, nil
}

func bindBucket(ctx context.Context, js jetstream.JetStream, bucket, key string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: %s/%s (bucket %s does not exist)", ErrKeyNotFound, bucket, key, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("kv bucket %s: %w", bucket, streamHint(err))
	}
	return kv, nil
}

func getKey(ctx context.Context, js jetstream.JetStream, bucket, key string) (jetstream.KeyValueEntry, error) {
	kv, err := bindBucket(ctx, js, bucket, key)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %s/%s", ErrKeyNotFound, bucket, key)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return e, nil
}

// delKey deletes a key that exists; the delete is conditional on the
// revision read, so a missing key never gets a delete marker (which would
// publish a kv.deleted event for nothing).
func delKey(ctx context.Context, js jetstream.JetStream, bucket, key string) error {
	kv, err := bindBucket(ctx, js, bucket, key)
	if err != nil {
		return err
	}
	for {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("%w: %s/%s", ErrKeyNotFound, bucket, key)
		}
		if err != nil {
			return fmt.Errorf("get %s/%s: %w", bucket, key, err)
		}
		err = kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("del %s/%s: %w", bucket, key, err)
		}
		// Changed between the read and the delete: read it again.
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
