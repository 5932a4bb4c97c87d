package engine

import (
	"testing"
	"time"
)

// TestSystemClockIsUTC: flows read now in UTC whatever the machine's TZ
// (docs/language.md, now), as scenarios do.
func TestSystemClockIsUTC(t *testing.T) {
	local := time.Local
	t.Cleanup(func() { time.Local = local })
	time.Local = time.FixedZone("EST", -5*3600)
	if loc := (systemClock{}).Now().Location(); loc != time.UTC {
		t.Fatalf("now is in %v, want UTC", loc)
	}
}
