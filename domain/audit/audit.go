// Package audit holds the events of a tenant's audit trail that the
// platform itself writes: the recorded heads of its hash chain.
package audit

import "time"

// HeadCategory is the stream of a tenant's recorded chain heads:
// "<tenant>.auditchain-heads".
const HeadCategory = "auditchain"

// HeadStreamID is the id part of that stream's name.
const HeadStreamID = "heads"

// ChainHeadRecorded: the tenant's hash chain stood at Hash after the event
// at Position (the hash covers every event up to it). It is itself an
// event of the tenant's log, so an export of the log carries the heads,
// and the chain covers it in turn.
type ChainHeadRecorded struct {
	Position uint64    `json:"position"`
	Hash     string    `json:"hash"`
	At       time.Time `json:"at"`
}

// EventName implements domain.Event.
func (ChainHeadRecorded) EventName() string { return "audit.chain_head_recorded.v1" }
