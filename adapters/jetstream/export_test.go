package jetstream

// Crash stops the lease goroutine as a killed process would: no projection
// is stopped, no key given back; the leases expire on their own.
func (l *Leases) Crash() { l.halt() }
