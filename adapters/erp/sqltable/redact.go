package sqltable

import (
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Patterns of a password in a connection string or in a driver's message:
// a password or pwd field (PostgreSQL's key=value form, SQL Server's ADO
// and ODBC forms), and the userinfo of a URL. They are only read.
var (
	passwordField = regexp.MustCompile(`(?i)\b(password|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'|\{(?:[^}]|\}\})*\}|"[^"]*"|[^\s;&]*)`)
	urlUserinfo   = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*):[^\s]*@`)
)

// redactor scrubs a connection string's password from text, whatever
// form the text quotes it in.
type redactor struct {
	secrets []string // longest first
}

func newRedactor(dsn string) redactor {
	set := map[string]bool{dsn: true}
	if q := strconv.Quote(dsn); len(q) > 2 {
		set[q[1:len(q)-1]] = true
	}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			set[p] = true
			set[url.QueryEscape(p)] = true
			set[url.PathEscape(p)] = true
		}
		for k, vs := range u.Query() {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "pwd") {
				for _, v := range vs {
					set[v] = true
				}
			}
		}
	}
	for _, m := range passwordField.FindAllStringSubmatch(dsn, -1) {
		v := m[3]
		set[v] = true
		if len(v) >= 2 && strings.ContainsAny(v[:1], `'{"`) {
			set[v[1:len(v)-1]] = true
		}
	}
	// A URL that does not parse still has its userinfo: what lies between
	// the scheme's "://user:" and the last "@".
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				set[rest[colon+1:at]] = true
			}
		}
	}
	var r redactor
	for s := range set {
		if strings.TrimSpace(s) != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

// scrub returns s without the password, on one line of at most 300
// characters.
func (r redactor) scrub(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "xxxxx")
	}
	s = passwordField.ReplaceAllString(s, "${1}${2}xxxxx")
	s = urlUserinfo.ReplaceAllString(s, "${1}:xxxxx@")
	s = strings.Join(strings.FieldsFunc(s, func(c rune) bool { return unicode.IsSpace(c) || !unicode.IsPrint(c) }), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}
