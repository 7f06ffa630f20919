package adapters

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Pinger adapts a Redis client to httpapi.Pinger, for the health check.
type Pinger struct{ Client redis.UniversalClient }

// Ping says whether Redis answers.
func (p Pinger) Ping(ctx context.Context) error { return p.Client.Ping(ctx).Err() }
