package memlog

import (
	"context"

	"github.com/tierlink/tierlink/domain"
)

// NeedOfReferral finds the need a referral was proposed for (app.ReferralIndex),
// read straight from the log: where the Redis store's index is a read model that
// follows the log, this one is up to date at once.
func (l *Log) NeedOfReferral(_ context.Context, referralID string) (string, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, p := range l.parts {
		for ref, bodies := range p.aggregates {
			if ref.Type != domain.AggregateNeed {
				continue
			}
			evs, err := l.decode(ref, bodies)
			if err != nil {
				return "", false, err
			}
			if _, ok := domain.AddresseeOf(evs, referralID); ok {
				return ref.ID, true, nil
			}
		}
	}
	return "", false, nil
}
