package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// referenceInterval is how often a node checks for new reference data.
const referenceInterval = 2 * time.Second

// FileActor is the actor of reference data published from the files shipped with
// tierlink; an operator's publication names the operator.
const FileActor = "system:reference"

// latestPublications returns each district's latest reference publication (a
// district with none has its entry left out) and the versions of the reference
// aggregates.
func (n *Node) latestPublications(ctx context.Context) (map[string]domain.Event, map[string]int64, error) {
	pubs, versions := map[string]domain.Event{}, map[string]int64{}
	for _, p := range n.partitions {
		ref := domain.AggregateRef{Type: domain.AggregateReference, ID: p}
		v, err := n.store.Version(ctx, p, ref)
		if err != nil {
			return nil, nil, err
		}
		versions[p] = v
		if v == 0 {
			continue
		}
		evs, err := n.store.ReadAggregate(ctx, p, ref, v)
		if err != nil || len(evs) == 0 {
			return nil, nil, fmt.Errorf("read the reference data of %s: %w", p, err)
		}
		pubs[p] = evs[len(evs)-1]
	}
	return pubs, versions, nil
}

// LoadReference puts in force the reference data last published to the logs: each
// district's tree from its own log, the taxonomy and the policy from the first
// district's (operators publish them to all). It returns the aggregates' versions.
func (n *Node) LoadReference(ctx context.Context) (map[string]int64, error) {
	pubs, versions, err := n.latestPublications(ctx)
	if err != nil {
		return nil, err
	}
	var districts []domain.DistrictNode
	var first *domain.ReferencePublished
	providers := map[string][]domain.ProviderNode{}
	for _, p := range n.partitions {
		e, ok := pubs[p]
		if !ok {
			return versions, nil // not all published yet: keep what is in force
		}
		pub, ok := e.Payload.(domain.ReferencePublished)
		if !ok {
			return nil, fmt.Errorf("reference of %s: unexpected %s", p, e.Type)
		}
		if first == nil {
			first = &pub
		}
		districts = append(districts, pub.District)
		providers[pub.District.Code] = pub.Providers
	}
	ref, err := domain.NewReference(districts, first.Categories, first.Policy)
	if err == nil {
		ref, err = ref.WithProviders(providers)
	}
	if err == nil {
		ref, err = ref.WithProgrammes(first.Programmes)
	}
	if err != nil {
		return nil, fmt.Errorf("the published reference data: %w", err)
	}
	n.refs.p.Store(ref)
	return versions, nil
}

// followReference reloads the reference data whenever a district's publication
// changes (an operator published new reference data), checking every interval.
func (n *Node) followReference(ctx context.Context, interval time.Duration) {
	var seen map[string]int64
	for {
		_, versions, err := n.latestPublications(ctx)
		if err == nil && !maps.Equal(versions, seen) {
			if _, err = n.LoadReference(ctx); err == nil {
				if seen != nil {
					n.log.Info("new reference data in force", "versions", versions)
				}
				seen = versions
			}
		}
		if err != nil && ctx.Err() == nil {
			n.log.Warn("reference data not reloaded", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// PublishReference appends the node's reference data to each district's log where
// the log's latest publication differs (call it before Run), so that the matcher, and any replay, reads
// the reference data from the log as it was at each point.
func (n *Node) PublishReference(ctx context.Context) error {
	for _, p := range n.partitions {
		pub, err := n.cfg.Reference.Publication(p)
		if err != nil {
			return err
		}
		ref := domain.AggregateRef{Type: domain.AggregateReference, ID: p}
		past, err := n.store.ReadAggregate(ctx, p, ref, 1)
		if err != nil {
			return fmt.Errorf("read the reference data of %s: %w", p, err)
		}
		body, err := json.Marshal(pub)
		if err != nil {
			return err
		}
		if len(past) > 0 {
			last := past[len(past)-1]
			if last.Actor != FileActor {
				continue // an operator's publication stands until an operator changes it
			}
			if b, err := json.Marshal(last.Payload); err == nil && bytes.Equal(b, body) {
				continue
			}
		}
		sum := sha256.Sum256(body)
		evs, err := n.store.Registry().Envelop([]domain.Change{{Aggregate: ref, ExpectedVersion: int64(len(past)), Payloads: []domain.Payload{pub}}},
			domain.Meta{Partition: p, Time: n.cfg.Clock(), Actor: FileActor, CommandID: "reference:" + hex.EncodeToString(sum[:16]) + ":" + strconv.Itoa(len(past))},
			n.cfg.NewID)
		if err != nil {
			return err
		}
		if _, err := n.store.Append(ctx, evs); err != nil && !errors.Is(err, eventlog.ErrVersionConflict) {
			return fmt.Errorf("publish the reference data of %s: %w", p, err)
		}
		n.log.Info("reference data published", "partition", p, "version", len(past)+1)
	}
	_, err := n.LoadReference(ctx)
	return err
}
