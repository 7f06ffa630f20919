package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/webhook"
)

// webhookKeyName is the Redis key of the webhook key a deployment generated for
// itself, shared by its nodes, when TIERLINK_WEBHOOK_KEY is not set.
const webhookKeyName = "tl:webhook:key"

// webhookKey returns the key the subscriptions' secrets derive from:
// TIERLINK_WEBHOOK_KEY (64 hex digits or more) when set, else one generated once and
// kept in the event log's Redis, so that every node of a deployment signs alike.
func webhookKey(ctx context.Context, client redis.UniversalClient, log *slog.Logger) ([]byte, error) {
	if v := os.Getenv("TIERLINK_WEBHOOK_KEY"); v != "" {
		key, err := hex.DecodeString(v)
		if err != nil || len(key) < webhook.MinKeyLength {
			return nil, invalid("TIERLINK_WEBHOOK_KEY must be %d or more bytes in hex (make one with: openssl rand -hex 32)", webhook.MinKeyLength)
		}
		return key, nil
	}
	fresh := make([]byte, webhook.MinKeyLength)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("generate a webhook key: %w", err)
	}
	if err := client.SetNX(ctx, webhookKeyName, hex.EncodeToString(fresh), 0).Err(); err != nil {
		return nil, fmt.Errorf("keep the webhook key in redis: %w", err)
	}
	stored, err := client.Get(ctx, webhookKeyName).Result()
	if err != nil {
		return nil, fmt.Errorf("read the webhook key from redis: %w", err)
	}
	key, err := hex.DecodeString(stored)
	if err != nil || len(key) < webhook.MinKeyLength {
		return nil, fmt.Errorf("the webhook key in redis (%s) is not %d bytes of hex: delete it, or set TIERLINK_WEBHOOK_KEY", webhookKeyName, webhook.MinKeyLength)
	}
	log.Debug("webhook key from redis; set TIERLINK_WEBHOOK_KEY to keep it out of the store", "key", webhookKeyName)
	return key, nil
}
