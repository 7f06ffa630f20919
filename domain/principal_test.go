package domain

import (
	"errors"
	"testing"
)

func TestNewPrincipal(t *testing.T) {
	good := []struct {
		role     Role
		provider string
		tier     int
		area     string
		name     string
	}{
		{RoleOperator, "", 0, "", "operator"},
		{RoleProvider, "shanghai-youth-aid", 0, "", "provider:shanghai-youth-aid"},
		{RoleCentre, "", TierCommunity, "hy-01", "centre:community:hy-01"},
		{RoleCentre, "", TierDistrict, "changning", "centre:district:changning"},
	}
	for _, g := range good {
		p, err := NewPrincipal(g.role, g.provider, g.tier, g.area)
		if err != nil || p.String() != g.name {
			t.Errorf("%s: %+v %v", g.name, p, err)
		}
	}
	bad := []Principal{
		{Role: RoleOperator, Area: "x"},
		{Role: RoleProvider},
		{Role: RoleProvider, Provider: "has space"},
		{Role: RoleCentre, Tier: 4, Area: "x"},
		{Role: RoleCentre, Tier: TierStreet},
		{Role: RoleCentre, Provider: "p", Tier: TierStreet, Area: "x"},
		{Role: "root"},
	}
	for _, b := range bad {
		if _, err := NewPrincipal(b.Role, b.Provider, b.Tier, b.Area); !errors.Is(err, ErrInvalidPrincipal) {
			t.Errorf("%+v: %v", b, err)
		}
	}
}
