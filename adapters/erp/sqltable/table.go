package sqltable

import (
	"fmt"
	"strings"
)

// tableName is a validated table name: letters, digits and underscores,
// not starting with a digit, optionally qualified by a schema of the same
// form. Nothing else can reach the SQL it is written into.
type tableName struct {
	schema string // "" for the connection's default schema
	name   string
}

// parseTable validates s as a table name whose parts are at most maxLen
// characters.
func parseTable(s string, maxLen int) (tableName, error) {
	parts := strings.Split(s, ".")
	bad := fmt.Errorf("sqltable: Table %q: want letters, digits and underscores, not starting with a digit, "+
		"at most %d characters, optionally after a schema of the same form (schema.table)", s, maxLen)
	if len(parts) > 2 {
		return tableName{}, bad
	}
	for _, p := range parts {
		if !identifier(p, maxLen) {
			return tableName{}, bad
		}
	}
	if len(parts) == 2 {
		return tableName{schema: parts[0], name: parts[1]}, nil
	}
	return tableName{name: parts[0]}, nil
}

func identifier(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// String is the name as configured.
func (t tableName) String() string {
	if t.schema == "" {
		return t.name
	}
	return t.schema + "." + t.name
}

// quoted is the name with each part quoted by quote.
func (t tableName) quoted(quote func(string) string) string {
	if t.schema == "" {
		return quote(t.name)
	}
	return quote(t.schema) + "." + quote(t.name)
}
