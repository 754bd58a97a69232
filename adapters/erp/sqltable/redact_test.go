package sqltable

import (
	"strings"
	"testing"
)

func TestRedactorScrubsThePassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dsn      string
		password string
	}{
		{"postgres://erp:s3cr3t-pw@db:5432/erp", "s3cr3t-pw"},
		{"postgres://erp:p%40ss%3Aw0rd-x@db/erp", "p@ss:w0rd-x"},
		{"postgres://erp@db/erp?password=s3cr3t-pw&sslmode=require", "s3cr3t-pw"},
		{"host=db user=erp password=s3cr3t-pw dbname=erp", "s3cr3t-pw"},
		{"host=db user=erp password='s3cr3t pw' dbname=erp", "s3cr3t pw"},
		{"sqlserver://erp:s3cr3t-pw@db:1433?database=erp", "s3cr3t-pw"},
		{"server=db;user id=erp;Password=s3cr3t-pw;database=erp", "s3cr3t-pw"},
		{"server=db;user id=erp;password={s3cr3t;pw};database=erp", "s3cr3t;pw"},
		{"odbc:server=db;uid=erp;pwd={s3cr3t-pw};database=erp", "s3cr3t-pw"},
		{"postgres://erp:s3cr3t-pw@db:notaport/erp", "s3cr3t-pw"},
		{"postgres://erp:s3cr3t@pw@db/erp", "s3cr3t@pw"},
	} {
		r := newRedactor(tc.dsn)
		for _, msg := range []string{
			"failed to connect using " + tc.dsn + ": refused",
			`parse "` + tc.dsn + `": invalid port`,
			"login failed with password " + tc.password,
			"a message\nover two lines with " + tc.password,
		} {
			got := r.scrub(msg)
			if strings.Contains(got, tc.password) || strings.Contains(got, "s3cr3t") {
				t.Errorf("dsn %s: scrub(%q) = %q still quotes the password", tc.dsn, msg, got)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Errorf("scrub(%q) = %q is not one line", msg, got)
			}
		}
	}
}

func TestRedactorScrubsPasswordsItWasNotGiven(t *testing.T) {
	t.Parallel()
	r := newRedactor("postgres://erp@db/erp")
	for _, msg := range []string{
		"cannot use sqlserver://sa:0ther-s3cret@host:1433 here",
		"bad field password=0ther-s3cret; next",
		"bad field PWD = '0ther-s3cret'",
	} {
		if got := r.scrub(msg); strings.Contains(got, "0ther-s3cret") {
			t.Errorf("scrub(%q) = %q", msg, got)
		}
	}
	if got := r.scrub(strings.Repeat("é", 500)); len([]rune(got)) > 301 {
		t.Errorf("scrub keeps %d characters, want at most 300 and an ellipsis", len([]rune(got)))
	}
}
