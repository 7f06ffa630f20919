package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleEvent() Event {
	return Event{
		ID: "e1", Type: "need.registered", SchemaVersion: 1,
		AggregateType: AggregateNeed, AggregateID: "n1", AggregateVersion: 1,
		Partition: "changning", Time: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC),
		Actor: "centre:xinhua-02", CommandID: "c1", CorrelationID: "c1",
		Payload: NeedRegistered{HouseholdID: "h1", Community: "xinhua-02", Street: "xinhua", Category: "counselling"},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	r := NewRegistry()
	b, err := r.Encode(sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.Encode(got)
	if string(again) != string(b) {
		t.Fatalf("round trip changed the bytes:\n%s\n%s", b, again)
	}
	if got.Payload.(NeedRegistered).Category != "counselling" {
		t.Fatalf("payload %+v", got.Payload)
	}
}

func TestDecodeRefusesWhatItDoesNotKnow(t *testing.T) {
	r := NewRegistry()
	good, _ := r.Encode(sampleEvent())
	cases := map[string]struct {
		body string
		want error
	}{
		"not json":          {`{"id":`, ErrMalformedEvent},
		"no payload":        {strings.Replace(string(good), `"payload":`, `"x":`, 1), ErrMalformedEvent},
		"unknown type":      {strings.Replace(string(good), `"need.registered"`, `"need.teleported"`, 1), ErrUnknownEventType},
		"unknown version":   {strings.Replace(string(good), `"schema_version":1`, `"schema_version":9`, 1), ErrUnknownSchemaVersion},
		"unknown field":     {strings.Replace(string(good), `"category":`, `"colour":"red","category":`, 1), ErrMalformedEvent},
		"wrong field type":  {strings.Replace(string(good), `"household_id":"h1"`, `"household_id":7`, 1), ErrMalformedEvent},
		"no aggregate":      {strings.Replace(string(good), `"aggregate_id":"n1"`, `"aggregate_id":""`, 1), ErrMalformedEvent},
		"payload is a list": {strings.Replace(string(good), `"payload":{`, `"payload":[{`, 1) + "]", ErrMalformedEvent},
	}
	for name, c := range cases {
		if _, err := r.Decode([]byte(c.body)); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

func TestEncodeRefusesInconsistentEnvelope(t *testing.T) {
	r := NewRegistry()
	e := sampleEvent()
	e.Type = "offer.posted"
	if _, err := r.Encode(e); !errors.Is(err, ErrMalformedEvent) {
		t.Fatalf("type mismatch: %v", err)
	}
	e = sampleEvent()
	e.SchemaVersion = 2
	if _, err := r.Encode(e); !errors.Is(err, ErrUnknownSchemaVersion) {
		t.Fatalf("future version: %v", err)
	}
}

func TestEnvelopNumbersVersionsFromExpected(t *testing.T) {
	r := NewRegistry()
	n := 0
	evs, err := r.Envelop([]Change{
		{Aggregate: AggregateRef{Type: AggregateNeed, ID: "n"}, ExpectedVersion: 4, Payloads: []Payload{
			ReferralProposed{ReferralID: "r"}, ReferralProposed{ReferralID: "r2"},
		}},
	}, Meta{Partition: "p", CommandID: "c"}, func() string { n++; return string(rune('a' + n)) })
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].AggregateVersion != 5 || evs[1].AggregateVersion != 6 || evs[0].CorrelationID != "c" || evs[0].ID == evs[1].ID {
		t.Fatalf("%+v", evs)
	}
}
