package web

import (
	"net/http"
	"strings"
)

// Languages the UI speaks.
const (
	LangZH = "zh-CN"
	LangEN = "en"
)

// messages holds every text a person reads in the UI, in both languages.
var messages = map[string]map[string]string{
	LangZH: {
		"app":                         "tierlink 分层转介",
		"signin.title":                "登录",
		"signin.token":                "API 令牌",
		"signin.help":                 "请输入运营方为您签发的令牌（tl_ 开头）。",
		"signin.submit":               "登录",
		"signin.bad":                  "令牌无效或已被撤销，请向运营方申请新的令牌。",
		"signout":                     "退出",
		"lang.switch":                 "English",
		"inbox.title":                 "待答复的转介",
		"inbox.node":                  "节点",
		"inbox.empty":                 "没有待答复的转介。",
		"inbox.deadline":              "答复期限",
		"inbox.overdue":               "已逾期",
		"inbox.category":              "服务类别",
		"inbox.community":             "社区",
		"inbox.hardship":              "困境程度",
		"inbox.urgency":               "紧急程度",
		"inbox.why":                   "匹配理由",
		"inbox.why.detail":            "规则 %s，候选 %d 个",
		"inbox.accept":                "接受",
		"inbox.decline":               "拒绝",
		"inbox.escalate":              "上转",
		"inbox.reason":                "拒绝原因",
		"inbox.note":                  "备注",
		"inbox.next":                  "下一页",
		"done.accept":                 "已接受转介。",
		"done.decline":                "已拒绝转介，系统将重新匹配。",
		"done.escalate":               "已上转至上一层级。",
		"error.title":                 "出错了",
		"error.back":                  "返回",
		"error.csrf":                  "表单已过期，请返回刷新页面后重试。",
		"error.role":                  "此页面仅供社区、街道或区级服务中心使用。",
		"offers.title":                "我的服务项目",
		"offers.post":                 "发布服务",
		"offers.category":             "服务类别",
		"offers.capacity":             "名额",
		"offers.scope":                "服务范围",
		"offers.area":                 "范围代码（社区、街道或区）",
		"offers.submit":               "发布",
		"offers.mine":                 "已发布",
		"offers.none":                 "尚未发布服务。",
		"offers.status":               "状态",
		"offers.units":                "名额使用",
		"offers.units.detail":         "共 %d：待答复 %d，已接受 %d，服务中 %d，已完成 %d，空余 %d",
		"offers.change":               "修改名额",
		"offers.withdraw":             "撤回",
		"referrals.title":             "转介给我的个案",
		"referrals.none":              "还没有转介。",
		"referrals.household":         "家庭（化名）",
		"referrals.start":             "开始服务",
		"referrals.complete":          "完成服务",
		"done.posted":                 "服务已发布。",
		"done.capacity":               "名额已修改。",
		"done.withdrawn":              "服务已撤回。",
		"done.start":                  "已开始服务。",
		"done.complete":               "服务已完成。",
		"error.provider":              "此页面仅供服务提供方使用。",
		"status.proposed":             "待中心答复",
		"status.accepted":             "已接受",
		"status.in_service":           "服务中",
		"status.completed":            "已完成",
		"status.ended":                "已结束",
		"status.open":                 "已结束",
		"status.waitlisted":           "已结束",
		"status.withdrawn":            "已撤回",
		"reason.no_longer_needed":     "不再需要",
		"reason.not_suitable":         "不合适",
		"reason.household_refused":    "家庭拒绝",
		"reason.provider_unreachable": "无法联系服务方",
		"reason.other":                "其他",
		"tier.1":                      "社区",
		"tier.2":                      "街道",
		"tier.3":                      "区",
		"urgency.low":                 "低",
		"urgency.normal":              "一般",
		"urgency.high":                "高",
		"urgency.critical":            "危急",
	},
	LangEN: {
		"app":                         "tierlink",
		"signin.title":                "Sign in",
		"signin.token":                "API token",
		"signin.help":                 "Enter the token an operator issued to you (it starts with tl_).",
		"signin.submit":               "Sign in",
		"signin.bad":                  "This token is unknown or revoked; ask an operator for a new one.",
		"signout":                     "Sign out",
		"lang.switch":                 "中文",
		"inbox.title":                 "Referrals awaiting your answer",
		"inbox.node":                  "Node",
		"inbox.empty":                 "No referral awaits your answer.",
		"inbox.deadline":              "Answer by",
		"inbox.overdue":               "overdue",
		"inbox.category":              "Service",
		"inbox.community":             "Community",
		"inbox.hardship":              "Hardship",
		"inbox.urgency":               "Urgency",
		"inbox.why":                   "Why this offer",
		"inbox.why.detail":            "rule %s, %d candidates",
		"inbox.accept":                "Accept",
		"inbox.decline":               "Decline",
		"inbox.escalate":              "Escalate",
		"inbox.reason":                "Reason for declining",
		"inbox.note":                  "Note",
		"inbox.next":                  "Next page",
		"done.accept":                 "Referral accepted.",
		"done.decline":                "Referral declined; the need is matched again.",
		"done.escalate":               "Referral escalated to the next tier.",
		"error.title":                 "Something went wrong",
		"error.back":                  "Back",
		"error.csrf":                  "This form has expired: go back, reload the page and try again.",
		"error.role":                  "This page is for community, street and district centres.",
		"offers.title":                "My offers",
		"offers.post":                 "Post an offer",
		"offers.category":             "Service",
		"offers.capacity":             "Places",
		"offers.scope":                "Serves",
		"offers.area":                 "Area code (community, street or district)",
		"offers.submit":               "Post",
		"offers.mine":                 "Posted",
		"offers.none":                 "No offer posted yet.",
		"offers.status":               "Status",
		"offers.units":                "Places used",
		"offers.units.detail":         "%d in all: %d awaiting an answer, %d accepted, %d in service, %d completed, %d free",
		"offers.change":               "Change places",
		"offers.withdraw":             "Withdraw",
		"referrals.title":             "Referrals to my offers",
		"referrals.none":              "No referral yet.",
		"referrals.household":         "Household (pseudonym)",
		"referrals.start":             "Start the service",
		"referrals.complete":          "Complete the service",
		"done.posted":                 "Offer posted.",
		"done.capacity":               "Places changed.",
		"done.withdrawn":              "Offer withdrawn.",
		"done.start":                  "Service started.",
		"done.complete":               "Service completed.",
		"error.provider":              "This page is for providers.",
		"status.proposed":             "awaiting the centre",
		"status.accepted":             "accepted",
		"status.in_service":           "in service",
		"status.completed":            "completed",
		"status.ended":                "ended",
		"status.open":                 "ended",
		"status.waitlisted":           "ended",
		"status.withdrawn":            "withdrawn",
		"reason.no_longer_needed":     "No longer needed",
		"reason.not_suitable":         "Not suitable",
		"reason.household_refused":    "Household refused",
		"reason.provider_unreachable": "Provider unreachable",
		"reason.other":                "Other",
		"tier.1":                      "community",
		"tier.2":                      "street",
		"tier.3":                      "district",
		"urgency.low":                 "low",
		"urgency.normal":              "normal",
		"urgency.high":                "high",
		"urgency.critical":            "critical",
	},
}

// langCookie keeps a person's choice of language.
const langCookie = "tl_lang"

// language picks the UI's language: the person's choice, else Accept-Language
// (Chinese of any region reads zh-CN), else zh-CN (the bureau's language).
func language(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && messages[c.Value] != nil {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "zh"):
			return LangZH
		case strings.HasPrefix(tag, "en"):
			return LangEN
		}
	}
	return LangZH
}

// translate returns the text of a key in a language (the key itself if missing,
// which a test forbids).
func translate(lang, key string) string {
	if s, ok := messages[lang][key]; ok {
		return s
	}
	return key
}
