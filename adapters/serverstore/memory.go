package serverstore

import (
	"context"
	"fmt"
	"sync"
)

// MemoryCredentials keeps passwords in the process's memory: for tests
// and benchmarks, where the databases live no longer than the process. A
// service keeps them sealed where every instance finds them.
type MemoryCredentials struct {
	mu sync.Mutex
	m  map[string]string
}

var _ Credentials = (*MemoryCredentials)(nil)

// Password implements Credentials.
func (c *MemoryCredentials) Password(_ context.Context, t string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[t]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrNoCredentials, t)
	}
	return p, nil
}

// Keep implements Credentials.
func (c *MemoryCredentials) Keep(_ context.Context, t, password string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	if p, ok := c.m[t]; ok {
		return p, nil
	}
	c.m[t] = password
	return password, nil
}
