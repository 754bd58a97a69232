package streams

import "context"

type correlationKey struct{}

type correlation struct{ id, causation string }

// WithCorrelation returns ctx carrying the correlation and causation ids of
// the work in progress: the ids every event written under ctx will hold, and
// that logs name. The HTTP edge sets them per request; the projections set
// them per event from its metadata.
func WithCorrelation(ctx context.Context, correlationID, causationID string) context.Context {
	return context.WithValue(ctx, correlationKey{}, correlation{correlationID, causationID})
}

// Correlation returns the ids carried by ctx, or empty strings.
func Correlation(ctx context.Context) (correlationID, causationID string) {
	c, _ := ctx.Value(correlationKey{}).(correlation)
	return c.id, c.causation
}
