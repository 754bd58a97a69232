package jetstream_test

import (
	"testing"

	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/streams"
	"github.com/atrium-platform/atrium/streams/storetest"
)

func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) streams.Store { return jetstreamtest.NewStore(t) })
}
