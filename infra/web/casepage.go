package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// caseNeed is one need of a case with what a worker reads beside it: how long it
// has waited (while it waits), the offer of its referral in words, and whether it
// may still be withdrawn.
type caseNeed struct {
	projections.NeedView
	Waiting      string
	Offer        offerWords
	Withdrawable bool
	// FollowUpLate is set while the completed referral's follow-up is past due.
	FollowUpLate bool
}

// caseView shows a household's case and history to those who may read it, titled
// by its community and short reference, with its actions.
func (s *Server) caseView(w http.ResponseWriter, r *http.Request, v visitor) {
	id := r.PathValue("id")
	reads := s.cfg.App.Queries.Reads
	c, err := reads.Case(r.Context(), id, v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	history, err := reads.History(r.Context(), id, v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	now := reads.Now()
	areas, categories, providers := s.names(r, v)
	var needs []caseNeed
	for _, n := range c.Needs {
		cn := caseNeed{NeedView: n}
		switch n.Status {
		case domain.StatusOpen, domain.StatusHeld, domain.StatusWaitlisted:
			cn.Waiting = waited(v.lang, now, n.RegisteredAt)
		}
		switch n.Status {
		case domain.StatusInService, domain.StatusCompleted, domain.StatusWithdrawn:
		default:
			cn.Withdrawable = true
		}
		cn.FollowUpLate = n.Status == domain.StatusCompleted && n.FollowUp == nil && !n.FollowUpDue.IsZero() && now.After(n.FollowUpDue)
		if n.Referral != nil {
			if o, err := reads.Offer(r.Context(), n.Referral.OfferID, v.who); err == nil {
				cn.Offer = wordsOf(v.lang, o, areas, categories, providers)
			} else {
				cn.Offer.What = textOr(categories, v.lang, n.Category)
			}
		}
		needs = append(needs, cn)
	}
	ents, err := reads.Entitlements(r.Context(), id, v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	var shown []app.Entitlement
	for _, e := range ents.Items {
		if e.Status != app.EntitlementNotEligible {
			shown = append(shown, e)
		}
	}
	reasons, err := reads.HouseholdWatch(r.Context(), v.who, id)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	ref := shortRef(c.Household.ID)
	title := textOr(areas, v.lang, c.Household.Community) + " · " + ref
	data := map[string]any{"Case": c, "Needs": needs, "History": history, "Ref": ref, "Title": title, "Entitlements": shown,
		"Heading": tfIn(v.lang, "case.of", textOr(areas, v.lang, c.Household.Community), ref),
		"Act":     v.who.Role == domain.RoleCentre, "Categories": s.categories(r, v),
		"Watch": watchLines(v.lang, now, reasons, s.adviserNames(r, v)), "Visits": newestVisits(c.Household.Visits),
		"Scores": scoreHistory(c.Household.Assessments), "Levels": dimensionLevels(c.Household.Assessment),
		"VisitKinds": visitKinds, "Outcomes": outcomes, "Now": local(now).Format("2006-01-02T15:04"),
		"Stars": []int{1, 2, 3, 4, 5}, "LevelChoices": []int{0, 1, 2, 3, 4},
		"Urgencies": []domain.Urgency{domain.UrgencyLow, domain.UrgencyNormal, domain.UrgencyHigh, domain.UrgencyCritical}}
	s.render(w, r, v, http.StatusOK, "case", data)
}

// categories lists the district's service categories for a form.
func (s *Server) categories(r *http.Request, v visitor) []domain.Category {
	ref, err := s.cfg.App.Queries.Reads.Reference(r.Context(), s.district(), v.who)
	if err != nil {
		return nil
	}
	return ref.Categories
}

// addNeed opens a need for a household from its case page (the API's register
// needs, under the same rules), then shows the case again.
func (s *Server) addNeed(w http.ResponseWriter, r *http.Request, v visitor) {
	id := r.PathValue("id")
	u := domain.Urgency(r.PostFormValue("urgency"))
	if u == "" {
		u = domain.UrgencyNormal
	}
	in := app.RegisterNeedsInput{HouseholdID: id, Needs: []app.NeedInput{{Category: r.PostFormValue("category"), Urgency: u}}}
	back := "/ui/households/" + url.PathEscape(id)
	if _, err := s.cfg.App.Commands.RegisterNeeds.Handle(r.Context(), in, v.meta(r)); err != nil {
		var dup *domain.DuplicateNeedError
		var fe *domain.FieldError
		switch {
		case errors.As(err, &dup):
			s.said(w, r, v, http.StatusConflict, "error.need.duplicate", back, "error.back.case")
		case errors.As(err, &fe):
			s.said(w, r, v, http.StatusUnprocessableEntity, "error.need.field", back, "error.back.case")
		default:
			s.fail(w, r, v, err)
		}
		return
	}
	http.Redirect(w, r, back+"?done=need_added", http.StatusSeeOther)
}

// withdrawNeed withdraws a need with the centre's reason, then shows its case.
func (s *Server) withdrawNeed(w http.ResponseWriter, r *http.Request, v visitor) {
	id := r.PathValue("id")
	household := r.PostFormValue("household")
	back := "/ui/inbox"
	if domain.ValidID(household) {
		back = "/ui/households/" + url.PathEscape(household)
	}
	note := strings.TrimSpace(r.PostFormValue("note"))
	if note == "" {
		s.said(w, r, v, http.StatusUnprocessableEntity, "error.withdraw.note", back, "error.back.case")
		return
	}
	if _, err := s.cfg.App.Commands.WithdrawNeed.Handle(r.Context(), id, note, v.meta(r)); err != nil {
		var fe *domain.FieldError
		switch {
		case errors.As(err, &fe):
			s.said(w, r, v, http.StatusUnprocessableEntity, "error.withdraw.note", back, "error.back.case")
		case errors.Is(err, domain.ErrRefused), errors.Is(err, app.ErrConflict), errors.Is(err, app.ErrPreconditionFailed):
			s.said(w, r, v, http.StatusConflict, "error.withdraw.refused", back, "error.back.case")
		default:
			s.fail(w, r, v, err)
		}
		return
	}
	http.Redirect(w, r, back+"?done=need_withdrawn", http.StatusSeeOther)
}

// entitlementActions are the entitlement commands the case page's forms send.
var entitlementActions = map[string]domain.EntitlementAction{
	"apply": domain.EntitlementApply, "grant": domain.EntitlementGrant, "refuse": domain.EntitlementRefuse,
}

// entitlement records a household's application for a programme, or the
// department's answer (a refusal with its note), from its case page under the
// API's rules, then shows the case again.
func (s *Server) entitlement(w http.ResponseWriter, r *http.Request, v visitor) {
	id, programme := r.PathValue("id"), r.PathValue("programme")
	action, ok := entitlementActions[r.PathValue("action")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	back := "/ui/households/" + url.PathEscape(id)
	note := strings.TrimSpace(r.PostFormValue("note"))
	if action == domain.EntitlementRefuse && note == "" {
		s.said(w, r, v, http.StatusUnprocessableEntity, "error.entitlement.note", back, "error.back.case")
		return
	}
	var err error
	if action == domain.EntitlementApply {
		_, err = s.cfg.App.Commands.ApplyEntitlement.Handle(r.Context(), id, programme, v.meta(r))
	} else {
		_, err = s.cfg.App.Commands.AnswerEntitlement.Handle(r.Context(), id, programme, action, note, v.meta(r))
	}
	if err != nil {
		var fe *domain.FieldError
		switch {
		case errors.As(err, &fe):
			s.said(w, r, v, http.StatusUnprocessableEntity, "error.entitlement.note", back, "error.back.case")
		case errors.Is(err, domain.ErrRefused), errors.Is(err, app.ErrConflict), errors.Is(err, app.ErrPreconditionFailed),
			errors.Is(err, domain.ErrUnknownProgramme):
			s.said(w, r, v, http.StatusConflict, "error.entitlement.refused", back, "error.back.case")
		default:
			s.fail(w, r, v, err)
		}
		return
	}
	http.Redirect(w, r, back+"?done=entitlement_"+string(action)+"#entitlements", http.StatusSeeOther)
}

// answerFailed says why a centre's answer was refused, in its language and with
// what to do, rather than the domain's English; other errors go to fail.
func (s *Server) answerFailed(w http.ResponseWriter, r *http.Request, v visitor, err error) {
	var fe *domain.FieldError
	switch {
	case errors.As(err, &fe):
		s.said(w, r, v, http.StatusUnprocessableEntity, "error.answer.field", "/ui/inbox", "error.back.inbox")
	case errors.Is(err, domain.ErrEscalateAtTop):
		s.said(w, r, v, http.StatusConflict, "error.answer.top", "/ui/inbox", "error.back.inbox")
	case errors.Is(err, domain.ErrAnswerTooLate):
		s.said(w, r, v, http.StatusConflict, "error.answer.expired", "/ui/inbox", "error.back.inbox")
	case errors.Is(err, domain.ErrRefused), errors.Is(err, app.ErrConflict), errors.Is(err, app.ErrPreconditionFailed),
		errors.Is(err, domain.ErrNotFound):
		s.said(w, r, v, http.StatusConflict, "error.answer.gone", "/ui/inbox", "error.back.inbox")
	default:
		s.fail(w, r, v, err)
	}
}

// said shows a person's error in their language, with the way back.
func (s *Server) said(w http.ResponseWriter, r *http.Request, v visitor, status int, key, back, backKey string) {
	s.render(w, r, v, status, "error", map[string]any{"Error": translate(v.lang, key), "Back": back, "BackText": translate(v.lang, backKey)})
}

// tfIn formats a text of lang.
func tfIn(lang, key string, args ...any) string {
	return fmt.Sprintf(translate(lang, key), args...)
}
