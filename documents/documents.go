// Package documents is the port for files the product keeps beside its
// events (receipts): put, get, stat, delete and list by prefix, per tenant.
// documents/storetest is the conformance suite every adapter passes.
package documents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// Object describes a stored document.
type Object struct {
	Key         string
	ContentType string
	Size        int64
	Modified    time.Time
}

// Errors every Store translates its technology's errors into.
var (
	// ErrNotFound: no object with that key in the ctx tenant.
	ErrNotFound = errors.New("documents: not found")
	// ErrInvalidKey: the key is not a document key.
	ErrInvalidKey = errors.New("documents: invalid key")
	// ErrTooLarge: the object is over the store's limit.
	ErrTooLarge = errors.New("documents: too large")
)

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}(/[a-z0-9][a-z0-9_.-]{0,63}){0,7}$`)

// CheckKey validates a key: lower-case path segments of letters, digits,
// '.', '_' and '-', separated by '/'.
func CheckKey(key string) error {
	if !keyPattern.MatchString(key) {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return nil
}

// Store keeps documents per tenant. Every method takes the tenant from ctx
// and fails with tenant.ErrNoTenant without one; a tenant never sees
// another's objects, whatever the key. Safe for concurrent use.
type Store interface {
	// Put stores size bytes from r under key, replacing any object there.
	Put(ctx context.Context, key, contentType string, r io.Reader, size int64) (Object, error)
	// Get returns the object's bytes and description; close the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, Object, error)
	// Stat describes the object.
	Stat(ctx context.Context, key string) (Object, error)
	// Delete removes the object; deleting a missing one is ErrNotFound.
	Delete(ctx context.Context, key string) error
	// List describes the objects whose key starts with prefix, by key.
	List(ctx context.Context, prefix string) ([]Object, error)
}

// Dropper is a store that deletes all of a tenant's documents at once
// (offboarding).
type Dropper interface {
	// Drop deletes every document of the ctx tenant. The store then
	// stores nothing more for it (ErrDropped), whatever was still under
	// way: the tenant is deleted and its slug never given again.
	Drop(ctx context.Context) error
}

// ErrDropped is returned by a Dropper's Put for a tenant it dropped.
var ErrDropped = errors.New("documents: the tenant's documents were dropped")
