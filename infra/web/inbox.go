package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/notification"
	"github.com/tierlink/tierlink/projections"
)

// soonWithin is how close a deadline is for an inbox card to be marked due soon.
const soonWithin = 24 * time.Hour

// inboxCard is one referral of a centre's inbox, said in the reader's language: who
// is proposed and with what offer, why, for which household, and the time left.
type inboxCard struct {
	app.InboxItem
	Late, Soon bool
	Left       string // "answer within 5 h", "overdue by 2 h"
	Ref        string // the household's short reference
	Offer      offerWords
	Why        string
	Needs      []needLine // the household's needs, this one first
	Escalate   bool       // whether escalating can succeed (not at the top tier)
	// Reminders is how many reminders of the proposal went (notification.RemindersDue),
	// the last at Reminded.
	Reminders int
	Reminded  time.Time
}

// offerWords says an offer for a person: what, by whom, where, until when.
type offerWords struct {
	Known       bool
	What, Where string
	Until       string
	Places      string
	Groups      string
}

// needLine is one of a household's needs in a line.
type needLine struct {
	Category, Status string
	This             bool
}

// shortRef is a household's short reference: the first 8 hex digits of the SHA-256
// of its id, the same on every page that shows it (an inbox card, its case).
func shortRef(householdID string) string {
	sum := sha256.Sum256([]byte(householdID))
	return hex.EncodeToString(sum[:4])
}

// timeLeft says how long a centre has left to answer, or how long it is overdue.
func timeLeft(lang string, now, deadline time.Time) string {
	d := deadline.Sub(now)
	key := "inbox.left"
	if d < 0 {
		key, d = "inbox.late", -d
	}
	if d < time.Hour {
		return fmt.Sprintf(translate(lang, key+".minutes"), max(1, int(math.Ceil(d.Minutes()))))
	}
	h := int(d.Hours())
	if key == "inbox.left" {
		h = int(math.Ceil(d.Hours()))
	}
	return fmt.Sprintf(translate(lang, key+".hours"), h)
}

// waited says how long a need has waited: hours under two days, else days.
func waited(lang string, now, since time.Time) string {
	d := now.Sub(since)
	switch {
	case d < time.Hour:
		return translate(lang, "case.waiting.new")
	case d < 48*time.Hour:
		return fmt.Sprintf(translate(lang, "case.waiting.hours"), int(d.Hours()))
	}
	return fmt.Sprintf(translate(lang, "case.waiting.days"), int(d.Hours()/24))
}

// textIn picks a name's text in lang.
func textIn(lang string, t domain.Text) string {
	if lang == LangEN {
		return t.En
	}
	return t.Zh
}

// whatKey is the text that says what an offer is and whose: "… from <name>" for a
// provider the reference data names, "… from provider <code>" for one it does not.
func whatKey(providers map[string]domain.Text, code string) string {
	if _, ok := providers[code]; ok {
		return "inbox.offer.what.named"
	}
	return "inbox.offer.what"
}

// wordsOf says an offer in lang; names maps area, category and provider codes to
// names (a provider without one is named by its code).
func wordsOf(lang string, o projections.OfferView, areas, categories, providers map[string]domain.Text) offerWords {
	name := func(m map[string]domain.Text, code string) string {
		if n, ok := m[code]; ok {
			return textIn(lang, n)
		}
		return code
	}
	w := offerWords{Known: true,
		What:   fmt.Sprintf(translate(lang, whatKey(providers, o.Provider)), name(categories, o.Category), name(providers, o.Provider)),
		Places: fmt.Sprintf(translate(lang, "inbox.offer.free"), o.Free, counted(lang, "place", o.Capacity)),
		Until:  translate(lang, "inbox.offer.open")}
	if tier, ok := domain.ParseTier(o.Scope.Tier); ok {
		w.Where = fmt.Sprintf(translate(lang, "inbox.offer.scope"), name(areas, o.Scope.Area), translate(lang, "tier."+strconv.Itoa(tier)))
	} else {
		w.Where = name(areas, o.Scope.Area)
	}
	if !o.ValidUntil.IsZero() {
		w.Until = fmt.Sprintf(translate(lang, "inbox.offer.until"), local(o.ValidUntil).Format("2006-01-02 15:04")+" "+translate(lang, "zone.short"))
	}
	var groups []string
	for _, g := range o.Eligibility.TargetGroups {
		groups = append(groups, translate(lang, "group."+string(g)))
	}
	if len(groups) > 0 {
		w.Groups = strings.Join(groups, translate(lang, "list.sep"))
	}
	if o.Eligibility.LocalResidentsOnly {
		if w.Groups != "" {
			w.Groups += translate(lang, "list.sep")
		}
		w.Groups += translate(lang, "inbox.offer.local")
	}
	return w
}

// inbox lists the referrals awaiting the centre's answer: overdue and due within a
// day first (the index is by deadline), each said in words, counted in the header.
func (s *Server) inbox(w http.ResponseWriter, r *http.Request, v visitor) {
	after, err := app.ParseCursor(r.URL.Query().Get("cursor"))
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	reads := s.cfg.App.Queries.Reads
	page, err := reads.Inbox(r.Context(), domain.TierName(v.who.Tier), v.who.Area, app.PageRequest{After: after}, v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	held, err := s.heldAt(r.Context(), v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	cards, late, soon, err := s.cards(r.Context(), r, v, page.Items)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	watching, err := reads.Watchlist(r.Context(), v.who, domain.TierName(v.who.Tier), v.who.Area, "", 1)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	heldRefs := map[string]string{}
	for _, n := range held.Items {
		heldRefs[n.HouseholdID] = shortRef(n.HouseholdID)
	}
	more := ""
	if page.NextCursor != "" {
		more = "+"
	}
	s.render(w, r, v, http.StatusOK, "inbox", map[string]any{"Live": viewInbox, "Items": cards, "Next": page.NextCursor,
		"Count": strconv.Itoa(len(cards)) + more, "Late": late, "Soon": soon, "First": r.URL.Query().Get("cursor") == "",
		"Tier": v.who.Tier, "Area": v.who.Area, "Reasons": declineReasons, "Held": held.Items, "HeldMore": held.NextCursor != "", "HeldShown": heldShown, "HeldRefs": heldRefs,
		"Watching": watching.Total, "WatchingText": counted(v.lang, "household", watching.Total)})
}

// cards says a page of an inbox's referrals in words, and counts those overdue and
// due within a day.
func (s *Server) cards(ctx context.Context, r *http.Request, v visitor, items []app.InboxItem) ([]inboxCard, int, int, error) {
	reads := s.cfg.App.Queries.Reads
	now := reads.Now()
	areas, categories, providers := s.names(r, v)
	offers := map[string]*projections.OfferView{}
	cases := map[string]*app.CaseView{}
	var late, soon int
	out := make([]inboxCard, 0, len(items))
	for _, it := range items {
		c := inboxCard{InboxItem: it, Ref: shortRef(it.HouseholdID), Escalate: it.Referral.Tier < domain.TierDistrict,
			Left: timeLeft(v.lang, now, it.Deadline)}
		if c.Reminders = notification.RemindersDue(it.Referral.ProposedAt, it.Deadline, now); c.Reminders > 0 {
			half, before, _ := notification.ReminderTimes(it.Referral.ProposedAt, it.Deadline)
			c.Reminded = half
			if c.Reminders == 2 {
				c.Reminded = before
			}
		}
		c.Late = !it.Deadline.After(now)
		c.Soon = !c.Late && it.Deadline.Sub(now) <= soonWithin
		if c.Late {
			late++
		} else if c.Soon {
			soon++
		}
		why := fmt.Sprintf(translate(v.lang, "inbox.why.detail"), ruleText(v.lang, it.Referral.Rule), translate(v.lang, "tier."+strconv.Itoa(it.Referral.Tier)),
			counted(v.lang, "offer", it.Referral.Candidates))
		c.Why = why
		o, seen := offers[it.OfferID]
		if !seen {
			if view, err := reads.Offer(ctx, it.OfferID, v.who); err == nil {
				o = &view
			} else if !errors.Is(err, domain.ErrNotFound) && !errors.Is(err, domain.ErrForbidden) {
				return nil, 0, 0, err
			}
			offers[it.OfferID] = o
		}
		if o != nil {
			c.Offer = wordsOf(v.lang, *o, areas, categories, providers)
		} else {
			c.Offer.What = fmt.Sprintf(translate(v.lang, "inbox.offer.unknown"), it.OfferID)
		}
		cv, seen := cases[it.HouseholdID]
		if !seen {
			if view, err := reads.Case(ctx, it.HouseholdID, v.who); err == nil {
				cv = &view
			} else if !errors.Is(err, domain.ErrNotFound) && !errors.Is(err, domain.ErrForbidden) {
				return nil, 0, 0, err
			}
			cases[it.HouseholdID] = cv
		}
		c.Needs = []needLine{{Category: textOr(categories, v.lang, it.Need.Category), Status: translate(v.lang, "inbox.need.this"), This: true}}
		if cv != nil {
			for _, n := range cv.Needs {
				if n.ID == it.Need.ID || n.Status == domain.StatusCompleted || n.Status == domain.StatusWithdrawn {
					continue
				}
				c.Needs = append(c.Needs, needLine{Category: textOr(categories, v.lang, n.Category), Status: translate(v.lang, "need."+string(n.Status))})
			}
		}
		out = append(out, c)
	}
	return out, late, soon, nil
}

// textOr is a code's name in lang, or the code.
func textOr(names map[string]domain.Text, lang, code string) string {
	if n, ok := names[code]; ok {
		return textIn(lang, n)
	}
	return code
}
