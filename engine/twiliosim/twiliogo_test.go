package twiliosim

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// TestTwilioGoOperations drives every operation flowd uses through twilio-go.
func TestTwilioGoOperations(t *testing.T) {
	s, a := contactCenter(t)
	_, cf := connectCustomer(t, s)
	rc := restClient(t, s)
	ws := s.WorkspaceSid()
	cust, _ := s.Call(customer)
	ag, _ := s.Call(alice)

	// Conferences
	got, err := rc.Api.FetchConference(cf.Sid, nil)
	must(t, err)
	if *got.Status != "in-progress" || *got.FriendlyName != cf.FriendlyName {
		t.Fatalf("conference %+v", got)
	}
	lp := &api.ListConferenceParams{}
	lp.SetFriendlyName(cf.FriendlyName)
	lp.SetStatus("in-progress")
	confs, err := rc.Api.ListConference(lp)
	must(t, err)
	if len(confs) != 1 || *confs[0].Sid != cf.Sid {
		t.Fatalf("list conferences %+v", confs)
	}

	// Participants
	parts, err := rc.Api.ListParticipant(cf.Sid, nil)
	must(t, err)
	if len(parts) != 2 {
		t.Fatalf("participants %d", len(parts))
	}
	p, err := rc.Api.FetchParticipant(cf.Sid, cust.Sid, nil)
	must(t, err)
	if *p.CallSid != cust.Sid || *p.Status != "connected" || !*p.EndConferenceOnExit {
		t.Fatalf("participant %+v", p)
	}
	up := &api.UpdateParticipantParams{}
	up.SetMuted(true)
	up.SetEndConferenceOnExit(true)
	up.SetHold(true)
	up.SetHoldUrl("https://example.com/hold.mp3")
	up.SetHoldMethod("GET")
	p, err = rc.Api.UpdateParticipant(cf.Sid, ag.Sid, up)
	must(t, err)
	if !*p.Muted || !*p.Hold || !*p.EndConferenceOnExit {
		t.Fatalf("updated participant %+v", p)
	}
	if h := s.Hearing(alice); h.URL != "https://example.com/hold.mp3" {
		t.Fatalf("agent hears %+v", h)
	}
	up = &api.UpdateParticipantParams{}
	up.SetHold(false)
	up.SetMuted(false)
	up.SetEndConferenceOnExit(false)
	_, err = rc.Api.UpdateParticipant(cf.Sid, ag.Sid, up)
	must(t, err)

	cp := &api.CreateParticipantParams{}
	cp.SetFrom(support)
	cp.SetTo("+15557770000")
	cp.SetLabel("consult")
	cp.SetEndConferenceOnExit(false)
	cp.SetStatusCallback(a.url("/leg"))
	cp.SetStatusCallbackEvent([]string{"initiated", "ringing", "answered", "completed"})
	p, err = rc.Api.CreateParticipant(cf.Sid, cp)
	must(t, err)
	consult := *p.CallSid
	settle(t, s)
	must(t, s.Answer("+15557770000"))
	settle(t, s)
	if !s.Hears("+15557770000", customer) {
		t.Fatal("consulted party should hear the customer")
	}
	must(t, rc.Api.DeleteParticipant(cf.Sid, "consult", nil))
	settle(t, s)
	if c, _ := s.Call(consult); c.Status != "completed" {
		t.Fatalf("removed REST participant's call: %+v", c)
	}
	var legEvents []string
	for _, r := range a.requests("/leg") {
		legEvents = append(legEvents, r.Form.Get("CallStatus"))
	}
	if len(legEvents) != 4 {
		t.Errorf("leg status callbacks %v", legEvents)
	}
	if _, err := rc.Api.FetchParticipant(cf.Sid, consult, nil); twilioCode(err) != 20404 {
		t.Fatalf("fetch removed participant: %v", err)
	}

	// Calls
	cc := &api.CreateCallParams{}
	cc.SetTo("+15553334444")
	cc.SetFrom(support)
	cc.SetTwiml("<Response><Say>Hello from the API</Say></Response>")
	call, err := rc.Api.CreateCall(cc)
	must(t, err)
	if *call.Status != "queued" || *call.Direction != "outbound-api" {
		t.Fatalf("created call %+v", call)
	}
	must(t, s.Answer("+15553334444"))
	if said := s.Said("+15553334444"); len(said) != 1 || said[0] != "Hello from the API" {
		t.Fatalf("said %v", said)
	}
	call, err = rc.Api.FetchCall(*call.Sid, nil)
	must(t, err)
	if *call.Status != "completed" {
		t.Fatalf("call %+v", call)
	}
	a.twiml("/moved", `<Response><Say>Moved</Say><Pause length="60"/></Response>`)
	uc := &api.UpdateCallParams{}
	uc.SetUrl(a.url("/moved"))
	_, err = rc.Api.UpdateCall(ag.Sid, uc)
	must(t, err)
	settle(t, s)
	if said := s.Said(alice); said[len(said)-1] != "Moved" {
		t.Fatalf("agent said %v", said)
	}
	uc = &api.UpdateCallParams{}
	uc.SetTwiml("<Response><Say>Inline</Say><Pause length=\"60\"/></Response>")
	_, err = rc.Api.UpdateCall(ag.Sid, uc)
	must(t, err)
	uc = &api.UpdateCallParams{}
	uc.SetStatus("completed")
	_, err = rc.Api.UpdateCall(ag.Sid, uc)
	must(t, err)
	if c, _ := s.Call(ag.Sid); c.Status != "completed" {
		t.Fatalf("agent call %+v", c)
	}
	ucf := &api.UpdateConferenceParams{}
	ucf.SetStatus("completed")
	_, err = rc.Api.UpdateConference(cf.Sid, ucf)
	must(t, err)
	if c, _ := s.Conference(cf.Sid); c.Status != "completed" || c.ReasonEnded != "conference-ended-via-api" {
		t.Fatalf("conference %+v", c)
	}

	// TaskRouter
	task, err := rc.TaskrouterV1.FetchTask(ws, s.Tasks()[0].Sid)
	must(t, err)
	if *task.AssignmentStatus != "assigned" {
		t.Fatalf("task %+v", task)
	}
	ut := &tr.UpdateTaskParams{}
	ut.SetAssignmentStatus("wrapping")
	ut.SetReason("call ended")
	_, err = rc.TaskrouterV1.UpdateTask(ws, *task.Sid, ut)
	must(t, err)
	ut = &tr.UpdateTaskParams{}
	ut.SetAssignmentStatus("completed")
	ut.SetReason("done")
	task, err = rc.TaskrouterV1.UpdateTask(ws, *task.Sid, ut)
	must(t, err)
	if *task.AssignmentStatus != "completed" || *task.Reason != "done" {
		t.Fatalf("task %+v", task)
	}

	wk, err := rc.TaskrouterV1.FetchWorker(ws, s.Tasks()[0].Reservations[0].WorkerSid)
	must(t, err)
	if *wk.ActivityName != "Available" || !*wk.Available {
		t.Fatalf("worker %+v", wk)
	}
	uw := &tr.UpdateWorkerParams{}
	uw.SetActivitySid(s.ActivitySid("Unavailable"))
	wk, err = rc.TaskrouterV1.UpdateWorker(ws, *wk.Sid, uw)
	must(t, err)
	if *wk.ActivityName != "Unavailable" || *wk.Available {
		t.Fatalf("worker %+v", wk)
	}
	uw.SetActivitySid(s.ActivitySid("Available"))
	_, err = rc.TaskrouterV1.UpdateWorker(ws, *wk.Sid, uw)
	must(t, err)

	// CreateTask + reservation answered via REST with the call instruction
	a.twiml("/agent-leg", `<Response><Say>Transfer for you</Say><Dial><Conference>`+cf.FriendlyName+`-2</Conference></Dial></Response>`)
	a.on("/assign", func(url.Values) (int, string) { return 200, "" }) // the app answers via REST
	ct := &tr.CreateTaskParams{}
	ct.SetWorkflowSid(s.Tasks()[0].WorkflowSid)
	ct.SetAttributes(`{"requested_agent":"alice","transfer_from":"` + *task.Sid + `"}`)
	nt, err := rc.TaskrouterV1.CreateTask(ws, ct)
	must(t, err)
	settle(t, s)
	res := s.Reservations(*nt.Sid)
	if len(res) != 1 || res[0].WorkerName != "alice" {
		t.Fatalf("reservations %+v", res)
	}
	ur := &tr.UpdateTaskReservationParams{}
	ur.SetInstruction("call")
	ur.SetCallUrl(a.url("/agent-leg"))
	ur.SetCallFrom(support)
	ur.SetCallAccept(true)
	r, err := rc.TaskrouterV1.UpdateTaskReservation(ws, *nt.Sid, res[0].Sid, ur)
	must(t, err)
	if *r.ReservationStatus != "accepted" {
		t.Fatalf("reservation %+v", r)
	}
	must(t, s.Answer(alice))
	settle(t, s)
	if said := s.Said(alice); said[len(said)-1] != "Transfer for you" {
		t.Fatalf("agent said %v", said)
	}
	if c, _ := s.Call(alice); c.State != "conference" {
		t.Fatalf("agent leg %+v", c)
	}
	ftask, err := rc.TaskrouterV1.FetchTask(ws, *nt.Sid)
	must(t, err)
	var attrs map[string]any
	must(t, json.Unmarshal([]byte(*ftask.Attributes), &attrs))
	if attrs["requested_agent"] != "alice" {
		t.Fatalf("attrs %v", attrs)
	}

	// Finding a task by its attributes, as flowd does before resending a
	// CreateTask after a crash.
	find := func(expr string) ([]tr.TaskrouterV1Task, error) {
		lt := &tr.ListTaskParams{}
		lt.SetEvaluateTaskAttributes(expr)
		return rc.TaskrouterV1.ListTask(ws, lt)
	}
	for expr, want := range map[string]string{
		`transfer_from == "` + *task.Sid + `"`: *nt.Sid,
		`requested_agent == 'alice'`:           *nt.Sid,
		`transfer_from == "WTnone"`:            "",
	} {
		found, err := find(expr)
		must(t, err)
		switch {
		case want == "" && len(found) != 0:
			t.Errorf("%s found %d tasks, want none", expr, len(found))
		case want != "" && (len(found) != 1 || *found[0].Sid != want):
			t.Errorf("%s found %+v, want %s", expr, found, want)
		}
	}
	if _, err := find(`priority > 3`); err == nil {
		t.Error("an expression the stand-in cannot evaluate was accepted")
	}
}

func TestReservationInstructionsViaREST(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*tr.UpdateTaskReservationParams, *app, string)
		check func(t *testing.T, s *Sim)
	}{
		{"conference", func(p *tr.UpdateTaskReservationParams, a *app, _ string) {
			p.SetInstruction("conference")
			p.SetFrom(support)
			p.SetEndConferenceOnCustomerExit(true)
			p.SetConferenceStatusCallback(a.url("/conf"))
			p.SetConferenceStatusCallbackEvent([]string{"start", "join"})
		}, func(t *testing.T, s *Sim) {
			must(t, s.Answer(alice))
			if !s.Hears(customer, alice) {
				t.Fatal("not connected")
			}
		}},
		{"dequeue", func(p *tr.UpdateTaskReservationParams, a *app, _ string) {
			p.SetInstruction("dequeue")
			p.SetDequeueFrom(support)
		}, func(t *testing.T, s *Sim) {
			must(t, s.Answer(alice))
			if !s.Hears(customer, alice) || !s.Hears(alice, customer) {
				t.Fatal("not bridged")
			}
		}},
		{"redirect", func(p *tr.UpdateTaskReservationParams, a *app, callSid string) {
			p.SetInstruction("redirect")
			p.SetRedirectCallSid(callSid)
			p.SetRedirectUrl(a.url("/elsewhere"))
			p.SetRedirectAccept(true)
		}, func(t *testing.T, s *Sim) {
			if said := s.Said(customer); said[len(said)-1] != "Redirected" {
				t.Fatalf("said %v", said)
			}
		}},
		{"reject", func(p *tr.UpdateTaskReservationParams, a *app, _ string) {
			p.SetReservationStatus("rejected")
		}, func(t *testing.T, s *Sim) {
			task := s.Tasks()[0]
			if task.AssignmentStatus != "pending" || task.Reservations[0].Status != "rejected" {
				t.Fatalf("task %+v", task)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewTest(t, Options{})
			a := newApp(t, s)
			wf := s.AddWorkflow("main", "support")
			s.AddWorker("alice", alice, nil, "support")
			s.AddNumber(support, a.url("/voice"))
			a.twiml("/voice", `<Response><Enqueue workflowSid="`+wf+`"/></Response>`)
			a.twiml("/elsewhere", `<Response><Say>Redirected</Say><Pause length="10"/></Response>`)
			s.ConfigureWorkspace(WorkspaceConfig{AssignmentCallbackURL: a.url("/assign")})
			must(t, s.SetWorkerAvailable("alice", true))
			sid, err := s.PlaceCall(customer, support)
			must(t, err)
			settle(t, s)
			task := s.Tasks()[0]
			p := &tr.UpdateTaskReservationParams{}
			tc.setup(p, a, sid)
			_, err = restClient(t, s).TaskrouterV1.UpdateTaskReservation(s.WorkspaceSid(), task.Sid, task.Reservations[0].Sid, p)
			must(t, err)
			settle(t, s)
			tc.check(t, s)
			settle(t, s)
		})
	}
}

func TestSignature(t *testing.T) {
	params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675310"}, "Digits": {"1234"},
		"From": {"+14158675310"}, "To": {"+18005551212"}}
	u := "https://example.com/myapp.php?foo=1&bar=2"
	got := Signature("12345", u, params)
	if got != "L/OH5YylLD5NRKLltdqwSvS0BnU=" {
		t.Fatalf("signature %s", got)
	}
	v := client.NewRequestValidator("12345")
	if !v.ValidateBody(u, []byte(params.Encode()), got) {
		t.Fatal("twilio-go's RequestValidator rejects our signature")
	}
	if v.ValidateBody(u, []byte(params.Encode()+"&x=1"), got) {
		t.Fatal("validator accepted tampered params")
	}
}
