package tenant

import (
	"context"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in        string
		client    bool
		withError error
	}{
		{"acme", true, nil},
		{"a1", true, nil},
		{"a", false, ErrInvalidID},
		{"1acme", false, ErrInvalidID},
		{"Acme", false, ErrInvalidID},
		{"ac-me", false, ErrInvalidID},
		{"abcdefghijklmnopqrstuvwxyz012345", false, ErrInvalidID},
		{"platform", false, ErrReserved},
	}
	for _, tc := range tests {
		_, err := ParseClient(tc.in)
		if !errors.Is(err, tc.withError) {
			t.Errorf("%q: %v, want %v", tc.in, err, tc.withError)
		}
	}
}

func TestContext(t *testing.T) {
	if _, err := From(context.Background()); !errors.Is(err, ErrNoTenant) {
		t.Fatal(err)
	}
	if _, err := From(With(context.Background(), "")); !errors.Is(err, ErrNoTenant) {
		t.Fatal("an empty tenant counts as none")
	}
	got, err := From(With(context.Background(), "acme"))
	if err != nil || got != "acme" {
		t.Fatal(got, err)
	}
}
