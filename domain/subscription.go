package domain

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// AggregateSubscription is the aggregate type of a notification subscription.
const AggregateSubscription = "subscription"

// The kinds of notification a subscription may ask for.
const (
	KindReferralProposed  = "referral.proposed"
	KindReferralAccepted  = "referral.accepted"
	KindReferralDeclined  = "referral.declined"
	KindReferralEscalated = "referral.escalated"
	KindReferralExpired   = "referral.expired"
	KindReferralStarted   = "referral.started"
	KindReferralCompleted = "referral.completed"
	KindReferralCancelled = "referral.cancelled"
	KindNeedWaitlisted    = "need.waitlisted"
	KindNeedServed        = "need.served"
	KindOfferRunningLow   = "offer.running_low"
	KindOfferExhausted    = "offer.exhausted"
	KindReminder          = "reminder"
	KindDigest            = "digest"
)

// NotificationKinds lists every kind, in the order documentation shows them.
var NotificationKinds = []string{
	KindReferralProposed, KindReferralAccepted, KindReferralDeclined, KindReferralEscalated,
	KindReferralExpired, KindReferralStarted, KindReferralCompleted, KindReferralCancelled,
	KindNeedWaitlisted, KindNeedServed, KindOfferRunningLow, KindOfferExhausted,
	KindReminder, KindDigest,
}

// KindsFor lists the kinds a role may subscribe to: a provider hears of the
// referrals to its offers and of its offers, never of needs, reminders or digests,
// which concern households and centres.
func KindsFor(role Role) []string {
	if role != RoleProvider {
		return NotificationKinds
	}
	var out []string
	for _, k := range NotificationKinds {
		if strings.HasPrefix(k, "referral.") || strings.HasPrefix(k, "offer.") {
			out = append(out, k)
		}
	}
	return out
}

// Limits of a subscription.
const (
	// MaxURLLength bounds an endpoint's URL.
	MaxURLLength = 2048
	// MaxSubscriptionCategories bounds a subscription's category filter.
	MaxSubscriptionCategories = 64
)

// SubscriptionCreated records a subscription: who is told (its owner, whose access
// rules shape every payload), of what, in which district, at which URL. The log holds
// the salt from which, with the node's key, the signing secret is derived, never the
// secret.
type SubscriptionCreated struct {
	Owner      Principal `json:"owner"`
	District   string    `json:"district"`
	URL        string    `json:"url"`
	Kinds      []string  `json:"kinds"`
	Categories []string  `json:"categories,omitempty"`
	Salt       string    `json:"salt"`
}

// EventType names the event.
func (SubscriptionCreated) EventType() string { return "subscription.created" }

// SubscriptionDeleted records that a subscription ended: nothing more is delivered to it.
type SubscriptionDeleted struct{}

// EventType names the event.
func (SubscriptionDeleted) EventType() string { return "subscription.deleted" }

// RedeliveryRequested records that a dead-lettered notification is to be delivered again.
type RedeliveryRequested struct {
	DeliveryID string `json:"delivery_id"`
}

// EventType names the event.
func (RedeliveryRequested) EventType() string { return "subscription.redelivery_requested" }

// Subscription is the state of one subscription, folded from its events.
type Subscription struct {
	ID         string
	Owner      Principal
	District   string
	URL        string
	Kinds      []string
	Categories []string
	Salt       string
	Created    time.Time
	Deleted    bool
	Version    int64
}

// Evolve returns the state after one of the subscription's events.
func (s Subscription) Evolve(e Event) Subscription {
	switch p := e.Payload.(type) {
	case SubscriptionCreated:
		s.ID, s.Owner, s.District, s.URL = e.AggregateID, p.Owner, p.District, p.URL
		s.Kinds, s.Categories, s.Salt, s.Created = p.Kinds, p.Categories, p.Salt, e.Time
	case SubscriptionDeleted:
		s.Deleted = true
	}
	s.Version = e.AggregateVersion
	return s
}

// Wants reports whether the subscription asks for a kind of notification about a
// category ("" for notifications of no one category, such as digests).
func (s Subscription) Wants(kind, category string) bool {
	if s.Deleted || !slices.Contains(s.Kinds, kind) {
		return false
	}
	return len(s.Categories) == 0 || category == "" || slices.Contains(s.Categories, category)
}

// CreateSubscription asks for a new subscription.
type CreateSubscription struct {
	SubscriptionID string
	Owner          Principal
	District       string
	URL            string
	Kinds          []string
	Categories     []string
	Salt           string
	// AllowHTTP lets the URL be plain HTTP to a loopback address (a node setting,
	// for receivers on the same machine); otherwise only HTTPS is accepted.
	AllowHTTP bool
}

// DecideCreateSubscription validates a subscription: an HTTPS URL (or HTTP to a
// loopback host where the node allows it), known kinds that the owner's role may
// receive, known categories, and a district the owner may subscribe in.
func DecideCreateSubscription(s Subscription, cmd CreateSubscription, ref *Reference) ([]Change, error) {
	if err := checkID("subscription_id", cmd.SubscriptionID); err != nil {
		return nil, err
	}
	if s.Version != 0 {
		return nil, ErrAlreadyExists
	}
	if err := cmd.Owner.MaySubscribe(ref.Geography, cmd.District); err != nil {
		return nil, err
	}
	var errs FieldErrors
	errs.Add(CheckEndpoint("url", cmd.URL, cmd.AllowHTTP))
	allowed := KindsFor(cmd.Owner.Role)
	switch {
	case len(cmd.Kinds) == 0:
		errs.Add(fieldErrf("kinds", "is required: one or more of %s", strings.Join(allowed, ", ")))
	default:
		for i, k := range cmd.Kinds {
			field := fmt.Sprintf("kinds/%d", i)
			switch {
			case !slices.Contains(NotificationKinds, k):
				errs.Add(fieldErrf(field, "%q is not a kind of notification (%s)", k, strings.Join(NotificationKinds, ", ")))
			case !slices.Contains(allowed, k):
				errs.Add(fieldErrf(field, "%q is not delivered to a %s: it may ask for %s", k, cmd.Owner.Role, strings.Join(allowed, ", ")))
			case slices.Contains(cmd.Kinds[:i], k):
				errs.Add(fieldErrf(field, "duplicates kind %q", k))
			}
		}
	}
	if len(cmd.Categories) > MaxSubscriptionCategories {
		errs.Add(fieldErrf("categories", "must list at most %d categories", MaxSubscriptionCategories))
	} else {
		for i, c := range cmd.Categories {
			field := fmt.Sprintf("categories/%d", i)
			if _, err := ref.Taxonomy.Category(c); err != nil {
				errs.Add(fieldErr(field, err))
			} else if slices.Contains(cmd.Categories[:i], c) {
				errs.Add(fieldErrf(field, "duplicates category %q", c))
			}
		}
	}
	if cmd.Salt == "" {
		errs.Add(required("salt"))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return []Change{{
		Aggregate: AggregateRef{Type: AggregateSubscription, ID: cmd.SubscriptionID},
		Payloads: []Payload{SubscriptionCreated{
			Owner: cmd.Owner, District: cmd.District, URL: cmd.URL,
			Kinds: slices.Clone(cmd.Kinds), Categories: slices.Clone(cmd.Categories), Salt: cmd.Salt,
		}},
	}}, nil
}

// DecideDeleteSubscription ends a subscription; deleting one already deleted is refused.
func DecideDeleteSubscription(s Subscription) ([]Change, error) {
	if s.Deleted {
		return nil, fmt.Errorf("%w: the subscription is deleted already", ErrRefused)
	}
	return []Change{{
		Aggregate:       AggregateRef{Type: AggregateSubscription, ID: s.ID},
		ExpectedVersion: s.Version,
		Payloads:        []Payload{SubscriptionDeleted{}},
	}}, nil
}

// DecideRedeliver asks for a dead letter of a live subscription to be delivered again.
func DecideRedeliver(s Subscription, deliveryID string) ([]Change, error) {
	if err := checkID("delivery_id", deliveryID); err != nil {
		return nil, err
	}
	if s.Deleted {
		return nil, fmt.Errorf("%w: the subscription is deleted", ErrRefused)
	}
	return []Change{{
		Aggregate:       AggregateRef{Type: AggregateSubscription, ID: s.ID},
		ExpectedVersion: s.Version,
		Payloads:        []Payload{RedeliveryRequested{DeliveryID: deliveryID}},
	}}, nil
}

// CheckEndpoint refuses an endpoint URL that is not absolute HTTPS with a host, or
// plain HTTP to a loopback host when allowHTTP is set; user info and fragments are
// refused (a secret in a URL ends up in logs).
func CheckEndpoint(field, raw string, allowHTTP bool) error {
	if raw == "" {
		return required(field)
	}
	if len(raw) > MaxURLLength {
		return fieldErrf(field, "is longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fieldErrf(field, "must be an absolute URL such as https://example.org/hooks/tierlink")
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return fieldErrf(field, "must not carry user info or a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if !allowHTTP {
			return fieldErrf(field, "must use https (plain http is allowed only to a loopback host, on a node started with --webhook-allow-http)")
		}
		if !loopbackHost(u.Hostname()) {
			return fieldErrf(field, "may use plain http only to a loopback host (localhost, 127.0.0.1, ::1)")
		}
		return nil
	}
	return fieldErrf(field, "must use https")
}

// loopbackHost reports whether a URL's host names the local machine.
func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// MaySubscribe allows an operator, a provider and a centre whose node lies in the
// district to subscribe there (each is told only what it may read).
func (p Principal) MaySubscribe(g *Geography, district string) error {
	if district == "" {
		return required("district")
	}
	if _, err := g.DistrictOf(TierDistrict, district); err != nil {
		return fieldErr("district", err)
	}
	switch p.Role {
	case RoleOperator, RoleProvider:
		return nil
	case RoleCentre:
		if d, err := g.DistrictOf(p.Tier, p.Area); err == nil && d == district {
			return nil
		}
	}
	return forbid(p, "subscribe in this district", "operators, providers and the centres of its nodes may")
}

// MayManageSubscription allows its owner and operators to read, redeliver and delete a subscription.
func (p Principal) MayManageSubscription(owner Principal) error {
	if p.Role == RoleOperator || p == owner {
		return nil
	}
	return forbid(p, "read or change this subscription", "only its owner and operators may")
}
