package engine

import (
	"context"
	"testing"

	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
)

// A worker leg flowd withdrew (cancel_transfer while TaskRouter's call
// instruction rang it) is refused at its join TwiML; if it fetched that
// TwiML just before the withdrawal, its participant.join still arrives:
// the leg is removed from the conference, not taken for a new role.
func TestWithdrawnLegThatJoinsIsRemoved(t *testing.T) {
	d := newSessionData()
	d.CallSid, d.TaskSid, d.ConferenceSid = "CA1", "WT1", "CF1"
	d.Roles[flow.RoleCustomer] = &participantFacts{Participant: flow.Participant{CallSid: "CA1", Joined: true}}
	d.Roles[flow.RoleAgent] = &participantFacts{Participant: flow.Participant{CallSid: "CA2", Joined: true, TaskSid: "WT1"}}
	d.Roles[flow.RoleConsultee] = &participantFacts{Participant: flow.Participant{Label: "consultee-7", TaskSid: "WT2"}, Called: true}

	fl := &flow.Flow{}
	r := &run{fl: fl, d: d, sess: &store.Session{}, ev: &Event{Name: "cancel_transfer"}}
	if !r.withdrawCalledLeg("remove", flow.RoleConsultee) {
		t.Fatal("a ringing call-instruction leg was not withdrawn")
	}
	if len(r.ops) != 0 || d.Withdrawn["consultee-7"] != flow.RoleConsultee {
		t.Fatalf("ops %v, withdrawn %v: without its call SID the leg is remembered, not ended", r.ops, d.Withdrawn)
	}

	r = &run{fl: fl, d: d, sess: &store.Session{}, ev: &Event{Name: "participant.join", CallSid: "CA9", ConferenceSid: "CF1",
		Fields: map[string]any{"label": "consultee-7", "hold": false, "muted": false, "coaching": false}}}
	if stale := r.participantFacts(); stale == "" {
		t.Fatal("the withdrawn leg's join was delivered to the flow")
	}
	if len(r.ops) != 1 || r.ops[0].Op.Kind != twilio.OpDeleteParticipant || r.ops[0].Op.Participant != "CA9" || r.ops[0].Op.ConferenceSid != "CF1" {
		t.Fatalf("ops %+v, want the leg removed from the conference", r.ops)
	}
	if d.Roles[flow.RoleConsultee] != nil || d.Removed["CA9"] != flow.RoleConsultee || len(d.Withdrawn) != 0 {
		t.Fatalf("roles %v, removed %v, withdrawn %v", d.Roles, d.Removed, d.Withdrawn)
	}
}

// A transfer's task whose create was still on its way when the call ended
// becomes known by its task.created callback: the ended call closes it, as
// it closed the transfer tasks it knew of (nothing else would, and it would
// reserve workers for a call that is over).
func TestTaskCreatedAfterTheCallEndedIsClosed(t *testing.T) {
	fl, diags := flow.Load("t.yaml", []byte(`flow: t
taskrouter: { workspace: WS1, workflow: WW1 }
initial: done
states:
  done: { final: true }
`), flow.LoadOptions{Env: map[string]string{}})
	if fl == nil {
		t.Fatal(diags)
	}
	d := newSessionData()
	d.CallSid, d.TaskSid = "CA1", "WT1"
	e := &Engine{}
	r := &run{e: e, fl: fl, d: d, sess: &store.Session{ID: "CA1", State: "done", Final: true, Version: 9},
		ev: &Event{Source: SourceWorkspace, Name: "task.created", TaskSid: "WT7",
			TaskAttributes: map[string]any{"flowd_session": "CA1", "flowd_role": "agent"}, Fields: map[string]any{}}}
	if err := r.execute(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.ops) != 1 || r.ops[0].Op.Kind != twilio.OpUpdateTask || r.ops[0].Op.TaskSid != "WT7" || *r.ops[0].Op.UpdateTask.AssignmentStatus != "canceled" {
		t.Fatalf("ops %+v, want the late transfer task canceled", r.ops)
	}
}

// A transfer task flowd canceled itself (cancel_transfer) sends its
// task.canceled later; by then another transfer may be under way, and the
// late callback must not be taken for that one's timeout.
func TestLateCallbackOfATransferTaskFlowdClosedIsStale(t *testing.T) {
	d := newSessionData()
	d.CallSid, d.TaskSid = "CA1", "WT1"
	d.Tasks["WT1"] = &taskFacts{Status: "assigned", Assigned: true}
	d.Tasks["WT2"] = &taskFacts{Linked: true, Role: "consultee", Status: "canceled"} // canceled by flowd
	d.Tasks["WT3"] = &taskFacts{Linked: true, Role: "consultee", Status: "pending"}  // the transfer under way
	for _, tc := range []struct {
		task  string
		stale bool
	}{{"WT2", true}, {"WT3", false}, {"WT1", false}} {
		r := &run{fl: &flow.Flow{}, d: d, sess: &store.Session{ID: "CA1"},
			ev: &Event{Source: SourceWorkspace, Name: "task.canceled", TaskSid: tc.task, Fields: map[string]any{}}}
		if stale := r.applyFacts() != ""; stale != tc.stale {
			t.Errorf("task.canceled of %s: stale %v, want %v", tc.task, stale, tc.stale)
		}
	}
}

// Callbacks have no order: when the next reservation's assignment callback
// comes before the previous reservation's rejection, that late rejection is
// about a reservation that is over and must not send the call back to the
// queue (the new worker would never be called).
func TestLateCallbackOfAnEarlierReservationIsStale(t *testing.T) {
	d := newSessionData()
	d.CallSid, d.TaskSid = "CA1", "WT1"
	d.Tasks["WT1"] = &taskFacts{Status: "reserved", Reservation: "WR2", ReservationPending: true}
	for _, tc := range []struct {
		name, res string
		stale     bool
	}{
		{"reservation.rejected", "WR1", true},
		{"reservation.timeout", "WR1", true},
		{"reservation.rejected", "WR2", false},
	} {
		r := &run{fl: &flow.Flow{}, d: d, sess: &store.Session{ID: "CA1"},
			ev: &Event{Source: SourceWorkspace, Name: tc.name, TaskSid: "WT1", ReservationSid: tc.res, Fields: map[string]any{}}}
		if stale := r.applyFacts() != ""; stale != tc.stale {
			t.Errorf("%s of %s: stale %v, want %v", tc.name, tc.res, stale, tc.stale)
		}
	}
}
