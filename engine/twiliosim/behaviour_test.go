package twiliosim

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

func twilioCode(err error) int {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

const supervisor = "client:sup"

func addSupervisor(t *testing.T, s *Sim, cfSid string, p *api.CreateParticipantParams) error {
	t.Helper()
	p.SetFrom(support)
	p.SetTo(supervisor)
	_, err := restClient(t, s).Api.CreateParticipant(cfSid, p)
	if err != nil {
		return err
	}
	settle(t, s)
	must(t, s.Answer(supervisor))
	settle(t, s)
	return nil
}

func TestWhoHearsWhom(t *testing.T) {
	cases := []struct {
		name   string
		params func(agentSid string) *api.CreateParticipantParams
		want   map[[2]string]bool // {listener, speaker}
	}{
		{"whisper: only the agent hears the supervisor", func(ag string) *api.CreateParticipantParams {
			p := &api.CreateParticipantParams{}
			p.SetCoaching(true)
			p.SetCallSidToCoach(ag)
			return p
		}, map[[2]string]bool{
			{alice, supervisor}: true, {customer, supervisor}: false,
			{supervisor, alice}: true, {supervisor, customer}: true, {customer, alice}: true,
		}},
		{"monitor: muted supervisor heard by nobody", func(string) *api.CreateParticipantParams {
			p := &api.CreateParticipantParams{}
			p.SetMuted(true)
			return p
		}, map[[2]string]bool{
			{alice, supervisor}: false, {customer, supervisor}: false, {supervisor, alice}: true, {supervisor, customer}: true,
		}},
		{"barge: everyone hears the supervisor", func(string) *api.CreateParticipantParams {
			return &api.CreateParticipantParams{}
		}, map[[2]string]bool{
			{alice, supervisor}: true, {customer, supervisor}: true, {customer, alice}: true,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := contactCenter(t)
			_, cf := connectCustomer(t, s)
			ag, _ := s.Call(alice)
			must(t, addSupervisor(t, s, cf.Sid, tc.params(ag.Sid)))
			for pair, want := range tc.want {
				if got := s.Hears(pair[0], pair[1]); got != want {
					t.Errorf("Hears(%s, %s) = %v, want %v", pair[0], pair[1], got, want)
				}
			}
		})
	}
}

func TestWhisperToBargeViaUpdate(t *testing.T) {
	s, _ := contactCenter(t)
	_, cf := connectCustomer(t, s)
	ag, _ := s.Call(alice)
	p := &api.CreateParticipantParams{}
	p.SetMuted(true)
	must(t, addSupervisor(t, s, cf.Sid, p))
	rc := restClient(t, s)
	sup, _ := s.Call(supervisor)
	up := &api.UpdateParticipantParams{}
	up.SetCoaching(true)
	up.SetCallSidToCoach(ag.Sid)
	up.SetMuted(false)
	_, err := rc.Api.UpdateParticipant(cf.Sid, sup.Sid, up)
	must(t, err)
	if !s.Hears(alice, supervisor) || s.Hears(customer, supervisor) {
		t.Fatal("whisper: only the agent may hear the supervisor")
	}
	up = &api.UpdateParticipantParams{}
	up.SetCoaching(false)
	_, err = rc.Api.UpdateParticipant(cf.Sid, sup.Sid, up)
	must(t, err)
	if !s.Hears(customer, supervisor) {
		t.Fatal("barge: the customer should hear the supervisor")
	}
	// coaching a call that is not in the conference: 13240
	up = &api.UpdateParticipantParams{}
	up.SetCoaching(true)
	up.SetCallSidToCoach("CA00000000000000000000000000000000")
	if _, err = rc.Api.UpdateParticipant(cf.Sid, sup.Sid, up); twilioCode(err) != 13240 {
		t.Fatalf("err = %v, want 13240", err)
	}
}

func TestDuplicateLabel(t *testing.T) {
	s, _ := contactCenter(t)
	_, cf := connectCustomer(t, s)
	rc := restClient(t, s)
	for i, want := range []int{0, 16026} {
		p := &api.CreateParticipantParams{}
		p.SetFrom(support)
		p.SetTo("+1555000000" + string(rune('1'+i)))
		p.SetLabel("supervisor")
		_, err := rc.Api.CreateParticipant(cf.Sid, p)
		if twilioCode(err) != want {
			t.Fatalf("create #%d: err = %v, want code %d", i, err, want)
		}
	}
	// the label addresses the participant
	got, err := rc.Api.FetchParticipant(cf.Sid, "supervisor", nil)
	must(t, err)
	if got.Label == nil || *got.Label != "supervisor" || *got.Status != "ringing" {
		t.Fatalf("participant %+v", got)
	}
}

// LoseRESTAnswers carries a request out and answers an error: the
// participant exists, and a resend of the create meets its label.
func TestLostRESTAnswer(t *testing.T) {
	s, _ := contactCenter(t)
	_, cf := connectCustomer(t, s)
	rc := restClient(t, s)
	s.LoseRESTAnswers("POST", "/Participants.json", 502, 1)
	for i, want := range []int{20500, 16026} {
		p := &api.CreateParticipantParams{}
		p.SetFrom(support)
		p.SetTo("+15550000001")
		p.SetLabel("consultee-1")
		_, err := rc.Api.CreateParticipant(cf.Sid, p)
		if twilioCode(err) != want {
			t.Fatalf("create #%d: err = %v, want code %d", i, err, want)
		}
	}
	got, err := rc.Api.FetchParticipant(cf.Sid, "consultee-1", nil)
	must(t, err)
	if got.Status == nil || *got.Status != "ringing" {
		t.Fatalf("participant %+v: want the one the lost answer created, ringing", got)
	}
}

func TestReservationAnsweredLate(t *testing.T) {
	s := NewTest(t, Options{})
	a := newApp(t, s)
	wf := s.AddWorkflow("main", "support")
	s.AddWorker("alice", alice, nil, "support")
	s.AddWorker("bob", "client:bob", nil, "support")
	s.AddNumber(support, a.url("/voice"))
	a.twiml("/voice", `<Response><Enqueue workflowSid="`+wf+`"/></Response>`)
	s.ConfigureWorkspace(WorkspaceConfig{AssignmentCallbackURL: a.url("/assign"), EventCallbackURL: a.url("/events"), ReservationTimeout: 30 * time.Second})
	must(t, s.SetWorkerAvailable("alice", true))
	_, err := s.PlaceCall(customer, support)
	must(t, err)
	settle(t, s)
	task := s.Tasks()[0]
	res := task.Reservations[0]
	if res.WorkerName != "alice" || res.Status != "pending" {
		t.Fatalf("reservation %+v", res)
	}
	must(t, s.SetWorkerAvailable("bob", true))
	s.Advance(31 * time.Second)
	settle(t, s)
	rc := restClient(t, s)
	p := &tr.UpdateTaskReservationParams{}
	p.SetReservationStatus("accepted")
	_, err = rc.TaskrouterV1.UpdateTaskReservation(s.WorkspaceSid(), task.Sid, res.Sid, p)
	if twilioCode(err) != 40144 {
		t.Fatalf("late accept: err = %v, want 40144", err)
	}
	rs := s.Reservations(task.Sid)
	if len(rs) != 2 || rs[0].Status != "timeout" || rs[1].WorkerName != "bob" || rs[1].Status != "pending" {
		t.Fatalf("reservations after timeout: %+v", rs)
	}
	if s.WorkerActivity("alice") != "Offline" {
		t.Errorf("alice is %s after a timeout", s.WorkerActivity("alice"))
	}
	var events []string
	for _, r := range a.requests("/events") {
		events = append(events, r.Form.Get("EventType"))
	}
	joined := strings.Join(events, ",")
	for _, want := range []string{"task.created", "reservation.created", "reservation.timeout", "worker.activity.update"} {
		if !strings.Contains(joined, want) {
			t.Errorf("events %s lack %s", joined, want)
		}
	}
}

func TestSpecRejectsNonconformingRequest(t *testing.T) {
	s := specCheckedSim(t)
	a := newApp(t, s)
	a.twiml("/c", `<Response><Dial><Conference>room</Conference></Dial></Response>`)
	s.AddNumber(support, a.url("/c"))
	_, err := s.PlaceCall(customer, support)
	must(t, err)
	settle(t, s)
	cf, _ := s.Conference("room")
	cust, _ := s.Call(customer)
	p := &api.UpdateParticipantParams{}
	p.SetHold(true)
	p.SetHoldMethod("PUT")
	_, err = restClient(t, s).Api.UpdateParticipant(cf.Sid, cust.Sid, p)
	var te *client.TwilioRestError
	if !errors.As(err, &te) || te.Status != 400 {
		t.Fatalf("err = %v, want a 400", err)
	}
	if v := s.Violations(); len(v) != 1 || !strings.Contains(v[0], "HoldMethod") {
		t.Fatalf("violations = %v", v)
	}
	if s.Participants("room")[0].Hold {
		t.Fatal("a rejected request must not change state")
	}
}

func TestEndConferenceOnExit(t *testing.T) {
	cases := []struct {
		name       string
		leaver     string
		wantStatus string
		wantReason string
	}{
		{"moderator leaves", "+15550000001", "completed", "participant-with-end-conference-on-exit-left"},
		{"plain participant leaves", "+15550000002", "in-progress", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewTest(t, Options{})
			a := newApp(t, s)
			s.AddNumber(support, a.url("/c"))
			a.on("/c", func(f url.Values) (int, string) {
				end := f.Get("From") == "+15550000001"
				if end {
					return 200, `<Response><Dial><Conference endConferenceOnExit="true" statusCallback="/cb" statusCallbackEvent="start end join leave">room</Conference></Dial><Say>after</Say></Response>`
				}
				return 200, `<Response><Dial><Conference>room</Conference></Dial><Say>after</Say></Response>`
			})
			for _, from := range []string{"+15550000001", "+15550000002", "+15550000003"} {
				_, err := s.PlaceCall(from, support)
				must(t, err)
			}
			settle(t, s)
			if !s.Hears("+15550000003", "+15550000001") {
				t.Fatal("participants should hear each other")
			}
			must(t, s.Hangup(tc.leaver))
			settle(t, s)
			cf, _ := s.Conference("room")
			if cf.Status != tc.wantStatus || cf.ReasonEnded != tc.wantReason {
				t.Fatalf("conference %+v", cf)
			}
			if tc.wantStatus == "completed" {
				// the others continue with the verb after <Dial>
				if said := s.Said("+15550000003"); len(said) == 0 || said[len(said)-1] != "after" {
					t.Fatalf("said %v", said)
				}
				var evs []string
				for _, r := range a.requests("/cb") {
					evs = append(evs, r.Form.Get("StatusCallbackEvent"))
				}
				if evs[len(evs)-1] != "conference-end" {
					t.Fatalf("events %v", evs)
				}
			}
		})
	}
}

func TestAnnouncementHeardByOneParticipant(t *testing.T) {
	s, a := contactCenter(t)
	_, cf := connectCustomer(t, s)
	a.twiml("/announce", `<Response><Say>Customer is a VIP</Say></Response>`)
	ag, _ := s.Call(alice)
	p := &api.UpdateParticipantParams{}
	p.SetAnnounceUrl(a.url("/announce"))
	_, err := restClient(t, s).Api.UpdateParticipant(cf.Sid, ag.Sid, p)
	must(t, err)
	settle(t, s)
	if got := s.Said(alice); got[len(got)-1] != "Customer is a VIP" {
		t.Fatalf("agent heard %v", got)
	}
	for _, said := range s.Said(customer) {
		if said == "Customer is a VIP" {
			t.Fatal("the customer heard the agent's announcement")
		}
	}
	// The conference instruction cannot subscribe to announcement events
	// (UpdateTaskReservation's ConferenceStatusCallbackEvent has no
	// "announcement"), so none is sent.
	for _, cb := range a.requests("/conf") {
		if cb.Form.Get("StatusCallbackEvent") == "announcement-end" {
			t.Fatalf("announcement-end sent without a subscription: %v", cb.Form)
		}
	}
}

func TestApplicationError(t *testing.T) {
	s := NewTest(t, Options{})
	a := newApp(t, s)
	a.on("/voice", func(url.Values) (int, string) { return 500, "boom" })
	s.AddNumber(support, a.url("/voice"))
	sid, err := s.PlaceCall(customer, support)
	must(t, err)
	settle(t, s)
	c, _ := s.Call(sid)
	if c.Status != "completed" || s.Said(customer)[0] != ApplicationError {
		t.Fatalf("call %+v said %v", c, s.Said(customer))
	}
}

func TestGatherAndDialNumber(t *testing.T) {
	s := NewTest(t, Options{})
	a := newApp(t, s)
	s.AddNumber(support, a.url("/ivr"))
	a.twiml("/ivr", `<Response><Gather action="/menu" numDigits="1" timeout="5"><Say>Press 1 for sales</Say></Gather><Say>No input</Say></Response>`)
	a.on("/menu", func(f url.Values) (int, string) {
		if f.Get("Digits") == "1" {
			return 200, `<Response><Dial timeout="20"><Number>+15559990000</Number></Dial><Say>Sales is busy</Say></Response>`
		}
		return 200, `<Response><Hangup/></Response>`
	})
	// scripted digits: pressed before the Gather runs
	_, err := s.PlaceCall(customer, support)
	must(t, err)
	must(t, s.Press(customer, "1"))
	settle(t, s)
	if len(a.requests("/menu")) != 1 {
		t.Fatal("gather action not requested")
	}
	must(t, s.Answer("+15559990000"))
	if !s.Hears(customer, "+15559990000") || !s.Hears("+15559990000", customer) {
		t.Fatal("dial bridge: both legs should hear each other")
	}
	must(t, s.Hangup("+15559990000"))
	settle(t, s)
	if said := s.Said(customer); said[len(said)-1] != "Sales is busy" {
		t.Fatalf("said %v", said)
	}
	// ring out: second call, no digits -> falls through after the timeout
	_, err = s.PlaceCall("+15551112222", support)
	must(t, err)
	settle(t, s)
	s.Advance(6 * time.Second)
	settle(t, s)
	if said := s.Said("+15551112222"); said[len(said)-1] != "No input" {
		t.Fatalf("said %v", said)
	}
}

func TestStandaloneStartAndControl(t *testing.T) {
	s := New(Options{OpenAPIDir: "-"})
	defer s.Close()
	u, err := s.Start("")
	must(t, err)
	a := newApp(t, s)
	a.twiml("/v", `<Response><Say>hi</Say><Pause length="30"/></Response>`)
	s.AddNumber(support, a.url("/v"))
	resp, err := http.PostForm(u+"/_sim/call", url.Values{"from": {customer}, "to": {support}})
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	settle(t, s)
	if got := s.Said(customer); len(got) != 1 || got[0] != "hi" {
		t.Fatalf("said %v", got)
	}
	resp, err = http.PostForm(u+"/_sim/advance", url.Values{"d": {"31s"}})
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != `{"ok":true}` {
		t.Errorf("advance answered %s, want {\"ok\":true}", body)
	}
	if c, _ := s.Call(customer); c.Status != "completed" {
		t.Fatalf("call %+v", c)
	}
}

func TestRingingLegCanceledWhenCallerHangsUp(t *testing.T) {
	s, _ := contactCenter(t)
	_, err := s.PlaceCall(customer, support)
	must(t, err)
	settle(t, s)
	if c, _ := s.Call(alice); c.Status != "ringing" {
		t.Fatalf("agent leg %+v", c)
	}
	must(t, s.Hangup(customer))
	settle(t, s)
	task := s.Tasks()[0]
	if task.AssignmentStatus != "canceled" || task.Reservations[0].Status != "canceled" {
		t.Fatalf("task %+v", task)
	}
	if c, _ := s.Call(alice); c.Status != "canceled" {
		t.Fatalf("agent leg %+v", c)
	}
}

func TestSuperviseWhisper(t *testing.T) {
	s, _ := contactCenter(t)
	task, _ := connectCustomer(t, s)
	p := &tr.UpdateTaskReservationParams{}
	p.SetInstruction("supervise")
	p.SetSupervisor(supervisor)
	p.SetSupervisorMode("whisper")
	_, err := restClient(t, s).TaskrouterV1.UpdateTaskReservation(s.WorkspaceSid(), task.Sid, task.Reservations[0].Sid, p)
	must(t, err)
	settle(t, s)
	must(t, s.Answer(supervisor))
	settle(t, s)
	if !s.Hears(alice, supervisor) || s.Hears(customer, supervisor) || !s.Hears(supervisor, customer) {
		t.Fatal("during a whisper only the agent hears the supervisor")
	}
	// the timeline records who the customer heard, with virtual timestamps
	tl := s.Timeline(customer)
	var kinds []string
	for _, h := range tl {
		kinds = append(kinds, h.Kind+":"+h.Source+strings.Join(h.Parties, ","))
	}
	if len(tl) < 3 || tl[len(tl)-1].Kind != "parties" || tl[len(tl)-1].Parties[0] != alice {
		t.Fatalf("timeline %v", kinds)
	}
}

// An assignment instruction is checked like a REST request: a key
// UpdateTaskReservation does not name (Twilio would ignore the option the
// app meant) is a violation, and the reservation stays pending.
func TestSpecRejectsMisspelledInstruction(t *testing.T) {
	s := specCheckedSim(t)
	a := newApp(t, s)
	wf := s.AddWorkflow("main", "support")
	s.AddWorker("alice", alice, nil, "support")
	s.AddNumber(support, a.url("/voice"))
	a.twiml("/voice", `<Response><Enqueue workflowSid="`+wf+`"><Task>{}</Task></Enqueue></Response>`)
	a.on("/assign", func(url.Values) (int, string) {
		return 200, `{"instruction": "conference", "end_conference_on_customer_exitt": true}`
	})
	s.ConfigureWorkspace(WorkspaceConfig{AssignmentCallbackURL: a.url("/assign")})
	must(t, s.SetWorkerAvailable("alice", true))
	_, err := s.PlaceCall(customer, support)
	must(t, err)
	settle(t, s)
	if v := s.Violations(); len(v) != 1 || !strings.Contains(v[0], "EndConferenceOnCustomerExitt") {
		t.Fatalf("violations = %v", v)
	}
	if _, ok := s.Call(alice); ok {
		t.Fatal("a refused instruction must not dial the worker")
	}
}

// specCheckedSim is a Sim checking requests against Twilio's OpenAPI spec
// (skipped without TWILIO_OPENAPI_DIR) that, unlike NewTest, does not fail
// the test on a violation: the caller sends one on purpose.
func specCheckedSim(t *testing.T) *Sim {
	t.Helper()
	if defaultOpenAPIDir() == "" {
		t.Skip("TWILIO_OPENAPI_DIR is unset: run with TWILIO_OPENAPI_DIR=/work/shared/twilio-oai to check requests against Twilio's OpenAPI spec")
	}
	s := New(Options{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	s.SetURL(srv.URL)
	return s
}

// A participant added by the API whose phone is not answered leaves with
// participant-leave, ReasonParticipantLeft participant_add_failed and its
// call's status, as Twilio has sent since October 2023.
func TestFailedAddSendsParticipantLeave(t *testing.T) {
	s, _ := contactCenter(t)
	_, cf := connectCustomer(t, s)
	p := &api.CreateParticipantParams{}
	p.SetFrom(support)
	p.SetTo(supervisor)
	_, err := restClient(t, s).Api.CreateParticipant(cf.Sid, p)
	must(t, err)
	settle(t, s)
	must(t, s.Decline(supervisor))
	settle(t, s)
	var leaves []url.Values
	for _, w := range s.Webhooks() {
		if f := url.Values(w.Form); w.Kind == "conference" && f.Get("StatusCallbackEvent") == "participant-leave" {
			leaves = append(leaves, f)
		}
	}
	if len(leaves) != 1 || leaves[0].Get("ReasonParticipantLeft") != "participant_add_failed" || leaves[0].Get("ParticipantCallStatus") != "busy" {
		t.Fatalf("participant-leave callbacks: %v, want one with participant_add_failed and busy", leaves)
	}
}

// <Conference participantLabel> naming a label already in the conference:
// Twilio's 16025, the call is not added and its TwiML goes on.
func TestDuplicateLabelInTwiMLIsNotAdded(t *testing.T) {
	s := New(Options{OpenAPIDir: "-"})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	s.SetURL(srv.URL)
	a := newApp(t, s)
	a.twiml("/c", `<Response><Dial><Conference participantLabel="customer">room</Conference></Dial><Say>after</Say></Response>`)
	s.AddNumber(support, a.url("/c"))
	for _, from := range []string{customer, "+15550009999"} {
		_, err := s.PlaceCall(from, support)
		must(t, err)
		settle(t, s)
	}
	if n := len(s.Participants("room")); n != 1 {
		t.Fatalf("%d participants, want the first caller only", n)
	}
	if said := s.Said("+15550009999"); len(said) == 0 || said[len(said)-1] != "after" {
		t.Fatalf("the second caller heard %v, want the verb after the Dial", said)
	}
}
