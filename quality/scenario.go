// Package quality measures how well the matcher shares supply (issue 12): it
// generates seeded scenarios on the Changning geography, plays them through the
// matcher and two plain online baselines, and compares each outcome with the exact
// offline optimum (package allocation). It is pure: no network, no Redis, no clock.
//
// In a scenario every proposal is accepted at once and no service completes within
// the month, so a unit once proposed is consumed: the offline optimum is a maximum
// weight b-matching of needs to offers.
package quality

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/tierlink/tierlink/demo"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/reference"
)

// Regime is a shape of supply and demand a scenario is drawn in.
type Regime string

// The regimes.
const (
	// Balanced: standing offers whose capacity is about the demand of each category.
	Balanced Regime = "balanced"
	// Scarce: standing offers for about half the demand of each category.
	Scarce Regime = "scarce"
	// VeryScarce: standing offers for about a quarter of the demand, some categories
	// much scarcer than others.
	VeryScarce Regime = "very-scarce"
	// Interleaved: offers and needs posted interleaved over the days, for about
	// 65 % of the demand.
	Interleaved Regime = "interleaved"
	// SupplyAfterDemand: most needs in the first days, most supply posted later, for
	// about 70 % of the demand.
	SupplyAfterDemand Regime = "supply-after-demand"
)

// Regimes lists every regime in the order reports show them.
func Regimes() []Regime {
	return []Regime{Balanced, Scarce, VeryScarce, Interleaved, SupplyAfterDemand}
}

// ParseRegime returns the regime of a name.
func ParseRegime(name string) (Regime, error) {
	for _, r := range Regimes() {
		if string(r) == name {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown regime %q (balanced, scarce, very-scarce, interleaved, supply-after-demand)", name)
}

// Days is how many days a scenario lasts.
const Days = 30

// MinNeeds and MaxNeeds bound the needs of a scenario.
const (
	MinNeeds = 50
	MaxNeeds = 200_000
)

// cst is China Standard Time, the district's time zone.
var cst = time.FixedZone("CST", 8*3600)

// start is when every scenario starts: midnight of a Monday, China Standard Time.
var start = time.Date(2026, 3, 2, 0, 0, 0, 0, cst)

// Need is one need of a scenario, with what matching needs of its household.
type Need struct {
	ID         string
	Household  string
	Community  string
	Street     string
	Category   string
	Urgency    domain.Urgency
	Hardship   int
	Groups     []domain.TargetGroup
	Registered time.Time
	// StartTier is the tier the matcher starts it at: the community, or the street
	// when its community does not link the category.
	StartTier int
}

// Offer is one offer of a scenario.
type Offer struct {
	ID          string
	Provider    string
	Category    string
	Capacity    int
	Scope       domain.Scope
	Eligibility domain.Eligibility
	// Posted is when it is posted; ValidFrom is Posted or later; ValidUntil is zero
	// for an offer with no end.
	Posted, ValidFrom, ValidUntil time.Time
}

// Scenario is one seeded district month, not changed once generated: its reference
// data, its needs in order of registration and its offers in order of posting.
type Scenario struct {
	Regime    Regime
	Seed      uint64
	Reference *domain.Reference
	District  string
	// Start and End bound the scenario: End is Days days after Start.
	Start, End time.Time
	Needs      []Need
	Offers     []Offer
	// Target is the capacity ÷ demand intended for each category.
	Target map[string]float64
	// fit lists, per need, the offers (by index, in posting order) that fit it at
	// some time at or after its registration within the scenario.
	fit [][]int32
}

// Config says which scenario to generate.
type Config struct {
	Regime Regime
	// Needs is how many needs are registered (MinNeeds to MaxNeeds).
	Needs int
	Seed  uint64
}

// Generate draws the scenario of a configuration, the same each time: households
// drawn as the demo draws them on its Changning district of the seed, registered in
// the regime's pattern, and offers in every scope for the regime's share of each
// category's demand.
func Generate(cfg Config) (*Scenario, error) {
	ri := slices.Index(Regimes(), cfg.Regime)
	if ri < 0 {
		return nil, fmt.Errorf("generate: unknown regime %q", cfg.Regime)
	}
	if cfg.Needs < MinNeeds || cfg.Needs > MaxNeeds {
		return nil, fmt.Errorf("generate: needs from %d to %d, got %d", MinNeeds, MaxNeeds, cfg.Needs)
	}
	base, err := reference.Default()
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	w, err := demo.DrawnWorld(base, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	sc := &Scenario{Regime: cfg.Regime, Seed: cfg.Seed, Reference: w.Reference, District: demo.District,
		Start: start, End: start.AddDate(0, 0, Days)}
	// The households are the same in every regime of a seed; when they register, and
	// the supply, depend on the regime.
	houses := rand.New(rand.NewPCG(cfg.Seed, 0x6e65656473)) // "needs"
	times := rand.New(rand.NewPCG(cfg.Seed, 0x74696d6500+uint64(ri)))
	supply := rand.New(rand.NewPCG(cfg.Seed, 0x737570706c00+uint64(ri)))
	if err := sc.drawNeeds(houses, times, w.Communities(), cfg.Needs); err != nil {
		return nil, err
	}
	sc.Target = targets(cfg.Regime, supply, sc.Demand())
	if err := sc.drawOffers(supply); err != nil {
		return nil, err
	}
	sc.fit = sc.fitting()
	return sc, nil
}

// drawNeeds draws households until there are n needs, each household's needs
// registered together, and numbers the needs in order of registration.
func (sc *Scenario) drawNeeds(houses, times *rand.Rand, communities []string, n int) error {
	type household struct {
		demo.Household
		at time.Time
	}
	var hs []household
	for count := 0; count < n; {
		h := demo.DrawHousehold(houses, communities)
		if len(h.Needs) > n-count {
			h.Needs = h.Needs[:n-count]
		}
		count += len(h.Needs)
		hs = append(hs, household{Household: h})
	}
	for i := range hs {
		day := sc.needDay(times)
		hs[i].at = businessTime(times, day)
	}
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].at.Before(hs[j].at) })
	for i, h := range hs {
		com, err := sc.Reference.Geography.Community(h.Community)
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		hardship := domain.HardshipScore(h.Assessment, h.Groups, sc.Reference.Policy.Hardship)
		for _, np := range h.Needs {
			tier := domain.TierCommunity
			if !com.CanLink(np.Category) {
				tier = domain.TierStreet
			}
			sc.Needs = append(sc.Needs, Need{
				ID: fmt.Sprintf("n%06d", len(sc.Needs)+1), Household: fmt.Sprintf("h%06d", i+1),
				Community: com.Code, Street: com.Street, Category: np.Category, Urgency: np.Urgency,
				Hardship: hardship, Groups: h.Groups, Registered: h.at, StartTier: tier,
			})
		}
	}
	return nil
}

// needDay draws the day a household registers: any day of the month, weekends a
// third as busy, or for supply after demand mostly the first three days.
func (sc *Scenario) needDay(rng *rand.Rand) int {
	if sc.Regime == SupplyAfterDemand {
		if rng.Float64() < 0.8 {
			return weekDay(rng, 0, 3)
		}
		return weekDay(rng, 3, Days)
	}
	return weekDay(rng, 0, Days)
}

// weekDay draws a day in [from, to), a weekend day a third as likely as a weekday.
func weekDay(rng *rand.Rand, from, to int) int {
	total := 0.0
	for d := from; d < to; d++ {
		total += dayWeight(d)
	}
	x := rng.Float64() * total
	for d := from; d < to; d++ {
		if x -= dayWeight(d); x < 0 {
			return d
		}
	}
	return to - 1
}

func dayWeight(day int) float64 {
	switch start.AddDate(0, 0, day).Weekday() {
	case time.Saturday, time.Sunday:
		return 1
	}
	return 3
}

// businessTime draws a second of a day's office hours, 08:00 to 18:00 China time.
func businessTime(rng *rand.Rand, day int) time.Time {
	return start.AddDate(0, 0, day).Add(8*time.Hour + time.Duration(rng.IntN(10*3600))*time.Second)
}

// Demand counts the needs of each category.
func (sc *Scenario) Demand() map[string]int {
	out := map[string]int{}
	for _, n := range sc.Needs {
		out[n.Category]++
	}
	return out
}

// Capacity sums the capacity of each category's offers.
func (sc *Scenario) Capacity() map[string]int {
	out := map[string]int{}
	for _, o := range sc.Offers {
		out[o.Category] += o.Capacity
	}
	return out
}

// Value is a need's hardship-weighted priority: its hardship plus the policy's
// points for its urgency.
func (sc *Scenario) Value(need int) int64 {
	n := sc.Needs[need]
	return int64(n.Hardship + sc.Reference.Policy.UrgencyPoints[n.Urgency])
}

// MaxWait is the bound on waiting of the scenario's policy (Allocation.MaxWait);
// 0 for none.
func (sc *Scenario) MaxWait() time.Duration {
	if a := sc.Reference.Policy.Allocation; a != nil {
		return time.Duration(a.MaxWait)
	}
	return 0
}

// targets returns the capacity ÷ demand the regime intends for each category.
func targets(r Regime, rng *rand.Rand, demand map[string]int) map[string]float64 {
	cats := make([]string, 0, len(demand))
	for c := range demand {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	out := map[string]float64{}
	flat := map[Regime]float64{Balanced: 1, Scarce: 0.5, Interleaved: 0.65, SupplyAfterDemand: 0.7}
	if r != VeryScarce {
		for _, c := range cats {
			out[c] = flat[r]
		}
		return out
	}
	// Very scarce: multipliers spread evenly in log space from ¼ to 4 over the
	// categories in a random order, scaled so that the whole is a quarter of demand;
	// no category gets more than its demand.
	const whole = 0.25
	perm := rng.Perm(len(cats))
	mult := map[string]float64{}
	for i, c := range cats {
		x := 0.0
		if len(cats) > 1 {
			x = 2*float64(perm[i])/float64(len(cats)-1) - 1
		}
		mult[c] = math.Pow(4, x)
	}
	total := 0.0
	for _, c := range cats {
		total += float64(demand[c])
	}
	capped := map[string]bool{}
	for range 5 {
		budget, weight := whole*total, 0.0
		for _, c := range cats {
			if capped[c] {
				budget -= float64(demand[c])
			} else {
				weight += mult[c] * float64(demand[c])
			}
		}
		again := false
		for _, c := range cats {
			if capped[c] {
				out[c] = 1
				continue
			}
			out[c] = budget * mult[c] / weight
			if out[c] > 1 {
				capped[c], again = true, true
			}
		}
		if !again {
			break
		}
	}
	for c, x := range out {
		out[c] = min(x, 1)
	}
	return out
}

// Caps on how many offers share a category's capacity at each scope.
const (
	maxDistrictOffers  = 10
	maxStreetOffers    = 4 // per street
	maxCommunityOffers = 2 // per community
)

// drawOffers draws each category's offers: its capacity (the regime's share of its
// demand) split between district offers, street offers (streets get it roughly in
// proportion to their demand) and community offers in communities that link the
// category themselves (some get none); eligibility and validity drawn per offer.
func (sc *Scenario) drawOffers(rng *rand.Rand) error {
	geo := sc.Reference.Geography
	district := geo.Districts()[0]
	demand := sc.Demand()
	byStreet := map[[2]string]int{}
	byCommunity := map[[2]string]int{}
	for _, n := range sc.Needs {
		byStreet[[2]string{n.Category, n.Street}]++
		byCommunity[[2]string{n.Category, n.Community}]++
	}
	var offers []Offer
	for _, cat := range sc.Reference.Taxonomy.Codes() {
		if demand[cat] == 0 {
			continue
		}
		total := max(1, int(math.Round(sc.Target[cat]*float64(demand[cat]))))
		var linking []domain.CommunityNode
		for _, st := range district.Streets {
			for _, c := range st.Communities {
				if slices.Contains(c.Capabilities, cat) {
					linking = append(linking, c)
				}
			}
		}
		s1 := 0.0
		if len(linking) > 0 {
			s1 = 0.15 + 0.2*rng.Float64()
		}
		s2 := 0.3 + 0.2*rng.Float64()
		u1 := int(math.Round(float64(total) * s1))
		u2 := int(math.Round(float64(total) * s2))
		u3 := total - u1 - u2
		typ := demo.TypicalCapacity(cat)
		plan := func(tier int, area string, units, size, most int) {
			if units <= 0 {
				return
			}
			count := min(units, max(1, min(most, (units+size-1)/size)))
			for _, c := range apportion(units, randomWeights(rng, count, 0.5, 1.5)) {
				offers = append(offers, Offer{Category: cat, Capacity: c, Scope: domain.Scope{Tier: tier, Area: area},
					Provider: fmt.Sprintf("%s-%s", domain.TierName(tier), area)})
			}
		}
		plan(domain.TierDistrict, district.Code, u3, 3*typ, maxDistrictOffers)
		weights := make([]float64, len(district.Streets))
		for i, st := range district.Streets {
			weights[i] = (float64(byStreet[[2]string{cat, st.Code}]) + 0.5) * (0.4 + 1.2*rng.Float64())
		}
		for i, units := range apportion(u2, weights) {
			plan(domain.TierStreet, district.Streets[i].Code, units, typ, maxStreetOffers)
		}
		weights = make([]float64, len(linking))
		for i, c := range linking {
			if rng.Float64() < 0.6 {
				weights[i] = (float64(byCommunity[[2]string{cat, c.Code}]) + 0.25) * 2 * rng.Float64()
			}
		}
		for i, units := range apportion(u1, weights) {
			plan(domain.TierCommunity, linking[i].Code, units, max(1, typ/2), maxCommunityOffers)
		}
	}
	for i := range offers {
		sc.drawTerms(rng, &offers[i])
	}
	sort.SliceStable(offers, func(i, j int) bool { return offers[i].Posted.Before(offers[j].Posted) })
	for i := range offers {
		offers[i].ID = fmt.Sprintf("o%05d", i+1)
	}
	sc.Offers = offers
	return nil
}

// drawTerms draws an offer's eligibility (more restricted the wider its scope),
// when it is posted (by the regime), whether it starts later, and whether it ends.
func (sc *Scenario) drawTerms(rng *rand.Rand, o *Offer) {
	restricted, local := map[int]float64{1: 0.05, 2: 0.2, 3: 0.35}[o.Scope.Tier], map[int]float64{1: 0.1, 2: 0.1, 3: 0.15}[o.Scope.Tier]
	if groups := demo.GroupsNeeding(o.Category); len(groups) > 0 && rng.Float64() < restricted {
		for _, i := range rng.Perm(len(groups))[:1+rng.IntN(min(3, len(groups)))] {
			o.Eligibility.TargetGroups = append(o.Eligibility.TargetGroups, groups[i])
		}
	}
	o.Eligibility.LocalResidentsOnly = rng.Float64() < local
	o.Posted = sc.Start.Add(7 * time.Hour) // standing offers, before the first household
	switch sc.Regime {
	case Interleaved:
		o.Posted = businessTime(rng, weekDay(rng, 0, Days))
	case SupplyAfterDemand:
		if rng.Float64() < 0.9 {
			o.Posted = businessTime(rng, weekDay(rng, 2, Days))
		}
	}
	o.ValidFrom = o.Posted
	if sc.Regime == Interleaved || sc.Regime == SupplyAfterDemand {
		if rng.Float64() < 0.1 { // posted ahead of its start
			o.ValidFrom = o.Posted.Add(time.Duration(24+rng.IntN(48)) * time.Hour).Truncate(time.Minute)
		}
	}
	if rng.Float64() < 0.25 {
		o.ValidUntil = o.ValidFrom.Add(time.Duration(5*24*60+rng.IntN(35*24*60)) * time.Minute).Truncate(time.Minute)
	}
}

// randomWeights draws n weights uniformly in [lo, hi).
func randomWeights(rng *rand.Rand, n int, lo, hi float64) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = lo + (hi-lo)*rng.Float64()
	}
	return w
}

// apportion splits total into parts proportional to weights by largest remainder
// (ties to the first); all-zero weights split it evenly.
func apportion(total int, weights []float64) []int {
	out := make([]int, len(weights))
	if len(weights) == 0 || total <= 0 {
		return out
	}
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	if sum <= 0 {
		weights = slices.Repeat([]float64{1}, len(weights))
		sum = float64(len(weights))
	}
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, len(weights))
	given := 0
	for i, w := range weights {
		x := float64(total) * w / sum
		out[i] = int(x)
		given += out[i]
		rems[i] = rem{i, x - float64(out[i])}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; given < total; k++ {
		out[rems[k%len(rems)].i]++
		given++
	}
	return out
}
