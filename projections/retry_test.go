package projections

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// A failing event is tried 1 + Retries times, with pauses of 10, 20, 40
// ms..., as watermill's Retry middleware tries it; a permanent failure once;
// an event that succeeds at once goes through no backoff at all.
func TestRetriesTryAsOften(t *testing.T) {
	for _, c := range []struct {
		retries, failures int
		err               error
		calls             int
		ok                bool
		pauses            time.Duration
	}{
		{retries: 3, failures: 0, calls: 1, ok: true},
		{retries: 3, failures: 2, calls: 3, ok: true, pauses: 30 * time.Millisecond},
		{retries: 3, failures: 9, calls: 4, pauses: 70 * time.Millisecond},
		{retries: 1, failures: 9, calls: 2, pauses: 10 * time.Millisecond},
		{retries: 0, failures: 9, calls: 1},
		{retries: 3, failures: 9, err: permanentError{errors.New("bad data")}, calls: 1},
	} {
		calls := 0
		h := retries(c.retries)(func(*message.Message) ([]*message.Message, error) {
			calls++
			if calls <= c.failures {
				if c.err != nil {
					return nil, c.err
				}
				return nil, errors.New("read database busy")
			}
			return nil, nil
		})
		start := time.Now()
		_, err := h(message.NewMessage("1", nil))
		if calls != c.calls || (err == nil) != c.ok {
			t.Errorf("%+v: %d calls, err %v", c, calls, err)
		}
		if took := time.Since(start); took < c.pauses {
			t.Errorf("%+v: done in %s, want pauses of at least %s", c, took, c.pauses)
		}
	}
}
