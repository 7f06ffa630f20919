package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog/applog"
	"github.com/tierlink/tierlink/infra/eventlog/memlog"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/projections"
)

// The command tests run the application over the in-memory log, with the sample
// reference data: district changning, street huayang, community huayang-01 (which
// links material aid itself) and huayang-02.
const (
	district  = "changning"
	community = "huayang-01"
	category  = "material_aid"
)

// Principals of the tests.
var (
	centre      = principal(domain.RoleCentre, "", domain.TierCommunity, community)
	otherCentre = principal(domain.RoleCentre, "", domain.TierCommunity, "huayang-02")
	street      = principal(domain.RoleCentre, "", domain.TierStreet, "huayang")
	provider    = principal(domain.RoleProvider, "p1", 0, "")
	rival       = principal(domain.RoleProvider, "p2", 0, "")
	operator    = principal(domain.RoleOperator, "", 0, "")
)

func principal(role domain.Role, provider string, tier int, area string) domain.Principal {
	p, err := domain.NewPrincipal(role, provider, tier, area)
	if err != nil {
		panic(err)
	}
	return p
}

// as is the meta of a command sent by who, with an Idempotency-Key if key is not "".
func as(who domain.Principal, key string) app.Meta {
	return app.Meta{Principal: who, Actor: who.String(), Key: key}
}

// fixture is an application over an in-memory log, at a time the test sets.
type fixture struct {
	t   *testing.T
	log *memlog.Log
	app *app.Application
	now time.Time
}

type references struct{ ref *domain.Reference }

func (r references) Current() *domain.Reference { return r.ref }

// noViews stands for the read models, which the commands do not read.
type noViews struct{}

var errNoViews = errors.New("the command tests have no read models")

func (noViews) FindNeed(context.Context, string) (projections.NeedView, bool, error) {
	return projections.NeedView{}, false, errNoViews
}
func (noViews) Household(context.Context, string) (projections.HouseholdView, bool, error) {
	return projections.HouseholdView{}, false, errNoViews
}
func (noViews) Offer(context.Context, string) (projections.OfferView, bool, error) {
	return projections.OfferView{}, false, errNoViews
}
func (noViews) Needs(context.Context, string, []string) ([]*projections.NeedView, error) {
	return nil, errNoViews
}
func (noViews) Offers(context.Context, string, []string) ([]*projections.OfferView, error) {
	return nil, errNoViews
}
func (noViews) NeedsOfReferrals(context.Context, string, []string) ([]string, error) {
	return nil, errNoViews
}
func (noViews) Page(context.Context, string, string, app.Cursor, int) ([]app.Cursor, error) {
	return nil, errNoViews
}
func (noViews) Checkpoint(context.Context, string) (int64, error) { return 0, errNoViews }
func (noViews) Latest(context.Context, string, string, int) ([]string, error) {
	return nil, errNoViews
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureReading(t, noViews{})
}

// newFixtureReading is a fixture whose queries read views.
func newFixtureReading(t *testing.T, views app.Views) *fixture {
	t.Helper()
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	registry := domain.NewRegistry()
	l, err := memlog.New(registry)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, log: l, now: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)}
	f.app, err = app.New(app.Config{
		Log: applog.New(l, []string{district}), NeedViews: noViews{}, Referrals: l, Views: views,
		Registry: registry, References: references{ref},
		NewID: func() string { return uuid.Must(uuid.NewV7()).String() },
		Now:   func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// head is the position of the district's last event.
func (f *fixture) head() int64 {
	f.t.Helper()
	h, err := f.log.Head(context.Background(), district)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

// since returns the types of the events written after position from.
func (f *fixture) since(from int64) []string {
	f.t.Helper()
	entries, err := f.log.ReadPartition(context.Background(), district, from+1, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	types := make([]string, len(entries))
	for i, e := range entries {
		types[i] = e.Event.Type
	}
	return types
}

// then fails unless the events written after position from are of the types want.
func (f *fixture) then(from int64, want ...string) {
	f.t.Helper()
	if got := f.since(from); !equal(got, want) {
		f.t.Fatalf("events written %q, want %q", got, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// household registers a household of the community with one need of the
// category, and returns their ids.
func (f *fixture) household() (householdID, needID string) {
	f.t.Helper()
	res, err := f.app.Commands.RegisterHousehold.Handle(context.Background(), app.RegisterHouseholdInput{
		Community: community, TargetGroups: []domain.TargetGroup{domain.GroupLowIncome},
		Needs: []app.NeedInput{{Category: category}},
	}, as(centre, ""))
	if err != nil {
		f.t.Fatal(err)
	}
	return res.HouseholdID, res.Needs[0].NeedID
}

// offer posts provider p1's offer of the category to the community, and returns its id.
func (f *fixture) offer() string {
	f.t.Helper()
	res, err := f.app.Commands.PostOffer.Handle(context.Background(), app.PostOfferInput{
		Category: category, Capacity: 2, ScopeTier: "community", ScopeArea: community,
	}, as(provider, ""))
	if err != nil {
		f.t.Fatal(err)
	}
	return res.OfferID
}

// propose writes the matcher's proposal of the offer for the need at the community
// tier, answer due in a day, and returns the referral's id.
func (f *fixture) propose(needID, offerID string) string {
	f.t.Helper()
	ctx := context.Background()
	referralID := "ref-" + needID
	version := func(ref domain.AggregateRef) int64 {
		_, evs, err := f.log.FindAggregate(ctx, []string{district}, ref)
		if err != nil {
			f.t.Fatal(err)
		}
		return int64(len(evs))
	}
	need := domain.AggregateRef{Type: domain.AggregateNeed, ID: needID}
	offer := domain.AggregateRef{Type: domain.AggregateOffer, ID: offerID}
	evs, err := f.log.Registry().Envelop([]domain.Change{
		{Aggregate: need, ExpectedVersion: version(need), Payloads: []domain.Payload{domain.ReferralProposed{
			ReferralID: referralID, OfferID: offerID, Tier: domain.TierCommunity, Rule: "test", Candidates: 1,
			Deadline: f.now.Add(24 * time.Hour)}}},
		{Aggregate: offer, ExpectedVersion: version(offer), Payloads: []domain.Payload{domain.OfferUnitReserved{ReferralID: referralID, NeedID: needID}}},
	}, domain.Meta{Partition: district, Time: f.now, Actor: "matcher", CommandID: "match:" + needID}, func() string { return uuid.NewString() })
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.log.Append(ctx, evs); err != nil {
		f.t.Fatal(err)
	}
	return referralID
}

// proposed is a need with a referral proposed to an offer.
type proposed struct{ household, need, offer, referral string }

// givenProposal registers a household with a need, posts an offer and proposes it.
func (f *fixture) givenProposal() proposed {
	f.t.Helper()
	var p proposed
	p.household, p.need = f.household()
	p.offer = f.offer()
	p.referral = f.propose(p.need, p.offer)
	return p
}

// answer sends a centre's answer and fails the test on an error.
func (f *fixture) answer(referralID, kind string) {
	f.t.Helper()
	if _, err := f.app.Commands.AnswerReferral.Handle(context.Background(), domain.Answer{ReferralID: referralID, Kind: kind}, as(centre, "")); err != nil {
		f.t.Fatal(err)
	}
}

// start marks the referral's service started and fails the test on an error.
func (f *fixture) start(referralID string) {
	f.t.Helper()
	if _, err := f.app.Commands.StartService.Handle(context.Background(), referralID, as(provider, "")); err != nil {
		f.t.Fatal(err)
	}
}

// rule is one command under the idempotency and access rule (docs/api.md): owner
// may send it, stranger may not; send sends it, other sends another request.
type rule struct {
	owner, stranger domain.Principal
	send            func(meta app.Meta) (any, error)
	other           func(meta app.Meta) (any, error)
}

// checkRule checks the rule of docs/api.md on a command that takes effect: a
// stranger is refused (also under the owner's key); the owner's retry under its key
// gets the first answer, replayed, and writes nothing; another request under the
// key is refused with ErrCommandReused.
func checkRule(t *testing.T, f *fixture, r rule) {
	t.Helper()
	const key = "key-1"
	before := f.head()
	if _, err := r.send(as(r.stranger, "")); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a stranger: %v, want forbidden", err)
	}
	f.then(before)
	first, err := r.send(as(r.owner, key))
	if err != nil {
		t.Fatalf("the owner: %v", err)
	}
	after := f.head()
	if after == before {
		t.Fatal("the owner's command wrote nothing")
	}
	again, err := r.send(as(r.owner, key))
	if err != nil {
		t.Fatalf("the owner's retry: %v", err)
	}
	if a, b := answer(t, first, false), answer(t, again, true); a != b {
		t.Fatalf("the retry answered %s, the first attempt %s", b, a)
	}
	if _, err := r.other(as(r.owner, key)); !errors.Is(err, app.ErrCommandReused) {
		t.Fatalf("another request under the key: %v, want ErrCommandReused", err)
	}
	if _, err := r.send(as(r.stranger, key)); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a stranger under the owner's key: %v, want forbidden", err)
	}
	f.then(after)
}

// answer returns a command's result as JSON without its "replayed" field, failing
// unless the field says replayed.
func answer(t *testing.T, res any, replayed bool) string {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["replayed"] != replayed {
		t.Fatalf("answer %s: replayed is not %v", b, replayed)
	}
	delete(m, "replayed")
	out, _ := json.Marshal(m)
	return string(out)
}
