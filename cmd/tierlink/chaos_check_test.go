package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// commandKey finds the Idempotency-Key that a command id in the log was derived
// from, and the index of a batch's household (-1 for a command sent alone). It is
// the one place that knows how the server derives command ids from keys: today
// "idem:"+key, a batch's households "idem:"+key+"#"+index, and a scope (the
// principal) may be put around the key. A run's keys are prefix and digits, so a
// key is found wherever it sits in the id; the principal is checked apart, against
// the events' actor.
func commandKey(commandID, prefix string) (key string, index int, ok bool) {
	i := strings.Index(commandID, prefix)
	if i < 0 {
		return "", 0, false
	}
	rest := commandID[i+len(prefix):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 {
		return "", 0, false
	}
	key, rest, index = prefix+rest[:n], rest[n:], -1
	if tail, found := strings.CutPrefix(rest, "#"); found {
		m := 0
		for m < len(tail) && tail[m] >= '0' && tail[m] <= '9' {
			m++
		}
		if idx, err := strconv.Atoi(tail[:m]); err == nil {
			index = idx
		}
	}
	return key, index, true
}

// logReport is what the checks of the log found.
type logReport struct {
	entries    int
	commandIDs int
	// matched counts the clients' commands found in the log by their key.
	matched int
	// proposed counts the matcher's proposals by tier; escalated and waitlisted its other steps.
	proposed              [4]int
	escalated, waitlisted int
	lost                  []string
	duplicated            []string
	contradicted          []string
	// contradictedBy counts the contradicted answers by command kind and status.
	contradictedBy map[string]int
	violations     []string
}

// cmdRun is the events one command id wrote: positions first to last.
type cmdRun struct {
	first, last int64
	events      []domain.Event
	// needs is the state of each need the command touched, right after it.
	needs map[string]domain.Need
}

// checkLog reads the district's whole log and checks the clients' commands and
// the invariants against it.
func checkLog(t *testing.T, client *redis.Client, prefix string, cmds []*command) logReport {
	t.Helper()
	ctx := context.Background()
	store, err := eventlog.NewStore(client, domain.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var rep logReport
	var events []domain.Event
	var positions []int64
	for from := int64(1); ; {
		batch, err := store.ReadPartition(ctx, chaosDistrict, from, 1000)
		if err != nil {
			t.Fatalf("read the log: %v", err)
		}
		if len(batch) == 0 {
			break
		}
		for _, e := range batch {
			if e.Err != nil {
				rep.violations = append(rep.violations, fmt.Sprintf("position %d cannot be read: %v", e.Position, e.Err))
				continue
			}
			events = append(events, e.Event)
			positions = append(positions, e.Position)
		}
		from = batch[len(batch)-1].Position + 1
	}
	rep.entries = len(events)
	for _, e := range events {
		switch p := e.Payload.(type) {
		case domain.ReferralProposed:
			rep.proposed[min(max(p.Tier, 0), 3)]++
		case domain.NeedEscalated:
			rep.escalated++
		case domain.NeedWaitlisted:
			rep.waitlisted++
		}
	}

	// Every command id wrote one contiguous run of the log, the one its first
	// result names: a second append of it would lie outside.
	runs := map[string]*cmdRun{}
	var order []string
	for i, e := range events {
		r := runs[e.CommandID]
		if r == nil {
			r = &cmdRun{first: positions[i], last: positions[i], needs: map[string]domain.Need{}}
			runs[e.CommandID] = r
			order = append(order, e.CommandID)
		} else if positions[i] != r.last+1 {
			rep.duplicated = append(rep.duplicated, fmt.Sprintf("command %s wrote at position %d after %d: two appends", e.CommandID, positions[i], r.last))
		}
		r.last = positions[i]
		r.events = append(r.events, e)
	}
	rep.commandIDs = len(order)
	for _, id := range order {
		res, _, ok, err := store.CommandResult(ctx, chaosDistrict, id)
		if err != nil {
			t.Fatalf("command %s: %v", id, err)
		}
		if r := runs[id]; !ok || res.FirstPosition != r.first || res.LastPosition != r.last {
			rep.duplicated = append(rep.duplicated, fmt.Sprintf("command %s wrote positions %d to %d, its first result says %d to %d (recorded %v)",
				id, r.first, r.last, res.FirstPosition, res.LastPosition, ok))
		}
	}

	rep.violations = append(rep.violations, checkInvariants(events, positions, runs)...)

	// The clients' commands, by key: a key maps to one command id (a batch's, to
	// one per household).
	keyed := map[string]map[int]string{}
	for _, id := range order {
		if key, index, ok := commandKey(id, prefix); ok {
			if keyed[key] == nil {
				keyed[key] = map[int]string{}
			}
			keyed[key][index] = id
		}
	}
	rep.contradictedBy = map[string]int{}
	for _, c := range cmds {
		contradict := func(format string, args ...any) {
			rep.contradicted = append(rep.contradicted, fmt.Sprintf(format, args...))
			rep.contradictedBy[fmt.Sprintf("%s %d", c.kind, c.status)]++
		}
		ids := keyed[c.key]
		if len(ids) > 0 {
			rep.matched++
		}
		where := func() string {
			var s []string
			for _, id := range ids {
				s = append(s, fmt.Sprintf("%s at %d-%d", id, runs[id].first, runs[id].last))
			}
			slices.Sort(s)
			return strings.Join(s, ", ")
		}
		name := fmt.Sprintf("%s %s (key %s, %s, %d attempts)", c.kind, c.path, c.key, c.principal, c.attempts)
		for _, id := range ids {
			for _, e := range runs[id].events {
				if !strings.HasPrefix(e.Actor, c.principal.String()) { // "<principal>/token:<id>" today
					contradict("%s: its event %s names actor %q", name, e.Type, e.Actor)
					break
				}
			}
		}
		switch {
		case !c.answered:
			continue // either way is right; a duplicate would show above
		case c.status >= 300:
			if len(ids) > 0 {
				contradict("%s: answered %d %s, yet the log holds it: %s", name, c.status, problemType(c.answer), where())
			}
		case c.kind == "register_batch":
			var res struct {
				Results []struct {
					Status int             `json:"status"`
					Result json.RawMessage `json:"result"`
				} `json:"results"`
			}
			if err := json.Unmarshal(c.answer, &res); err != nil {
				contradict("%s: answer %s: %v", name, c.answer, err)
				continue
			}
			for index := range ids {
				if index < 0 || index >= len(res.Results) {
					contradict("%s: the log holds household %d of a batch of %d", name, index, len(res.Results))
				}
			}
			for i, item := range res.Results {
				id, in := ids[i]
				switch {
				case item.Status < 300 && !in:
					rep.lost = append(rep.lost, fmt.Sprintf("%s: household %d answered %d, not in the log", name, i, item.Status))
				case item.Status >= 300 && in:
					contradict("%s: household %d answered %d, yet the log holds it at %d-%d", name, i, item.Status, runs[id].first, runs[id].last)
				case in:
					if err := checkAnswer("register_household", c, item.Result, runs[id]); err != nil {
						contradict("%s: household %d: %v", name, i, err)
					}
				}
			}
		default:
			id, in := ids[-1]
			if !in {
				rep.lost = append(rep.lost, fmt.Sprintf("%s: answered %d, not in the log", name, c.status))
				continue
			}
			if len(ids) > 1 {
				contradict("%s: one command, several in the log: %s", name, where())
			}
			if err := checkAnswer(c.kind, c, c.answer, runs[id]); err != nil {
				contradict("%s: %v", name, err)
			}
		}
	}
	return rep
}

// problemType is the anchor of a problem's type, for a short message.
func problemType(answer []byte) string {
	var p struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(answer, &p)
	_, anchor, _ := strings.Cut(p.Type, "#")
	return anchor + " (" + p.Detail + ")"
}

// referralEvent is the event each command on a referral or need writes on it.
var referralEvent = map[string]string{
	"accept": "need.referral_accepted", "decline": "need.referral_declined", "escalate": "need.escalated",
	"start": "need.service_started", "complete": "need.service_completed", "withdraw_need": "need.withdrawn",
}

// checkAnswer checks an acknowledged command's answer against what the log holds
// for it: the same ids, the position of its last event, and (unless replayed)
// the state it left the need in.
func checkAnswer(kind string, c *command, answer []byte, r *cmdRun) error {
	var a struct {
		HouseholdID string `json:"household_id"`
		Needs       []struct {
			NeedID   string `json:"need_id"`
			Category string `json:"category"`
		} `json:"needs"`
		OfferID    string            `json:"offer_id"`
		Version    int64             `json:"version"`
		NeedID     string            `json:"need_id"`
		ReferralID string            `json:"referral_id"`
		Status     domain.NeedStatus `json:"status"`
		Tier       int               `json:"tier"`
		Position   int64             `json:"position"`
		Replayed   bool              `json:"replayed"`
	}
	if err := json.Unmarshal(answer, &a); err != nil {
		return fmt.Errorf("answer %s: %w", answer, err)
	}
	if a.Position != r.last {
		return fmt.Errorf("answer names position %d, the command's last event is at %d", a.Position, r.last)
	}
	if a.Replayed && c.attempts == 1 {
		return fmt.Errorf("its first attempt was answered as replayed")
	}
	count := func(typ, aggregate string) int {
		n := 0
		for _, e := range r.events {
			if e.Type == typ && (aggregate == "" || e.AggregateID == aggregate) {
				n++
			}
		}
		return n
	}
	needsOf := func() []string {
		var out []string
		for _, e := range r.events {
			if p, ok := e.Payload.(domain.NeedRegistered); ok {
				out = append(out, e.AggregateID+"/"+p.Category)
			}
		}
		slices.Sort(out)
		return out
	}
	answered := func() []string {
		var out []string
		for _, n := range a.Needs {
			out = append(out, n.NeedID+"/"+n.Category)
		}
		slices.Sort(out)
		return out
	}
	switch kind {
	case "register_household":
		if count("household.registered", a.HouseholdID) != 1 || count("household.registered", "") != 1 {
			return fmt.Errorf("answer names household %s; the log's command registered another or several", a.HouseholdID)
		}
		if !slices.Equal(needsOf(), answered()) {
			return fmt.Errorf("answer names needs %v, the log's command registered %v", answered(), needsOf())
		}
	case "register_needs":
		if a.HouseholdID != c.target || !slices.Equal(needsOf(), answered()) {
			return fmt.Errorf("answer names household %s needs %v, the log's command registered %v for %s", a.HouseholdID, answered(), needsOf(), c.target)
		}
	case "post_offer":
		if count("offer.posted", a.OfferID) != 1 || len(r.events) != 1 {
			return fmt.Errorf("answer names offer %s; the log's command posted another", a.OfferID)
		}
	case "change_capacity", "withdraw_offer":
		typ := map[string]string{"change_capacity": "offer.capacity_changed", "withdraw_offer": "offer.withdrawn"}[kind]
		if a.OfferID != c.target || len(r.events) != 1 || r.events[0].Type != typ || r.events[0].AggregateID != c.target {
			return fmt.Errorf("answer names offer %s; the log's command wrote %s on %s", a.OfferID, r.events[0].Type, r.events[0].AggregateID)
		}
		if kind == "change_capacity" {
			var body struct{ Capacity int }
			_ = json.Unmarshal(c.body, &body)
			if p := r.events[0].Payload.(domain.OfferCapacityChanged); p.Capacity != body.Capacity || a.Version != r.events[0].AggregateVersion {
				return fmt.Errorf("answer says version %d; the log's command set capacity %d (asked %d) at version %d", a.Version, p.Capacity, body.Capacity, r.events[0].AggregateVersion)
			}
		}
	default:
		typ := referralEvent[kind]
		var hit *domain.Event
		for i, e := range r.events {
			if e.Type == typ && e.AggregateID == a.NeedID {
				hit = &r.events[i]
			}
		}
		if hit == nil {
			return fmt.Errorf("answer names need %s; the log's command wrote no %s on it", a.NeedID, typ)
		}
		if kind == "withdraw_need" && a.NeedID != c.target {
			return fmt.Errorf("answer names need %s, the command withdrew %s", a.NeedID, c.target)
		}
		if id := referralOf(hit.Payload); kind != "withdraw_need" && id != c.target {
			return fmt.Errorf("the log's %s names referral %s, the command was on %s", typ, id, c.target)
		}
		if n := r.needs[a.NeedID]; !a.Replayed && (n.Status != a.Status || n.Tier != a.Tier) {
			return fmt.Errorf("answer says %s at tier %d; the log's command left the need %s at tier %d", a.Status, a.Tier, n.Status, n.Tier)
		}
	}
	return nil
}

// referralOf is the referral an event on a need names.
func referralOf(p domain.Payload) string {
	switch p := p.(type) {
	case domain.ReferralAccepted:
		return p.ReferralID
	case domain.ReferralDeclined:
		return p.ReferralID
	case domain.NeedEscalated:
		return p.ReferralID
	case domain.ServiceStarted:
		return p.ReferralID
	case domain.ServiceCompleted:
		return p.ReferralID
	case domain.NeedWithdrawn:
		return p.ReferralID
	case domain.ReferralCancelled:
		return p.ReferralID
	}
	return ""
}

// checkInvariants folds the log and checks DESIGN's invariants: at every
// position, each aggregate's versions follow one another, no offer commits more
// than its capacity, a need's tier never goes down and it moves from one state to
// the next only as its rules allow; after each command (an atomic append), a need
// holds a unit of an offer exactly while it has a referral, and never two. It
// also records the need states after each command in runs.
func checkInvariants(events []domain.Event, positions []int64, runs map[string]*cmdRun) []string {
	var out []string
	bad := func(pos int64, format string, args ...any) {
		out = append(out, fmt.Sprintf("position %d: ", pos)+fmt.Sprintf(format, args...))
	}
	versions := map[domain.AggregateRef]int64{}
	needs := map[string]domain.Need{}
	offers := map[string]domain.Offer{}
	units := map[string]map[string]string{} // need → referral → offer holding a unit for it
	touched := map[string]bool{}
	allowed := map[string][]domain.NeedStatus{
		"need.referral_proposed":  {domain.StatusOpen, domain.StatusWaitlisted, domain.StatusHeld},
		"need.held":               {domain.StatusOpen, domain.StatusHeld, domain.StatusWaitlisted},
		"need.referral_accepted":  {domain.StatusProposed},
		"need.referral_declined":  {domain.StatusProposed},
		"need.referral_cancelled": {domain.StatusProposed, domain.StatusAccepted},
		"need.escalated":          {domain.StatusOpen, domain.StatusProposed, domain.StatusHeld},
		"need.waitlisted":         {domain.StatusOpen, domain.StatusWaitlisted, domain.StatusHeld},
		"need.service_started":    {domain.StatusAccepted},
		"need.service_completed":  {domain.StatusInService},
		"need.withdrawn":          {domain.StatusOpen, domain.StatusWaitlisted, domain.StatusHeld, domain.StatusProposed, domain.StatusAccepted},
	}
	holds := map[domain.NeedStatus]bool{domain.StatusProposed: true, domain.StatusAccepted: true, domain.StatusInService: true, domain.StatusCompleted: true}
	for i, e := range events {
		pos := positions[i]
		ref := e.Aggregate()
		if e.AggregateVersion != versions[ref]+1 {
			bad(pos, "%s at version %d after %d", ref, e.AggregateVersion, versions[ref])
		}
		versions[ref] = e.AggregateVersion
		switch e.AggregateType {
		case domain.AggregateNeed:
			before := needs[e.AggregateID]
			after := before.Evolve(e)
			if e.Type == "need.registered" {
				if before.Version != 0 {
					bad(pos, "need %s registered twice", e.AggregateID)
				}
			} else if ok := allowed[e.Type]; ok == nil || !slices.Contains(ok, before.Status) {
				bad(pos, "need %s: %s while %s", e.AggregateID, e.Type, before.Status)
			} else if id := referralOf(e.Payload); id != "" && e.Type != "need.referral_proposed" && id != before.ReferralID {
				bad(pos, "need %s: %s names referral %s, its referral is %q", e.AggregateID, e.Type, id, before.ReferralID)
			}
			// The tier an event puts the need at (Evolve keeps the highest, so the
			// events themselves are checked).
			to := after.Tier
			switch p := e.Payload.(type) {
			case domain.ReferralProposed:
				to = p.Tier
			case domain.NeedEscalated:
				if p.From != before.Tier {
					bad(pos, "need %s escalated from tier %d while at %d", e.AggregateID, p.From, before.Tier)
				}
				to = p.To
			}
			if before.Version > 0 && to < before.Tier || to < domain.TierCommunity || to > domain.TierDistrict {
				bad(pos, "need %s went from tier %d to %d", e.AggregateID, before.Tier, to)
			}
			if holds[after.Status] != (after.ReferralID != "") {
				bad(pos, "need %s is %s with referral %q", e.AggregateID, after.Status, after.ReferralID)
			}
			needs[e.AggregateID] = after
			touched[e.AggregateID] = true
			runs[e.CommandID].needs[e.AggregateID] = after
		case domain.AggregateOffer:
			o := offers[e.AggregateID].Evolve(e)
			if o.Committed > o.Capacity || o.Committed < 0 {
				bad(pos, "offer %s commits %d of %d", o.ID, o.Committed, o.Capacity)
			}
			offers[e.AggregateID] = o
			switch p := e.Payload.(type) {
			case domain.OfferUnitReserved:
				if units[p.NeedID] == nil {
					units[p.NeedID] = map[string]string{}
				}
				if _, twice := units[p.NeedID][p.ReferralID]; twice {
					bad(pos, "offer %s reserves a unit for referral %s twice", o.ID, p.ReferralID)
				}
				units[p.NeedID][p.ReferralID] = o.ID
				touched[p.NeedID] = true
			case domain.OfferUnitReleased:
				if units[p.NeedID][p.ReferralID] != o.ID {
					bad(pos, "offer %s releases a unit referral %s did not hold", o.ID, p.ReferralID)
				}
				delete(units[p.NeedID], p.ReferralID)
				touched[p.NeedID] = true
			}
		}
		if i+1 < len(events) && events[i+1].CommandID == e.CommandID {
			continue // inside one atomic append
		}
		for id := range touched {
			n, held := needs[id], units[id]
			switch {
			case len(held) > 1:
				bad(pos, "need %s holds %d units (%v): more than one live referral", id, len(held), held)
			case holds[n.Status] && (len(held) != 1 || held[n.ReferralID] != n.OfferID):
				bad(pos, "need %s is %s with referral %s of offer %s, and holds units %v", id, n.Status, n.ReferralID, n.OfferID, held)
			case !holds[n.Status] && len(held) != 0:
				bad(pos, "need %s is %s and holds units %v", id, n.Status, held)
			}
		}
		clear(touched)
	}
	return out
}
