package demo

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

// The advisers' work (issue 16): at the day's last step each community centre
// follows up the services completed a few steps before, visits some of its
// households, reassesses a few, applies for programmes its households may qualify
// for and records the departments' answers to earlier applications. The draws come
// from a generator of their own, so the rest of the play is what it was.

// adviserNames are the community advisers who visit and follow up.
var adviserNames = []string{"王敏", "李静", "张伟", "刘洋", "陈芳", "杨帆", "赵磊", "黄丽"}

// findings are what advisers write after a visit.
var findings = []string{
	"老人独居，精神状态尚可，冰箱食物充足；提醒按时服药。",
	"孩子放学后无人照看，家长希望增加课后托管。",
	"家中卫生间地面湿滑，已建议申请适老化改造。",
	"照护者身体欠佳，压力较大，建议安排喘息服务。",
	"近期就业面试两次未果，愿意参加技能培训。",
	"情况平稳，无新增需求。",
}

// notResolved are the reasons advisers give for a need a service did not resolve.
var notResolved = []string{
	"服务时间与家庭作息冲突，只参加了一次，需另行安排。",
	"服务内容与家庭实际需要不符，需重新匹配。",
	"服务方人员变动，服务未能持续。",
}

// refusals are the notes of applications a department refused.
var refusals = []string{
	"家庭收入超过当年标准。",
	"户籍不在本区，需向户籍地申请。",
}

// completedService is a referral whose service completed, to follow up.
type completedService struct {
	referral, community string
	step                int
}

// application is a programme a household applied for, to answer later.
type application struct {
	household, community, programme string
	step                            int
}

// advisedHousehold is a household registered, for visits and reassessments.
type advisedHousehold struct {
	id, community string
	assessment    domain.Assessment
}

// advise does one day's advisers' work.
func (p *player) advise(ctx context.Context) error {
	if err := p.followUps(ctx); err != nil {
		return err
	}
	if err := p.answerApplications(ctx); err != nil {
		return err
	}
	if len(p.households) == 0 {
		return nil
	}
	n := max(1, len(p.households)/50)
	for range n {
		if err := p.visit(ctx, p.households[p.adv.IntN(len(p.households))]); err != nil {
			return err
		}
	}
	for range max(1, n/3) {
		if err := p.reassess(ctx, &p.households[p.adv.IntN(len(p.households))]); err != nil {
			return err
		}
	}
	for range max(1, n/2) {
		if err := p.applyFor(ctx, p.households[p.adv.IntN(len(p.households))]); err != nil {
			return err
		}
	}
	return nil
}

// followUps records the follow-up of each service completed at least three steps
// ago (most resolved, some partly, a few not, which reopens the need).
func (p *player) followUps(ctx context.Context) error {
	left := p.completed[:0]
	for _, c := range p.completed {
		if p.step-c.step < 3 {
			left = append(left, c)
			continue
		}
		in := app.FollowUpInput{Outcome: domain.OutcomeResolved, Satisfaction: 4 + p.adv.IntN(2)}
		switch r := p.adv.IntN(100); {
		case r < 10:
			in = app.FollowUpInput{Outcome: domain.OutcomeNotResolved, Satisfaction: 1 + p.adv.IntN(2), Note: notResolved[p.adv.IntN(len(notResolved))]}
		case r < 30:
			in = app.FollowUpInput{Outcome: domain.OutcomePartly, Satisfaction: 3 + p.adv.IntN(2), Note: "部分需求已满足，仍需继续关注。"}
		case r < 40:
			left = append(left, c) // not yet: it stays on the centre's watch list
			continue
		}
		if _, err := p.a.Commands.RecordFollowUp.Handle(ctx, c.referral, in, meta(centre(domain.TierCommunity, c.community))); err != nil {
			if err := p.refused(err, "follow up "+c.referral); err != nil {
				return err
			}
			continue
		}
		p.t.FollowUps++
		if in.Outcome == domain.OutcomeNotResolved {
			p.t.Reopened++
		}
		if err := p.settled(ctx); err != nil {
			return err
		}
	}
	p.completed = left
	return nil
}

// visit records a visit to a household by one of the advisers.
func (p *player) visit(ctx context.Context, h advisedHousehold) error {
	kinds := []domain.VisitKind{domain.VisitHome, domain.VisitHome, domain.VisitPhone, domain.VisitCentre}
	in := app.VisitInput{Visitor: adviserNames[p.adv.IntN(len(adviserNames))], Kind: kinds[p.adv.IntN(len(kinds))],
		VisitedAt: p.now().Add(-timeOfVisit(p.adv.IntN(6))), Found: findings[p.adv.IntN(len(findings))]}
	if _, err := p.a.Commands.RecordVisit.Handle(ctx, h.id, in, meta(centre(domain.TierCommunity, h.community))); err != nil {
		return p.refused(err, "visit "+h.id)
	}
	p.t.Visits++
	return p.settled(ctx)
}

// reassess rates a household anew: one or two dimensions move by a level.
func (p *player) reassess(ctx context.Context, h *advisedHousehold) error {
	next := domain.Assessment{}
	for d, l := range h.assessment {
		next[d] = l
	}
	dims := domain.AllDimensions()
	for range 1 + p.adv.IntN(2) {
		d := dims[p.adv.IntN(len(dims))]
		next[d] = min(domain.MaxLevel, max(0, next[d]+[]int{-1, 1, 1}[p.adv.IntN(3)]))
	}
	in := app.ReassessInput{Assessment: next, Note: "定期复评"}
	if _, err := p.a.Commands.Reassess.Handle(ctx, h.id, in, meta(centre(domain.TierCommunity, h.community))); err != nil {
		return p.refused(err, "reassess "+h.id)
	}
	h.assessment = next
	p.t.Reassessed++
	return p.settled(ctx)
}

// applyFor applies, with the household, for the first programme its record says it
// may qualify for and has not applied for.
func (p *player) applyFor(ctx context.Context, h advisedHousehold) error {
	who := centre(domain.TierCommunity, h.community)
	ents, err := p.a.Queries.Reads.Entitlements(ctx, h.id, who)
	if err != nil {
		return p.refused(err, "read the entitlements of "+h.id)
	}
	for _, e := range ents.Items {
		if e.Status != app.EntitlementEligible {
			continue
		}
		if _, err := p.a.Commands.ApplyEntitlement.Handle(ctx, h.id, e.Programme.Code, meta(who)); err != nil {
			return p.refused(err, "apply for "+e.Programme.Code)
		}
		p.applications = append(p.applications, application{household: h.id, community: h.community, programme: e.Programme.Code, step: p.step})
		p.t.Applied++
		return p.settled(ctx)
	}
	return nil
}

// answerApplications records the departments' answers to applications of two or
// more days (ten steps) before: most granted, some refused with a note.
func (p *player) answerApplications(ctx context.Context) error {
	left := p.applications[:0]
	sort.SliceStable(p.applications, func(i, j int) bool { return p.applications[i].step < p.applications[j].step })
	for _, a := range p.applications {
		if p.step-a.step < 2*len(hours) {
			left = append(left, a)
			continue
		}
		action, note := domain.EntitlementGrant, ""
		if p.adv.IntN(5) == 0 {
			action, note = domain.EntitlementRefuse, refusals[p.adv.IntN(len(refusals))]
		}
		if _, err := p.a.Commands.AnswerEntitlement.Handle(ctx, a.household, a.programme, action, note, meta(centre(domain.TierCommunity, a.community))); err != nil {
			if err := p.refused(err, fmt.Sprintf("answer %s of %s", a.programme, a.household)); err != nil {
				return err
			}
			continue
		}
		if action == domain.EntitlementGrant {
			p.t.Granted++
		}
		if err := p.settled(ctx); err != nil {
			return err
		}
	}
	p.applications = left
	return nil
}

// timeOfVisit is how long before the step a visit was made: within the morning.
func timeOfVisit(hoursAgo int) time.Duration { return time.Duration(hoursAgo) * time.Hour }
