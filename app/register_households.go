package app

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tierlink/tierlink/domain"
)

// MaxHouseholdsPerBatch bounds a batch registration.
const MaxHouseholdsPerBatch = 500

// BatchOutcome is one household of a batch: what its registration created, or why
// it was refused (the others go ahead).
type BatchOutcome struct {
	Result RegisterHouseholdResult
	Err    error
}

// RegisterHouseholdsHandler registers many households at once: a centre's list
// after a day of visits, or a lockdown day's registrations.
type RegisterHouseholdsHandler struct{ cfg Config }

// Handle registers each household as its own command (meta's command id suffixed
// with "#" and the household's index: a retried batch gives its first results),
// appending each district's in one call. A household refused by the rules does not
// stop the others; another batch under a key that took effect is refused whole
// with ErrCommandReused.
func (h RegisterHouseholdsHandler) Handle(ctx context.Context, in []RegisterHouseholdInput, meta Meta) ([]BatchOutcome, error) {
	switch {
	case len(in) == 0:
		return nil, &domain.FieldError{Field: "households", Reason: fmt.Errorf("is required: list 1 to %d households", MaxHouseholdsPerBatch)}
	case len(in) > MaxHouseholdsPerBatch:
		return nil, &domain.FieldError{Field: "households", Reason: fmt.Errorf("must list 1 to %d households, not %d", MaxHouseholdsPerBatch, len(in))}
	}
	meta = meta.Resolved(h.cfg.NewID)
	ref := h.cfg.References.Current()
	// Each household's command carries the digest of the whole batch, so that the
	// same key with another batch is told apart from a retry of this one.
	batch := fingerprint("register_households", in)
	out := make([]BatchOutcome, len(in))
	type pending struct {
		index int
		cmd   domain.Command
		meta  Meta
	}
	byDistrict := map[string][]pending{}
	var order []string
	for i, hh := range in {
		// The batch's key is scoped by principal as any command's; its households
		// are found again by the store when the batch is retried (registering a new
		// household does not depend on the state of the log, so deciding again
		// gives the same decision).
		m := meta.Resolved(h.cfg.NewID)
		// '#' is not allowed in an Idempotency-Key: a batch's households cannot
		// take the id of a command sent alone.
		m.CommandID += "#" + strconv.Itoa(i)
		com, err := ref.Geography.Community(hh.Community)
		if err == nil {
			err = meta.Principal.MayRegisterIn(com)
		} else if meta.Principal.Role == domain.RoleCentre {
			err = nil // an unknown community: the decision says so, as a field error
		} else {
			err = meta.Principal.MayRegisterIn(domain.Community{Code: hh.Community})
		}
		var changes []domain.Change
		if err == nil {
			cmd := domain.RegisterHousehold{HouseholdID: h.cfg.NewID(), Community: hh.Community, TargetGroups: hh.TargetGroups, Assessment: hh.Assessment,
				Needs: needSpecs(h.cfg, hh.Needs)}
			changes, err = domain.DecideRegisterHousehold(domain.Household{}, cmd, ref)
		}
		var evs []domain.Event
		if err == nil {
			evs, err = h.cfg.Registry.Envelop(changes, domain.Meta{Partition: com.District, Time: h.cfg.Now(), Actor: m.Actor,
				CommandID: m.CommandID, CorrelationID: m.CorrelationID}, h.cfg.NewID)
		}
		if err != nil {
			out[i].Err = err
			continue
		}
		if _, ok := byDistrict[com.District]; !ok {
			order = append(order, com.District)
		}
		byDistrict[com.District] = append(byDistrict[com.District],
			pending{index: i, cmd: domain.Command{Events: evs, Fingerprint: fingerprint("register_households", []any{batch, i})}, meta: m})
	}
	// Another batch under a key that took effect is refused whole, before anything
	// is appended, as any command under a reused key: a household of the batch
	// that the first attempt did not register must not be registered now.
	if meta.retry {
		for _, district := range order {
			ps := byDistrict[district]
			ids := make([]string, len(ps))
			for j, p := range ps {
				ids[j] = p.meta.CommandID
			}
			taken, err := h.cfg.Log.Fingerprints(ctx, district, ids)
			if err != nil {
				return nil, fmt.Errorf("register households in %s: %w", district, err)
			}
			for j, fp := range taken {
				if fp != "" && fp != ps[j].cmd.Fingerprint {
					return nil, fmt.Errorf("%w: the Idempotency-Key was used for another batch", ErrCommandReused)
				}
			}
		}
	}
	for _, district := range order {
		ps := byDistrict[district]
		cmds := make([]domain.Command, len(ps))
		for j, p := range ps {
			cmds[j] = p.cmd
		}
		results, errs, err := h.cfg.Log.AppendMany(ctx, cmds)
		if err != nil {
			return nil, fmt.Errorf("register households in %s: %w", district, err)
		}
		for j, p := range ps {
			if errs[j] != nil {
				out[p.index].Err = errs[j]
				continue
			}
			evs := p.cmd.Events
			if results[j].Duplicate {
				if evs, err = h.cfg.Log.Range(ctx, district, results[j].FirstPosition, results[j].LastPosition); err != nil {
					return nil, fmt.Errorf("read the first result of command %s: %w", p.meta.CommandID, err)
				}
			}
			out[p.index].Result, out[p.index].Err = householdResult(evs, district, results[j], p.meta.CommandID)
		}
	}
	return out, nil
}
