// Package notification decides, from a district's log, what each subscriber is told
// and when: the notifications every entry implies, the reminders and the daily
// digest that ticks imply, each built from what its subscriber may read. It is pure:
// entries in, notifications out; infra/webhook delivers them.
package notification

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// Notification is one message for one subscription, ready to deliver.
type Notification struct {
	// DeliveryID is unique per subscription and message, the same however often the
	// log is replayed: receivers drop a second delivery by it.
	DeliveryID string `json:"delivery_id"`
	// Subscription is the id of the subscription it goes to.
	Subscription string `json:"subscription"`
	// Kind is one of domain.NotificationKinds.
	Kind string `json:"kind"`
	// Key orders deliveries: two notifications of one key (a referral, a need, an
	// offer) are delivered in log order; others may pass each other.
	Key string `json:"key"`
	// Position is the log position of the entry that implied it.
	Position int64 `json:"position"`
	// Time is when that entry was appended.
	Time time.Time `json:"time"`
	// Body is the JSON document POSTed (see Message).
	Body []byte `json:"body"`
}

// Subscription is what delivery needs of a subscription: where to POST and how to
// derive its secret.
type Subscription struct {
	ID       string           `json:"id"`
	Owner    domain.Principal `json:"owner"`
	District string           `json:"district"`
	URL      string           `json:"url"`
	Kinds    []string         `json:"kinds"`
	// Categories, when not empty, limits the notifications to these categories.
	Categories []string  `json:"categories,omitempty"`
	Salt       string    `json:"salt"`
	Created    time.Time `json:"created"`
	// Deleted is set once the subscription is deleted: nothing more is delivered.
	Deleted bool  `json:"deleted,omitempty"`
	Version int64 `json:"version"`
}

// Redelivery asks for a dead-lettered notification to be delivered again.
type Redelivery struct {
	Subscription string `json:"subscription"`
	DeliveryID   string `json:"delivery_id"`
}

// Output is what one run of entries implies: notifications to queue, subscriptions
// created or deleted, and dead letters to deliver again.
type Output struct {
	Notifications []Notification
	Subscriptions []Subscription
	Redeliveries  []Redelivery
}

// Empty reports whether the output holds nothing.
func (o Output) Empty() bool {
	return len(o.Notifications) == 0 && len(o.Subscriptions) == 0 && len(o.Redeliveries) == 0
}

// deliveryID derives a notification's id from where it comes from, formatted as a
// UUID (version 8, "custom"): a replay of the log derives the same ids.
func deliveryID(partition string, position int64, subscription, kind string, n int) string {
	sum := sha256.Sum256([]byte(partition + "\x00" + strconv.FormatInt(position, 10) + "\x00" + subscription + "\x00" + kind + "\x00" + strconv.Itoa(n)))
	b := sum[:16]
	b[6] = (b[6] & 0x0f) | 0x80
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
