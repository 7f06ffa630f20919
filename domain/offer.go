package domain

// OfferPosted records a provider's offer of a service with its capacity.
type OfferPosted struct {
	Provider  string `json:"provider"`
	Community string `json:"community"`
	Street    string `json:"street"`
	District  string `json:"district"`
	Category  string `json:"category"`
	Capacity  int    `json:"capacity"`
}

// EventType names the event.
func (OfferPosted) EventType() string { return "offer.posted" }

// OfferUnitReserved records that a proposed referral holds one unit of an offer.
type OfferUnitReserved struct {
	ReferralID string `json:"referral_id"`
	NeedID     string `json:"need_id"`
}

// EventType names the event.
func (OfferUnitReserved) EventType() string { return "offer.unit_reserved" }

// Offer is the state of one offer, folded from its events.
type Offer struct {
	ID        string
	Provider  string
	Community string
	Category  string
	Capacity  int
	Reserved  int
	Version   int64
}

// Free is the capacity not yet committed to a referral.
func (o Offer) Free() int { return o.Capacity - o.Reserved }

// Evolve returns the state after one of the offer's events.
func (o Offer) Evolve(e Event) Offer {
	switch p := e.Payload.(type) {
	case OfferPosted:
		o.ID = e.AggregateID
		o.Provider = p.Provider
		o.Community = p.Community
		o.Category = p.Category
		o.Capacity = p.Capacity
	case OfferUnitReserved:
		o.Reserved++
	}
	o.Version = e.AggregateVersion
	return o
}

// PostOffer posts a new offer of one category in one community.
type PostOffer struct {
	OfferID   string
	Provider  string
	Community string
	Category  string
	Capacity  int
}

// DecidePostOffer checks the command against the reference data and the (empty) offer.
func DecidePostOffer(o Offer, cmd PostOffer, ref *Reference) ([]Change, error) {
	if err := checkID("offer_id", cmd.OfferID); err != nil {
		return nil, err
	}
	if o.Version != 0 {
		return nil, ErrAlreadyExists
	}
	if cmd.Provider == "" {
		return nil, fieldErrf("provider", "is required")
	}
	if len(cmd.Provider) > MaxProviderIDLength {
		return nil, fieldErrf("provider", "is longer than %d bytes", MaxProviderIDLength)
	}
	com, err := ref.Geography.Community(cmd.Community)
	if err != nil {
		return nil, fieldErr("community", err)
	}
	if _, err := ref.Taxonomy.Category(cmd.Category); err != nil {
		return nil, fieldErr("category", err)
	}
	if cmd.Capacity < 1 || cmd.Capacity > MaxOfferCapacity {
		return nil, fieldErrf("capacity", "must be between 1 and %d", MaxOfferCapacity)
	}
	return []Change{{
		Aggregate: AggregateRef{Type: AggregateOffer, ID: cmd.OfferID},
		Payloads: []Payload{OfferPosted{
			Provider: cmd.Provider, Community: com.Code, Street: com.Street, District: com.District,
			Category: cmd.Category, Capacity: cmd.Capacity,
		}},
	}}, nil
}
