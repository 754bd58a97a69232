package commission_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/commission"
	"github.com/atrium-platform/atrium/domain/money"
)

var at = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func eur(n int64) money.Money { return money.New(n, "EUR") }

func TestAccrueRoundsHalfToEven(t *testing.T) {
	tests := []struct {
		amount, rate, want int64
	}{
		{12_345, 500, 617},   // 617.25
		{10_010, 500, 500},   // 500.5: to the even 500
		{10_030, 500, 502},   // 501.5: to the even 502
		{1, 5_000, 0},        // 0.5
		{3, 5_000, 2},        // 1.5
		{5, 5_000, 2},        // 2.5
		{7, 5_000, 4},        // 3.5
		{-5, 5_000, -2},      // -2.5
		{-3, 5_000, -2},      // -1.5
		{-12_345, 500, -617}, // -617.25
		{-10_030, 500, -502},
		{2_001, 500, 100}, // 100.05
		{2_019, 500, 101}, // 100.95
		{99, 1, 0},        // 0.0099
		{5_000, 1, 0},     // 0.5: to the even 0
		{15_000, 1, 2},    // 1.5: to the even 2
		{12_345, 0, 0},
		{12_345, 10_000, 12_345},
		{0, 700, 0},
		// At the bound: amount × rate is beyond 2^63, the result is exact.
		{money.MaxAmount, 10_000, money.MaxAmount},
		{money.MaxAmount, 9_999, 999_900_000_000_000},
		{money.MaxAmount - 1, 5_000, 500_000_000_000_000}, // ...999.5, to the even ...000
		{money.MaxAmount - 3, 5_000, 499_999_999_999_998}, // ...998.5, to the even ...998
		{-money.MaxAmount, 3_333, -333_300_000_000_000},
	}
	for _, tc := range tests {
		got, err := commission.Accrue(eur(tc.amount), tc.rate)
		if err != nil || got != eur(tc.want) {
			t.Errorf("Accrue(%d, %d) = %v (%v), want %d", tc.amount, tc.rate, got, err, tc.want)
		}
	}
}

func TestAccrueRefusesWhatIsOutOfBounds(t *testing.T) {
	tests := []struct {
		amount, rate int64
		want         error
	}{
		{money.MaxAmount + 1, 1, money.ErrOutOfRange},
		{-money.MaxAmount - 1, 1, money.ErrOutOfRange},
		{math.MaxInt64, 10_000, money.ErrOutOfRange},
		{math.MinInt64, 10_000, money.ErrOutOfRange},
		{100, -1, commission.ErrInvalidRate},
		{100, 10_001, commission.ErrInvalidRate},
	}
	for _, tc := range tests {
		if got, err := commission.Accrue(eur(tc.amount), tc.rate); !errors.Is(err, tc.want) {
			t.Errorf("Accrue(%d, %d) = %v (%v), want %v", tc.amount, tc.rate, got, err, tc.want)
		}
	}
}

// TestAccrueAgreesWithBigArithmetic checks Accrue against math/big over
// amounts across the whole bound.
func TestAccrueAgreesWithBigArithmetic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		a := r.Int64N(2*money.MaxAmount+1) - money.MaxAmount
		if r.IntN(2) == 0 {
			a = r.Int64N(2_000_001) - 1_000_000 // small amounts hit the ties often
		}
		rate := r.Int64N(commission.MaxRateBps + 1)
		got, err := commission.Accrue(eur(a), rate)
		if err != nil {
			t.Fatalf("Accrue(%d, %d): %v", a, rate, err)
		}
		if want := halfEven(a, rate); got.Amount != want {
			t.Fatalf("Accrue(%d, %d) = %d, want %d", a, rate, got.Amount, want)
		}
	}
}

// halfEven is a × rate / 10,000 rounded half to even, with math/big.
func halfEven(a, rate int64) int64 {
	p := new(big.Int).Mul(big.NewInt(a), big.NewInt(rate))
	q, m := new(big.Int).QuoRem(p, big.NewInt(10_000), new(big.Int))
	twice := new(big.Int).Abs(new(big.Int).Mul(m, big.NewInt(2)))
	if c := twice.Cmp(big.NewInt(10_000)); c > 0 || (c == 0 && q.Bit(0) == 1) {
		q.Add(q, big.NewInt(int64(p.Sign())))
	}
	return q.Int64()
}

func TestParseRatio(t *testing.T) {
	tests := []struct {
		text string
		want commission.Ratio
		code string
	}{
		{"0", 0, ""},
		{"1", 10_000, ""},
		{"0.5", 5_000, ""},
		{"1.25", 12_500, ""},
		{"0.0001", 1, ""},
		{"1e0", 10_000, ""},
		{"125e-2", 12_500, ""},
		{"1000", commission.MaxRatio, ""},
		{"1.50000", 15_000, ""},
		{"", 0, "required"},
		{"0.00001", 0, "invalid_ratio"},
		{"-1", 0, "invalid_ratio"},
		{"1000.0001", 0, "invalid_ratio"},
		{`"1"`, 0, "invalid_ratio"},
		{"null", 0, "invalid_ratio"},
		{"01", 0, "invalid_ratio"},
		{"1e400", 0, "invalid_ratio"},
		{"Infinity", 0, "invalid_ratio"},
	}
	for _, tc := range tests {
		got, err := commission.ParseRatio("r", tc.text)
		switch {
		case tc.code == "" && (err != nil || got != tc.want):
			t.Errorf("ParseRatio(%q) = %d (%v), want %d", tc.text, got, err, tc.want)
		case tc.code != "" && !errors.Is(err, &domain.Error{Kind: domain.Invalid, Code: tc.code, Field: ""}):
			t.Errorf("ParseRatio(%q) = %d (%v), want %s", tc.text, got, err, tc.code)
		}
	}
	for r, s := range map[commission.Ratio]string{0: "0", 10_000: "1", 5_250: "0.525", 12_500: "1.25", 1: "0.0001", -5_000: "-0.5"} {
		if r.String() != s {
			t.Errorf("%d written %q, want %q", r, r.String(), s)
		}
	}
}

func TestAchievement(t *testing.T) {
	tests := []struct {
		progress, target int64
		want             commission.Ratio
	}{
		{30_000, 100_000, 3_000},
		{110_000, 100_000, 11_000},
		{2, 3, 6_666}, // truncated, as the objectives read model does
		{5, 0, 0},
		{5, -1, 0},
		{math.MaxInt64, 1, math.MaxInt64}, // does not fit: beyond every tier
	}
	for _, tc := range tests {
		if got := commission.Achievement(tc.progress, tc.target); got != tc.want {
			t.Errorf("Achievement(%d, %d) = %d, want %d", tc.progress, tc.target, got, tc.want)
		}
	}
}

func TestPlanRate(t *testing.T) {
	tiered := commission.Plan{Tiers: []commission.Tier{{0, 300}, {10_000, 600}, {15_000, 800}}}
	tests := []struct {
		plan     commission.Plan
		achieved commission.Ratio
		want     int64
	}{
		{commission.Flat(500), 0, 500},
		{commission.Flat(500), 30_000, 500},
		{tiered, 0, 300},
		{tiered, 9_999, 300},
		{tiered, 10_000, 600},
		{tiered, 14_999, 600},
		{tiered, 15_000, 800},
		{tiered, math.MaxInt64, 800},
		{tiered, -1, 300},
	}
	for _, tc := range tests {
		if got := tc.plan.Rate(tc.achieved); got != tc.want {
			t.Errorf("%+v at %s: %d, want %d", tc.plan, tc.achieved, got, tc.want)
		}
	}
}

func ptr(n int64) *int64 { return &n }

func TestDecideSetPlan(t *testing.T) {
	tier := func(from string, rate int64) commission.TierInput {
		return commission.TierInput{FromAchievedRatio: from, RateBps: ptr(rate)}
	}
	tests := []struct {
		name  string
		cmd   commission.SetPlan
		code  string
		field string
	}{
		{"flat", commission.SetPlan{RateBps: ptr(500)}, "", ""},
		{"flat 0", commission.SetPlan{RateBps: ptr(0)}, "", ""},
		{"flat 100%", commission.SetPlan{RateBps: ptr(10_000)}, "", ""},
		{"tiers", commission.SetPlan{Tiers: []commission.TierInput{tier("0", 300), tier("1", 600)}}, "", ""},
		{"nothing", commission.SetPlan{}, "required", "rate_bps"},
		{"both", commission.SetPlan{RateBps: ptr(1), Tiers: []commission.TierInput{tier("0", 300)}}, "invalid_plan", "tiers"},
		{"negative", commission.SetPlan{RateBps: ptr(-1)}, "invalid_rate", "rate_bps"},
		{"above 100%", commission.SetPlan{RateBps: ptr(10_001)}, "invalid_rate", "rate_bps"},
		{"empty tiers", commission.SetPlan{Tiers: []commission.TierInput{}}, "invalid_tiers", "tiers"},
		{"21 tiers", commission.SetPlan{Tiers: make([]commission.TierInput, 21)}, "invalid_tiers", "tiers"},
		{"not from 0", commission.SetPlan{Tiers: []commission.TierInput{tier("0.1", 300)}}, "invalid_tiers", "tiers[0].from_achieved_ratio"},
		{"decreasing", commission.SetPlan{Tiers: []commission.TierInput{tier("0", 300), tier("1", 600), tier("0.9", 700)}}, "invalid_tiers", "tiers[2].from_achieved_ratio"},
		{"repeated", commission.SetPlan{Tiers: []commission.TierInput{tier("0", 300), tier("0", 600)}}, "invalid_tiers", "tiers[1].from_achieved_ratio"},
		{"no ratio", commission.SetPlan{Tiers: []commission.TierInput{{RateBps: ptr(1)}}}, "required", "tiers[0].from_achieved_ratio"},
		{"no rate", commission.SetPlan{Tiers: []commission.TierInput{{FromAchievedRatio: "0"}}}, "required", "tiers[0].rate_bps"},
		{"tier rate beyond", commission.SetPlan{Tiers: []commission.TierInput{tier("0", 300), tier("2", 10_001)}}, "invalid_rate", "tiers[1].rate_bps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cmd.UserID, tc.cmd.By, tc.cmd.At = "rep", "mgr", at
			evs, err := commission.DecideSetPlan(commission.PlanState{}, tc.cmd)
			if tc.code == "" {
				if err != nil || len(evs) != 1 {
					t.Fatalf("%v (%v)", evs, err)
				}
				return
			}
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.Invalid || de.Code != tc.code || de.Field != tc.field {
				t.Fatalf("%v, want %s on %s", err, tc.code, tc.field)
			}
		})
	}

	t.Run("one's own", func(t *testing.T) {
		_, err := commission.DecideSetPlan(commission.PlanState{}, commission.SetPlan{UserID: "rep", RateBps: ptr(500), By: "rep", At: at})
		if !errors.Is(err, &domain.Error{Kind: domain.Rejected, Code: "self_approval"}) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("the same plan again", func(t *testing.T) {
		c := commission.SetPlan{UserID: "rep", Tiers: []commission.TierInput{tier("0", 300), tier("1.0", 600)}, By: "mgr", At: at}
		evs, _ := commission.DecideSetPlan(commission.PlanState{}, c)
		s := commission.FoldPlan(evs)
		c.Tiers[1].FromAchievedRatio = "1"
		if again, err := commission.DecideSetPlan(s, c); err != nil || len(again) != 0 {
			t.Fatalf("%v (%v)", again, err)
		}
		if changed, err := commission.DecideSetPlan(s, commission.SetPlan{UserID: "rep", RateBps: ptr(300), By: "mgr", At: at}); err != nil || len(changed) != 1 {
			t.Fatalf("%v (%v)", changed, err)
		}
	})
}

// TestPlanSetJSON: a plan's event keeps its ratios as decimal numbers and
// reads back the same.
func TestPlanSetJSON(t *testing.T) {
	e := commission.PlanSet{UserID: "rep", Plan: commission.Plan{Tiers: []commission.Tier{{0, 300}, {12_500, 600}}}, By: "mgr", At: at}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"user_id":"rep","tiers":[{"from_achieved_ratio":0,"rate_bps":300},{"from_achieved_ratio":1.25,"rate_bps":600}],"by":"mgr","at":"2026-11-23T09:00:00Z"}`
	if string(b) != want {
		t.Fatalf("%s\nwant %s", b, want)
	}
	var back commission.PlanSet
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(e.Plan) {
		t.Fatalf("%+v (%v)", back, err)
	}
	flat, _ := json.Marshal(commission.PlanSet{UserID: "rep", Plan: commission.Flat(0)})
	if string(flat) != `{"user_id":"rep","rate_bps":0,"by":"","at":"0001-01-01T00:00:00Z"}` {
		t.Fatalf("a flat plan of 0: %s", flat)
	}
}

func TestPeriodOf(t *testing.T) {
	for in, want := range map[string]string{
		"2026-01-01T00:00:00Z":      "2026-Q1",
		"2026-03-31T23:59:59Z":      "2026-Q1",
		"2026-04-01T00:00:00Z":      "2026-Q2",
		"2026-09-30T23:00:00-02:00": "2026-Q4",
		"2026-12-31T23:59:59Z":      "2026-Q4",
	} {
		tm, _ := time.Parse(time.RFC3339, in)
		if got := commission.PeriodOf(tm); got != want {
			t.Errorf("PeriodOf(%s) = %s, want %s", in, got, want)
		}
	}
}
