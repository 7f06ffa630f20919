package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/notification"
	"github.com/tierlink/tierlink/projections"
)

// The pages of notifications (issue 14): a principal's subscriptions with their
// queues, a subscription's last delivery attempts and dead letters (each may be
// delivered again), and a node's daily digest: what waits on it now.

// attemptsShown is how many delivery attempts a subscription's page shows.
const attemptsShown = 50

// deadShown is how many dead letters a subscription's page shows.
const deadShown = 100

// subRow is one subscription as its page says it.
type subRow struct {
	ID, URL    string
	Owner      string // who subscribed, said in words (operators see everyone's)
	Kinds      []string
	Categories string
	Queue      int64
	Created    time.Time
}

// attemptRow is one delivery attempt in words.
type attemptRow struct {
	app.DeliveryAttempt
	Kind, Short, Status, Latency, Outcome string
}

// deadRow is one dead letter in words.
type deadRow struct {
	app.DeadLetter
	Kind, Short string
}

// The reasons the dispatcher gives a dead letter (infra/webhook): the receiver's
// refusal, or a day of failed retries; what follows is the receiver's own words or
// the last error, shown as they are.
var (
	refusedReason = regexp.MustCompile(`^the receiver refused it with status (\d+): ?(.*)$`)
	agedReason    = regexp.MustCompile(`^undelivered (\S+) after it was queued: ?(.*)$`)
)

// reasonText says a dead letter's reason in the page's language.
func reasonText(lang, reason string) string {
	if m := refusedReason.FindStringSubmatch(reason); m != nil {
		return tfIn(lang, "notif.reason.refused", m[1], m[2])
	}
	if m := agedReason.FindStringSubmatch(reason); m != nil {
		return tfIn(lang, "notif.reason.aged", m[1], m[2])
	}
	return reason
}

// shortDelivery is the first group of a delivery's id: enough to tell deliveries
// apart on a page and to find one in a receiver's log.
func shortDelivery(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// kindText says a notification's kind in lang.
func kindText(lang, kind string) string {
	if t, ok := messages[lang]["notif.kind."+kind]; ok {
		return t
	}
	return kind
}

// ownerText says who a subscription belongs to.
func ownerText(lang string, p domain.Principal, place, provider func(string) string) string {
	switch p.Role {
	case domain.RoleProvider:
		return provider(p.Provider)
	case domain.RoleCentre:
		return translate(lang, "tier."+strconv.Itoa(p.Tier)) + " " + place(p.Area)
	}
	return translate(lang, "notif.owner.operator")
}

// rowOf says a subscription in lang.
func rowOf(lang string, sub app.SubscriptionView, place, category, provider func(string) string) subRow {
	row := subRow{ID: sub.ID, URL: sub.URL, Owner: ownerText(lang, sub.Owner, place, provider), Queue: sub.QueueDepth, Created: sub.Created}
	for _, k := range sub.Kinds {
		row.Kinds = append(row.Kinds, kindText(lang, k))
	}
	var cats []string
	for _, c := range sub.Categories {
		cats = append(cats, category(c))
	}
	row.Categories = strings.Join(cats, translate(lang, "list.sep"))
	if len(cats) == 0 {
		row.Categories = translate(lang, "notif.categories.all")
	}
	return row
}

// namer returns the functions that name areas, categories and providers in lang.
func (s *Server) namer(r *http.Request, v visitor) (place, category, provider func(string) string) {
	areas, categories, providers := s.names(r, v)
	of := func(m map[string]domain.Text) func(string) string {
		return func(code string) string { return textOr(m, v.lang, code) }
	}
	return of(areas), of(categories), of(providers)
}

// notifications lists the visitor's subscriptions in the district (every one to
// an operator), with how to subscribe.
func (s *Server) notifications(w http.ResponseWriter, r *http.Request, v visitor) {
	subs, err := s.cfg.App.Queries.Reads.Subscriptions(r.Context(), s.district(), v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	place, category, provider := s.namer(r, v)
	rows := make([]subRow, 0, len(subs))
	for _, sub := range subs {
		rows = append(rows, rowOf(v.lang, sub, place, category, provider))
	}
	var kinds []string // said in words, with the code the API takes
	for _, k := range domain.KindsFor(v.who.Role) {
		kinds = append(kinds, kindText(v.lang, k)+" ("+k+")")
	}
	example := `{"district": "` + s.district() + `", "url": "https://example.org/hooks/tierlink", "kinds": ["` +
		strings.Join(domain.KindsFor(v.who.Role)[:2], `", "`) + `"]}`
	s.render(w, r, v, http.StatusOK, "notifications", map[string]any{"Subs": rows, "Operator": v.who.Role == domain.RoleOperator,
		"Digest": v.who.Role != domain.RoleProvider, "Kinds": kinds, "Example": example})
}

// refuseSubscription says that the visitor may not see or manage a subscription,
// and nothing of it: neither whose it is nor whether it exists.
func (s *Server) refuseSubscription(w http.ResponseWriter, r *http.Request, v visitor, err error) bool {
	status := http.StatusForbidden
	switch {
	case errors.Is(err, domain.ErrForbidden):
	case errors.Is(err, domain.ErrNotFound):
		status = http.StatusNotFound
	default:
		return false
	}
	// Not even the path asked for: the language switch comes back to the list.
	s.render(w, r, v, status, "error", map[string]any{"Error": translate(v.lang, "error.subscription"), "Back": "/ui/notifications",
		"BackText": translate(v.lang, "error.back.notifications"), "Path": "/ui/notifications"})
	return true
}

// subscriptionPage shows a subscription's last delivery attempts and its dead
// letters, each with a button to deliver it again.
func (s *Server) subscriptionPage(w http.ResponseWriter, r *http.Request, v visitor) {
	id := r.PathValue("id")
	reads := s.cfg.App.Queries.Reads
	sub, err := reads.Subscription(r.Context(), id, v.who)
	if err == nil {
		var attempts []app.DeliveryAttempt
		var dead []app.DeadLetter
		if attempts, err = reads.Deliveries(r.Context(), id, attemptsShown, v.who); err == nil {
			dead, err = reads.DeadLetters(r.Context(), id, deadShown, v.who)
		}
		if err == nil {
			s.showSubscription(w, r, v, sub, attempts, dead)
			return
		}
	}
	if !s.refuseSubscription(w, r, v, err) {
		s.fail(w, r, v, err)
	}
}

func (s *Server) showSubscription(w http.ResponseWriter, r *http.Request, v visitor, sub app.SubscriptionView, attempts []app.DeliveryAttempt, dead []app.DeadLetter) {
	place, category, provider := s.namer(r, v)
	row := rowOf(v.lang, sub, place, category, provider)
	var tries []attemptRow
	for _, a := range attempts {
		t := attemptRow{DeliveryAttempt: a, Kind: kindText(v.lang, a.Kind), Short: shortDelivery(a.DeliveryID),
			Latency: tfIn(v.lang, "notif.latency", a.LatencyMS), Outcome: a.Outcome}
		t.Status = translate(v.lang, "notif.status.none")
		if a.Status != 0 {
			t.Status = strconv.Itoa(a.Status)
		}
		switch a.Outcome {
		case "delivered", "retry", "dead":
		default:
			t.Outcome = "retry"
		}
		tries = append(tries, t)
	}
	var letters []deadRow
	for _, d := range dead {
		d.Reason = reasonText(v.lang, d.Reason)
		letters = append(letters, deadRow{DeadLetter: d, Kind: kindText(v.lang, d.Kind), Short: shortDelivery(d.DeliveryID)})
	}
	s.render(w, r, v, http.StatusOK, "subscription", map[string]any{"Sub": row, "Attempts": tries, "Dead": letters,
		"Operator": v.who.Role == domain.RoleOperator})
}

// redeliver asks for a dead letter to be delivered again, then goes back to the
// subscription's page. The form's key makes a double click take effect once.
func (s *Server) redeliver(w http.ResponseWriter, r *http.Request, v visitor) {
	id := r.PathValue("id")
	// Whether the visitor may manage it first: a refusal names nothing of it.
	if _, err := s.cfg.App.Queries.Reads.Subscription(r.Context(), id, v.who); err != nil {
		if !s.refuseSubscription(w, r, v, err) {
			s.fail(w, r, v, err)
		}
		return
	}
	back := safeBack("/ui/notifications/" + url.PathEscape(id))
	if _, err := s.cfg.App.Commands.Redeliver.Handle(r.Context(), id, r.PostFormValue("delivery_id"), v.meta(r)); err != nil {
		var fe *domain.FieldError
		switch {
		case errors.Is(err, domain.ErrForbidden):
			s.refuseSubscription(w, r, v, err)
		case errors.Is(err, domain.ErrNotFound), errors.Is(err, domain.ErrRefused), errors.As(err, &fe),
			errors.Is(err, app.ErrConflict), errors.Is(err, app.ErrPreconditionFailed):
			status := http.StatusConflict
			if errors.Is(err, domain.ErrNotFound) {
				status = http.StatusNotFound
			}
			s.said(w, r, v, status, "error.redeliver.gone", back, "error.back.subscription")
		default:
			s.fail(w, r, v, err)
		}
		return
	}
	http.Redirect(w, r, safeBack(back+"?done=redeliver"), http.StatusSeeOther)
}

// digestItem is one proposal a digest lists.
type digestItem struct {
	ReferralID, HouseholdID, Ref string
	Category                     string
	Tier                         int
	Area                         string
	Deadline                     time.Time
	Left                         string
	Late                         bool
}

// pageAll reads every page of a list, at most maxPages of them.
func pageAll[T any](read func(app.PageRequest) (app.Page[T], error)) ([]T, error) {
	const maxPages = 50
	var out []T
	req := app.PageRequest{Limit: app.MaxPageSize}
	for range maxPages {
		p, err := read(req)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.NextCursor == "" {
			break
		}
		if req.After, err = app.ParseCursor(p.NextCursor); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// digestNodes lists the nodes whose inboxes a digest reads: a centre's own, or
// for an operator every node of the district.
func (s *Server) digestNodes(ctx context.Context, v visitor) ([]domain.Principal, error) {
	if v.who.Role == domain.RoleCentre {
		return []domain.Principal{v.who}, nil
	}
	ref, err := s.cfg.App.Queries.Reads.Reference(ctx, s.district(), v.who)
	if err != nil {
		return nil, err
	}
	nodes := []domain.Principal{{Role: domain.RoleCentre, Tier: domain.TierDistrict, Area: ref.District.Code}}
	for _, st := range ref.District.Streets {
		nodes = append(nodes, domain.Principal{Role: domain.RoleCentre, Tier: domain.TierStreet, Area: st.Code})
		for _, c := range st.Communities {
			nodes = append(nodes, domain.Principal{Role: domain.RoleCentre, Tier: domain.TierCommunity, Area: c.Code})
		}
	}
	return nodes, nil
}

// digest shows what waits on a centre's node now (for an operator, on every node
// of the district): the proposals awaiting an answer, soonest deadline first, and
// how many of its households' needs are held for a round or waitlisted. It is
// what the 08:00 digest notification says, read from the inbox's read models.
func (s *Server) digest(w http.ResponseWriter, r *http.Request, v visitor) {
	tier, area, ok := s.nodeOf(w, r, v, "error.digest")
	if !ok {
		return
	}
	ctx, reads := r.Context(), s.cfg.App.Queries.Reads
	nodes, err := s.digestNodes(ctx, v)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	var waiting []app.InboxItem
	for _, n := range nodes {
		items, err := pageAll(func(p app.PageRequest) (app.Page[app.InboxItem], error) {
			return reads.Inbox(ctx, domain.TierName(n.Tier), n.Area, p, v.who)
		})
		if err != nil {
			s.fail(w, r, v, err)
			return
		}
		waiting = append(waiting, items...)
	}
	held, err := pageAll(func(p app.PageRequest) (app.Page[projections.NeedView], error) {
		return reads.Held(ctx, domain.TierName(tier), area, p, v.who)
	})
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	waitlisted, err := pageAll(func(p app.PageRequest) (app.Page[projections.NeedView], error) {
		return reads.Waitlist(ctx, domain.TierName(tier), area, p, v.who)
	})
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	slices.SortFunc(waiting, func(a, b app.InboxItem) int {
		return cmp.Or(a.Deadline.Compare(b.Deadline), cmp.Compare(a.ReferralID, b.ReferralID))
	})
	total := len(waiting)
	if total > notification.MaxDigestItems {
		waiting = waiting[:notification.MaxDigestItems]
	}
	now := reads.Now()
	items := make([]digestItem, 0, len(waiting))
	for _, it := range waiting {
		items = append(items, digestItem{ReferralID: it.ReferralID, HouseholdID: it.HouseholdID, Ref: shortRef(it.HouseholdID),
			Category: it.Need.Category, Tier: it.Referral.Tier, Area: areaAt(it.Need, it.Referral.Tier, s.district()),
			Deadline: it.Deadline, Left: timeLeft(v.lang, now, it.Deadline), Late: !it.Deadline.After(now)})
	}
	s.render(w, r, v, http.StatusOK, "digest", map[string]any{"Items": items, "Total": total, "More": total > len(items),
		"Shown": len(items), "Held": len(held), "Waitlisted": len(waitlisted), "Tier": tier, "Area": area,
		"Centre": v.who.Role == domain.RoleCentre, "Hour": fmt.Sprintf("%02d:00", notification.DigestHour)})
}

// areaAt is a need's area at a tier.
func areaAt(n projections.NeedView, tier int, district string) string {
	switch tier {
	case domain.TierCommunity:
		return n.Community
	case domain.TierStreet:
		return n.Street
	}
	return district
}
