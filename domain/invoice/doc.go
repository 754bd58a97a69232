// Package invoice is the invoice aggregate of collections and finance, as a
// decider: Decide(state, command) ([]Event, error) and Evolve(state, event).
// Money is in integer minor units; there is no floating point here.
package invoice
