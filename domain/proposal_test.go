package domain

import (
	"slices"
	"testing"
	"time"
)

func TestCandidatesRankEndingSoonestThenFreestThenOldestThenID(t *testing.T) {
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	ranked := []*Candidate{
		{ID: "ends-first", Seq: 9, Free: 1, ValidUntil: at.Add(time.Hour)},
		{ID: "ends-later", Seq: 8, Free: 9, ValidUntil: at.Add(2 * time.Hour)},
		{ID: "freest", Seq: 7, Free: 5},
		{ID: "oldest", Seq: 1, Free: 2},
		{ID: "a", Seq: 2, Free: 2},
		{ID: "b", Seq: 2, Free: 2},
	}
	shuffled := []*Candidate{ranked[3], ranked[5], ranked[0], ranked[2], ranked[4], ranked[1]}
	slices.SortFunc(shuffled, func(a, b *Candidate) int {
		if a.RanksBefore(b) {
			return -1
		}
		if b.RanksBefore(a) {
			return 1
		}
		return 0
	})
	if !slices.Equal(shuffled, ranked) {
		t.Fatalf("ranked %v", shuffled)
	}
}

func TestCandidateFitsWhileValidAndEligible(t *testing.T) {
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	c := &Candidate{ValidFrom: at, ValidUntil: at.Add(time.Hour), Eligibility: Eligibility{TargetGroups: []TargetGroup{GroupElderly}}}
	elderly := []TargetGroup{GroupElderly}
	for _, tc := range []struct {
		now    time.Time
		groups []TargetGroup
		fits   bool
	}{
		{at.Add(-time.Second), elderly, false},
		{at, elderly, true},
		{at.Add(time.Hour - time.Second), elderly, true},
		{at.Add(time.Hour), elderly, false},
		{at, nil, false},
	} {
		if got := c.FitsAt(tc.groups, tc.now); got != tc.fits {
			t.Errorf("at %v for %v: fits %v, want %v", tc.now, tc.groups, got, tc.fits)
		}
	}
}

func TestCandidatesAtTheDistrictCoverEveryTier(t *testing.T) {
	if got := CandidateTiers(TierStreet); !slices.Equal(got, []int{TierStreet}) {
		t.Fatalf("street: %v", got)
	}
	if got := CandidateTiers(TierDistrict); !slices.Equal(got, []int{TierDistrict, TierStreet, TierCommunity}) {
		t.Fatalf("district: %v", got)
	}
}
