package domain

import (
	"errors"
	"strings"
	"testing"
)

func TestProviderDirectory(t *testing.T) {
	named := Text{"长宁社工", "Changning Social Work"}
	cases := []struct {
		name      string
		providers []ProviderNode
		want      string // "" when valid
	}{
		{"no providers", nil, ""},
		{"valid", []ProviderNode{{Code: "prov-a", Name: named, Kind: "charity"}, {Code: "prov-b", Name: named}}, ""},
		{"bad code", []ProviderNode{{Code: "Prov A", Name: named}}, "provider code"},
		{"duplicate code", []ProviderNode{{Code: "prov-a", Name: named}, {Code: "prov-a", Name: named}}, "listed twice"},
		{"empty zh name", []ProviderNode{{Code: "prov-a", Name: Text{En: "A"}}}, "zh and en names"},
		{"empty en name", []ProviderNode{{Code: "prov-a", Name: Text{Zh: "甲"}}}, "zh and en names"},
		{"unknown kind", []ProviderNode{{Code: "prov-a", Name: named, Kind: "club"}}, "unknown kind"},
	}
	base := testRef(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pub, err := base.Publication("d")
			if err != nil {
				t.Fatal(err)
			}
			pub.Providers = c.providers
			ref, err := pub.Reference()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case c.want != "" && (err == nil || !errors.Is(err, ErrInvalidReference) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("want %q, got %v", c.want, err)
			case c.want == "":
				for _, p := range c.providers {
					if got, ok := ref.ProviderName(p.Code); !ok || got != p.Name {
						t.Errorf("ProviderName(%s) = %v, %v", p.Code, got, ok)
					}
				}
				if _, ok := ref.ProviderName("nobody"); ok {
					t.Error("an unlisted provider has a name")
				}
				again, err := ref.Publication("d")
				if err != nil || len(again.Providers) != len(c.providers) {
					t.Errorf("the publication lost the directory: %v %v", again.Providers, err)
				}
			}
		})
	}
	if _, err := base.WithProviders(map[string][]ProviderNode{"elsewhere": {{Code: "p", Name: named}}}); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("providers of an unknown district: %v", err)
	}
}

func TestReferencePublishedWithoutProvidersDecodes(t *testing.T) {
	reg := NewRegistry()
	pub, err := testRef(t).Publication("d")
	if err != nil {
		t.Fatal(err)
	}
	b, err := reg.Encode(Event{ID: "e", Type: pub.EventType(), SchemaVersion: 1, AggregateType: AggregateReference, AggregateID: "d", AggregateVersion: 1, Partition: "d", Payload: pub})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "providers") {
		t.Errorf("an empty directory is written: %s", b)
	}
	if _, err := reg.Decode(b); err != nil {
		t.Fatal(err)
	}
}
