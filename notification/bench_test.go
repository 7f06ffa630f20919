package notification

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkStateApply measures what following a district's log costs the notifier,
// per entry, as the log grows and as subscriptions multiply (each referral event is
// weighed against every subscription). The clock ticks every few minutes, as a busy
// district's log does (a tick a minute among hundreds of commands):
// go test -bench StateApply ./notification/
func BenchmarkStateApply(b *testing.B) {
	for _, c := range []struct{ size, subs int }{{10_000, 10}, {100_000, 10}, {100_000, 100}, {100_000, 1000}} {
		entries := randomLogWith(rand.New(rand.NewPCG(1, 14)), c.size, c.subs, 5*time.Minute)
		b.Run(fmt.Sprintf("entries=%d/subscriptions=%d", len(entries), c.subs), func(b *testing.B) {
			told := 0
			for b.Loop() {
				s, err := NewState(Config{Partition: "d", Zone: zone})
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; i < len(entries); i += 500 {
					out, err := s.Apply(entries[i:min(len(entries), i+500)])
					if err != nil {
						b.Fatal(err)
					}
					told += len(out.Notifications)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(entries)), "ns/entry")
			b.ReportMetric(float64(told)/float64(b.N*len(entries)), "notifications/entry")
		})
	}
}
