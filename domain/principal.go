package domain

import (
	"errors"
	"fmt"
)

// Role is the kind of principal: what it may do follows from it.
type Role string

// The roles of DESIGN.md.
const (
	// RoleOperator reads everything and manages reference data and tokens.
	RoleOperator Role = "operator"
	// RoleProvider manages one provider organisation's offers.
	RoleProvider Role = "provider"
	// RoleCentre answers the referrals addressed to one node (a community, street or district).
	RoleCentre Role = "centre"
)

// ErrInvalidPrincipal means a principal's fields do not fit its role.
var ErrInvalidPrincipal = errors.New("invalid principal")

// Principal is who acts: an operator, a provider organisation, or a centre at a
// node of the geography (its tier and area code).
type Principal struct {
	Role     Role   `json:"role"`
	Provider string `json:"provider,omitempty"`
	Tier     int    `json:"tier,omitempty"`
	Area     string `json:"area,omitempty"`
}

// NewPrincipal validates a principal: a provider names its organisation, a centre
// its node, an operator nothing else.
func NewPrincipal(role Role, provider string, tier int, area string) (Principal, error) {
	p := Principal{Role: role, Provider: provider, Tier: tier, Area: area}
	switch role {
	case RoleOperator:
		if provider != "" || tier != 0 || area != "" {
			return Principal{}, fmt.Errorf("%w: an operator names no provider or node", ErrInvalidPrincipal)
		}
	case RoleProvider:
		if !ValidID(provider) || tier != 0 || area != "" {
			return Principal{}, fmt.Errorf("%w: a provider names its organisation's id (letters, digits, '-', '_', '.') and no node", ErrInvalidPrincipal)
		}
	case RoleCentre:
		if provider != "" || tier < TierCommunity || tier > TierDistrict || !ValidCode(area) {
			return Principal{}, fmt.Errorf("%w: a centre names its node: a tier (community, street or district) and its area code", ErrInvalidPrincipal)
		}
	default:
		return Principal{}, fmt.Errorf("%w: role %q is not operator, provider or centre", ErrInvalidPrincipal, role)
	}
	return p, nil
}

// String names the principal as an event's actor: "operator", "provider:<id>" or
// "centre:<tier>:<area>".
func (p Principal) String() string {
	switch p.Role {
	case RoleProvider:
		return "provider:" + p.Provider
	case RoleCentre:
		return "centre:" + TierName(p.Tier) + ":" + p.Area
	}
	return string(p.Role)
}

// ErrForbidden means the principal may not do what it asked.
var ErrForbidden = errors.New("forbidden")

// forbid wraps ErrForbidden with what the caller may not do and who may: it
// names the caller and the kind of thing, never the resource's ids, areas or
// providers (a refusal reveals nothing about what it refuses).
func forbid(p Principal, what, who string) error {
	return fmt.Errorf("%w: %s may not %s: %s", ErrForbidden, p, what, who)
}

// Covers reports whether a centre's node holds a community: the community itself,
// its street or its district.
func (p Principal) Covers(c Community) bool {
	return p.Role == RoleCentre && c.AreaOf(p.Tier) == p.Area
}

// MayReadHousehold allows an operator, and a centre whose node holds the household's community.
func (p Principal) MayReadHousehold(c Community) error {
	if p.Role == RoleOperator || p.Covers(c) {
		return nil
	}
	return forbid(p, "read this household", "only operators and the centres of its community, street and district may")
}

// MayRegisterIn allows a centre whose node holds the community to register
// households and needs there.
func (p Principal) MayRegisterIn(c Community) error {
	if p.Covers(c) {
		return nil
	}
	return forbid(p, "register or withdraw households and needs there", "only the centres of the household's community, street and district may")
}

// MayAnswer allows the centre a referral was addressed to: the node of the need's
// community at the tier the referral was proposed at. It does not depend on what
// became of the referral, so a retried answer is checked as the first was.
func (p Principal) MayAnswer(tier int, c Community) error {
	if p.Role == RoleCentre && p.Tier == tier && c.Code != "" && c.AreaOf(tier) == p.Area {
		return nil
	}
	return forbid(p, "answer this referral", "only the centre it is addressed to may")
}

// MayManageOffer allows the provider an offer belongs to.
func (p Principal) MayManageOffer(provider string) error {
	if p.Role == RoleProvider && p.Provider == provider {
		return nil
	}
	return forbid(p, "act on this offer or its referrals", "only the provider that posted the offer may")
}

// MayReadArea allows an operator, and a centre whose node holds an area (a node's
// inbox or waitlist).
func (p Principal) MayReadArea(g *Geography, tier int, area string) error {
	if p.Role == RoleOperator {
		return nil
	}
	if p.Role == RoleCentre && p.Tier >= tier {
		if above, err := g.AreaAbove(tier, area, p.Tier); err == nil && above == p.Area {
			return nil
		}
	}
	return forbid(p, "read the "+TierName(tier)+" node "+area, "only operators and the centres whose node holds it may")
}

// MayReadOffer allows operators, centres, and the offer's provider: an offer holds no
// household's data.
func (p Principal) MayReadOffer(provider string) error {
	if p.Role == RoleOperator || p.Role == RoleCentre || (p.Role == RoleProvider && p.Provider == provider) {
		return nil
	}
	return forbid(p, "read this offer", "operators, centres and the provider that posted it may")
}

// MayReadProvider allows operators and the provider itself to read the referrals to its offers.
func (p Principal) MayReadProvider(provider string) error {
	if p.Role == RoleOperator || (p.Role == RoleProvider && p.Provider == provider) {
		return nil
	}
	return forbid(p, "read these referrals", "only operators and the provider itself may")
}

// MayManageReference allows operators to publish reference data.
func (p Principal) MayManageReference() error {
	if p.Role == RoleOperator {
		return nil
	}
	return forbid(p, "publish reference data", "only operators may")
}
