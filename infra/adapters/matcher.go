package adapters

import (
	"context"
	"errors"
	"fmt"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/metrics"
	"github.com/tierlink/tierlink/matching"
)

// MatcherAppender adapts the event store to matching.Appender, fencing every
// append with the matcher's lease, and counts the decisions written (not those a
// restarted matcher finds in the log already).
type MatcherAppender struct {
	// Store is the event store the decisions are appended to.
	Store *eventlog.Store
	// Metrics counts the decisions written.
	Metrics *metrics.Metrics
	// Lease and Token name the matcher's lease and its fencing token.
	Lease string
	Token int64
}

// Append appends the matcher's decisions, one outcome per command.
func (a MatcherAppender) Append(ctx context.Context, cmds []domain.Command) ([]error, error) {
	// The fingerprint is a digest of the decision's bytes: a replay that decided
	// otherwise under the same command id is refused instead of passing as a retry.
	outcomes, err := a.Store.AppendBatch(ctx, cmds, eventlog.Fence(a.Lease, a.Token), eventlog.DigestFingerprints())
	if err != nil {
		return nil, err
	}
	out := make([]error, len(cmds))
	for i, o := range outcomes {
		switch {
		case errors.Is(o.Err, eventlog.ErrVersionConflict), errors.Is(o.Err, eventlog.ErrPrerequisite):
			out[i] = fmt.Errorf("%w: %w", matching.ErrStale, o.Err)
		case errors.Is(o.Err, eventlog.ErrCommandReused):
			return nil, fmt.Errorf("%w: the log holds other events under command %s; stop and report it: %w",
				matching.ErrDiverged, cmds[i].Events[0].CommandID, o.Err)
		case o.Err != nil:
			return nil, o.Err
		case !o.Result.Duplicate:
			a.count(cmds[i].Events)
		}
	}
	return out, nil
}

// count counts a decision written, by outcome and tier.
func (a MatcherAppender) count(evs []domain.Event) {
	for _, e := range evs {
		switch p := e.Payload.(type) {
		case domain.ReferralProposed:
			a.Metrics.Decided(e.Partition, p.Tier, p.Rule)
		case domain.NeedWaitlisted:
			a.Metrics.Decided(e.Partition, domain.TierDistrict, "waitlisted")
		case domain.NeedHeld:
			a.Metrics.Decided(e.Partition, p.Tier, "held")
		case domain.NeedEscalated:
			a.Metrics.Decided(e.Partition, p.From, "escalated:"+string(p.Reason))
		case domain.ReferralCancelled:
			a.Metrics.Decided(e.Partition, 0, "cancelled:"+string(p.Reason))
		}
	}
}
