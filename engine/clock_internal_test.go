package engine

import (
	"testing"
	"time"
)

// TestSystemClockIsUTC: flows read now in UTC whatever the machine's TZ
// (docs/language.md, now), as scenarios do.
func TestSystemClockIsUTC(t *testing.T) {
	// time.Now() is in time.Local, a Location other than time.UTC even
	// on a machine whose TZ is UTC.
	if loc := (systemClock{}).Now().Location(); loc != time.UTC {
		t.Fatalf("now is in %v, want UTC", loc)
	}
}
