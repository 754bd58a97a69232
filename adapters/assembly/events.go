package assembly

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/kurrentdb"
	"github.com/atrium-platform/atrium/projections"
)

// openStore opens the event store the configuration chooses.
func (p *Process) openStore() error {
	cfg := p.cfg
	if cfg.EventStore == StoreKurrentDB {
		s, err := kurrentdb.Open(kurrentdb.Config{URL: cfg.KurrentDBURL, Namespace: cfg.KurrentDBNamespace, Now: cfg.Now, Logger: p.log})
		if err != nil {
			return fmt.Errorf("ATRIUM_KURRENTDB_URL or ATRIUM_KURRENTDB_NAMESPACE: %w", err)
		}
		p.closers = append(p.closers, s.Close)
		p.Store = s
		return nil
	}
	s, err := jetstream.NewStore(p.NC, jetstream.StoreConfig{Now: cfg.Now, Replicas: cfg.NATSReplicas})
	if err != nil {
		return err
	}
	p.Store = s
	return nil
}

// openSource opens what delivers the events to the projections: the
// event store itself, read through its own subscriptions.
func (p *Process) openSource(log watermill.LoggerAdapter) (projections.Source, error) {
	if s, ok := p.Store.(*kurrentdb.Store); ok {
		src := kurrentdb.NewSource(s, p.log)
		p.closers = append(p.closers, src.Close)
		return src, nil
	}
	src, err := jetstream.NewSource(p.NC, log)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, src.Close)
	return src, nil
}
