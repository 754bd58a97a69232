package projections

import (
	"encoding/base64"
	"errors"
	"strconv"
)

// ErrBadCursor is returned for a cursor a list did not give.
var ErrBadCursor = errors.New("projections: bad cursor")

// EncodeCursor is the opaque cursor of a keyset page that ends at key.
func EncodeCursor(key int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(key, 10)))
}

// DecodeCursor returns the key a cursor from EncodeCursor holds.
func DecodeCursor(cursor string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, ErrBadCursor
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return 0, ErrBadCursor
	}
	return n, nil
}

// PageLimit clamps a requested page size: default 50, at most 500.
func PageLimit(n int) int {
	if n <= 0 {
		return 50
	}
	return min(n, 500)
}
