package app

import "time"

// Now is the application's present time, for a page to say how long a need has
// waited or a centre has left to answer, by the clock the rules use.
func (r Reads) Now() time.Time { return r.cfg.Now() }
