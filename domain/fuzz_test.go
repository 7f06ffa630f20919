package domain

import "testing"

// FuzzDecode checks that no input makes Decode panic, and that whatever it accepts
// encodes back to bytes it decodes to the same event.
func FuzzDecode(f *testing.F) {
	r := NewRegistry()
	good, _ := r.Encode(sampleEvent())
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"x","type":"need.registered","schema_version":1,"aggregate_type":"need","aggregate_id":"n","aggregate_version":1,"payload":null}`))
	f.Add([]byte(`{"id":"x","type":"offer.posted","schema_version":1,"aggregate_type":"offer","aggregate_id":"o","aggregate_version":1,"payload":{"capacity":1e99}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := r.Decode(b)
		if err != nil {
			return
		}
		again, err := r.Encode(e)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", b, err)
		}
		e2, err := r.Decode(again)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if b2, _ := r.Encode(e2); string(b2) != string(again) {
			t.Fatalf("encoding not stable:\n%s\n%s", again, b2)
		}
	})
}
