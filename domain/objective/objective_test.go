package objective_test

import (
	"errors"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
)

func TestPeriods(t *testing.T) {
	tests := []struct {
		in         string
		start, end string
		withError  bool
	}{
		{"2026-Q1", "2026-01-01", "2026-04-01", false},
		{"2026-Q4", "2026-10-01", "2027-01-01", false},
		{"2026-Q0", "", "", true},
		{"2026Q1", "", "", true},
		{"26-Q1", "", "", true},
	}
	for _, tc := range tests {
		p, err := objective.ParsePeriod(tc.in)
		if tc.withError {
			if err == nil {
				t.Errorf("%s parsed", tc.in)
			}
			continue
		}
		if err != nil || p.Start().Format(time.DateOnly) != tc.start || p.End().Format(time.DateOnly) != tc.end || p.String() != tc.in {
			t.Errorf("%s: %v %v %v", tc.in, p.Start(), p.End(), err)
		}
	}
}

func TestCycle(t *testing.T) {
	evs, err := objective.DecideSet(objective.State{}, objective.Set{ObjectiveID: "o", Assignee: "rep", Period: "2026-Q3",
		Metric: "revenue", Target: money.New(100, "EUR"), By: "mgr"}, []money.Currency{"EUR"})
	if err != nil {
		t.Fatal(err)
	}
	s := objective.Fold(evs)
	during := time.Date(2026, 9, 30, 23, 0, 0, 0, time.UTC)
	after := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		run       func() ([]domain.Event, error)
		withError string
	}{
		{"submit during the period", func() ([]domain.Event, error) { return objective.DecideSubmit(s, "rep", during) }, "period_not_ended"},
		{"submit by someone else", func() ([]domain.Event, error) { return objective.DecideSubmit(s, "rep2", after) }, "forbidden"},
		{"validate before submission", func() ([]domain.Event, error) { return objective.DecideValidate(s, "mgr", after) }, "invalid_state"},
		{"submit when it ended", func() ([]domain.Event, error) { return objective.DecideSubmit(s, "rep", after) }, ""},
	}
	for _, tc := range tests {
		_, err := tc.run()
		if tc.withError == "" && err != nil || tc.withError != "" && !errors.Is(err, &domain.Error{Code: tc.withError}) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.withError)
		}
	}
	sub, _ := objective.DecideSubmit(s, "rep", after)
	s = objective.Evolve(s, sub[0])
	if _, err := objective.DecideValidate(s, "rep", after); !errors.Is(err, &domain.Error{Code: "self_approval"}) {
		t.Fatalf("self validation: %v", err)
	}
	rej, err := objective.DecideReject(s, "mgr", "recount", after)
	if err != nil {
		t.Fatal(err)
	}
	s = objective.Evolve(s, rej[0])
	if _, err := objective.DecideSubmit(s, "rep", after); err != nil {
		t.Fatalf("resubmit after rejection: %v", err)
	}
}

func TestSetTarget(t *testing.T) {
	accepted := []money.Currency{"EUR", "USD"}
	tests := []struct {
		name   string
		target money.Money
		code   string
	}{
		{"EUR", money.New(100, "EUR"), ""},
		{"another accepted currency", money.New(100, "USD"), ""},
		{"at the bound", money.New(money.MaxAmount, "EUR"), ""},
		{"beyond the bound", money.New(money.MaxAmount+1, "EUR"), "amount_out_of_range"},
		{"zero", money.New(0, "EUR"), "invalid_amount"},
		{"a currency not accepted", money.New(100, "GBP"), "currency_not_accepted"},
		{"no currency at all", money.New(100, "ZZZ"), "invalid_currency"},
	}
	for _, tc := range tests {
		_, err := objective.DecideSet(objective.State{}, objective.Set{ObjectiveID: "o", Assignee: "rep", Period: "2026-Q3",
			Metric: "revenue", Target: tc.target, By: "mgr"}, accepted)
		if tc.code == "" && err != nil || tc.code != "" && !errors.Is(err, &domain.Error{Code: tc.code}) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.code)
		}
	}
}
