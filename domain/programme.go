package domain

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnknownProgramme means a programme code is not in the catalogue in force.
var ErrUnknownProgramme = errors.New("unknown programme")

// Programme is one assistance programme of the catalogue (最低生活保障, 医疗救助, …):
// its names, the department responsible, how to apply, and its eligibility rule, a
// CEL expression over a household's facts (package entitlement compiles and checks
// it; the domain keeps it as text).
type Programme struct {
	Code       string `json:"code"`
	Name       Text   `json:"name"`
	Department Text   `json:"department"`
	HowToApply Text   `json:"how_to_apply"`
	// Because says in words why a household the rule admits qualifies.
	Because Text   `json:"because"`
	Rule    string `json:"rule"`
}

// MaxRuleLength bounds a programme's rule.
const MaxRuleLength = 2000

// CheckProgrammes checks a catalogue's programmes on their own (stable unique
// codes, every text in both languages, a rule given), naming each wrong field as
// programmes/<i>/<field>. Whether a rule compiles is checked by package entitlement.
func CheckProgrammes(ps []Programme) error {
	var errs FieldErrors
	seen := map[string]int{}
	for i, p := range ps {
		field := func(f string) string { return "programmes/" + strconv.Itoa(i) + "/" + f }
		switch j, dup := seen[p.Code]; {
		case !codePattern.MatchString(p.Code):
			errs.Add(fieldErr(field("code"), fmt.Errorf("%w: programme code %q must match %s", ErrInvalidReference, p.Code, codePattern)))
		case dup:
			errs.Add(fieldErr(field("code"), fmt.Errorf("%w: programme %s is listed at programmes/%d already", ErrInvalidReference, p.Code, j)))
		default:
			seen[p.Code] = i
		}
		texts := []struct {
			name string
			text Text
		}{{"name", p.Name}, {"department", p.Department}, {"how_to_apply", p.HowToApply}, {"because", p.Because}}
		for _, t := range texts {
			if strings.TrimSpace(t.text.Zh) == "" || strings.TrimSpace(t.text.En) == "" {
				errs.Add(fieldErr(field(t.name), fmt.Errorf("%w: needs zh and en", ErrInvalidReference)))
			}
		}
		switch {
		case strings.TrimSpace(p.Rule) == "":
			errs.Add(fieldErr(field("rule"), fmt.Errorf("%w: is required", ErrInvalidReference)))
		case len(p.Rule) > MaxRuleLength:
			errs.Add(fieldErr(field("rule"), fmt.Errorf("%w: is longer than %d bytes", ErrInvalidReference, MaxRuleLength)))
		}
	}
	return errs.Err()
}

// WithProgrammes returns a copy of r with the catalogue of assistance programmes
// (checked by CheckProgrammes); nil leaves r without one.
func (r *Reference) WithProgrammes(ps []Programme) (*Reference, error) {
	if err := CheckProgrammes(ps); err != nil {
		return nil, err
	}
	next := *r
	next.programmes = append([]Programme(nil), ps...)
	if len(ps) == 0 {
		next.programmes = nil
	}
	return &next, nil
}

// Programmes returns the catalogue in its published order.
func (r *Reference) Programmes() []Programme { return append([]Programme(nil), r.programmes...) }

// Programme returns the programme with that code.
func (r *Reference) Programme(code string) (Programme, error) {
	for _, p := range r.programmes {
		if p.Code == code {
			return p, nil
		}
	}
	return Programme{}, fmt.Errorf("%w: %q", ErrUnknownProgramme, code)
}
