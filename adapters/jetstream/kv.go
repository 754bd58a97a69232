package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/commands/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Secrets keeps what must never be in an event: password hashes and
// logins, each in its own JetStream key-value bucket, and the token signing
// key. It implements identity.Credentials and identity.Sessions.
type Secrets struct {
	creds    jetstream.KeyValue
	sessions jetstream.KeyValue
	keys     jetstream.KeyValue
	sealed   jetstream.KeyValue
}

// OpenSecrets creates or opens the buckets. Sessions expire from the store
// after sessionTTL.
func OpenSecrets(ctx context.Context, nc *nats.Conn, sessionTTL time.Duration) (*Secrets, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	open := func(cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
		cfg.Storage = jetstream.FileStorage
		// Kept as they are: ReplicateAssets sets them at start (replicas.go).
		cfg.Replicas = keptReplicas(ctx, js, "KV_"+cfg.Bucket)
		if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
			return nil, translateKV(fmt.Errorf("bucket %s: %w", cfg.Bucket, err))
		}
		kv, err := leaderReads(ctx, js, cfg.Bucket)
		if err != nil {
			return nil, translateKV(fmt.Errorf("bucket %s: %w", cfg.Bucket, err))
		}
		return kv, nil
	}
	s := &Secrets{}
	if s.creds, err = open(jetstream.KeyValueConfig{Bucket: "ATRIUM_CREDENTIALS", Description: "password hashes by scope (tenant or platform) and user id"}); err != nil {
		return nil, err
	}
	if s.sessions, err = open(jetstream.KeyValueConfig{Bucket: "ATRIUM_SESSIONS", Description: "logins by session id", TTL: sessionTTL}); err != nil {
		return nil, err
	}
	if s.keys, err = open(jetstream.KeyValueConfig{Bucket: "ATRIUM_KEYS", Description: "token signing keys"}); err != nil {
		return nil, err
	}
	if s.sealed, err = open(jetstream.KeyValueConfig{Bucket: "ATRIUM_SEALED", Description: "tenants' integration secrets, sealed, by tenant and fingerprint"}); err != nil {
		return nil, err
	}
	return s, nil
}

// leaderReads makes the bucket answer reads from its stream's leader, and
// returns it. A bucket is created with direct gets allowed, which any
// replica answers on a cluster, a follower a moment behind too: a login
// just created through one instance would be unknown, for that moment, to
// a request through another (401), and a compare-and-set read stale would
// fail. Reads of these buckets are few (a login is remembered once checked:
// see the identity handler), so they go to the leader: one more hop, and,
// while a new leader is being elected, no answer.
func leaderReads(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.KeyValue, error) {
	st, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, err
	}
	if cfg := st.CachedInfo().Config; cfg.AllowDirect {
		cfg.AllowDirect = false
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return nil, err
		}
	}
	// Bound again: a handle knows at binding whether to read directly.
	return js.KeyValue(ctx, bucket)
}

var kvKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func checkKey(k string) error {
	if !kvKey.MatchString(k) {
		return fmt.Errorf("%w: key %q", identity.ErrNotFound, k)
	}
	return nil
}

// credentialKey is where a hash of scope and user is kept:
// "<scope>.<user id>".
func credentialKey(scope tenant.ID, userID string) (string, error) {
	if err := checkKey(string(scope)); err != nil {
		return "", err
	}
	if err := checkKey(userID); err != nil {
		return "", err
	}
	return string(scope) + "." + userID, nil
}

// SetPasswordHash implements identity.Credentials.
func (s *Secrets) SetPasswordHash(ctx context.Context, scope tenant.ID, userID, hash string) error {
	key, err := credentialKey(scope, userID)
	if err != nil {
		return err
	}
	_, err = s.creds.PutString(ctx, key, hash)
	return translateKV(err)
}

// PasswordHash implements identity.Credentials. A hash stored before
// credentials had scopes (under the user id alone) is answered for every
// scope that has none of its own.
func (s *Secrets) PasswordHash(ctx context.Context, scope tenant.ID, userID string) (string, error) {
	key, err := credentialKey(scope, userID)
	if err != nil {
		return "", err
	}
	for _, k := range []string{key, userID} {
		e, err := s.creds.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return "", translateKV(err)
		}
		return string(e.Value()), nil
	}
	return "", identity.ErrNotFound
}

// Create implements identity.Sessions.
func (s *Secrets) Create(ctx context.Context, sess identity.Session) error {
	if err := checkKey(sess.ID); err != nil {
		return err
	}
	b, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	_, err = s.sessions.Create(ctx, sess.ID, b)
	return translateKV(err)
}

// Get implements identity.Sessions.
func (s *Secrets) Get(ctx context.Context, id string) (identity.Session, uint64, error) {
	if err := checkKey(id); err != nil {
		return identity.Session{}, 0, err
	}
	e, err := s.sessions.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return identity.Session{}, 0, identity.ErrNotFound
	}
	if err != nil {
		return identity.Session{}, 0, translateKV(err)
	}
	var sess identity.Session
	if err := json.Unmarshal(e.Value(), &sess); err != nil {
		return identity.Session{}, 0, fmt.Errorf("session %s: %w", id, err)
	}
	return sess, e.Revision(), nil
}

// Update implements identity.Sessions as a compare-and-set.
func (s *Secrets) Update(ctx context.Context, sess identity.Session, revision uint64) error {
	b, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	_, err = s.sessions.Update(ctx, sess.ID, b, revision)
	var apiErr *jetstream.APIError
	if errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeWrongLastSeq) {
		return identity.ErrStale
	}
	return translateKV(err)
}

// SigningKey returns the stored signing key, storing the one make returns
// when there is none yet: every instance signs with the same key.
func (s *Secrets) SigningKey(ctx context.Context, make func() ([]byte, error)) ([]byte, error) {
	e, err := s.keys.Get(ctx, "signing")
	if err == nil {
		return e.Value(), nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, translateKV(err)
	}
	b, err := make()
	if err != nil {
		return nil, err
	}
	if _, err := s.keys.Create(ctx, "signing", b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) { // another instance was first
			return s.SigningKey(ctx, make)
		}
		return nil, translateKV(err)
	}
	return b, nil
}

// ErrNoSealed is returned for a sealed secret that is not kept.
var ErrNoSealed = errors.New("jetstream: no such sealed secret")

// sealedKey is where a tenant's sealed secret is kept: "<tenant>.<name>",
// the name made of the fingerprint's letters and digits.
func sealedKey(t tenant.ID, name string) (string, error) {
	if err := checkKey(string(t)); err != nil {
		return "", err
	}
	k := make([]byte, 0, len(name))
	for _, c := range []byte(name) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			k = append(k, c)
		} else {
			k = append(k, '_')
		}
	}
	if len(k) == 0 || len(k) > 128 {
		return "", fmt.Errorf("%w: %q", ErrNoSealed, name)
	}
	return string(t) + "." + string(k), nil
}

// PutSealed keeps a sealed secret of tenant t under name.
func (s *Secrets) PutSealed(ctx context.Context, t tenant.ID, name string, sealed []byte) error {
	key, err := sealedKey(t, name)
	if err != nil {
		return err
	}
	_, err = s.sealed.Put(ctx, key, sealed)
	return translateKV(err)
}

// CreateSealed keeps a sealed secret of tenant t under name unless one is
// kept there already: it reports whether it kept it.
func (s *Secrets) CreateSealed(ctx context.Context, t tenant.ID, name string, sealed []byte) (bool, error) {
	key, err := sealedKey(t, name)
	if err != nil {
		return false, err
	}
	_, err = s.sealed.Create(ctx, key, sealed)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return err == nil, translateKV(err)
}

// Sealed returns the sealed secret of tenant t kept under name, or
// ErrNoSealed.
func (s *Secrets) Sealed(ctx context.Context, t tenant.ID, name string) ([]byte, error) {
	key, err := sealedKey(t, name)
	if err != nil {
		return nil, err
	}
	e, err := s.sealed.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoSealed, name)
	}
	if err != nil {
		return nil, translateKV(err)
	}
	return e.Value(), nil
}

// SealedKeys lists the names of every tenant's sealed secrets, as
// (tenant, name) pairs, for a key rotation to seal each again.
func (s *Secrets) SealedKeys(ctx context.Context) ([][2]string, error) {
	lister, err := s.sealed.ListKeys(ctx)
	if err != nil {
		return nil, translateKV(err)
	}
	var out [][2]string
	for k := range lister.Keys() {
		t, name, ok := strings.Cut(k, ".")
		if ok {
			out = append(out, [2]string{t, name})
		}
	}
	return out, nil
}

// translateKV translates an error of a secrets bucket: its stream missing
// is the store unavailable (the bucket is gone, or not reachable), not an
// unknown tenant.
func translateKV(err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) || apiErrCode(err) == errCodeStreamNotFound || errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("%w: %w", streams.ErrUnavailable, err)
	}
	return translate(err)
}
