// Package entitlement compiles the catalogue of assistance programmes (reference
// data) with CEL and evaluates it for a household: which programmes its record
// says it may qualify for, and why in words. It is pure: no I/O, no clock.
//
// A rule is a CEL expression over the facts a household's record holds, declared
// below as CEL variables (Facts lists them); a rule that names anything else does
// not compile.
package entitlement

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"

	"github.com/tierlink/tierlink/domain"
)

// ErrBadRule means a programme's rule does not compile, names an unknown fact, or
// is not boolean.
var ErrBadRule = errors.New("bad eligibility rule")

// The facts a rule may name, each a CEL variable.
const (
	// FactGroups is the household's target groups: list(string).
	FactGroups = "groups"
	// FactHardship is the hardship score, 0 to 100: int.
	FactHardship = "hardship"
	// FactCommunity, FactStreet and FactDistrict are the codes of the household's
	// home areas: string.
	FactCommunity = "community"
	FactStreet    = "street"
	FactDistrict  = "district"
	// FactNonLocal is whether the household is a non-local resident (its target
	// groups hold non_local_resident): bool.
	FactNonLocal = "nonlocal"
	// FactNeeds is the categories of the household's open needs: list(string).
	FactNeeds = "needs"
)

// Facts lists every fact a rule may name with its CEL type: those above, and each
// assessment dimension (household_structure, income, …) as an int from 0 (no
// difficulty) to domain.MaxLevel (severe).
func Facts() map[string]string {
	out := map[string]string{
		FactGroups: "list(string)", FactHardship: "int", FactCommunity: "string", FactStreet: "string",
		FactDistrict: "string", FactNonLocal: "bool", FactNeeds: "list(string)",
	}
	for _, d := range domain.AllDimensions() {
		out[string(d)] = "int"
	}
	return out
}

// costLimit bounds the work one rule may do in one evaluation.
const costLimit = 10_000

var env = func() *cel.Env {
	opts := []cel.EnvOption{
		cel.Variable(FactGroups, cel.ListType(cel.StringType)),
		cel.Variable(FactHardship, cel.IntType),
		cel.Variable(FactCommunity, cel.StringType),
		cel.Variable(FactStreet, cel.StringType),
		cel.Variable(FactDistrict, cel.StringType),
		cel.Variable(FactNonLocal, cel.BoolType),
		cel.Variable(FactNeeds, cel.ListType(cel.StringType)),
	}
	for _, d := range domain.AllDimensions() {
		opts = append(opts, cel.Variable(string(d), cel.IntType))
	}
	e, err := cel.NewEnv(opts...)
	if err != nil {
		panic(err) // the declarations above are fixed
	}
	return e
}()

// RuleError says which programme's rule is wrong, where (line and column, from 1)
// and why.
type RuleError struct {
	// Index is the programme's place in the catalogue.
	Index     int
	Programme string
	Line      int
	Column    int
	Message   string
}

// Field names the rule in the publication: programmes/<i>/rule.
func (e *RuleError) Field() string { return "programmes/" + strconv.Itoa(e.Index) + "/rule" }

// Error names the programme and the place of the error.
func (e *RuleError) Error() string {
	return fmt.Sprintf("programme %s: rule at %d:%d: %s", e.Programme, e.Line, e.Column, e.Message)
}

// Unwrap makes errors.Is(err, ErrBadRule) true.
func (e *RuleError) Unwrap() error { return ErrBadRule }

// Catalogue is the compiled catalogue; it is read-only, so safe for concurrent use.
type Catalogue struct {
	programmes []compiled
}

type compiled struct {
	programme domain.Programme
	program   cel.Program
}

// Compile type-checks every programme's rule against the declared facts and
// returns the catalogue, or every rule's first error as *RuleError (joined).
func Compile(ps []domain.Programme) (*Catalogue, error) {
	c := &Catalogue{}
	var errs []error
	for i, p := range ps {
		prg, err := compile(i, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.programmes = append(c.programmes, compiled{programme: p, program: prg})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func compile(i int, p domain.Programme) (cel.Program, error) {
	fail := func(line, col int, msg string) error {
		return &RuleError{Index: i, Programme: p.Code, Line: max(line, 1), Column: max(col, 1), Message: msg}
	}
	if strings.TrimSpace(p.Rule) == "" {
		return nil, fail(1, 1, "is empty")
	}
	ast, iss := env.Compile(p.Rule)
	if iss != nil && iss.Err() != nil {
		es := iss.Errors()
		if len(es) == 0 {
			return nil, fail(1, 1, iss.Err().Error())
		}
		first := es[0]
		// CEL counts columns from 0.
		return nil, fail(first.Location.Line(), first.Location.Column()+1, first.Message)
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fail(1, 1, fmt.Sprintf("must be true or false, not %s", ast.OutputType()))
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		return nil, fail(1, 1, err.Error())
	}
	return prg, nil
}

// Household is the facts of one household that rules read.
type Household struct {
	Groups     []string
	Assessment map[string]int
	Hardship   int
	Community  string
	Street     string
	District   string
	Needs      []string
}

// FactsOf returns the facts a household's record holds.
func FactsOf(h domain.Household) Household {
	f := Household{Hardship: h.Hardship, Community: h.Community, Street: h.Street, District: h.District,
		Groups: []string{}, Needs: []string{}, Assessment: map[string]int{}}
	for _, g := range h.TargetGroups {
		f.Groups = append(f.Groups, string(g))
	}
	for d, v := range h.Assessment {
		f.Assessment[string(d)] = v
	}
	for cat := range h.OpenNeeds {
		f.Needs = append(f.Needs, cat)
	}
	slices.Sort(f.Needs)
	return f
}

func (f Household) activation() map[string]any {
	nonlocal := false
	for _, g := range f.Groups {
		nonlocal = nonlocal || g == string(domain.GroupNonLocal)
	}
	groups, needs := f.Groups, f.Needs
	if groups == nil {
		groups = []string{}
	}
	if needs == nil {
		needs = []string{}
	}
	vars := map[string]any{
		FactGroups: groups, FactHardship: int64(f.Hardship), FactCommunity: f.Community, FactStreet: f.Street,
		FactDistrict: f.District, FactNonLocal: nonlocal, FactNeeds: needs,
	}
	for _, d := range domain.AllDimensions() {
		vars[string(d)] = int64(f.Assessment[string(d)])
	}
	return vars
}

// Result is what one programme's rule says of a household.
type Result struct {
	Programme domain.Programme
	Eligible  bool
	// Err is why the rule could not be evaluated (for instance its cost limit); the
	// household is then not counted eligible.
	Err error
}

// Evaluate runs every programme's rule for a household, in catalogue order.
func (c *Catalogue) Evaluate(f Household) []Result {
	if c == nil {
		return nil
	}
	vars := f.activation()
	out := make([]Result, 0, len(c.programmes))
	for _, p := range c.programmes {
		out = append(out, evaluate(p, vars))
	}
	return out
}

func evaluate(p compiled, vars map[string]any) (r Result) {
	r.Programme = p.programme
	defer func() {
		if x := recover(); x != nil {
			r.Eligible, r.Err = false, fmt.Errorf("programme %s: rule failed: %v", p.programme.Code, x)
		}
	}()
	val, _, err := p.program.Eval(vars)
	if err != nil {
		r.Err = fmt.Errorf("programme %s: %w", p.programme.Code, err)
		return r
	}
	b, ok := val.Value().(bool)
	r.Eligible = ok && b
	return r
}
