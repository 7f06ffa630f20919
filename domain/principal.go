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
