package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog/memlog"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/infra/sessions"
	"github.com/tierlink/tierlink/infra/tokens"
	"github.com/tierlink/tierlink/notification"
	"github.com/tierlink/tierlink/projections/projectionstest"
)

// fakeDeliveries is what delivery recorded, as a test sets it: the subscriptions
// are those of the district's log, the attempts, dead letters and queues are the
// test's.
type fakeDeliveries struct {
	log      *memlog.Log
	attempts map[string][]app.DeliveryAttempt
	dead     map[string][]app.DeadLetter
	queue    map[string]int64
}

func (f *fakeDeliveries) Attempts(_ context.Context, _, sub string, limit int) ([]app.DeliveryAttempt, error) {
	out := f.attempts[sub]
	return out[:min(limit, len(out))], nil
}
func (f *fakeDeliveries) DeadLetters(_ context.Context, _, sub string, limit int) ([]app.DeadLetter, error) {
	out := f.dead[sub]
	return out[:min(limit, len(out))], nil
}
func (f *fakeDeliveries) QueueDepth(_ context.Context, _, sub string) (int64, error) {
	return f.queue[sub], nil
}
func (f *fakeDeliveries) Subscriptions(ctx context.Context, district string) ([]domain.Subscription, error) {
	entries, err := f.log.ReadPartition(ctx, district, 1, 0)
	if err != nil {
		return nil, err
	}
	var out []domain.Subscription
	at := map[string]int{}
	for _, e := range entries {
		if e.Event.AggregateType != domain.AggregateSubscription {
			continue
		}
		i, ok := at[e.Event.AggregateID]
		if !ok {
			i = len(out)
			at[e.Event.AggregateID] = i
			out = append(out, domain.Subscription{})
		}
		out[i] = out[i].Evolve(e.Event)
	}
	return out, nil
}

// sessionsOf resumes one session per principal: its id is the principal's name.
type sessionsOf map[string]domain.Principal

func (m sessionsOf) Start(context.Context, string) (string, sessions.Session, error) {
	return "", sessions.Session{}, tokens.ErrUnknownToken
}
func (m sessionsOf) Resume(_ context.Context, id string) (sessions.Session, error) {
	p, ok := m[id]
	if !ok {
		return sessions.Session{}, sessions.ErrNoSession
	}
	return sessions.Session{Principal: p, TokenID: "tok-" + id}, nil
}
func (m sessionsOf) Check(ctx context.Context, id string) (sessions.Session, error) {
	return m.Resume(ctx, id)
}
func (m sessionsOf) End(context.Context, string) error { return nil }
func (m sessionsOf) Lifetime() time.Duration           { return time.Hour }

// notifWorld is a district with a provider's and a centre's subscriptions, what
// delivery recorded of them, and the pages over it.
type notifWorld struct {
	t          *testing.T
	s          *Server
	a          *app.Application
	l          *memlog.Log
	fake       *fakeDeliveries
	district   string
	providerID string // the subscription of provider A
	centreID   string // the subscription of the community centre
	dead       string // a dead letter of provider A's subscription
}

const (
	asOwner    = "provider-a"
	asOther    = "provider-b"
	asCentre   = "centre"
	asOperator = "operator"
)

func newNotifWorld(t *testing.T) *notifWorld {
	t.Helper()
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	fake := &fakeDeliveries{attempts: map[string][]app.DeliveryAttempt{}, dead: map[string][]app.DeadLetter{}, queue: map[string]int64{}}
	a, l := pagesAppWith(t, ref, &memViews{Memory: projectionstest.NewMemory()}, &now, func(l *memlog.Log) app.DeliveryLog {
		fake.log = l
		return fake
	})
	community := ref.Geography.Districts()[0].Streets[0].Communities[0].Code
	category := ref.Taxonomy.Categories()[0].Code
	who := map[string]domain.Principal{}
	who[asOwner], _ = domain.NewPrincipal(domain.RoleProvider, "prov-a", 0, "")
	who[asOther], _ = domain.NewPrincipal(domain.RoleProvider, "prov-b", 0, "")
	who[asCentre], _ = domain.NewPrincipal(domain.RoleCentre, "", domain.TierCommunity, community)
	who[asOperator], _ = domain.NewPrincipal(domain.RoleOperator, "", 0, "")
	w := &notifWorld{t: t, a: a, l: l, fake: fake, district: ref.Geography.Districts()[0].Code}
	create := func(as, path string, kinds, cats []string) string {
		res, err := a.Commands.CreateSubscription.Handle(context.Background(), app.CreateSubscriptionInput{District: w.district,
			URL: "https://hooks.example.org/" + path, Kinds: kinds, Categories: cats}, app.Meta{Principal: who[as], Actor: who[as].String()})
		if err != nil {
			t.Fatal(err)
		}
		return res.Subscription.ID
	}
	w.providerID = create(asOwner, "provider-a-secret-path", []string{domain.KindReferralProposed, domain.KindOfferExhausted}, nil)
	w.centreID = create(asCentre, "centre-path", []string{domain.KindReminder, domain.KindDigest}, []string{category})
	w.dead = "0b6f8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	at := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai
	fake.attempts[w.providerID] = []app.DeliveryAttempt{
		{DeliveryID: "aaaa1111-0000-4000-8000-000000000003", Kind: domain.KindOfferExhausted, Attempt: 1, Time: at.Add(2 * time.Minute), Status: 204, LatencyMS: 87, Outcome: "delivered"},
		{DeliveryID: w.dead, Kind: domain.KindReferralProposed, Attempt: 8, Time: at.Add(time.Minute), Error: "connection refused", LatencyMS: 3, Outcome: "dead"},
		{DeliveryID: w.dead, Kind: domain.KindReferralProposed, Attempt: 7, Time: at, Status: 503, LatencyMS: 120, Outcome: "retry"},
	}
	fake.dead[w.providerID] = []app.DeadLetter{{DeliveryID: w.dead, Kind: domain.KindReferralProposed, Reason: "connection refused", Attempts: 8,
		First: at.Add(-time.Hour), Last: at.Add(time.Minute)}}
	fake.queue[w.providerID] = 4
	s, err := New(Config{App: a, Sessions: sessionsOf(who)})
	if err != nil {
		t.Fatal(err)
	}
	w.s = s
	return w
}

// get fetches a page as a principal, in a language, through the server's routes.
func (w *notifWorld) get(as, lang, path string) (int, string) {
	w.t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: as})
	r.AddCookie(&http.Cookie{Name: langCookie, Value: lang})
	rec := httptest.NewRecorder()
	w.s.ServeHTTP(rec, r)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

// post sends a form as a principal, with its session's form token unless csrf is false.
func (w *notifWorld) post(as, lang, path string, form url.Values, csrf bool) *httptest.ResponseRecorder {
	w.t.Helper()
	if csrf {
		form.Set("csrf", visitor{session: as}.csrf())
	}
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: as})
	r.AddCookie(&http.Cookie{Name: langCookie, Value: lang})
	rec := httptest.NewRecorder()
	w.s.ServeHTTP(rec, r)
	return rec
}

// redeliveries counts the redeliveries asked for in the log.
func (w *notifWorld) redeliveries() []string {
	w.t.Helper()
	entries, err := w.l.ReadPartition(context.Background(), w.district, 1, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if p, ok := e.Event.Payload.(domain.RedeliveryRequested); ok {
			out = append(out, e.Event.AggregateID+"/"+p.DeliveryID)
		}
	}
	return out
}

// The notifications page lists the subscriptions each principal may manage, each
// with its URL, kinds in words, categories and queue; the one with none is told
// how to subscribe. Every page speaks both languages with no raw key.
func TestNotificationsPageOverEachPrincipal(t *testing.T) {
	w := newNotifWorld(t)
	providerURL, centreURL := "hooks.example.org/provider-a-secret-path", "hooks.example.org/centre-path"
	for _, lang := range []string{LangZH, LangEN} {
		for _, c := range []struct {
			as         string
			see, notSe []string
		}{
			{asOwner, []string{providerURL, kindText(lang, domain.KindOfferExhausted), fmt.Sprintf(translate(lang, "notif.queue.detail"), 4),
				translate(lang, "notif.categories.all"), "/ui/notifications/" + w.providerID}, []string{centreURL, w.centreID, translate(lang, "notif.none"), `href="/ui/digest"`}},
			{asOther, []string{translate(lang, "notif.none"), "POST /v1/subscriptions", "docs/notifications.md", translate(lang, "notif.howto.title")},
				[]string{providerURL, centreURL, w.providerID, w.centreID}},
			{asCentre, []string{centreURL, kindText(lang, domain.KindDigest), `href="/ui/digest"`}, []string{providerURL, w.providerID}},
			{asOperator, []string{providerURL, centreURL, translate(lang, "notif.owner"), "<dd>prov-a</dd>", `href="/ui/digest"`}, nil},
		} {
			code, body := w.get(c.as, lang, "/ui/notifications")
			if code != http.StatusOK {
				t.Fatalf("%s (%s): %d %s", c.as, lang, code, body)
			}
			for _, want := range c.see {
				if !has(body, want) {
					t.Errorf("%s (%s): the page lacks %q", c.as, lang, want)
				}
			}
			for _, not := range c.notSe {
				if has(body, not) {
					t.Errorf("%s (%s): the page shows %q", c.as, lang, not)
				}
			}
			if !strings.Contains(body, `href="/ui/notifications">`+escape(translate(lang, "nav.notifications"))) {
				t.Errorf("%s (%s): no link to notifications in the nav", c.as, lang)
			}
			noRawKeys(t, c.as+" "+lang, body)
		}
	}
}

// has says whether a page holds a text, as written or as html/template escapes it.
func has(body, text string) bool {
	return strings.Contains(body, text) || strings.Contains(body, escape(text))
}

// noRawKeys fails when a page shows a message key instead of its text.
func noRawKeys(t *testing.T, what, body string) {
	t.Helper()
	for key := range messages[LangEN] {
		if strings.Contains(body, ">"+key+"<") || strings.Contains(body, "> "+key+" <") {
			t.Errorf("%s: the raw key %q is on the page", what, key)
		}
	}
}

// A subscription's page shows its owner and operators its last attempts in the
// district's time with their outcome badges, and its dead letters each with a
// Redeliver form carrying the form token and a key; anyone else is refused with a
// page that names nothing of it, as for a subscription that does not exist.
func TestSubscriptionPageOverEachPrincipal(t *testing.T) {
	w := newNotifWorld(t)
	path := "/ui/notifications/" + w.providerID
	for _, lang := range []string{LangZH, LangEN} {
		for _, as := range []string{asOwner, asOperator} {
			code, body := w.get(as, lang, path)
			if code != http.StatusOK {
				t.Fatalf("%s (%s): %d %s", as, lang, code, body)
			}
			for _, want := range []string{">12-01 10:00:00</time>", `datetime="2026-12-01T02:00:00Z"`, ">0b6f8a4e<", ">503<", ">204<",
				translate(lang, "notif.status.none"), fmt.Sprintf(translate(lang, "notif.latency"), 120),
				`class="badge outcome-delivered">` + translate(lang, "notif.outcome.delivered"), `class="badge outcome-retry">` + translate(lang, "notif.outcome.retry"),
				`class="badge outcome-dead">` + translate(lang, "notif.outcome.dead"), kindText(lang, domain.KindReferralProposed),
				`action="/ui/notifications/` + w.providerID + `/redeliver"`, `name="delivery_id" value="` + w.dead + `"`, `name="csrf" value="` + visitor{session: as}.csrf() + `"`,
				`name="idempotency_key" value="`, translate(lang, "notif.redeliver"), "connection refused"} {
				if !has(body, want) {
					t.Errorf("%s (%s): the page lacks %q", as, lang, want)
				}
			}
			noRawKeys(t, as+" "+lang, body)
		}
		code, body := w.get(asCentre, lang, "/ui/notifications/"+w.centreID)
		if code != http.StatusOK || !strings.Contains(body, translate(lang, "notif.attempts.none")) || !strings.Contains(body, translate(lang, "notif.dead.none")) {
			t.Errorf("centre (%s): its own subscription with nothing delivered: %d %s", lang, code, body)
		}
		for _, c := range []struct {
			as, id string
			status int
		}{{asOther, w.providerID, http.StatusForbidden}, {asCentre, w.providerID, http.StatusForbidden}, {asOwner, w.centreID, http.StatusForbidden},
			// One that does not exist is refused alike: the status tells nothing either.
			{asOwner, "0d4c5e6f-0000-4000-8000-00000000beef", http.StatusForbidden}} {
			code, body := w.get(c.as, lang, "/ui/notifications/"+c.id)
			if code != c.status || !strings.Contains(body, escape(translate(lang, "error.subscription"))) {
				t.Errorf("%s on %s (%s): %d, want %d with the refusal: %s", c.as, c.id, lang, code, c.status, body)
			}
			refusalNamesNothing(t, w, c.as+" "+lang, body)
		}
	}
}

// refusalNamesNothing fails when a refusal names anything of the subscriptions.
func refusalNamesNothing(t *testing.T, w *notifWorld, what, body string) {
	t.Helper()
	for _, secret := range []string{w.providerID, w.centreID, "hooks.example.org", w.dead, "prov-a", "connection refused"} {
		if strings.Contains(body, secret) {
			t.Errorf("%s: the refusal names %q", what, secret)
		}
	}
}

// Redeliver asks for the dead letter again once, however often the form is sent,
// and goes back to the subscription with its flash; a principal that does not own
// the subscription is refused with a page that names nothing of it, a form without
// its token is refused, and a delivery that is not a dead letter is said gone.
func TestRedeliverPostCallsTheCommandAndRefusesOthers(t *testing.T) {
	w := newNotifWorld(t)
	path := "/ui/notifications/" + w.providerID + "/redeliver"
	form := func(key, delivery string) url.Values {
		return url.Values{formKeyField: {key}, "delivery_id": {delivery}}
	}
	key := strings.Repeat("ab", 16)
	for range 2 { // a double click: one request
		rec := w.post(asOwner, LangEN, path, form(key, w.dead), true)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/notifications/"+w.providerID+"?done=redeliver" {
			t.Fatalf("redeliver: %d to %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
	}
	if got := w.redeliveries(); len(got) != 1 || got[0] != w.providerID+"/"+w.dead {
		t.Fatalf("redeliveries asked for: %v, want one of %s", got, w.dead)
	}
	for _, lang := range []string{LangZH, LangEN} {
		_, body := w.get(asOwner, lang, "/ui/notifications/"+w.providerID+"?done=redeliver")
		if !strings.Contains(body, `class="flash" role="status">`+escape(translate(lang, "done.redeliver"))) {
			t.Errorf("%s: no flash after redelivery", lang)
		}
		for _, as := range []string{asOther, asCentre} {
			rec := w.post(as, lang, path, form(strings.Repeat("cd", 16), w.dead), true)
			body := rec.Body.String()
			if rec.Code != http.StatusForbidden || !strings.Contains(body, escape(translate(lang, "error.subscription"))) {
				t.Errorf("%s (%s): %d %s", as, lang, rec.Code, body)
			}
			refusalNamesNothing(t, w, as+" "+lang, body)
		}
		rec := w.post(asOwner, lang, path, form(strings.Repeat("ef", 16), w.dead), false)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), escape(translate(lang, "error.csrf"))) {
			t.Errorf("%s: a form without its token: %d %s", lang, rec.Code, rec.Body)
		}
		rec = w.post(asOwner, lang, path, form(strings.Repeat("01", 16), "0d4c5e6f-0000-4000-8000-00000000cafe"), true)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), escape(translate(lang, "error.redeliver.gone"))) {
			t.Errorf("%s: a delivery that is no dead letter: %d %s", lang, rec.Code, rec.Body)
		}
	}
	// An operator may redeliver any subscription's.
	if rec := w.post(asOperator, LangEN, path, form(strings.Repeat("02", 16), w.dead), true); rec.Code != http.StatusSeeOther {
		t.Errorf("operator: %d %s", rec.Code, rec.Body)
	}
	if got := w.redeliveries(); len(got) != 2 {
		t.Errorf("redeliveries asked for: %v, want the owner's and the operator's", got)
	}
}

// inboxWorld is a community centre with proposals awaiting its answer, needs held
// and waitlisted, and one proposal awaiting its street's answer.
type inboxWorld struct {
	s                           *Server
	now                         *time.Time
	centre, street, operator, p domain.Principal
	proposed                    time.Time
	deadline                    time.Time
	community, streetCode       string
}

func newInboxWorld(t *testing.T) *inboxWorld {
	t.Helper()
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	district := ref.Geography.Districts()[0].Code
	street := ref.Geography.Districts()[0].Streets[0]
	community := street.Communities[0].Code
	category := ref.Taxonomy.Categories()[0]
	now := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	views := &memViews{Memory: projectionstest.NewMemory()}
	a, l := pagesApp(t, ref, views, &now)
	w := &inboxWorld{now: &now, community: community, streetCode: street.Code, proposed: now, deadline: now.Add(48 * time.Hour)}
	w.centre, _ = domain.NewPrincipal(domain.RoleCentre, "", domain.TierCommunity, community)
	w.street, _ = domain.NewPrincipal(domain.RoleCentre, "", domain.TierStreet, street.Code)
	w.operator, _ = domain.NewPrincipal(domain.RoleOperator, "", 0, "")
	w.p, _ = domain.NewPrincipal(domain.RoleProvider, "prov-a", 0, "")
	var needs []string
	for range 5 {
		res, err := a.Commands.RegisterHousehold.Handle(context.Background(), app.RegisterHouseholdInput{Community: community,
			Assessment: domain.Assessment{domain.DimIncome: 3}, Needs: []app.NeedInput{{Category: category.Code, Urgency: domain.UrgencyHigh}}},
			app.Meta{Principal: w.centre, Actor: w.centre.String()})
		if err != nil {
			t.Fatal(err)
		}
		needs = append(needs, res.Needs[0].NeedID)
	}
	models := foldLog(t, l, views, district)
	decide := func(need string, p domain.Payload) { models.decide(need, now, p) }
	// r-late's deadline is the sooner: the digest lists it first.
	decide(needs[0], domain.ReferralProposed{ReferralID: "r-soon", OfferID: "o1", Tier: 1, Rule: "r", Candidates: 1, Deadline: w.deadline})
	decide(needs[1], domain.ReferralProposed{ReferralID: "r-first", OfferID: "o1", Tier: 1, Rule: "r", Candidates: 1, Deadline: now.Add(6 * time.Hour)})
	decide(needs[2], domain.NeedEscalated{From: 1, To: 2, Reason: domain.EscalatedNoSupply})
	decide(needs[2], domain.NeedHeld{Tier: 2, Until: now.Add(2 * time.Hour), Competing: 4, Free: 1})
	decide(needs[3], domain.NeedEscalated{From: 1, To: 2, Reason: domain.EscalatedNoSupply})
	decide(needs[3], domain.NeedEscalated{From: 2, To: 3, Reason: domain.EscalatedNoSupply})
	decide(needs[3], domain.NeedWaitlisted{Reason: domain.EscalatedNoSupply})
	decide(needs[4], domain.NeedEscalated{From: 1, To: 2, Reason: domain.EscalatedNoSupply})
	decide(needs[4], domain.ReferralProposed{ReferralID: "r-street", OfferID: "o1", Tier: 2, Rule: "r", Candidates: 1, Deadline: now.Add(3 * time.Hour)})
	w.s, err = New(Config{App: a, Sessions: noSessions{}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// page renders a handler's page for a visitor.
func (w *inboxWorld) page(t *testing.T, lang string, who domain.Principal, path string, h func(http.ResponseWriter, *http.Request, visitor)) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", path, nil), visitor{lang: lang, who: who, session: "s"})
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

// An inbox card of a proposal is marked "Reminder sent" exactly when a reminder is
// due (notification.RemindersDue > 0), "Final reminder" when the second is, with
// the time it went in the district's zone.
func TestReminderBadgeExactlyWhenDue(t *testing.T) {
	w := newInboxWorld(t)
	half, before, second := notification.ReminderTimes(w.proposed, w.deadline)
	if !second {
		t.Fatal("the fixture's proposal should have two reminders")
	}
	for _, at := range []time.Duration{0, time.Hour, 24*time.Hour - time.Second, 24 * time.Hour, 30 * time.Hour, 44*time.Hour - time.Second,
		44 * time.Hour, 47 * time.Hour, 49 * time.Hour} {
		*w.now = w.proposed.Add(at)
		due := notification.RemindersDue(w.proposed, w.deadline, *w.now)
		for _, lang := range []string{LangZH, LangEN} {
			code, body := w.page(t, lang, w.centre, "/ui/inbox", w.s.inbox)
			if code != http.StatusOK {
				t.Fatalf("%v: %d %s", at, code, body)
			}
			start := strings.Index(body, `id="r-r-soon"`)
			if start < 0 {
				t.Fatalf("%v: the card is not in the inbox", at)
			}
			card := body[start:]
			card = card[:strings.Index(card, "</li>")]
			marked := strings.Contains(card, `class="badge remind`)
			if marked != (due > 0) {
				t.Errorf("%v (%s): %d reminders due, badge shown %v", at, lang, due, marked)
			}
			want := ""
			switch due {
			case 1:
				want = translate(lang, "inbox.badge.reminded") + `</span><span class="muted reminded">` + escape(fmt.Sprintf(translate(lang, "inbox.reminded.at"), local(half).Format("01-02 15:04")))
			case 2:
				want = translate(lang, "inbox.badge.final") + `</span><span class="muted reminded">` + escape(fmt.Sprintf(translate(lang, "inbox.reminded.at"), local(before).Format("01-02 15:04")))
			}
			if want != "" && !strings.Contains(card, want) {
				t.Errorf("%v (%s): the card lacks %q:\n%s", at, lang, want, card)
			}
			if strings.Contains(body, `id="r-r-first"`) && due == 0 && strings.Contains(body, translate(lang, "inbox.badge.final")) {
				t.Errorf("%v (%s): a final reminder shown with none due", at, lang)
			}
		}
	}
	*w.now = w.proposed.Add(25 * time.Hour)
	if _, body := w.page(t, LangZH, w.centre, "/ui/inbox", w.s.inbox); !strings.Contains(body, "已提醒") || !strings.Contains(body, "12-02 09:00 发出") {
		t.Errorf("zh-CN: the reminder of 12-02 01:00 UTC reads 09:00 Beijing time:\n%s", body)
	}
}

// The digest page lists what waits on a centre's node now, soonest deadline first,
// with the deadline in the district's time and the time left, and counts its
// households' needs held for a round and waitlisted; an operator's lists what waits
// on every node of the district. A provider has no digest.
func TestDigestPageOverEachPrincipal(t *testing.T) {
	w := newInboxWorld(t)
	for _, lang := range []string{LangZH, LangEN} {
		code, body := w.page(t, lang, w.centre, "/ui/digest", w.s.digest)
		if code != http.StatusOK {
			t.Fatalf("centre (%s): %d %s", lang, code, body)
		}
		first, soon := strings.Index(body, `id="w-r-first"`), strings.Index(body, `id="w-r-soon"`)
		if first < 0 || soon < 0 || first > soon {
			t.Errorf("centre (%s): the proposals are not soonest deadline first (%d, %d)", lang, first, soon)
		}
		if strings.Contains(body, "r-street") {
			t.Errorf("centre (%s): the digest lists a proposal that waits on the street", lang)
		}
		for _, want := range []string{fmt.Sprintf(translate(lang, "digest.waiting.total"), 2), fmt.Sprintf(translate(lang, "digest.held"), 1),
			fmt.Sprintf(translate(lang, "digest.waitlisted"), 1), ">2026-12-01 15:00</time>", `datetime="2026-12-01T07:00:00Z"`,
			timeLeft(lang, *w.now, w.now.Add(6*time.Hour)), fmt.Sprintf(translate(lang, "digest.when"), "08:00"), translate(lang, "digest.waiting")} {
			if !has(body, want) {
				t.Errorf("centre (%s): the digest lacks %q", lang, want)
			}
		}
		noRawKeys(t, "digest "+lang, body)
		code, body = w.page(t, lang, w.operator, "/ui/digest", w.s.digest)
		if code != http.StatusOK {
			t.Fatalf("operator (%s): %d %s", lang, code, body)
		}
		street, first := strings.Index(body, `id="w-r-street"`), strings.Index(body, `id="w-r-first"`)
		if street < 0 || first < 0 || street > first || !strings.Contains(body, escape(fmt.Sprintf(translate(lang, "digest.waiting.total"), 3))) {
			t.Errorf("operator (%s): the district's digest should list the three proposals, the street's first:\n%s", lang, body)
		}
		code, body = w.page(t, lang, w.p, "/ui/digest", w.s.digest)
		if code != http.StatusForbidden || !strings.Contains(body, escape(translate(lang, "error.digest"))) {
			t.Errorf("provider (%s): %d %s", lang, code, body)
		}
	}
	*w.now = w.now.Add(-time.Hour)
	code, body := w.page(t, LangEN, w.street, "/ui/digest", w.s.digest)
	if code != http.StatusOK || !strings.Contains(body, `id="w-r-street"`) || strings.Contains(body, `id="w-r-first"`) {
		t.Errorf("street centre: its digest lists its own proposal only: %d %s", code, body)
	}
}

// Every kind of notification is said in both languages.
func TestEveryKindHasItsText(t *testing.T) {
	for _, k := range domain.NotificationKinds {
		for _, lang := range []string{LangZH, LangEN} {
			if kindText(lang, k) == k {
				t.Errorf("kind %s has no %s text", k, lang)
			}
		}
	}
	for _, o := range []string{"delivered", "retry", "dead"} {
		for _, lang := range []string{LangZH, LangEN} {
			if messages[lang]["notif.outcome."+o] == "" {
				t.Errorf("outcome %s has no %s text", o, lang)
			}
		}
	}
}

// TestDeadLetterReasonsInBothLanguages checks that the dispatcher's reasons read in
// the page's language, the receiver's own words kept as they are.
func TestDeadLetterReasonsInBothLanguages(t *testing.T) {
	for _, c := range []struct{ lang, in, want string }{
		{"zh-CN", "the receiver refused it with status 410: this endpoint is gone", "接收方以 HTTP 410 拒收：this endpoint is gone"},
		{"en", "the receiver refused it with status 410: this endpoint is gone", "the receiver refused it with HTTP 410: this endpoint is gone"},
		{"zh-CN", "undelivered 24h0m0s after it was queued: status 503: busy", "排队 24h0m0s 后仍未送达，最后一次错误：status 503: busy"},
		{"en", "undelivered 24h0m0s after it was queued: status 503: busy", "undelivered 24h0m0s after it was queued; last error: status 503: busy"},
		{"zh-CN", "something else", "something else"},
	} {
		if got := reasonText(c.lang, c.in); got != c.want {
			t.Errorf("reasonText(%s, %q) = %q, want %q", c.lang, c.in, got, c.want)
		}
	}
}
