package engine_test

import (
	"context"
	"testing"

	"github.com/flowd/flowd/engine"
)

// agentLeaveFlow is basic.yaml with talking handling the agent hanging up.
func agentLeaveFlow(t *testing.T) *harness {
	t.Helper()
	path := editBasicFlow(t,
		`participant.leave: { if: event.role == "customer", do: [{ complete_task: agent }], to: done }`,
		`participant.leave:
        - { if: event.role == "customer", do: [{ complete_task: agent }], to: done }
        - { if: event.role == "agent", to: agent_left }`,
		"  done:\n", "  agent_left: {}\n  done:\n")
	h := newHarness(t, nil)
	h.e.SetFlows(loadFlows(t, path))
	return h
}

func leave(callSid, reason string, seq int64) engine.Event {
	ev := join(callSid, "", seq)
	ev.Name = "participant.leave"
	ev.Fields["reason"] = reason
	return ev
}

// An agent who answers and hangs up at once: Twilio's participant-leave
// (#2) can arrive before the participant-join (#1). The leave implies the
// join: the flow sees the agent join, then leave, as it happened (talking,
// then agent_left), and the late join is stale. Before, the leave reached
// a flow still waiting for the join (connecting: unhandled), the join was
// then stale ("already left"), and the caller stayed in the conference
// alone with the flow still connecting.
func TestLeaveBeforeJoinImpliesTheJoin(t *testing.T) {
	h := agentLeaveFlow(t)
	h.handle(incoming())
	h.handle(assignment())
	h.handle(leave(agentCall, "participant_hung_up", 2))
	if s := h.state(taskSid).State; s != "agent_left" {
		t.Fatalf("after the agent's leave (before its join): state %s, want agent_left (through talking)", s)
	}
	h.handle(join(agentCall, "", 1))
	full, err := h.e.Task(context.Background(), taskSid, true)
	if err != nil {
		t.Fatal(err)
	}
	if full.State != "agent_left" {
		t.Errorf("after the late join: state %s, want agent_left", full.State)
	}
	if !hasHistory(full, "transition", `"implied":true`) {
		t.Errorf("no implied join in the history: %+v", full.History)
	}
	if !hasHistory(full, "stale", `"event":"participant.join"`) {
		t.Errorf("the late join was not recorded as stale: %+v", full.History)
	}
	if _, ok := full.Roles["agent"]; ok {
		t.Errorf("the agent who left is still a role: %+v", full.Roles["agent"])
	}
}

// A leg that never connected: Twilio's participant-leave with
// ReasonParticipantLeft participant_add_failed implies no join.
func TestFailedAddImpliesNoJoin(t *testing.T) {
	h := agentLeaveFlow(t)
	h.handle(incoming())
	h.handle(assignment())
	h.handle(leave(agentCall, "participant_add_failed", 2))
	if s := h.state(taskSid).State; s != "connecting" {
		t.Errorf("state %s, want connecting (the agent never joined)", s)
	}
}

// A leave redelivered with its token changes nothing, implied join
// included; a leave for a leg that joined implies nothing more.
func TestImpliedJoinOnceOnly(t *testing.T) {
	h := agentLeaveFlow(t)
	h.handle(incoming())
	h.handle(assignment())
	ev := leave(agentCall, "participant_hung_up", 2)
	ev.IdempotencyKey = "tok-leave"
	h.handle(ev)
	before := h.state(taskSid)
	h.handle(ev)
	if after := h.state(taskSid); after.Version != before.Version || after.State != before.State {
		t.Errorf("the redelivered leave changed the session: %s v%d -> %s v%d", before.State, before.Version, after.State, after.Version)
	}

	h2 := agentLeaveFlow(t)
	h2.connect()
	h2.handle(leave(agentCall, "participant_hung_up", 5))
	full, _ := h2.e.Task(context.Background(), taskSid, true)
	if full.State != "agent_left" || hasHistory(full, "transition", `"implied":true`) {
		t.Errorf("state %s; a joined agent's leave must imply nothing: %+v", full.State, full.History)
	}
}

// A labelled leg flowd no longer has a role for (a supervisor dialed and
// removed before its SID was known) joining while the next agent is still
// unknown is not taken for the agent: before, its join moved the flow to
// talking with no agent in the call.
func TestLabelledUnknownLegIsNotTheAgent(t *testing.T) {
	h := agentLeaveFlow(t)
	h.handle(incoming())
	h.handle(assignment())
	h.handle(join("CA00000000000000000000000000000077", "supervisor-4", 1))
	if s := h.state(taskSid).State; s != "connecting" {
		t.Errorf("state %s, want connecting: a leg labelled supervisor-4 is not the agent", s)
	}
}
