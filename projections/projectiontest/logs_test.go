package projectiontest_test

import (
	"testing"

	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/projectiontest"
	"github.com/atrium-platform/atrium/projections/sourcetest"
	"github.com/atrium-platform/atrium/streams"
)

func TestSourceConformance(t *testing.T) {
	sourcetest.Run(t, func(*testing.T) (projections.Source, sourcetest.Log) {
		logs := projectiontest.NewLogs(streams.NewRegistry())
		return logs, logs
	})
}
