package node

import (
	"context"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// indicatorGauges reads the present indicator gauges of every district for a scrape.
func (n *Node) indicatorGauges(ctx context.Context) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	now := float64(n.cfg.Clock().UnixMilli())
	for _, p := range n.partitions {
		st, err := n.views.Store(p)
		if err != nil {
			return nil, err
		}
		waiting, err := st.Count(ctx, projections.WaitlistIndex(domain.TierDistrict, p), -1e18, 1e18)
		if err != nil {
			return nil, err
		}
		held, err := st.Count(ctx, projections.HeldIndex(domain.TierDistrict, p), -1e18, 1e18)
		if err != nil {
			return nil, err
		}
		var overdue int64
		for _, tier := range []int{domain.TierCommunity, domain.TierStreet, domain.TierDistrict} {
			for _, area := range n.nodesAt(p, tier) {
				c, err := st.Count(ctx, projections.InboxIndex(tier, area), 0, now)
				if err != nil {
					return nil, err
				}
				overdue += c
			}
		}
		out[p] = map[string]float64{"waitlisted_needs": float64(waiting), "held_needs": float64(held), "overdue_referrals": float64(overdue)}
	}
	return out, nil
}

// nodesAt lists a district's areas at a tier.
func (n *Node) nodesAt(district string, tier int) []string {
	var out []string
	for _, d := range n.refs.Current().Geography.Districts() {
		if d.Code != district {
			continue
		}
		if tier == domain.TierDistrict {
			return []string{d.Code}
		}
		for _, s := range d.Streets {
			if tier == domain.TierStreet {
				out = append(out, s.Code)
				continue
			}
			for _, c := range s.Communities {
				out = append(out, c.Code)
			}
		}
	}
	return out
}
