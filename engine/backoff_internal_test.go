package engine

import (
	"errors"
	"slices"
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

// While the store fails, the dispatcher's wait doubles from its poll
// interval up to 10 s, and one error is logged at most every 10 s with how
// many were left out; another error is logged at once, and a success
// starts over.
func TestDispatchPace(t *testing.T) {
	p := dispatchPace{poll: 250 * time.Millisecond}
	down := errors.New("store: claim outbox: attempt to write a readonly database (8)")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		wait       time.Duration
		log        bool
		suppressed int
	}
	var got []step
	for range 9 {
		wait, log, suppressed := p.failed(now, down)
		got = append(got, step{wait, log, suppressed})
		now = now.Add(wait)
	}
	ms := time.Millisecond
	want := []step{
		{250 * ms, true, 0}, {500 * ms, false, 0}, {time.Second, false, 0}, {2 * time.Second, false, 0},
		{4 * time.Second, false, 0}, {8 * time.Second, false, 0}, // 15.75 s after the first line:
		{10 * time.Second, true, 5}, {10 * time.Second, true, 0}, {10 * time.Second, true, 0},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("failures:\n got %v\nwant %v", got, want)
	}
	if _, log, _ := p.failed(now, errors.New("store: claim outbox: connection refused")); !log {
		t.Error("a different error was not logged at once")
	}
	if n, ok := p.recovered(); !ok || n != 10 {
		t.Errorf("recovered() = %d, %v; want 10 failed attempts", n, ok)
	}
	if wait, log, _ := p.failed(now, down); wait != 250*ms || !log {
		t.Errorf("after a success: wait %s, logged %v; want the poll interval and a line", wait, log)
	}
}
