package twiliosim

import (
	"encoding/json"
	"net/url"
	"testing"

	api "github.com/twilio/twilio-go/rest/api/v2010"
)

const (
	customer = "+15551230000"
	support  = "+15550001111"
	alice    = "client:alice"
)

// contactCenter wires the seed's setup: a number enqueuing into a workflow
// whose assignment callback answers with the conference instruction.
func contactCenter(t *testing.T) (*Sim, *app) {
	s := NewTest(t, Options{})
	a := newApp(t, s)
	wf := s.AddWorkflow("main", "support")
	s.AddWorker("alice", alice, map[string]any{"skills": []string{"en"}}, "support")
	s.AddNumber(support, a.url("/voice"))
	a.twiml("/voice", `<Response><Say>Welcome</Say><Enqueue workflowSid="`+wf+`"><Task>{"type":"support"}</Task></Enqueue></Response>`)
	a.on("/assign", func(url.Values) (int, string) {
		b, _ := json.Marshal(map[string]any{"instruction": "conference", "end_conference_on_customer_exit": true,
			"conference_status_callback": a.url("/conf"), "conference_status_callback_event": []string{"start", "end", "join", "leave", "hold", "mute"}})
		return 200, string(b)
	})
	a.twiml("/hold", `<Response><Say>Please hold</Say></Response>`)
	s.ConfigureWorkspace(WorkspaceConfig{AssignmentCallbackURL: a.url("/assign"), EventCallbackURL: a.url("/events")})
	must(t, s.SetWorkerAvailable("alice", true))
	return s, a
}

func connectCustomer(t *testing.T, s *Sim) (TaskInfo, ConferenceInfo) {
	t.Helper()
	_, err := s.PlaceCall(customer, support)
	must(t, err)
	settle(t, s)
	if got := s.Hearing(customer); got.Kind != "music" || got.Source != "queue" {
		t.Fatalf("queued caller hears %+v, want queue music", got)
	}
	must(t, s.Answer(alice))
	settle(t, s)
	tasks := s.Tasks()
	if len(tasks) != 1 {
		t.Fatalf("tasks = %d", len(tasks))
	}
	cf, ok := s.Conference(tasks[0].Sid)
	if !ok || cf.Status != "in-progress" {
		t.Fatalf("conference %+v", cf)
	}
	return tasks[0], cf
}

func TestConferenceInstructionSeedShape(t *testing.T) {
	s, a := contactCenter(t)
	task, cf := connectCustomer(t, s)
	var attrs map[string]any
	must(t, json.Unmarshal([]byte(task.Attributes), &attrs))
	conf, _ := attrs["conference"].(map[string]any)
	parts, _ := conf["participants"].(map[string]any)
	cust, _ := s.Call(customer)
	ag, _ := s.Call(alice)
	if conf["room_name"] != task.Sid || conf["sid"] != cf.Sid || parts["worker"] != ag.Sid || parts["customer"] != cust.Sid {
		t.Fatalf("conference attrs = %v", conf)
	}
	for _, k := range []string{"call_sid", "account_sid", "from", "to", "caller", "called", "direction", "from_country", "call_status", "api_version"} {
		if _, ok := attrs[k]; !ok {
			t.Errorf("task attributes lack %q: %v", k, attrs)
		}
	}
	if attrs["type"] != "support" || attrs["direction"] != "inbound" || attrs["call_sid"] != cust.Sid {
		t.Errorf("attrs = %v", attrs)
	}
	if task.AssignmentStatus != "assigned" || task.Reservations[0].Status != "accepted" {
		t.Errorf("task %+v", task)
	}
	if !s.Hears(customer, alice) || !s.Hears(alice, customer) {
		t.Fatal("customer and agent should hear each other")
	}
	if got := s.Said(customer); len(got) == 0 || got[0] != "Welcome" {
		t.Errorf("customer heard %v", got)
	}
	// conference callbacks carry increasing sequence numbers
	last := 0
	for _, r := range a.requests("/conf") {
		n := atoiDef(r.Form.Get("SequenceNumber"), 0)
		if n <= last {
			t.Errorf("SequenceNumber %d after %d", n, last)
		}
		last = n
	}
	if last == 0 {
		t.Error("no conference callbacks")
	}
}

func TestHoldHangupEndsConference(t *testing.T) {
	s, a := contactCenter(t)
	task, cf := connectCustomer(t, s)
	rc := restClient(t, s)
	cust, _ := s.Call(customer)
	p := &api.UpdateParticipantParams{}
	p.SetHold(true)
	p.SetHoldUrl(a.url("/hold"))
	_, err := rc.Api.UpdateParticipant(cf.Sid, cust.Sid, p)
	must(t, err)
	settle(t, s)
	if s.Hears(alice, customer) || s.Hears(customer, alice) {
		t.Fatal("held customer must not hear or be heard")
	}
	if h := s.Hearing(customer); h.Kind != "music" || h.Source != "hold" {
		t.Fatalf("held customer hears %+v", h)
	}
	said := s.Said(customer)
	if said[len(said)-1] != "Please hold" {
		t.Fatalf("held customer heard %v", said)
	}
	p = &api.UpdateParticipantParams{}
	p.SetHold(false)
	_, err = rc.Api.UpdateParticipant(cf.Sid, cust.Sid, p)
	must(t, err)
	settle(t, s)
	if !s.Hears(alice, customer) {
		t.Fatal("unheld customer should be heard")
	}
	must(t, s.Hangup(customer))
	settle(t, s)
	cf2, _ := s.Conference(cf.Sid)
	if cf2.Status != "completed" || cf2.ReasonEnded != "participant-with-end-conference-on-exit-left" {
		t.Fatalf("conference %+v", cf2)
	}
	ag, _ := s.Call(alice)
	if ag.Status != "completed" {
		t.Fatalf("agent call %+v", ag)
	}
	_ = task
}
