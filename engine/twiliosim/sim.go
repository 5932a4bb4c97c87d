package twiliosim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Sim. The zero value works: SIDs and the auth token are
// generated, the clock starts at 2025-01-01T00:00:00Z.
type Options struct {
	AccountSid   string    // AC…; generated when empty
	AuthToken    string    // signs every webhook (X-Twilio-Signature); "simtoken" when empty
	WorkspaceSid string    // WS…; generated when empty
	Start        time.Time // virtual clock start

	// OpenAPIDir holds twilio_api_v2010.json and twilio_taskrouter_v1.json.
	// Empty: taken from $TWILIO_OPENAPI_DIR. "-": conformance checks off.
	OpenAPIDir string

	HTTPClient *http.Client // for webhooks; a client with a 15 s timeout when nil
	Logf       func(format string, args ...any)

	// AutoAnswer answers every outbound leg as soon as it rings (load tests).
	AutoAnswer bool
}

// Sim is a stateful stand-in for Twilio Voice + TaskRouter. All methods are
// safe for concurrent use.
type Sim struct {
	opts Options
	salt string

	mu      sync.Mutex
	now     time.Time
	seq     uint64
	url     string
	spec    *specValidator
	specErr error

	violations []string
	requests   []Request
	webhooks   []Webhook

	numbers   map[string]*number
	calls     map[string]*call
	callOrder []*call
	live      map[*call]bool
	confs     map[string]*conference
	confOrder []*conference
	vqueues   map[string]*voiceQueue

	tr taskRouter

	timers []*timer

	// delivery
	queue        []*delivery
	inflight     int
	restInflight int
	wake         chan struct{}
	changed      chan struct{}
	stop         chan struct{}
	stopOnce     sync.Once
	wg           sync.WaitGroup

	faults faults
}

// New builds a Sim and starts its webhook delivery goroutine (stop it with
// Close). Set the public base URL with SetURL if REST-visible URLs matter.
func New(o Options) *Sim {
	s := &Sim{opts: o}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s.salt = hex.EncodeToString(b)
	if s.opts.AccountSid == "" {
		s.opts.AccountSid = s.newSid("AC")
	}
	if s.opts.AuthToken == "" {
		s.opts.AuthToken = "simtoken"
	}
	if s.opts.WorkspaceSid == "" {
		s.opts.WorkspaceSid = s.newSid("WS")
	}
	if s.opts.Start.IsZero() {
		s.opts.Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if s.opts.HTTPClient == nil {
		s.opts.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	s.now = s.opts.Start
	dir := s.opts.OpenAPIDir
	if dir == "" {
		dir = defaultOpenAPIDir()
	}
	if dir != "" && dir != "-" {
		s.spec, s.specErr = loadSpec(dir)
	}
	s.numbers = map[string]*number{}
	s.calls = map[string]*call{}
	s.live = map[*call]bool{}
	s.confs = map[string]*conference{}
	s.vqueues = map[string]*voiceQueue{}
	s.wake = make(chan struct{}, 1)
	s.changed = make(chan struct{})
	s.stop = make(chan struct{})
	s.initTaskRouter()
	s.wg.Add(1)
	go s.deliveryLoop()
	return s
}

// NewTest starts the Sim behind an httptest server and, when the test ends,
// fails it for every request that did not conform to Twilio's OpenAPI spec.
func NewTest(t testing.TB, o Options) *Sim {
	t.Helper()
	s := New(o)
	if s.specErr != nil {
		t.Fatalf("twiliosim: %v", s.specErr)
	}
	srv := httptest.NewServer(s.Handler())
	s.SetURL(srv.URL)
	t.Cleanup(func() {
		s.Close()
		srv.Close()
		for _, v := range s.Violations() {
			t.Errorf("twiliosim: request does not conform to Twilio's OpenAPI spec: %s", v)
		}
	})
	return s
}

// Close stops the delivery goroutine. Queued webhooks are dropped.
func (s *Sim) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
}

// SetURL records the base URL the REST API is reachable at (NewTest does it).
func (s *Sim) SetURL(u string) {
	s.mu.Lock()
	s.url = strings.TrimRight(u, "/")
	s.mu.Unlock()
}

// URL is the base URL of the REST API ("" until SetURL / NewTest).
func (s *Sim) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// AccountSid, AuthToken and WorkspaceSid report the (possibly generated) identities.
func (s *Sim) AccountSid() string   { return s.opts.AccountSid }
func (s *Sim) AuthToken() string    { return s.opts.AuthToken }
func (s *Sim) WorkspaceSid() string { return s.opts.WorkspaceSid }

// SpecEnabled reports whether requests are checked against the OpenAPI spec.
func (s *Sim) SpecEnabled() bool { return s.spec != nil }

// SpecError is why Options.OpenAPIDir could not be loaded (nil if it was,
// or none was given): a caller must not run unchecked believing it checks.
func (s *Sim) SpecError() error { return s.specErr }

// Violations lists every request that failed the spec check so far.
func (s *Sim) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Now is the virtual time.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *Sim) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf("twiliosim: "+format, args...)
	}
}

// newSid makes a Twilio-shaped SID (prefix + 32 hex digits). The per-Sim salt
// keeps SIDs unique across Sims sharing one database in flowd's tests.
func (s *Sim) newSid(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%s%016x", prefix, s.salt, s.seq)
}

// unlock is the only way the state lock is released after a mutation: it
// refreshes what every live party hears and wakes WaitIdle / the delivery loop.
func (s *Sim) unlock() {
	s.refreshAudio()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Sim) lock() { s.mu.Lock() }

// ---- virtual clock ----

type timer struct {
	at   time.Time
	seq  uint64
	fn   func()
	dead bool
}

// after schedules fn (run under the lock) at now+d of the virtual clock.
func (s *Sim) after(d time.Duration, fn func()) *timer {
	s.seq++
	t := &timer{at: s.now.Add(d), seq: s.seq, fn: fn}
	s.timers = append(s.timers, t)
	return t
}

func (t *timer) cancel() {
	if t != nil {
		t.dead = true
	}
}

// Advance moves the virtual clock forward, firing due timers in time order:
// reservation timeouts, ring timeouts, gather timeouts, Pause, delayed webhooks.
// NextTimer is when the earliest pending timer (a ring timeout, a
// reservation timeout, a task's TTL…) is due, if any.
func (s *Sim) NextTimer() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	found := false
	for _, t := range s.timers {
		if !t.dead && (!found || t.at.Before(next)) {
			next, found = t.at, true
		}
	}
	return next, found
}

func (s *Sim) Advance(d time.Duration) {
	s.lock()
	defer s.unlock()
	target := s.now.Add(d)
	for {
		var next *timer
		live := s.timers[:0]
		for _, t := range s.timers {
			if t.dead {
				continue
			}
			live = append(live, t)
			if !t.at.After(target) && (next == nil || t.at.Before(next.at) || (t.at.Equal(next.at) && t.seq < next.seq)) {
				next = t
			}
		}
		s.timers = live
		if next == nil {
			break
		}
		next.dead = true
		if next.at.After(s.now) {
			s.now = next.at
		}
		next.fn()
	}
	s.now = target
}

// ---- idleness ----

// Idle reports whether no webhook is queued or in flight and no REST request
// is being served. Webhooks held back or delayed by fault injection and
// timers on the virtual clock do not count.
func (s *Sim) Idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idleLocked()
}

func (s *Sim) idleLocked() bool {
	return len(s.queue) == 0 && s.inflight == 0 && s.restInflight == 0
}

// WaitIdle blocks until Idle or ctx is done.
func (s *Sim) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.idleLocked() {
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ---- records ----

// Request is one REST request the Sim received.
type Request struct {
	At     time.Time // virtual time
	Method string
	Path   string
	Query  string
	Form   map[string][]string
	Status int
	Body   string // response body
}

// Requests returns every REST request received so far.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Webhook is one outbound delivery (voice URL fetch, status/assignment/event/
// conference callback, hold/announce/wait URL fetch).
type Webhook struct {
	At     time.Time // virtual time of delivery
	Kind   string    // voice, action, redirect, status, assignment, event, conference, hold, wait, announce
	Method string
	URL    string
	Form   map[string][]string
	Token  string // I-Twilio-Idempotency-Token
	Status int    // 0 when the request failed
	Body   string
	Err    string
	Dup    bool // a fault-injected duplicate
}

// Webhooks returns every delivery attempted so far, in delivery order.
func (s *Sim) Webhooks() []Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Webhook(nil), s.webhooks...)
}
