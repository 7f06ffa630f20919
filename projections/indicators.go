package projections

import (
	"fmt"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// Fields of the indicator counters. Need fields are followed by "|<category>".
const (
	// FieldDemand counts needs registered.
	FieldDemand = "demand"
	// FieldNear counts needs proposed an offer at the community or street tier:
	// supply existed near the household (accessibility).
	FieldNear = "near"
	// FieldServed counts needs that got the service: in service or completed (obtainment).
	FieldServed = "served"
	// FieldLinked counts needs proposed an offer at all.
	FieldLinked = "linked"
	// FieldEscalatedFrom counts escalations, by the tier left ("escalated_from_street").
	FieldEscalatedFrom = "escalated_from_"
	// FieldHouseholds counts households registered.
	FieldHouseholds = "households"
	// FieldHelped counts households with a need served (coverage).
	FieldHelped = "helped"
	// fieldLinkBucket starts the fields of the time-to-link histogram.
	fieldLinkBucket = "link_le_"
)

// LinkBuckets are the upper bounds of the time-to-link histogram; the last bucket
// holds the rest.
var LinkBuckets = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 4 * time.Hour,
	24 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}

// LinkBucket names the histogram field of a time to link.
func LinkBucket(d time.Duration) string {
	for _, b := range LinkBuckets {
		if d <= b {
			return fieldLinkBucket + b.String()
		}
	}
	return fieldLinkBucket + "inf"
}

// Fields of the histograms of the time from a need's registration to its first
// acceptance and to the start of its service, by registration cohort. Each is
// followed by "|<category>".
const (
	// FieldAccepted counts needs whose referral a centre accepted (once per need).
	FieldAccepted = "accepted"
	// FieldStarted counts needs whose service started (once per need).
	FieldStarted = "started"
	// fieldAcceptBucket and fieldStartBucket start the fields of their histograms.
	fieldAcceptBucket = "accept_le_"
	fieldStartBucket  = "start_le_"
)

// DurationBuckets are the upper bounds of the histograms of time to accept and time
// to start, fine enough to read a percentile in hours or days; the last bucket
// ("inf") holds the rest.
var DurationBuckets = []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour,
	4 * time.Hour, 6 * time.Hour, 8 * time.Hour, 12 * time.Hour, 18 * time.Hour, 24 * time.Hour, 36 * time.Hour,
	48 * time.Hour, 72 * time.Hour, 96 * time.Hour, 120 * time.Hour, 7 * 24 * time.Hour, 10 * 24 * time.Hour,
	14 * 24 * time.Hour, 21 * 24 * time.Hour, 30 * 24 * time.Hour}

// AcceptBucket names the field of the time-to-accept histogram that counts d.
func AcceptBucket(d time.Duration) string { return durationBucket(fieldAcceptBucket, d) }

// StartBucket names the field of the time-to-start histogram that counts d.
func StartBucket(d time.Duration) string { return durationBucket(fieldStartBucket, d) }

// AcceptBucketAt names the field of the i-th bucket of the time-to-accept histogram
// (i == len(DurationBuckets) is the last, unbounded one).
func AcceptBucketAt(i int) string { return bucketAt(fieldAcceptBucket, i) }

// StartBucketAt names the field of the i-th bucket of the time-to-start histogram.
func StartBucketAt(i int) string { return bucketAt(fieldStartBucket, i) }

func durationBucket(prefix string, d time.Duration) string {
	for i, b := range DurationBuckets {
		if d <= b {
			return bucketAt(prefix, i)
		}
	}
	return bucketAt(prefix, len(DurationBuckets))
}

// bucketAt names a bucket by its bound in whole minutes ("accept_le_90m"), stable
// whatever time.Duration's formatting.
func bucketAt(prefix string, i int) string {
	if i >= len(DurationBuckets) {
		return prefix + "inf"
	}
	return fmt.Sprintf("%s%dm", prefix, int64(DurationBuckets[i]/time.Minute))
}

// Zone is the time zone of the indicators' days, weeks and months (China Standard Time).
var Zone = time.FixedZone("CST", 8*3600)

// Period kinds.
const (
	PeriodDay   = "day"
	PeriodWeek  = "week"
	PeriodMonth = "month"
)

// Periods names the day, week (ISO) and month of a time, in Zone.
func Periods(t time.Time) []string {
	return []string{PeriodName(PeriodDay, t), PeriodName(PeriodWeek, t), PeriodName(PeriodMonth, t)}
}

// PeriodName names the period of a kind that holds t: "2026-11-29", "2026-W48", "2026-11".
func PeriodName(kind string, t time.Time) string {
	t = t.In(Zone)
	switch kind {
	case PeriodWeek:
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case PeriodMonth:
		return t.Format("2006-01")
	}
	return t.Format("2006-01-02")
}

// IndicatorCounters names the counters of an area in a period.
func IndicatorCounters(tier int, area, period string) string {
	return "ind:" + domain.TierName(tier) + ":" + area + ":" + period
}

// GapCounters names a district's counters of waitlisted needs by "<street>|<category>".
func GapCounters(district string) string { return "gap:" + district }
