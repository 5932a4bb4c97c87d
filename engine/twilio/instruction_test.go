package twilio

import (
	"encoding/json"
	"reflect"
	"testing"

	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

func TestInstructionJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Instruction
		want string
	}{
		{"accept", Instruction{Instruction: InstructionAccept}, `{"instruction":"accept"}`},
		{"reject", Instruction{Instruction: InstructionReject, ActivitySid: "WA1"}, `{"instruction":"reject","activity_sid":"WA1"}`},
		{"dequeue", Instruction{Instruction: InstructionDequeue, To: "client:bob", From: "+15550001111", PostWorkActivitySid: "WA2",
			Record: "record-from-answer", Timeout: 20, StatusCallbackURL: "https://f/cs", StatusCallbackEvents: EventList{"initiated", "completed"}},
			`{"instruction":"dequeue","to":"client:bob","from":"+15550001111","post_work_activity_sid":"WA2","record":"record-from-answer","timeout":20,"status_callback_url":"https://f/cs","status_callback_events":"initiated,completed"}`},
		{"call", Instruction{Instruction: InstructionCall, To: "+15552223333", From: "+15550001111", URL: "https://f/agent-answer", Accept: ptr(true)},
			`{"instruction":"call","to":"+15552223333","from":"+15550001111","url":"https://f/agent-answer","accept":true}`},
		{"redirect", Instruction{Instruction: InstructionRedirect, CallSid: "CA1", URL: "https://f/r", Accept: ptr(false)},
			`{"instruction":"redirect","url":"https://f/r","accept":false,"call_sid":"CA1"}`},
		{"conference", Instruction{Instruction: InstructionConference, From: "+15550001111", PostWorkActivitySid: "WA2", Timeout: 15,
			EndConferenceOnExit: ptr(false), EndConferenceOnCustomerExit: ptr(true), BeepOnCustomerEntrance: ptr(false), Beep: "false",
			ConferenceStatusCallback: "https://f/conf", ConferenceStatusCallbackEvent: EventList{"start", "end", "join", "leave", "hold"}},
			`{"instruction":"conference","from":"+15550001111","post_work_activity_sid":"WA2","timeout":15,"beep":"false","end_conference_on_exit":false,"end_conference_on_customer_exit":true,"beep_on_customer_entrance":false,"conference_status_callback":"https://f/conf","conference_status_callback_event":"start,end,join,leave,hold"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("JSON =\n %s\nwant\n %s", got, tc.want)
			}
			var back Instruction
			if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, tc.in) {
				t.Errorf("round trip: %+v, %v", back, err)
			}
		})
	}
}

func TestInstructionInvalid(t *testing.T) {
	for name, in := range map[string]Instruction{
		"empty":               {},
		"unknown":             {Instruction: "transfer"},
		"call without url":    {Instruction: InstructionCall},
		"redirect no callsid": {Instruction: InstructionRedirect, URL: "https://x"},
		"bad beep":            {Instruction: InstructionConference, Beep: "loud"},
		"max participants":    {Instruction: InstructionConference, MaxParticipants: 1},
		"supervise in JSON":   {Instruction: InstructionSupervise, Supervisor: "client:sue"},
	} {
		if _, err := in.JSON(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestEventListUnmarshal(t *testing.T) {
	for in, want := range map[string]EventList{
		`"start,end, join"`: {"start", "end", "join"},
		`"start end"`:       {"start", "end"},
		`["leave","hold"]`:  {"leave", "hold"},
		`""`:                nil,
	} {
		var got EventList
		if err := json.Unmarshal([]byte(in), &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, %v", in, got, err)
		}
	}
	var l EventList
	if err := json.Unmarshal([]byte(`12`), &l); err == nil {
		t.Error("number accepted")
	}
}

func TestInstructionReservationParams(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		name string
		in   Instruction
		want tr.UpdateTaskReservationParams
	}{
		{"accept", Instruction{Instruction: InstructionAccept}, tr.UpdateTaskReservationParams{ReservationStatus: s("accepted")}},
		{"reject", Instruction{Instruction: InstructionReject, ActivitySid: "WA1"},
			tr.UpdateTaskReservationParams{ReservationStatus: s("rejected"), WorkerActivitySid: s("WA1")}},
		{"dequeue", Instruction{Instruction: InstructionDequeue, To: "client:a", From: "+1", PostWorkActivitySid: "WA2", Record: "record-from-answer",
			Timeout: 20, StatusCallbackURL: "https://cs", StatusCallbackEvents: EventList{"completed"}},
			tr.UpdateTaskReservationParams{Instruction: s("dequeue"), DequeueTo: s("client:a"), DequeueFrom: s("+1"), DequeuePostWorkActivitySid: s("WA2"),
				DequeueRecord: s("record-from-answer"), DequeueTimeout: ptr(20), DequeueStatusCallbackUrl: s("https://cs"), DequeueStatusCallbackEvent: &[]string{"completed"}}},
		{"call", Instruction{Instruction: InstructionCall, To: "+2", From: "+1", URL: "https://u", Accept: ptr(true), Timeout: 9, StatusCallbackURL: "https://cs"},
			tr.UpdateTaskReservationParams{Instruction: s("call"), CallTo: s("+2"), CallFrom: s("+1"), CallUrl: s("https://u"), CallAccept: ptr(true),
				CallTimeout: ptr(9), CallStatusCallbackUrl: s("https://cs")}},
		{"redirect", Instruction{Instruction: InstructionRedirect, CallSid: "CA1", URL: "https://u", Accept: ptr(true)},
			tr.UpdateTaskReservationParams{Instruction: s("redirect"), RedirectCallSid: s("CA1"), RedirectUrl: s("https://u"), RedirectAccept: ptr(true)}},
		{"conference", Instruction{Instruction: InstructionConference, To: "client:a", From: "+1", PostWorkActivitySid: "WA2", Record: "true",
			EndConferenceOnExit: ptr(false), EndConferenceOnCustomerExit: ptr(true), Beep: "onEnter", MaxParticipants: 3,
			ConferenceStatusCallback: "https://c", ConferenceStatusCallbackEvent: EventList{"join", "leave"},
			StatusCallback: "https://s", StatusCallbackEvent: EventList{"answered"}},
			tr.UpdateTaskReservationParams{Instruction: s("conference"), To: s("client:a"), From: s("+1"), PostWorkActivitySid: s("WA2"), Record: ptr(true),
				EndConferenceOnExit: ptr(false), EndConferenceOnCustomerExit: ptr(true), Beep: s("onEnter"), MaxParticipants: ptr(3),
				ConferenceStatusCallback: s("https://c"), ConferenceStatusCallbackEvent: &[]string{"join", "leave"},
				StatusCallback: s("https://s"), StatusCallbackEvent: &[]string{"answered"}}},
		{"supervise", Instruction{Instruction: InstructionSupervise, Supervisor: "client:sue", SupervisorMode: "monitor"},
			tr.UpdateTaskReservationParams{Instruction: s("supervise"), Supervisor: s("client:sue"), SupervisorMode: s("monitor")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.ReservationParams()
			if !reflect.DeepEqual(*got, tc.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tc.want)
				t.Errorf("params =\n %s\nwant\n %s", g, w)
			}
		})
	}
}
