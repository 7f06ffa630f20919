package domain

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Errors returned by the reference data.
var (
	// ErrUnknownCategory means a service category code is not in the taxonomy.
	ErrUnknownCategory = errors.New("unknown service category")
	// ErrUnknownCommunity means a community code is not in the geography.
	ErrUnknownCommunity = errors.New("unknown community")
	// ErrUnknownArea means an area code is not one of its tier.
	ErrUnknownArea = errors.New("unknown area")
	// ErrInvalidReference means reference data breaks one of its rules.
	ErrInvalidReference = errors.New("invalid reference data")
)

// codePattern is the shape of every stable code: it is used in Redis keys and hash tags.
var codePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Text is a label in both of tierlink's languages.
type Text struct {
	Zh string `json:"zh"`
	En string `json:"en"`
}

// Group is one of the four groups of the service taxonomy.
type Group string

// The four groups of the paper's taxonomy.
const (
	GroupBasic       Group = "basic_safeguard"
	GroupCare        Group = "care"
	GroupDevelopment Group = "development"
	GroupSupport     Group = "support_protection"
)

// Category is one kind of service households may need and providers may offer.
type Category struct {
	Code  string `json:"code"`
	Group Group  `json:"group"`
	Label Text   `json:"label"`
}

// Taxonomy is the set of service categories.
type Taxonomy struct {
	byCode map[string]Category
	codes  []string
}

// NewTaxonomy validates categories (stable codes, known group, both labels) and indexes them.
func NewTaxonomy(cats []Category) (*Taxonomy, error) {
	t := &Taxonomy{byCode: map[string]Category{}}
	for _, c := range cats {
		if !codePattern.MatchString(c.Code) {
			return nil, fmt.Errorf("%w: category code %q must match %s", ErrInvalidReference, c.Code, codePattern)
		}
		switch c.Group {
		case GroupBasic, GroupCare, GroupDevelopment, GroupSupport:
		default:
			return nil, fmt.Errorf("%w: category %s has unknown group %q", ErrInvalidReference, c.Code, c.Group)
		}
		if c.Label.Zh == "" || c.Label.En == "" {
			return nil, fmt.Errorf("%w: category %s needs zh and en labels", ErrInvalidReference, c.Code)
		}
		if _, dup := t.byCode[c.Code]; dup {
			return nil, fmt.Errorf("%w: category %s listed twice", ErrInvalidReference, c.Code)
		}
		t.byCode[c.Code] = c
		t.codes = append(t.codes, c.Code)
	}
	sort.Strings(t.codes)
	return t, nil
}

// Category returns the category with that code.
func (t *Taxonomy) Category(code string) (Category, error) {
	c, ok := t.byCode[code]
	if !ok {
		return Category{}, fmt.Errorf("%w: %q", ErrUnknownCategory, code)
	}
	return c, nil
}

// Codes lists every category code in sorted order.
func (t *Taxonomy) Codes() []string { return append([]string(nil), t.codes...) }

// Categories lists every category in the order of Codes.
func (t *Taxonomy) Categories() []Category {
	cats := make([]Category, 0, len(t.codes))
	for _, code := range t.codes {
		cats = append(cats, t.byCode[code])
	}
	return cats
}

// Community is a leaf of the geography with the street and district above it.
type Community struct {
	Code     string `json:"code"`
	Name     Text   `json:"name"`
	Street   string `json:"street"`
	District string `json:"district"`
	// Capabilities lists the categories the community's centre links itself; a need
	// of another category starts at the street tier.
	Capabilities []string `json:"capabilities"`
}

// CanLink reports whether the community's centre links a category itself.
func (c Community) CanLink(category string) bool {
	for _, x := range c.Capabilities {
		if x == category {
			return true
		}
	}
	return false
}

// StreetNode is a street (sub-district) or town with its communities.
type StreetNode struct {
	Code        string          `json:"code"`
	Name        Text            `json:"name"`
	Communities []CommunityNode `json:"communities"`
}

// CommunityNode is a community as listed under its street.
type CommunityNode struct {
	Code         string   `json:"code"`
	Name         Text     `json:"name"`
	Capabilities []string `json:"capabilities"`
}

// DistrictNode is the root of one district's tree; a district is a partition of the log.
type DistrictNode struct {
	Code    string       `json:"code"`
	Name    Text         `json:"name"`
	Streets []StreetNode `json:"streets"`
}

// Geography is the district → street → community tree.
type Geography struct {
	districts   []DistrictNode
	communities map[string]Community
	streets     map[string]string // street → district
}

// NewGeography validates the trees (unique stable codes, both names) and indexes communities.
func NewGeography(districts []DistrictNode) (*Geography, error) {
	g := &Geography{communities: map[string]Community{}, streets: map[string]string{}}
	seen := map[string]bool{}
	check := func(kind, code string, name Text) error {
		if !codePattern.MatchString(code) {
			return fmt.Errorf("%w: %s code %q must match %s", ErrInvalidReference, kind, code, codePattern)
		}
		if name.Zh == "" || name.En == "" {
			return fmt.Errorf("%w: %s %s needs zh and en names", ErrInvalidReference, kind, code)
		}
		if seen[code] {
			return fmt.Errorf("%w: code %s used twice", ErrInvalidReference, code)
		}
		seen[code] = true
		return nil
	}
	for _, d := range districts {
		if err := check("district", d.Code, d.Name); err != nil {
			return nil, err
		}
		for _, s := range d.Streets {
			if err := check("street", s.Code, s.Name); err != nil {
				return nil, err
			}
			g.streets[s.Code] = d.Code
			for _, c := range s.Communities {
				if err := check("community", c.Code, c.Name); err != nil {
					return nil, err
				}
				g.communities[c.Code] = Community{Code: c.Code, Name: c.Name, Street: s.Code, District: d.Code, Capabilities: c.Capabilities}
			}
		}
	}
	g.districts = districts
	return g, nil
}

// Community returns the community with that code, with its street and district.
func (g *Geography) Community(code string) (Community, error) {
	c, ok := g.communities[code]
	if !ok {
		return Community{}, fmt.Errorf("%w: %q", ErrUnknownCommunity, code)
	}
	return c, nil
}

// AreaOf returns the code of a community's area at a tier: the community itself,
// its street or its district.
func (c Community) AreaOf(tier int) string {
	switch tier {
	case TierCommunity:
		return c.Code
	case TierStreet:
		return c.Street
	}
	return c.District
}

// DistrictOf returns the district of an area at a tier, or an error if the area
// is not one of that tier.
func (g *Geography) DistrictOf(tier int, area string) (string, error) {
	switch tier {
	case TierCommunity:
		if c, ok := g.communities[area]; ok {
			return c.District, nil
		}
	case TierStreet:
		if d, ok := g.streets[area]; ok {
			return d, nil
		}
	case TierDistrict:
		for _, d := range g.districts {
			if d.Code == area {
				return d.Code, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no %s %q", ErrUnknownArea, TierName(tier), area)
}

// Districts returns the district trees.
func (g *Geography) Districts() []DistrictNode { return g.districts }

// Reference is the reference data a district is matched with.
type Reference struct {
	Geography *Geography
	Taxonomy  *Taxonomy
	Policy    Policy
	// providers is each district's provider directory; byProvider indexes every
	// district's by code.
	providers  map[string][]ProviderNode
	byProvider map[string]ProviderNode
	// programmes is the catalogue of assistance programmes, in published order.
	programmes []Programme
}

// ProviderNode is one entry of a district's optional provider directory: the
// names pages show for the provider code offers carry.
type ProviderNode struct {
	Code string `json:"code"`
	Name Text   `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// ProviderKinds lists the kinds a provider directory entry may give.
var ProviderKinds = []string{"government_department", "charity", "social_work_organisation", "company", "volunteer_team"}

// WithProviders returns a copy of r with each district's provider directory (by
// district code): codes stable and unique across the reference, both names, and a
// kind from ProviderKinds if given; a district without an entry has no directory.
func (r *Reference) WithProviders(byDistrict map[string][]ProviderNode) (*Reference, error) {
	next := *r
	next.providers = map[string][]ProviderNode{}
	next.byProvider = map[string]ProviderNode{}
	for _, d := range r.Geography.Districts() {
		for _, p := range byDistrict[d.Code] {
			if !codePattern.MatchString(p.Code) {
				return nil, fmt.Errorf("%w: provider code %q must match %s", ErrInvalidReference, p.Code, codePattern)
			}
			if p.Name.Zh == "" || p.Name.En == "" {
				return nil, fmt.Errorf("%w: provider %s needs zh and en names", ErrInvalidReference, p.Code)
			}
			if p.Kind != "" && !slices.Contains(ProviderKinds, p.Kind) {
				return nil, fmt.Errorf("%w: provider %s has unknown kind %q", ErrInvalidReference, p.Code, p.Kind)
			}
			if _, dup := next.byProvider[p.Code]; dup {
				return nil, fmt.Errorf("%w: provider %s listed twice", ErrInvalidReference, p.Code)
			}
			next.byProvider[p.Code] = p
		}
		if ps := byDistrict[d.Code]; len(ps) > 0 {
			next.providers[d.Code] = append([]ProviderNode(nil), ps...)
		}
	}
	for d := range byDistrict {
		if _, err := r.Geography.DistrictOf(TierDistrict, d); err != nil {
			return nil, fmt.Errorf("%w: providers of %w", ErrInvalidReference, err)
		}
	}
	return &next, nil
}

// ProviderName returns the name the provider directory gives a provider code.
func (r *Reference) ProviderName(code string) (Text, bool) {
	p, ok := r.byProvider[code]
	return p.Name, ok
}

// Providers returns a district's provider directory, nil if it has none.
func (r *Reference) Providers(district string) []ProviderNode { return r.providers[district] }

// NewReference validates the trees, the categories, the policy, and that every
// capability names a category; it indexes them.
func NewReference(districts []DistrictNode, categories []Category, policy Policy) (*Reference, error) {
	geo, err := NewGeography(districts)
	if err != nil {
		return nil, err
	}
	tax, err := NewTaxonomy(categories)
	if err != nil {
		return nil, err
	}
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if policy.Allocation != nil {
		known := func(c string) bool { _, err := tax.Category(c); return err == nil }
		if err := policy.Allocation.Validate(known); err != nil {
			return nil, err
		}
	}
	for _, d := range districts {
		for _, st := range d.Streets {
			for _, c := range st.Communities {
				for _, cat := range c.Capabilities {
					if _, err := tax.Category(cat); err != nil {
						return nil, fmt.Errorf("%w: community %s lists %w", ErrInvalidReference, c.Code, err)
					}
				}
			}
		}
	}
	return &Reference{Geography: geo, Taxonomy: tax, Policy: policy}, nil
}

// ReferencePublished records the reference data a district is matched with from
// this point of its log on, so that a replay sees it as it was.
type ReferencePublished struct {
	District   DistrictNode `json:"district"`
	Categories []Category   `json:"categories"`
	Policy     Policy       `json:"policy"`
	// Providers is the district's optional provider directory; absent in logs
	// written before it existed.
	Providers []ProviderNode `json:"providers,omitempty"`
	// Programmes is the catalogue of assistance programmes, the same in every
	// district's publication; absent in logs written before it existed.
	Programmes []Programme `json:"programmes,omitempty"`
}

// EventType names the event.
func (ReferencePublished) EventType() string { return "reference.published" }

// AggregateReference is the aggregate type of a district's reference data.
const AggregateReference = "reference"

// Reference returns the reference data the event publishes.
func (p ReferencePublished) Reference() (*Reference, error) {
	ref, err := NewReference([]DistrictNode{p.District}, p.Categories, p.Policy)
	if err != nil {
		return nil, err
	}
	if ref, err = ref.WithProviders(map[string][]ProviderNode{p.District.Code: p.Providers}); err != nil {
		return nil, err
	}
	return ref.WithProgrammes(p.Programmes)
}

// Publication returns the event that publishes one district of the reference data.
func (r *Reference) Publication(district string) (ReferencePublished, error) {
	for _, d := range r.Geography.Districts() {
		if d.Code == district {
			return ReferencePublished{District: d, Categories: r.Taxonomy.Categories(), Policy: r.Policy, Providers: r.providers[d.Code], Programmes: r.Programmes()}, nil
		}
	}
	return ReferencePublished{}, fmt.Errorf("%w: no district %q", ErrInvalidReference, district)
}

// AreaAbove returns the area at tier outer (at or above tier) that holds an area of
// a tier: a community's street or district, a street's district.
func (g *Geography) AreaAbove(tier int, area string, outer int) (string, error) {
	if outer < tier {
		return "", fmt.Errorf("%w: the %s tier is below the %s tier", ErrUnknownArea, TierName(outer), TierName(tier))
	}
	if tier == TierCommunity {
		c, err := g.Community(area)
		if err != nil {
			return "", err
		}
		return c.AreaOf(outer), nil
	}
	if outer == tier {
		_, err := g.DistrictOf(tier, area)
		return area, err
	}
	return g.DistrictOf(tier, area)
}

// CheckSuccessor checks that reference data may follow r: every district, street,
// community, category and programme code of r is still there (the log holds events
// that name them), under the same district and street. It refuses with FieldErrors:
// one for the geography ("district"), one for the taxonomy ("categories") and one
// for the catalogue ("programmes"), each naming every code that is gone; each wraps
// ErrInvalidReference.
func (r *Reference) CheckSuccessor(next *Reference) error {
	var gone, goneCats []string
	for _, d := range r.Geography.Districts() {
		for _, s := range d.Streets {
			if got, err := next.Geography.DistrictOf(TierStreet, s.Code); err != nil || got != d.Code {
				gone = append(gone, fmt.Sprintf("street %s of %s", s.Code, d.Code))
			}
			for _, c := range s.Communities {
				if got, err := next.Geography.Community(c.Code); err != nil || got.Street != s.Code {
					gone = append(gone, fmt.Sprintf("community %s of %s", c.Code, s.Code))
				}
			}
		}
	}
	for _, code := range r.Taxonomy.Codes() {
		if _, err := next.Taxonomy.Category(code); err != nil {
			goneCats = append(goneCats, code)
		}
	}
	var goneProgs []string
	for _, p := range r.programmes {
		if _, err := next.Programme(p.Code); err != nil {
			goneProgs = append(goneProgs, p.Code)
		}
	}
	var errs FieldErrors
	if len(gone) > 0 {
		errs.Add(fieldErr("district", fmt.Errorf("%w: codes in use are gone or moved (%s); they must stay where they are",
			ErrInvalidReference, strings.Join(gone, ", "))))
	}
	if len(goneCats) > 0 {
		errs.Add(fieldErr("categories", fmt.Errorf("%w: categories in use are gone (%s); they must stay",
			ErrInvalidReference, strings.Join(goneCats, ", "))))
	}
	if len(goneProgs) > 0 {
		errs.Add(fieldErr("programmes", fmt.Errorf("%w: programmes in use are gone (%s); they must stay",
			ErrInvalidReference, strings.Join(goneProgs, ", "))))
	}
	return errs.Err()
}
