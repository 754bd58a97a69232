package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/commands/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// DropTenant deletes every password hash of tenant t's scope, every
// sealed secret of t and every login into t (offboarding): purged, their
// delete markers too, so no key naming t remains.
func (s *Secrets) DropTenant(ctx context.Context, t tenant.ID) error {
	if err := checkKey(string(t)); err != nil {
		return err
	}
	prefix := string(t) + "."
	for _, kv := range []jetstream.KeyValue{s.creds, s.sealed} {
		if err := purgeKeys(ctx, kv, func(k string) (bool, error) { return strings.HasPrefix(k, prefix), nil }); err != nil {
			return err
		}
	}
	return purgeKeys(ctx, s.sessions, func(k string) (bool, error) {
		e, err := s.sessions.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return false, nil
		}
		if err != nil {
			return false, translateKV(err)
		}
		var sess identity.Session
		if err := json.Unmarshal(e.Value(), &sess); err != nil {
			return false, nil //nolint:nilerr // not a login of anyone's: left
		}
		return sess.Tenant == t, nil
	})
}

// purgeKeys purges the keys of kv that match, then every delete marker.
func purgeKeys(ctx context.Context, kv jetstream.KeyValue, match func(string) (bool, error)) error {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return translateKV(err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		ok, err := match(k)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := kv.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return translateKV(err)
		}
	}
	if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(-1)); err != nil {
		return translateKV(err)
	}
	return nil
}

// ForgetTenant removes tenant t from the shared streams (offboarding): its
// ERP messages and their consumers, and its poisoned events.
func ForgetTenant(ctx context.Context, nc *nats.Conn, t tenant.ID) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for stream, subject := range map[string]string{ERPStream: "erp." + string(t) + ".>", poisonStream: poisonPrefix + string(t)} {
		st, err := js.Stream(ctx, stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return translate(fmt.Errorf("%s: %w", stream, err))
		}
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
			return translate(fmt.Errorf("%s: purge %s: %w", stream, subject, err))
		}
		for name := range st.ListConsumers(ctx).Info() {
			if c := name.Config; c.FilterSubject == subject || strings.HasPrefix(c.FilterSubject, strings.TrimSuffix(subject, ">")) {
				if err := st.DeleteConsumer(ctx, name.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
					return translate(fmt.Errorf("%s: consumer %s: %w", stream, name.Name, err))
				}
			}
		}
	}
	return nil
}
