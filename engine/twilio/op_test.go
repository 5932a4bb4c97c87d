package twilio

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	api "github.com/twilio/twilio-go/rest/api/v2010"
	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// Ops are stored as JSON in the outbox: every kind, with twilio-go's
// pointer-field params, must come back identical.
func TestOpJSONRoundTrip(t *testing.T) {
	vst := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	ops := []Op{
		{Kind: OpUpdateTask, WorkspaceSid: testWorkspace, TaskSid: testTask, UpdateTask: &tr.UpdateTaskParams{
			IfMatch: ptr("etag-1"), Attributes: ptr(`{"a":1}`), VirtualStartTime: &vst, Priority: ptr(0),
		}},
		{Kind: OpUpdateParticipant, ConferenceSid: testConference, Participant: testCall, UpdateParticipant: &api.UpdateParticipantParams{
			Hold: ptr(false), Muted: ptr(false), EndConferenceOnExit: ptr(true),
		}},
		{Kind: OpUpdateReservation, WorkspaceSid: testWorkspace, TaskSid: testTask, ReservationSid: testReservation,
			UpdateReservation: Instruction{Instruction: InstructionDequeue, StatusCallbackEvents: EventList{"answered", "completed"}, Timeout: 30}.ReservationParams()},
		{Kind: OpCreateTask, WorkspaceSid: testWorkspace, CreateTask: &tr.CreateTaskParams{VirtualStartTime: &vst, IgnoreCapacity: ptr("true")}},
	}
	for _, c := range opCases() {
		ops = append(ops, c.op)
	}
	for _, op := range ops {
		raw, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		var back Op
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if !reflect.DeepEqual(back, op) {
			t.Errorf("round trip changed the op:\n got %+v\nwant %+v\njson %s", back, op, raw)
		}
		if back.String() != op.String() {
			t.Errorf("String changed: %q vs %q", back.String(), op.String())
		}
	}

	// false and 0 survive (they are pointers, not omitted zero values).
	raw, _ := json.Marshal(ops[1])
	if !strings.Contains(string(raw), `"update_participant":{"Muted":false,"Hold":false,"EndConferenceOnExit":true}`) {
		t.Errorf("unexpected JSON: %s", raw)
	}
}

func TestOpString(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{Op{Kind: OpUpdateParticipant, ConferenceSid: "CF1", Participant: "CA1", UpdateParticipant: &api.UpdateParticipantParams{Hold: ptr(true), HoldUrl: ptr("https://h/x")}},
			"POST Conferences/CF1/Participants/CA1 Hold=true HoldUrl=https://h/x"},
		{Op{Kind: OpDeleteParticipant, ConferenceSid: "CF1", Participant: "agent"},
			"DELETE Conferences/CF1/Participants/agent"},
		{Op{Kind: OpUpdateCall, CallSid: "CA1", UpdateCall: &api.UpdateCallParams{Status: ptr("completed")}},
			"POST Calls/CA1 Status=completed"},
		{Op{Kind: OpCreateParticipant, ConferenceSid: "room", CreateParticipant: &api.CreateParticipantParams{
			From: ptr("+1"), To: ptr("+2"), StatusCallbackEvent: &[]string{"answered", "completed"}, SipAuthPassword: ptr("hunter2")}},
			"POST Conferences/room/Participants From=+1 SipAuthPassword=*** StatusCallbackEvent=answered,completed To=+2"},
		{Op{Kind: OpUpdateReservation, WorkspaceSid: "WS1", TaskSid: "WT1", ReservationSid: "WR1", UpdateReservation: Instruction{Instruction: InstructionAccept}.ReservationParams()},
			"POST Workspaces/WS1/Tasks/WT1/Reservations/WR1 ReservationStatus=accepted"},
		{Op{Kind: OpCreateTask, WorkspaceSid: "WS1", CreateTask: &tr.CreateTaskParams{Attributes: ptr(`{"` + strings.Repeat("x", 100) + `":1}`), Priority: ptr(3)}},
			`POST Workspaces/WS1/Tasks Attributes={"` + strings.Repeat("x", 57) + `… Priority=3`},
		{Op{Kind: OpUpdateWorker, WorkspaceSid: "WS1", WorkerSid: "WK1", UpdateWorker: &tr.UpdateWorkerParams{ActivitySid: ptr("WA1")}},
			"POST Workspaces/WS1/Workers/WK1 ActivitySid=WA1"},
	} {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("String =\n %q\nwant\n %q", got, tc.want)
		}
	}
}

func TestOpValidate(t *testing.T) {
	for _, c := range opCases() {
		if err := c.op.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	bad := map[string]Op{
		"no kind":                 {},
		"unknown kind":            {Kind: "call.create"},
		"create without params":   {Kind: OpCreateParticipant, ConferenceSid: "room"},
		"create without To":       {Kind: OpCreateParticipant, ConferenceSid: "room", CreateParticipant: &api.CreateParticipantParams{From: ptr("+1")}},
		"update without conf":     {Kind: OpUpdateParticipant, Participant: "CA1", UpdateParticipant: &api.UpdateParticipantParams{}},
		"update by conf name":     {Kind: OpUpdateParticipant, ConferenceSid: "room", Participant: "CA1", UpdateParticipant: &api.UpdateParticipantParams{}},
		"delete without part":     {Kind: OpDeleteParticipant, ConferenceSid: "CF1"},
		"call without sid":        {Kind: OpUpdateCall, UpdateCall: &api.UpdateCallParams{}},
		"conference w/o params":   {Kind: OpUpdateConference, ConferenceSid: "CF1"},
		"task without workspace":  {Kind: OpCreateTask, CreateTask: &tr.CreateTaskParams{}},
		"task update w/o task":    {Kind: OpUpdateTask, WorkspaceSid: "WS1", UpdateTask: &tr.UpdateTaskParams{}},
		"reservation w/o res sid": {Kind: OpUpdateReservation, WorkspaceSid: "WS1", TaskSid: "WT1", UpdateReservation: &tr.UpdateTaskReservationParams{}},
		"worker w/o worker":       {Kind: OpUpdateWorker, WorkspaceSid: "WS1", UpdateWorker: &tr.UpdateWorkerParams{}},
		"swapped task and res":    {Kind: OpUpdateReservation, WorkspaceSid: "WS1", TaskSid: "WR1", ReservationSid: "WT1", UpdateReservation: &tr.UpdateTaskReservationParams{}},
		"call sid is a conf":      {Kind: OpUpdateCall, CallSid: "CF1", UpdateCall: &api.UpdateCallParams{}},
		"worker sid wrong":        {Kind: OpUpdateWorker, WorkspaceSid: "WS1", WorkerSid: "bob", UpdateWorker: &tr.UpdateWorkerParams{}},
	}
	for name, op := range bad {
		if err := op.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestOpLanes: TaskRouter operations go in their own lane, and the rule the
// store's lane migrations use for items pending across the upgrade (by the
// kind's prefix) gives every kind the lane the engine gives it now.
func TestOpLanes(t *testing.T) {
	for _, k := range OpKinds {
		prefix, _, _ := strings.Cut(string(k), ".")
		want := LaneVoice
		if prefix == "task" || prefix == "reservation" || prefix == "worker" {
			want = LaneTaskRouter
		}
		if got := k.Lane(); got != want {
			t.Errorf("%s.Lane() = %q, want %q", k, got, want)
		}
	}
	if OpUpdateParticipant.Lane() == OpUpdateTask.Lane() {
		t.Error("participant and task updates share a lane")
	}
}
