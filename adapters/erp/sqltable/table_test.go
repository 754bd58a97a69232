package sqltable

import (
	"strings"
	"testing"
)

func TestParseTable(t *testing.T) {
	t.Parallel()
	long63, long64 := "t"+strings.Repeat("x", 62), "t"+strings.Repeat("x", 63)
	for _, tc := range []struct {
		name   string
		maxLen int
		want   string // the PostgreSQL quoting; "" when invalid
	}{
		{"erp_messages", 63, `"erp_messages"`},
		{"ERP_Messages", 63, `"erp_messages"`},
		{"_staging2", 63, `"_staging2"`},
		{"erp.messages", 63, `"erp"."messages"`},
		{"order", 63, `"order"`},
		{long63, 63, `"` + long63 + `"`},
		{long64, 63, ""},
		{long64, 128, `"` + long64 + `"`},
		{"", 63, ""},
		{".messages", 63, ""},
		{"erp.", 63, ""},
		{"a.b.c", 63, ""},
		{"2fast", 63, ""},
		{"erp.2fast", 63, ""},
		{"erp-messages", 63, ""},
		{"erp messages", 63, ""},
		{`erp"; DROP TABLE x; --`, 63, ""},
		{"erp]messages", 63, ""},
		{"[erp]", 63, ""},
		{`"erp"`, 63, ""},
		{"#temp", 63, ""},
		{"messagés", 63, ""},
		{"erp\nmessages", 63, ""},
	} {
		tn, err := parseTable(tc.name, tc.maxLen)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("parseTable(%q, %d) = %v, want an error", tc.name, tc.maxLen, tn)
		case tc.want != "" && err != nil:
			t.Errorf("parseTable(%q, %d): %v", tc.name, tc.maxLen, err)
		case tc.want != "":
			if got := tn.quoted(postgres{}.quote); got != tc.want {
				t.Errorf("parseTable(%q) quoted %s, want %s", tc.name, got, tc.want)
			}
		}
	}
	tn, err := parseTable("Erp.Messages", 128)
	if err != nil || tn.quoted(sqlserver{}.quote) != "[Erp].[Messages]" || tn.String() != "Erp.Messages" {
		t.Errorf("SQL Server quoting of Erp.Messages: %v %v", tn.quoted(sqlserver{}.quote), err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // in the error; none: valid
	}{
		{"postgres url", Config{Driver: Postgres, DSN: "postgres://erp:pw@db.example.com:5432/erp", Table: "erp_messages"}, nil},
		{"postgres key=value", Config{Driver: Postgres, DSN: "host=db.example.com user=erp password=pw dbname=erp", Table: "erp.messages"}, nil},
		{"sqlserver url", Config{Driver: SQLServer, DSN: "sqlserver://erp:pw@db.example.com:1433?database=erp", Table: "erp_messages"}, nil},
		{"sqlserver ado", Config{Driver: SQLServer, DSN: "server=db.example.com;user id=erp;password=pw;database=erp", Table: "dbo.erp_messages"}, nil},
		{"sqlserver long name", Config{Driver: SQLServer, DSN: "sqlserver://erp:pw@db", Table: "t" + strings.Repeat("x", 100)}, nil},
		{"postgres long name", Config{Driver: Postgres, DSN: "postgres://erp:pw@db/erp", Table: "t" + strings.Repeat("x", 100)}, []string{"Table"}},
		{"everything wrong", Config{Driver: "mysql", Table: "a b", Timeout: -1}, []string{"Driver", "no DSN", "Table", "Timeout"}},
		{"bad postgres dsn", Config{Driver: Postgres, DSN: "postgres://erp:s3cr3t-pw@db:notaport/erp", Table: "erp_messages"}, []string{"DSN does not parse"}},
		{"bad sqlserver dsn", Config{Driver: SQLServer, DSN: "sqlserver://erp:s3cr3t-pw@db?database=erp&dial+timeout=soon", Table: "erp_messages"}, []string{"DSN does not parse"}},
	} {
		err := tc.cfg.Validate()
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: valid, want %v", tc.name, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to mention %s", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("%s: the error quotes the password: %v", tc.name, err)
		}
	}
}
