package twiliosim

import (
	"math/rand"
	"path"
	"strconv"
	"strings"
	"time"
)

// WebhookMatch selects webhooks for fault injection. It sees the webhook
// before delivery (Status, Body and At are zero).
type WebhookMatch func(w Webhook) bool

// MatchKind matches webhooks of one kind (voice, action, redirect, status,
// assignment, event, conference, hold, wait, announce).
func MatchKind(kind string) WebhookMatch { return func(w Webhook) bool { return w.Kind == kind } }

// MatchEvent matches a webhook by its event: StatusCallbackEvent
// (conference), EventType (workspace) or CallStatus (call status).
func MatchEvent(ev string) WebhookMatch {
	return func(w Webhook) bool {
		for _, k := range []string{"StatusCallbackEvent", "EventType"} {
			if v := w.Form[k]; len(v) > 0 {
				return v[0] == ev
			}
		}
		if w.Kind == "status" {
			if v := w.Form["CallStatus"]; len(v) > 0 {
				return v[0] == ev
			}
		}
		return false
	}
}

// Order is how held-back conference callbacks are released.
type Order int

const (
	InOrder Order = iota
	Reversed
	Shuffled
)

type faults struct {
	rest     []*restFault
	dups     []*hookFault
	delays   []*hookFault
	holdConf bool
	held     []*delivery
	// park: fire-and-forget callbacks (status, event, conference) that
	// match are kept back in parked until the test releases them one by
	// one, in any order, as often as it likes (ParkWebhooks).
	park   WebhookMatch
	parked []*delivery
}

type restFault struct {
	method, pattern string
	status, times   int
	applied         bool // carry the request out, then answer status
	transient       bool // set by TransientREST, which replaces its own
}

type hookFault struct {
	match  WebhookMatch
	times  int
	copies int
	delay  time.Duration
}

// FailREST answers the next `times` REST requests matching method ("" = any)
// and pathPattern with status (429 carries Retry-After and code 20429, other
// statuses code 20500). pathPattern is a path.Match glob ("*" = one path
// segment, e.g. "/2010-04-01/Accounts/*/Conferences/*/Participants/*.json")
// or, without glob characters, a substring of the path.
func (s *Sim) FailREST(method, pathPattern string, status, times int) {
	s.lock()
	defer s.unlock()
	s.faults.rest = append(s.faults.rest, &restFault{method: strings.ToUpper(method), pattern: pathPattern, status: status, times: times})
}

// TransientREST answers the next n429 REST requests with 429 and the n500
// after them with 500, replacing what an earlier call of it left unused
// (faults set by FailREST stay): a harness that injects a few failures per
// step does not pile them up across quiet steps.
func (s *Sim) TransientREST(n429, n500 int) {
	s.lock()
	defer s.unlock()
	kept := s.faults.rest[:0]
	for _, rf := range s.faults.rest {
		if !rf.transient {
			kept = append(kept, rf)
		}
	}
	s.faults.rest = kept
	for _, f := range []struct{ status, times int }{{429, n429}, {500, n500}} {
		if f.times > 0 {
			s.faults.rest = append(s.faults.rest, &restFault{status: f.status, times: f.times, transient: true})
		}
	}
}

// LoseRESTAnswers carries out the next `times` REST requests matching
// method and pathPattern (as FailREST) and then answers them with status
// instead of their result: Twilio did the work, but the answer was lost
// on its way back (a gateway's 5xx, a timeout), so a client that retries
// sends a request that has in fact been done already.
func (s *Sim) LoseRESTAnswers(method, pathPattern string, status, times int) {
	s.lock()
	defer s.unlock()
	s.faults.rest = append(s.faults.rest, &restFault{method: strings.ToUpper(method), pattern: pathPattern, status: status, times: times, applied: true})
}

func (f *faults) restFault(method, p string) *restFault {
	for _, rf := range f.rest {
		if rf.times <= 0 || (rf.method != "" && rf.method != method) {
			continue
		}
		ok := false
		if strings.ContainsAny(rf.pattern, "*?[") {
			ok, _ = path.Match(rf.pattern, p)
		} else {
			ok = strings.Contains(p, rf.pattern)
		}
		if ok {
			rf.times--
			return rf
		}
	}
	return nil
}

// DuplicateWebhooks delivers the next `times` matching webhooks twice, with
// the same I-Twilio-Idempotency-Token (as a Twilio retry would).
func (s *Sim) DuplicateWebhooks(m WebhookMatch, times int) {
	if m == nil {
		m = func(Webhook) bool { return true } // nil: every webhook
	}
	s.lock()
	defer s.unlock()
	s.faults.dups = append(s.faults.dups, &hookFault{match: m, times: times, copies: 1})
}

// DelayWebhooks holds the next `times` matching webhooks back for d of
// virtual time (Advance delivers them); later webhooks overtake them.
func (s *Sim) DelayWebhooks(m WebhookMatch, d time.Duration, times int) {
	if m == nil {
		m = func(Webhook) bool { return true } // nil: every webhook
	}
	s.lock()
	defer s.unlock()
	s.faults.delays = append(s.faults.delays, &hookFault{match: m, times: times, delay: d})
}

// HoldConferenceCallbacks keeps conference status callbacks back until
// ReleaseConferenceCallbacks.
func (s *Sim) HoldConferenceCallbacks() {
	s.lock()
	defer s.unlock()
	s.faults.holdConf = true
}

// ReleaseConferenceCallbacks delivers the held conference callbacks in the
// given order (Shuffled uses seed) and stops holding.
func (s *Sim) ReleaseConferenceCallbacks(order Order, seed int64) {
	s.lock()
	defer s.unlock()
	held := s.faults.held
	s.faults.held, s.faults.holdConf = nil, false
	switch order {
	case Reversed:
		for i, j := 0, len(held)-1; i < j; i, j = i+1, j-1 {
			held[i], held[j] = held[j], held[i]
		}
	case Shuffled:
		rand.New(rand.NewSource(seed)).Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
	}
	for _, d := range held {
		s.enqueue(d)
	}
}

func (f *faults) applyWebhook(s *Sim, d *delivery) {
	view := Webhook{Kind: d.kind, Method: d.method, URL: d.url, Form: d.form, Token: d.token}
	for _, h := range f.dups {
		if h.times > 0 && h.match(view) {
			h.times--
			d.dup += h.copies
			break
		}
	}
	for _, h := range f.delays {
		if h.times > 0 && h.match(view) {
			h.times--
			s.after(h.delay, func() { s.enqueue(d) })
			return
		}
	}
	if f.park != nil && (d.done == nil || d.kind == "assignment") && f.park(view) {
		f.parked = append(f.parked, d)
		return
	}
	if d.confCB && f.holdConf {
		f.held = append(f.held, d)
		return
	}
	s.enqueue(d)
}

// ParkWebhooks keeps every matching callback that no call waits for (call
// status, workspace event, conference and assignment callbacks: not TwiML
// fetches, which a call cannot go on without) back until the test releases
// it with
// ReleaseParked or RetryParked: a test then decides the order in which
// Twilio's callbacks arrive, across endpoints, as real Twilio does not
// promise one. nil stops parking (what is parked stays parked).
func (s *Sim) ParkWebhooks(m WebhookMatch) {
	s.lock()
	defer s.unlock()
	s.faults.park = m
}

// Parked lists the parked callbacks, oldest first (Status, Body and At are
// zero).
func (s *Sim) Parked() []Webhook {
	s.lock()
	defer s.mu.Unlock()
	out := make([]Webhook, 0, len(s.faults.parked))
	for _, d := range s.faults.parked {
		out = append(out, Webhook{Kind: d.kind, Method: d.method, URL: d.url, Form: cloneValues(d.form), Token: d.token})
	}
	return out
}

// ReleaseParked delivers the i-th parked callback (as Parked lists them)
// and forgets it.
func (s *Sim) ReleaseParked(i int) {
	s.lock()
	defer s.unlock()
	if i < 0 || i >= len(s.faults.parked) {
		return
	}
	d := s.faults.parked[i]
	s.faults.parked = append(s.faults.parked[:i], s.faults.parked[i+1:]...)
	s.enqueue(d)
}

// RetryParked delivers a copy of the i-th parked callback and keeps it
// parked, so it can arrive again later: Twilio retrying it, with the same
// I-Twilio-Idempotency-Token, or with a new one when newToken (a retry
// Twilio sent as a new request).
func (s *Sim) RetryParked(i int, newToken bool) {
	s.lock()
	defer s.unlock()
	if i < 0 || i >= len(s.faults.parked) {
		return
	}
	d := *s.faults.parked[i]
	d.dup = 0
	if newToken {
		s.seq++
		d.token = s.salt + "-" + strconv.FormatUint(s.seq, 10)
	}
	s.enqueue(&d)
}
