package twiliosim

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	api "github.com/twilio/twilio-go/rest/api/v2010"
)

func TestFailREST(t *testing.T) {
	for _, tc := range []struct {
		status, code int
	}{{429, 20429}, {500, 20500}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			s, _ := contactCenter(t)
			_, cf := connectCustomer(t, s)
			cust, _ := s.Call(customer)
			s.FailREST("POST", "/2010-04-01/Accounts/*/Conferences/*/Participants/*.json", tc.status, 2)
			rc := restClient(t, s)
			p := &api.UpdateParticipantParams{}
			p.SetHold(true)
			for i := 0; i < 2; i++ {
				_, err := rc.Api.UpdateParticipant(cf.Sid, cust.Sid, p)
				if twilioCode(err) != tc.code {
					t.Fatalf("attempt %d: err = %v, want %d", i, err, tc.code)
				}
			}
			if _, err := rc.Api.UpdateParticipant(cf.Sid, cust.Sid, p); err != nil {
				t.Fatalf("third attempt: %v", err)
			}
			reqs := s.Requests()
			if tc.status == 429 {
				// Retry-After is sent with 429s
				req, _ := http.NewRequest("POST", s.URL()+"/2010-04-01/Accounts/"+s.AccountSid()+"/Conferences/"+cf.Sid+"/Participants/"+cust.Sid+".json", nil)
				s.FailREST("", "/Participants/", 429, 1)
				resp, err := http.DefaultClient.Do(req)
				must(t, err)
				resp.Body.Close()
				if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("status %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
				}
			}
			n := 0
			for _, r := range reqs {
				if r.Status == tc.status {
					n++
				}
			}
			if n != 2 {
				t.Fatalf("%d requests answered %d", n, tc.status)
			}
		})
	}
}

func TestDuplicateWebhookSameToken(t *testing.T) {
	s, a := contactCenter(t)
	s.DuplicateWebhooks(MatchKind("assignment"), 1)
	connectCustomer(t, s)
	got := a.requests("/assign")
	if len(got) != 2 {
		t.Fatalf("assignment callbacks delivered %d times, want 2", len(got))
	}
	t0, t1 := got[0].Header.Get("I-Twilio-Idempotency-Token"), got[1].Header.Get("I-Twilio-Idempotency-Token")
	if t0 == "" || t0 != t1 {
		t.Fatalf("tokens %q %q", t0, t1)
	}
	// the duplicate must not start a second worker leg
	if n := len(s.CallsTo(alice)); n != 1 {
		t.Fatalf("%d calls to the agent", n)
	}
	// distinct deliveries carry distinct tokens
	seen := map[string]bool{}
	for _, w := range s.Webhooks() {
		if !w.Dup && seen[w.Token] {
			t.Fatalf("token %s reused", w.Token)
		}
		seen[w.Token] = true
	}
}

func TestConferenceCallbacksOutOfOrder(t *testing.T) {
	for _, order := range []Order{Reversed, Shuffled} {
		s, a := contactCenter(t)
		s.HoldConferenceCallbacks()
		_, cf := connectCustomer(t, s)
		if n := len(a.requests("/conf")); n != 0 {
			t.Fatalf("%d conference callbacks leaked while held", n)
		}
		cust, _ := s.Call(customer)
		p := &api.UpdateParticipantParams{}
		p.SetHold(true)
		_, err := restClient(t, s).Api.UpdateParticipant(cf.Sid, cust.Sid, p)
		must(t, err)
		s.ReleaseConferenceCallbacks(order, 7)
		settle(t, s)
		var seqs []int
		for _, r := range a.requests("/conf") {
			seqs = append(seqs, atoiDef(r.Form.Get("SequenceNumber"), 0))
		}
		if len(seqs) < 4 {
			t.Fatalf("callbacks %v", seqs)
		}
		sorted := true
		for i := 1; i < len(seqs); i++ {
			sorted = sorted && seqs[i] > seqs[i-1]
		}
		if sorted {
			t.Fatalf("order %d delivered in sequence: %v", order, seqs)
		}
	}
}

func TestDelayedWebhook(t *testing.T) {
	s, a := contactCenter(t)
	s.DelayWebhooks(MatchEvent("participant-join"), 5*time.Second, 1)
	connectCustomer(t, s)
	var evs []string
	for _, r := range a.requests("/conf") {
		evs = append(evs, r.Form.Get("StatusCallbackEvent"))
	}
	if evs[0] == "participant-join" {
		t.Fatalf("first join should be delayed: %v", evs)
	}
	n := len(evs)
	s.Advance(5 * time.Second)
	settle(t, s)
	got := a.requests("/conf")
	if len(got) != n+1 || got[n].Form.Get("StatusCallbackEvent") != "participant-join" {
		t.Fatalf("delayed join not delivered after Advance")
	}
}

func TestDropCall(t *testing.T) {
	s, _ := contactCenter(t)
	_, cf := connectCustomer(t, s)
	must(t, s.DropCall(alice))
	settle(t, s)
	ci, _ := s.Conference(cf.Sid)
	if len(ci.Participants) != 1 || ci.Status != "in-progress" {
		t.Fatalf("conference after drop %+v", ci)
	}
	if h := s.Hearing(customer); h.Kind != "music" {
		t.Fatalf("lone customer hears %+v", h)
	}
}

// TransientREST replaces the transient failures an earlier call left
// unused (a harness step that sent nothing), and leaves FailREST's alone.
func TestTransientRESTReplacesItsOwn(t *testing.T) {
	s, _ := contactCenter(t)
	_, cf := connectCustomer(t, s)
	cust, _ := s.Call(customer)
	rc := restClient(t, s)
	p := &api.UpdateParticipantParams{}
	p.SetHold(true)
	s.TransientREST(2, 2) // a step that sends nothing leaves all four
	s.FailREST("POST", "/Participants/", 503, 1)
	s.TransientREST(1, 0) // the next step's
	// FailREST's 503 (code 20500) first, then the one 429 of the second
	// call; the first call's four are gone.
	for i, want := range []int{20500, 20429, 0} {
		_, err := rc.Api.UpdateParticipant(cf.Sid, cust.Sid, p)
		if got := twilioCode(err); got != want || (want == 0) != (err == nil) {
			t.Fatalf("request %d: err = %v (code %d), want code %d", i, err, got, want)
		}
	}
}
