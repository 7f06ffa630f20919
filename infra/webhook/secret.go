package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// SecretPrefix starts every subscription secret, so that one pasted in the wrong
// place is recognised.
const SecretPrefix = "whsec_"

// MinKeyLength is the shortest node key accepted: 32 bytes, the HMAC's block of strength.
const MinKeyLength = 32

// ErrShortKey means the webhook key is shorter than MinKeyLength.
var ErrShortKey = errors.New("webhook key shorter than 32 bytes")

// SubscriptionSecret derives a subscription's signing secret from the node's webhook
// key, the subscription's id and the salt its creation recorded. The log holds only
// the salt: the secret is shown once, to whoever created the subscription, and any
// node with the key signs with it.
func SubscriptionSecret(key []byte, id, salt string) (string, error) {
	if len(key) < MinKeyLength {
		return "", ErrShortKey
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte("tierlink/subscription/" + id + "/" + salt))
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(h.Sum(nil)), nil
}
