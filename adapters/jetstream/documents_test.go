package jetstream_test

import (
	"testing"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/documents/storetest"
)

func TestDocumentsConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) documents.Store {
		_, nc := jetstreamtest.Start(t)
		d, err := jetstream.NewDocuments(nc, jetstream.DocumentsConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
