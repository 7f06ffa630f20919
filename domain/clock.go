package domain

// ClockTicked carries the time into the log: the matcher expires unanswered
// referrals and ended offers, and starts offers, when it reads one. Its time is the
// event's.
type ClockTicked struct{}

// EventType names the event.
func (ClockTicked) EventType() string { return "clock.ticked" }

// AggregateClock is the aggregate type of a district's clock.
const AggregateClock = "clock"
