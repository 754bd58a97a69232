package projections

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// A failing event is tried 1 + Retries times, with pauses of 20, 80, 320
// ms... up to a second between the attempts; a permanent failure once; an
// event whose context has ended not at all.
func TestRetriesTryAsOften(t *testing.T) {
	for _, c := range []struct {
		name              string
		retries, failures int
		err               error
		calls             int
		ok                bool
		gaps              []time.Duration
	}{
		{name: "at once", retries: 3, failures: 0, calls: 1, ok: true},
		{name: "third attempt", retries: 3, failures: 2, calls: 3, ok: true, gaps: []time.Duration{20, 80}},
		{name: "never", retries: 3, failures: 9, calls: 4, gaps: []time.Duration{20, 80, 320}},
		{name: "capped", retries: 5, failures: 9, calls: 6, gaps: []time.Duration{20, 80, 320, 1000, 1000}},
		{name: "one retry", retries: 1, failures: 9, calls: 2, gaps: []time.Duration{20}},
		{name: "no retries", retries: 0, failures: 9, calls: 1},
		{name: "permanent", retries: 3, failures: 9, err: permanentError{errors.New("bad data")}, calls: 1},
	} {
		var at []time.Time
		h := retries(c.retries)(func(*message.Message) ([]*message.Message, error) {
			at = append(at, time.Now())
			if len(at) <= c.failures {
				if c.err != nil {
					return nil, c.err
				}
				return nil, errors.New("read database busy")
			}
			return nil, nil
		})
		_, err := h(message.NewMessage("1", nil))
		if len(at) != c.calls || (err == nil) != c.ok {
			t.Errorf("%s: %d calls, err %v; want %d calls", c.name, len(at), err, c.calls)
			continue
		}
		if c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
		}
		for i, want := range c.gaps {
			want *= time.Millisecond
			// At least the pause; the bound above only catches a pause of
			// the wrong order (a loaded machine wakes late).
			if gap := at[i+1].Sub(at[i]); gap < want || gap > want+time.Second {
				t.Errorf("%s: pause %d was %s, want %s", c.name, i+1, gap, want)
			}
		}
	}

	// A message whose handler was stopped is not tried again, nor at all.
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	h := retries(3)(func(*message.Message) ([]*message.Message, error) {
		calls++
		cancel()
		return nil, errors.New("read database busy")
	})
	msg := message.NewMessage("2", nil)
	msg.SetContext(ctx)
	if _, err := h(msg); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("cancelled during the pause: %d calls, err %v", calls, err)
	}
	if _, err := h(msg); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("cancelled before: %d calls, err %v", calls, err)
	}
}
