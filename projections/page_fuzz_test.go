package projections_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/atrium-platform/atrium/projections"
)

// FuzzCursor decodes arbitrary ?cursor= values: each is ErrBadCursor or a
// key that is not negative and whose own cursor decodes to it again; every
// key a list can end at (not negative) has a URL-safe cursor that decodes
// to it.
func FuzzCursor(f *testing.F) {
	for _, s := range []struct {
		cursor string
		key    int64
	}{
		{projections.EncodeCursor(1_700_000_000_000), 1_700_000_000_000},
		{"MTI", 12},
		{"MDAxMg", 0},
		{"LTE", -1},
		{"OTIyMzM3MjAzNjg1NDc3NTgwOA", math.MaxInt64},
		{"OWUxOA", 9e18},
		{"MTI=", math.MinInt64},
		{"MT", 1},
		{"K0E", 2},
		{"", 0},
		{"\x00\xff", 3},
		{strings.Repeat("QUFB", 3000), 4},
	} {
		f.Add(s.cursor, s.key)
	}
	f.Fuzz(func(t *testing.T, cursor string, key int64) {
		n, err := projections.DecodeCursor(cursor)
		if err != nil {
			if !errors.Is(err, projections.ErrBadCursor) || n != 0 {
				t.Fatalf("DecodeCursor(%q) = %d, %v, want ErrBadCursor", cursor, n, err)
			}
		} else {
			if n < 0 {
				t.Fatalf("DecodeCursor(%q) = %d, a negative key", cursor, n)
			}
			again, err := projections.DecodeCursor(projections.EncodeCursor(n))
			if err != nil || again != n {
				t.Fatalf("DecodeCursor(%q) = %d, whose cursor %q decodes to %d, %v", cursor, n, projections.EncodeCursor(n), again, err)
			}
		}

		c := projections.EncodeCursor(key)
		if strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("EncodeCursor(%d) = %q, not URL-safe", key, c)
		}
		back, err := projections.DecodeCursor(c)
		switch {
		case key >= 0 && (err != nil || back != key):
			t.Fatalf("EncodeCursor(%d) = %q, which decodes to %d, %v", key, c, back, err)
		case key < 0 && !errors.Is(err, projections.ErrBadCursor):
			t.Fatalf("EncodeCursor(%d) = %q, which decodes to %d, %v, want ErrBadCursor for a negative key", key, c, back, err)
		}
	})
}
