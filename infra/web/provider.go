package web

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

// referralsShown is how many referrals a page of a provider's worklist shows.
const referralsShown = 25

// Worklist groups, in the order a provider works through them.
const (
	groupToStart    = "to_start"
	groupToComplete = "to_complete"
	groupAwaiting   = "awaiting"
	groupFinished   = "finished"
	groupEnded      = "ended"
)

// worklistGroups lists the worklist's groups in their order.
var worklistGroups = []string{groupToStart, groupToComplete, groupAwaiting, groupFinished, groupEnded}

// groupOf is the worklist group of a referral's status.
func groupOf(s domain.NeedStatus) string {
	switch s {
	case domain.StatusAccepted:
		return groupToStart
	case domain.StatusInService:
		return groupToComplete
	case domain.StatusProposed:
		return groupAwaiting
	case domain.StatusCompleted:
		return groupFinished
	}
	return groupEnded
}

// workItem is one card of a provider's worklist.
type workItem struct {
	app.ProviderReferral
	Group string
	// Ref is the household's short reference (pseudonymRef of its pseudonym).
	Ref string
}

// pseudonymRef is a household's pseudonym as a person reads and says it: the first
// eight hex digits in two groups, upper case ("hh-9e953a5929f39649" is
// "HH-9E95-3A59"). It is the same wherever the pseudonym is (so for every referral
// of the household to this provider); the API keeps the whole pseudonym.
func pseudonymRef(pseudonym string) string {
	hexPart, ok := strings.CutPrefix(pseudonym, "hh-")
	if !ok || len(hexPart) < 8 {
		return strings.ToUpper(pseudonym)
	}
	return "HH-" + strings.ToUpper(hexPart[:4]+"-"+hexPart[4:8])
}

// worklistOrder sorts a provider's worklist: its groups in order; in each, what
// waits longest first (to start: accepted earliest; to complete: started earliest;
// awaiting: the centre's deadline soonest), and what is finished or ended newest
// first.
func worklistOrder(items []workItem) {
	rank := map[string]int{}
	for i, g := range worklistGroups {
		rank[g] = i
	}
	at := func(w workItem) time.Time {
		switch w.Group {
		case groupToStart:
			if w.Accepted != nil {
				return *w.Accepted
			}
		case groupToComplete:
			if w.Started != nil {
				return *w.Started
			}
		case groupAwaiting:
			return w.Deadline
		case groupFinished:
			if w.Completed != nil {
				return *w.Completed
			}
		}
		return w.ProposedAt
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Group != b.Group {
			return rank[a.Group] < rank[b.Group]
		}
		if a.Group == groupFinished || a.Group == groupEnded {
			return at(a).After(at(b))
		}
		return at(a).Before(at(b))
	})
}

// allProviderReferrals reads every referral to a provider's offers, page after
// page of the provider's index (a worklist is sorted by what is to do, not by the
// index's order, so it needs them all).
func (s *Server) allProviderReferrals(r *http.Request, v visitor) ([]app.ProviderReferral, error) {
	var out []app.ProviderReferral
	page := app.PageRequest{Limit: app.MaxPageSize}
	for {
		got, err := s.cfg.App.Queries.Reads.ProviderReferrals(r.Context(), v.who.Provider, s.district(), page, v.who)
		if err != nil {
			return nil, err
		}
		out = append(out, got.Items...)
		if got.NextCursor == "" {
			return out, nil
		}
		if page.After, err = app.ParseCursor(got.NextCursor); err != nil {
			return nil, err
		}
	}
}

// groupCount is a worklist group with how many referrals are in it.
type groupCount struct {
	Group string
	N     int
}

// providerReferrals shows a provider's worklist: what it has to start, then to
// complete, then the proposals awaiting the centre's answer, then what is finished
// or ended; filtered by group and category, 25 a page.
func (s *Server) providerReferrals(w http.ResponseWriter, r *http.Request, v visitor) {
	all, err := s.allProviderReferrals(r, v)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	q := r.URL.Query()
	group, category := q.Get("status"), q.Get("category")
	if group != "" && group != "todo" && !contains(worklistGroups, group) {
		group = ""
	}
	counts := map[string]int{}
	categories := map[string]bool{}
	var items []workItem
	for _, it := range all {
		g := groupOf(it.Status)
		counts[g]++
		categories[it.Category] = true
		if category != "" && it.Category != category {
			continue
		}
		if group == "todo" && g != groupToStart && g != groupToComplete || group != "" && group != "todo" && g != group {
			continue
		}
		items = append(items, workItem{ProviderReferral: it, Group: g, Ref: pseudonymRef(it.Household)})
	}
	worklistOrder(items)
	pageNo, _ := strconv.Atoi(q.Get("page"))
	pages := max(1, (len(items)+referralsShown-1)/referralsShown)
	pageNo = min(max(pageNo, 1), pages)
	from := (pageNo - 1) * referralsShown
	shown := items[from:min(len(items), from+referralsShown)]
	var groups []groupCount
	for _, g := range worklistGroups {
		groups = append(groups, groupCount{g, counts[g]})
	}
	var cats []string
	for c := range categories {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	link := func(n int) string {
		v := url.Values{}
		if group != "" {
			v.Set("status", group)
		}
		if category != "" {
			v.Set("category", category)
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return "/ui/referrals"
		}
		return "/ui/referrals?" + v.Encode()
	}
	data := map[string]any{"Live": viewReferrals, "Items": shown, "Groups": groups, "Status": group, "Category": category, "Categories": cats,
		"Todo": counts[groupToStart] + counts[groupToComplete], "All": len(all), "Matching": len(items), "Page": pageNo, "Pages": pages}
	if pageNo > 1 {
		data["Prev"] = link(pageNo - 1)
	}
	if pageNo < pages {
		data["Next"] = link(pageNo + 1)
	}
	s.render(w, r, v, http.StatusOK, "referrals", data)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// postOffer posts a provider's offer from the form.
func (s *Server) postOffer(w http.ResponseWriter, r *http.Request, v visitor) {
	capacity, err := strconv.Atoi(r.PostFormValue("capacity"))
	if err != nil {
		s.fail(w, r, v, &domain.FieldError{Field: "capacity", Reason: fmt.Errorf("%q is not a number", r.PostFormValue("capacity"))})
		return
	}
	in := app.PostOfferInput{Provider: v.who.Provider, Category: r.PostFormValue("category"),
		Capacity: capacity, ScopeTier: r.PostFormValue("tier"), ScopeArea: strings.TrimSpace(r.PostFormValue("area"))}
	// The area picked names its tier: a street's code is the whole street.
	if tier, ok := s.tierOfArea(r, v, in.ScopeArea); ok {
		in.ScopeTier = domain.TierName(tier)
	}
	for _, g := range r.PostForm["group"] {
		in.Eligibility.TargetGroups = append(in.Eligibility.TargetGroups, domain.TargetGroup(g))
	}
	in.Eligibility.LocalResidentsOnly = r.PostFormValue("local") != ""
	for field, to := range map[string]**time.Time{"valid_from": &in.ValidFrom, "valid_until": &in.ValidUntil} {
		if d := r.PostFormValue(field); d != "" {
			// A date is the district's midnight (RFC 3339 with its offset, as the API takes it).
			day, perr := time.ParseInLocation(time.DateOnly, d, local(time.Time{}).Location())
			if perr != nil {
				s.fail(w, r, v, &domain.FieldError{Field: field, Reason: fmt.Errorf("%q is not a date (YYYY-MM-DD)", d)})
				return
			}
			*to = &day
		}
	}
	_, err = s.cfg.App.Commands.PostOffer.Handle(r.Context(), in, v.meta(r))
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/ui/offers?done=posted", http.StatusSeeOther)
}

// changeOffer changes an offer's places or withdraws it.
func (s *Server) changeOffer(w http.ResponseWriter, r *http.Request, v visitor) {
	id := r.PathValue("id")
	var err error
	var done string
	switch r.PathValue("action") {
	case "capacity":
		capacity, perr := strconv.Atoi(r.PostFormValue("capacity"))
		if perr != nil {
			s.fail(w, r, v, &domain.FieldError{Field: "capacity", Reason: fmt.Errorf("%q is not a number", r.PostFormValue("capacity"))})
			return
		}
		_, err = s.cfg.App.Commands.ChangeCapacity.Handle(r.Context(), id, capacity, v.meta(r))
		done = "capacity"
	case "withdraw":
		_, err = s.cfg.App.Commands.WithdrawOffer.Handle(r.Context(), id, v.meta(r))
		done = "withdrawn"
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/ui/offers?done="+done, http.StatusSeeOther)
}

// offers lists a provider's offers, with the form to post one.
func (s *Server) offers(w http.ResponseWriter, r *http.Request, v visitor) {
	page, err := s.cfg.App.Queries.Reads.ProviderOffers(r.Context(), v.who.Provider, s.district(), app.PageRequest{Limit: app.MaxPageSize}, v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	ref, err := s.cfg.App.Queries.Reads.Reference(r.Context(), s.district(), v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	s.render(w, r, v, http.StatusOK, "offers", map[string]any{"Offers": page.Items, "Categories": ref.Categories, "District": ref.District,
		"Groups": domain.AllTargetGroups(), "Today": local(time.Now()).Format(time.DateOnly)})
}

// tierOfArea is the tier of a district's, street's or community's code.
func (s *Server) tierOfArea(r *http.Request, v visitor, code string) (int, bool) {
	ref, err := s.cfg.App.Queries.Reads.Reference(r.Context(), s.district(), v.who)
	if err != nil {
		return 0, false
	}
	if ref.District.Code == code {
		return domain.TierDistrict, true
	}
	for _, st := range ref.District.Streets {
		if st.Code == code {
			return domain.TierStreet, true
		}
		for _, c := range st.Communities {
			if c.Code == code {
				return domain.TierCommunity, true
			}
		}
	}
	return 0, false
}
