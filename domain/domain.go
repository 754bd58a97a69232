// Package domain holds what every aggregate shares: the Event contract and
// the errors a decision can end in. It imports the standard library only.
package domain

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Event is something that happened, named in the past tense. EventName is
// stable across releases ("invoice.issued.v1"): it is what is stored, never
// a Go type name.
type Event interface {
	EventName() string
}

// Kind classifies a rejected command so the edge can answer it well.
type Kind int

// The kinds of rejection.
const (
	// Invalid: the command itself is malformed (a field is missing or out of range).
	Invalid Kind = iota + 1
	// Rejected: the command is well formed but breaks a business rule
	// (paying more than is due, approving one's own invoice).
	Rejected
	// WrongState: the aggregate is not in a state that accepts the command.
	WrongState
	// NotFound: the aggregate does not exist (or is not visible to the caller).
	NotFound
	// Forbidden: the caller's roles do not allow the command.
	Forbidden
)

// Error is a rejected command: a stable snake_case Code, the Field it is
// about when there is one, and a human Message.
type Error struct {
	Kind    Kind
	Code    string
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is makes errors.Is(err, &Error{Code: "x"}) match on Code, and
// errors.Is(err, &Error{Kind: k}) match on Kind.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	if t.Code != "" && t.Code != e.Code {
		return false
	}
	if t.Kind != 0 && t.Kind != e.Kind {
		return false
	}
	return true
}

// Invalidf returns an Invalid error about field.
func Invalidf(field, code, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Rejectf returns a Rejected error.
func Rejectf(code, format string, args ...any) *Error {
	return &Error{Kind: Rejected, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrongStatef returns a WrongState error.
func WrongStatef(code, format string, args ...any) *Error {
	return &Error{Kind: WrongState, Code: code, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf returns a NotFound error.
func NotFoundf(code, format string, args ...any) *Error {
	return &Error{Kind: NotFound, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Forbiddenf returns a Forbidden error with the code "forbidden".
func Forbiddenf(format string, args ...any) *Error {
	return &Error{Kind: Forbidden, Code: "forbidden", Message: fmt.Sprintf(format, args...)}
}

// Text checks free text a client gives: trimmed, valid UTF-8, at most max
// characters, no control characters but line breaks and tabs; required
// refuses an empty one. It returns the trimmed text.
func Text(field, v string, max int, required bool) (string, error) {
	v = strings.TrimSpace(v)
	if required && v == "" {
		return "", Invalidf(field, "required", "%s is required", field)
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > max {
		return "", Invalidf(field, "invalid_text", "%s must be text of at most %d characters", field, max)
	}
	if strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		return "", Invalidf(field, "invalid_text", "%s must not hold control characters", field)
	}
	return v, nil
}
