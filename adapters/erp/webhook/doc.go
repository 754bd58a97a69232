// Package webhook is the ERP connector that POSTs each message to the
// tenant's URL, signed as the Standard Webhooks specification says, so a
// receiver verifies it with any of that specification's libraries:
//
//	POST <url>
//	Content-Type: application/json
//	webhook-id: <message id>
//	webhook-timestamp: <unix seconds>
//	webhook-signature: v1,<base64 of HMAC-SHA256 over "<id>.<timestamp>.<body>">
//
// keyed with the base64-decoded part of the "whsec_..." secret (see
// ParseSecret). Verify checks requests the ERP signs the same way.
//
// A 2xx answer delivers the message; 408, 429, 5xx, time-outs and network
// failures are retried (after Retry-After when the target says so); a
// redirect, any other 4xx or a forbidden target refuses it. Deliveries
// never reach loopback, private, link-local or other internal addresses
// unless private targets are allowed: the rule is checked on each address
// as it is dialled, after resolution (see ErrTargetForbidden).
package webhook
