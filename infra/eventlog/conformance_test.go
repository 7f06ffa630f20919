package eventlog_test

import (
	"github.com/redis/go-redis/v9"

	"testing"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/eventlog/eventlogtest"
	"github.com/tierlink/tierlink/infra/redistest"
)

// redisFeatures is what the Redis store implements: everything the suite checks.
var redisFeatures = eventlogtest.Features{Leases: true, ConsumerGroups: true, Redis: true}

func subject(srv redistest.Server) func(t *testing.T) eventlogtest.Subject {
	return func(t *testing.T) eventlogtest.Subject {
		c := srv.Client(t)
		st, err := eventlog.NewStore(c, domain.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return eventlogtest.Subject{Store: st, Client: c}
	}
}

func TestConformanceRedis(t *testing.T) {
	srv := redistest.Real(t)
	if srv.Embedded {
		t.Log("no redis-server on this machine: the real-Redis run uses the embedded server")
	}
	eventlogtest.Run(t, redisFeatures, subject(srv))
}

func TestConformanceEmbedded(t *testing.T) {
	eventlogtest.Run(t, redisFeatures, subject(redistest.Embedded(t)))
}

// TestConformanceCluster runs the suite on a Redis Cluster: every key of a partition
// shares its hash tag, so the script and the consumer groups run unchanged there.
func TestConformanceCluster(t *testing.T) {
	addrs := redistest.Cluster(t)
	eventlogtest.Run(t, redisFeatures, func(t *testing.T) eventlogtest.Subject {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		t.Cleanup(func() { _ = c.Close() })
		st, err := eventlog.NewStore(c, domain.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return eventlogtest.Subject{Store: st, Client: c}
	})
}
