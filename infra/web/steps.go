package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// stepWhats are the steps of a need's story, each with its text ("step.<what>").
var stepWhats = []string{"registered", "referral_proposed", "referral_accepted", "referral_declined", "referral_cancelled",
	"escalated", "held", "waitlisted", "service_started", "service_completed", "withdrawn"}

// stepReasons are the reasons a step can give, each with its text ("why.<reason>");
// a decline's reasons have theirs under "reason.".
var stepReasons = []string{string(domain.EscalatedNoSupply), string(domain.EscalatedNotCapable), string(domain.EscalatedDeclined),
	string(domain.EscalatedExpired), string(domain.EscalatedByCentre), string(domain.WaitlistedNoSupplyLeft),
	string(domain.CancelledOfferWithdrawn), string(domain.CancelledExpiredAtTop), string(domain.EndNeedWithdrawn),
	string(domain.EscalatedOutranked)}

// stepRules are the rules that explain a proposal, each with its text ("rule.<rule>";
// the matcher's matching.Rule*, named here: web does not import the matcher).
var stepRules = []string{"best-candidate-at-tier", "waiting-need-by-priority", "allocation-round"}

// ruleText names a proposal's rule in lang (the rule itself for one it does not know).
func ruleText(lang, rule string) string {
	if t, ok := messages[lang]["rule."+rule]; ok {
		return t
	}
	return rule
}

// counted says a count of a noun ("need", "household", "place") in lang: "1 place",
// "3 places", "3 个名额".
func counted(lang, noun string, n int) string {
	key := "count." + noun
	if n == 1 {
		key += ".one"
	}
	return fmt.Sprintf(translate(lang, key), n)
}

// holdText says for which allocation round a need is held, in lang, by the text of
// key ("step.held" for its story, "case.held" beside its status): its tier, when the
// round is due (in the district's time), and how many needs compete for how many
// places.
func holdText(lang, key string, h projections.Hold) string {
	return fmt.Sprintf(translate(lang, key), translate(lang, "tier."+strconv.Itoa(h.Tier)),
		local(h.Until).Format("01-02 15:04"), counted(lang, "need", h.Competing), counted(lang, "place", h.Free))
}

// roundText says how a proposal was won in its allocation round, in lang ("" for a
// proposal made at once).
func roundText(lang string, r *domain.RoundOutcome) string {
	if r == nil {
		return ""
	}
	var text string
	if r.Unserved > 0 {
		text = fmt.Sprintf(translate(lang, "round.detail"), counted(lang, "household", r.Competing), counted(lang, "place", r.Units),
			r.Priority, r.HighestUnserved)
	} else {
		text = fmt.Sprintf(translate(lang, "round.detail.all"), counted(lang, "household", r.Competing), counted(lang, "place", r.Units), r.Priority)
	}
	if r.Overdue {
		text += translate(lang, "round.overdue")
	}
	return text
}

// stepText says a step of a need's story in lang, from its facts; a step written
// before its facts were kept is shown as it was recorded (in English).
func stepText(lang string, s projections.Step) string {
	tr := func(key string) string { return translate(lang, key) }
	why := func(prefix, code string) string {
		if t := translate(lang, prefix+code); t != prefix+code {
			return t
		}
		return code // a reason this version does not know: shown as recorded
	}
	recorded := s.What
	if s.Detail != "" {
		recorded += " — " + s.Detail
	}
	key := "step." + s.What
	if _, ok := messages[lang][key]; !ok {
		return recorded
	}
	switch s.What {
	case "registered":
		if s.Urgency == "" {
			return recorded
		}
		text := fmt.Sprintf(tr(key), tr("urgency."+s.Urgency), s.Hardship)
		if s.Need != "" {
			text += fmt.Sprintf(tr("step.registered.reopens"), s.Note)
		}
		return text
	case "referral_proposed":
		if s.Tier == 0 {
			return recorded
		}
		due := "—"
		if s.Due != nil {
			due = local(*s.Due).Format("01-02 15:04")
		}
		text := fmt.Sprintf(tr(key), tr("tier."+strconv.Itoa(s.Tier)), ruleText(lang, s.Rule), s.Candidates, due)
		if s.Round != nil {
			text += tr("sentence.end") + roundText(lang, s.Round)
		}
		return text
	case "held":
		if s.Held == nil {
			return recorded
		}
		return holdText(lang, key, *s.Held)
	case "referral_declined":
		if s.Reason == "" {
			return recorded
		}
		text := fmt.Sprintf(tr(key), why("reason.", s.Reason))
		if s.Note != "" {
			text += " (" + s.Note + ")"
		}
		return text
	case "referral_cancelled", "waitlisted":
		if s.Reason == "" {
			return recorded
		}
		return fmt.Sprintf(tr(key), why("why.", s.Reason))
	case "escalated":
		if s.Tier == 0 {
			return recorded
		}
		return fmt.Sprintf(tr(key), tr("tier."+strconv.Itoa(s.From)), tr("tier."+strconv.Itoa(s.Tier)), why("why.", s.Reason))
	case "followed_up":
		if s.Reason == "" || s.Satisfaction == 0 {
			return recorded
		}
		text := fmt.Sprintf(tr(key), why("outcome.", s.Reason), s.Satisfaction)
		if s.Note != "" {
			text += " (" + s.Note + ")"
		}
		if s.Need != "" && s.Reason == string(domain.OutcomeNotResolved) {
			text += tr("step.followed_up.reopened")
		}
		return text
	case "reassessed":
		if s.Previous == 0 && s.Hardship == 0 {
			return recorded
		}
		text := fmt.Sprintf(tr(key), s.Previous, s.Hardship)
		if s.Note != "" {
			text += " (" + s.Note + ")"
		}
		return text
	case "withdrawn":
		if s.Note == "" {
			return tr("step.withdrawn.plain")
		}
		return fmt.Sprintf(tr(key), s.Note)
	}
	return tr(key)
}

// historyEvents are the event types a household's history shows, each with its text ("event.<type>").
var historyEvents = []string{"household.registered", "household.needs_opened", "household.need_closed", "need.registered",
	"need.referral_proposed", "need.referral_accepted", "need.referral_declined", "need.escalated", "need.held", "need.waitlisted",
	"need.service_started", "need.service_completed", "need.withdrawn", "need.referral_cancelled",
	"entitlement.applied", "entitlement.granted", "entitlement.refused", "household.visited", "household.reassessed", "need.followed_up"}

// eventText names an event type in lang (the type itself for one it does not know).
func eventText(lang, eventType string) string {
	if t, ok := messages[lang]["event."+eventType]; ok {
		return t
	}
	return eventType
}

// actorText names who acted, from an event's actor ("system:matcher",
// "centre:street:xinhua/token:…", "provider:x/token:…", "operator/token:…", any of
// them after "demo/"), in lang; place names an area. An actor it does not know is
// shown as recorded.
func actorText(lang, actor string, place, provider func(string) string) string {
	a := strings.TrimPrefix(actor, "demo/")
	a, _, _ = strings.Cut(a, "/token:")
	switch {
	case a == "system:matcher":
		return translate(lang, "actor.matcher")
	case a == "system:clock":
		return translate(lang, "actor.clock")
	case a == "system:reference":
		return translate(lang, "actor.reference")
	case a == "operator":
		return translate(lang, "actor.operator")
	case strings.HasPrefix(a, "provider:"):
		return fmt.Sprintf(translate(lang, "actor.provider"), provider(strings.TrimPrefix(a, "provider:")))
	case strings.HasPrefix(a, "centre:"):
		tierName, area, ok := strings.Cut(strings.TrimPrefix(a, "centre:"), ":")
		if tier, valid := domain.ParseTier(tierName); ok && valid {
			return fmt.Sprintf(translate(lang, "actor.centre"), translate(lang, "tier."+strconv.Itoa(tier)), place(area))
		}
	}
	return actor
}

// local is a time as people read it: in the district's time zone (DESIGN.md,
// "Time"), however it was stored.
func local(t time.Time) time.Time { return t.In(projections.Zone) }
