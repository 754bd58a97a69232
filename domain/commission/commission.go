// Package commission is sales commissions: a manager sets a salesperson's
// plan (a flat rate, or tiers by the achievement of their objective for
// the period); every payment on an invoice credited to them accrues the
// plan's rate of its amount to the quarter it was paid in (a projection,
// never entered by hand); a manager freezes a period's statement with the
// amounts as they stand, another manager approves or rejects it, and
// finance pays it.
//
// Rates are basis points (1/100 of a percent) of collected revenue, ratios
// are ten-thousandths: every computation here is on integers, never on
// floating point.
package commission

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
)

// Stream categories: a salesperson's plan is
// "<tenant>.commissionplan-<user id>"; a statement is
// "<tenant>.commissionstatement-<id>".
const (
	PlanCategory      = "commissionplan"
	StatementCategory = "commissionstatement"
)

// MaxRateBps is the largest rate: 10,000 basis points, all of the amount.
const MaxRateBps int64 = 10_000

// Ratio is an achieved ratio (an objective's progress ÷ its target) in
// ten-thousandths: 1 is 10_000, 0.525 is 5_250. It is exact: tiers are
// compared with the achievement on integers.
type Ratio int64

// RatioOne is the ratio 1: the objective reached.
const RatioOne Ratio = 10_000

// MaxRatio is the largest from_achieved_ratio a tier may start at: 1,000
// times the objective.
const MaxRatio Ratio = 1_000 * RatioOne

// numberPattern is a JSON number with a short exponent.
var numberPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,2})?$`)

// ParseRatio reads a ratio written as a JSON number ("0", "0.8", "1.25",
// "1e0"), naming field when it is not one, has more than 4 decimals, or is
// beyond 0..MaxRatio.
func ParseRatio(field, text string) (Ratio, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return 0, domain.Invalidf(field, "required", "%s is required", field)
	}
	if len(text) > 40 || !numberPattern.MatchString(text) {
		return 0, domain.Invalidf(field, "invalid_ratio", "%s must be a number such as 0.8", field)
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return 0, domain.Invalidf(field, "invalid_ratio", "%s must be a number such as 0.8", field)
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(RatioOne)))
	if !r.IsInt() {
		return 0, domain.Invalidf(field, "invalid_ratio", "%s has at most 4 decimals", field)
	}
	n := r.Num()
	if n.Sign() < 0 || n.Cmp(big.NewInt(int64(MaxRatio))) > 0 {
		return 0, domain.Invalidf(field, "invalid_ratio", "%s must be from 0 to %s", field, MaxRatio)
	}
	return Ratio(n.Int64()), nil
}

// String writes r as a decimal number: "1", "0.525".
func (r Ratio) String() string {
	sign := ""
	n := uint64(r)
	if r < 0 {
		sign, n = "-", uint64(-(r+1))+1
	}
	whole, frac := n/uint64(RatioOne), n%uint64(RatioOne)
	if frac == 0 {
		return sign + strconv.FormatUint(whole, 10)
	}
	return sign + strconv.FormatUint(whole, 10) + "." + strings.TrimRight(fmt.Sprintf("%04d", frac), "0")
}

// MarshalJSON writes r as a JSON number.
func (r Ratio) MarshalJSON() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalJSON reads a JSON number with at most 4 decimals.
func (r *Ratio) UnmarshalJSON(b []byte) error {
	v, err := ParseRatio("from_achieved_ratio", string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Achievement is progress ÷ target truncated to ten-thousandths, as the
// objectives read model computes an objective's achieved ratio; 0 for a
// target that is not positive, and the largest Ratio when the quotient
// does not fit (it is beyond every tier then).
func Achievement(progress, target int64) Ratio {
	if target <= 0 {
		return 0
	}
	n, err := money.MulDiv(progress, int64(RatioOne), target)
	if err != nil {
		if progress < 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return Ratio(n)
}

// ErrInvalidRate is returned by Accrue for a rate beyond 0..MaxRateBps.
var ErrInvalidRate = errors.New("commission: rate beyond 0..10000 basis points")

// Accrue returns amount × rateBps / 10,000 rounded half to even, in the
// amount's minor units: the commission a payment earns. It is computed on
// 128 bits (money.MulDiv), so any amount within ±money.MaxAmount and any
// rate give the exact result, itself within the amount's bound; an amount
// beyond it is money.ErrOutOfRange.
func Accrue(amount money.Money, rateBps int64) (money.Money, error) {
	if rateBps < 0 || rateBps > MaxRateBps {
		return money.Money{}, fmt.Errorf("%w: %d", ErrInvalidRate, rateBps)
	}
	if !money.InRange(amount.Amount) {
		return money.Money{}, money.ErrOutOfRange
	}
	const scale = 10_000
	q, err := money.MulDiv(amount.Amount, rateBps, scale) // toward zero
	if err != nil {
		return money.Money{}, err
	}
	// The remainder of amount × rate ÷ 10,000, with the amount's sign:
	// (amount mod 10,000) × rate is below 10^8, so it cannot overflow.
	r := amount.Amount % scale * rateBps % scale
	if r < 0 {
		r = -r
	}
	if 2*r > scale || (2*r == scale && q%2 != 0) {
		if amount.Amount < 0 {
			q--
		} else {
			q++
		}
	}
	return money.New(q, amount.Currency), nil
}

// PeriodOf is the quarter t falls in, in UTC ("2026-Q4"): the period a
// payment accrues to, the same quarters as objectives'.
func PeriodOf(t time.Time) string {
	t = t.UTC()
	return objective.Period{Year: t.Year(), Quarter: (int(t.Month())-1)/3 + 1}.String()
}
