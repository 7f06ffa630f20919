package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Urgency says how soon a need must be met.
type Urgency string

// Urgencies.
const (
	UrgencyLow      Urgency = "low"
	UrgencyNormal   Urgency = "normal"
	UrgencyHigh     Urgency = "high"
	UrgencyCritical Urgency = "critical"
)

// Duration is a time.Duration written in JSON as "48h".
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "48h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "48h".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"48h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Deadlines are how long the centre of each tier has to answer a referral.
type Deadlines struct {
	Community Duration `json:"community"`
	Street    Duration `json:"street"`
	District  Duration `json:"district"`
}

// Policy is a district's matching policy, as data: answer deadlines, hardship
// weights, urgency points and aging.
type Policy struct {
	Deadlines Deadlines       `json:"deadlines"`
	Hardship  HardshipWeights `json:"hardship"`
	// UrgencyPoints adds to a need's priority by its urgency.
	UrgencyPoints map[Urgency]int `json:"urgency_points"`
	// AgingPointsPerDay adds to a need's priority for each day it has waited, so
	// that nobody waits forever behind newer, harder cases.
	AgingPointsPerDay int `json:"aging_points_per_day"`
	// Allocation, when set, shares scarce supply by the allocation rules of
	// docs/matching.md (rounds, the least flexible offer first, a bound on waiting).
	// A policy without it keeps the first rules, so a log written before replays
	// as it was decided.
	Allocation *Allocation `json:"allocation,omitempty"`
	// Adviser, when set, holds the rules of the advisers' watch lists and
	// follow-ups; a policy without it keeps DefaultAdviser (AdviserRules).
	Adviser *Adviser `json:"adviser,omitempty"`
}

// Allocation is how a district shares scarce supply (docs/matching.md).
type Allocation struct {
	// Rounds holds, per category ("*" for every other), how long a need may be held
	// for an allocation round where supply is scarce; a category without one (or
	// "0s") is proposed at once.
	Rounds map[string]Duration `json:"rounds,omitempty"`
	// Spare is how many free units beyond the needs competing for them make supply
	// plentiful: a need is proposed at once when the free units that fit it at its
	// tier exceed the competing needs (held or waitlisted) by more than Spare.
	Spare int `json:"spare"`
	// MaxWait bounds waiting: a servable need that has waited longer goes first.
	MaxWait Duration `json:"max_wait"`
}

// Limits of the allocation rules.
const (
	// MaxRound is the longest allocation round a policy may set.
	MaxRound = 7 * 24 * time.Hour
	// MaxSpare is the largest Spare a policy may set.
	MaxSpare = 1000
)

// Validate checks the allocation rules against the taxonomy's categories.
func (a *Allocation) Validate(known func(category string) bool) error {
	for cat, d := range a.Rounds {
		if cat != "*" && !known(cat) {
			return fmt.Errorf("%w: allocation rounds name an unknown category %q", ErrInvalidReference, cat)
		}
		if d < 0 || time.Duration(d) > MaxRound {
			return fmt.Errorf("%w: the allocation round of %q must be between 0s and %s", ErrInvalidReference, cat, MaxRound)
		}
	}
	if a.Spare < 0 || a.Spare > MaxSpare {
		return fmt.Errorf("%w: allocation spare must be 0 to %d", ErrInvalidReference, MaxSpare)
	}
	if a.MaxWait < 0 || time.Duration(a.MaxWait) > 365*24*time.Hour {
		return fmt.Errorf("%w: allocation max_wait must be between 0s (no bound) and 365 days", ErrInvalidReference)
	}
	return nil
}

// Round returns how long a need of a category may be held for an allocation
// round: 0 when its needs are proposed at once.
func (a *Allocation) Round(category string) time.Duration {
	if a == nil {
		return 0
	}
	if d, ok := a.Rounds[category]; ok {
		return time.Duration(d)
	}
	return time.Duration(a.Rounds["*"])
}

// Overdue reports whether a need registered at a time has waited longer than the
// policy's bound by now (never without a bound).
func (a *Allocation) Overdue(registered, now time.Time) bool {
	return a != nil && a.MaxWait > 0 && now.Sub(registered) > time.Duration(a.MaxWait)
}

// Validate checks the policy.
func (p Policy) Validate() error {
	for tier, d := range map[string]Duration{"community": p.Deadlines.Community, "street": p.Deadlines.Street, "district": p.Deadlines.District} {
		if time.Duration(d) < time.Minute || time.Duration(d) > 90*24*time.Hour {
			return fmt.Errorf("%w: the %s deadline must be between 1m and 90 days", ErrInvalidReference, tier)
		}
	}
	if err := p.Hardship.Validate(); err != nil {
		return err
	}
	for _, u := range []Urgency{UrgencyLow, UrgencyNormal, UrgencyHigh, UrgencyCritical} {
		if v, ok := p.UrgencyPoints[u]; !ok || v < 0 || v > 1000 {
			return fmt.Errorf("%w: urgency points of %q must be set, 0 to 1000", ErrInvalidReference, u)
		}
	}
	if len(p.UrgencyPoints) != 4 {
		return fmt.Errorf("%w: urgency points name an unknown urgency", ErrInvalidReference)
	}
	if p.AgingPointsPerDay < 0 || p.AgingPointsPerDay > 1000 {
		return fmt.Errorf("%w: aging points per day must be 0 to 1000", ErrInvalidReference)
	}
	if p.Adviser != nil {
		return p.Adviser.Validate()
	}
	return nil
}

// Deadline returns how long the centre of a tier has to answer.
func (p Policy) Deadline(tier int) time.Duration {
	switch tier {
	case TierCommunity:
		return time.Duration(p.Deadlines.Community)
	case TierStreet:
		return time.Duration(p.Deadlines.Street)
	default:
		return time.Duration(p.Deadlines.District)
	}
}

// CheckUrgency refuses an unknown urgency.
func CheckUrgency(field string, u Urgency) error {
	switch u {
	case UrgencyLow, UrgencyNormal, UrgencyHigh, UrgencyCritical:
		return nil
	}
	return fieldErrf(field, "%q is not an urgency (low, normal, high, critical)", u)
}

// usPerDay is the number of microseconds in a day.
const usPerDay = int64(24 * time.Hour / time.Microsecond)

// PriorityKey orders needs that compete for scarce capacity: the higher key goes
// first. A need's priority at time T is
//
//	hardship + urgency points + AgingPointsPerDay × days waited since registration,
//
// and since every need ages at the same rate, the order between two needs never
// changes with T: the key is that priority scaled to microseconds minus the aging
// of the registration time, (hardship + urgency)·µs/day − aging·registered(µs).
// Ties are broken by registration time, then need id (see Rank).
func (p Policy) PriorityKey(hardship int, u Urgency, registered time.Time) int64 {
	points := int64(hardship + p.UrgencyPoints[u])
	return points*usPerDay - int64(p.AgingPointsPerDay)*registered.UnixMicro()
}

// Rank is what orders needs that compete for scarce capacity (DESIGN, matching rule
// 3): a need's priority key (Policy.PriorityKey), its registration time and its id.
type Rank struct {
	Key        int64
	Registered time.Time
	NeedID     string
}

// Before reports whether r goes before o: the higher priority key first, then the
// need registered first, then the smaller id (so that no two needs tie).
func (r Rank) Before(o Rank) bool {
	switch {
	case r.Key != o.Key:
		return r.Key > o.Key
	case !r.Registered.Equal(o.Registered):
		return r.Registered.Before(o.Registered)
	}
	return r.NeedID < o.NeedID
}

// PriorityAt is a need's priority in points at time now (for explanations).
func (p Policy) PriorityAt(hardship int, u Urgency, registered, now time.Time) int {
	days := int(now.Sub(registered) / (24 * time.Hour))
	return hardship + p.UrgencyPoints[u] + p.AgingPointsPerDay*max(days, 0)
}
