package engine

import (
	"testing"
	"time"

	"github.com/flowd/flowd/engine/twilio"
)

// The wait before a retry doubles up to 30 s, and Twilio's Retry-After is
// honoured up to the same bound: a lane waits no hour for one request.
func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		name       string
		attempts   int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first retry", 0, 0, 500 * time.Millisecond},
		{"third retry", 2, 0, 2 * time.Second},
		{"many retries", 20, 0, 30 * time.Second},
		{"Retry-After", 5, 7 * time.Second, 7 * time.Second},
		{"Retry-After of an hour", 0, time.Hour, 30 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			var terr *twilio.Error
			if c.retryAfter > 0 {
				terr = &twilio.Error{Status: 503, RetryAfter: c.retryAfter, Temporary: true}
			}
			if got := backoff(c.attempts, terr); got != c.want {
				t.Errorf("backoff(%d, Retry-After %s) = %s, want %s", c.attempts, c.retryAfter, got, c.want)
			}
		})
	}
}
