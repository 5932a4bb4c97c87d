package engine

import (
	"testing"

	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
)

// A whisper, barge or listen that Twilio refuses for good (a whisper on an
// account without Agent Conference: error 16000) takes back what flowd
// noted when it asked: the supervisor is again as before, so the desktop
// and the flow's guards do not show a whisper that never happened. A later
// request that asked otherwise keeps its own facts.
func TestRefusedSupervisionIsTakenBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before participantFlags // the supervisor before the action
		action func(r *run, a *flow.Action) error
		kind   string
		later  func(p *participantFacts) // a later request's facts, if any
		want   participantFlags
	}{
		{"whisper while listening", participantFlags{Muted: true}, func(r *run, a *flow.Action) error {
			return r.coach(a, &flow.CoachAction{})
		}, "coach", nil, participantFlags{Muted: true}},
		{"whisper while barging", participantFlags{}, func(r *run, a *flow.Action) error {
			return r.coach(a, &flow.CoachAction{})
		}, "coach", nil, participantFlags{}},
		{"barge while whispering", participantFlags{Coaching: true, CoachRole: flow.RoleAgent}, func(r *run, a *flow.Action) error {
			return r.roleAction(a, flow.RoleSupervisor)
		}, "barge", nil, participantFlags{Coaching: true, CoachRole: flow.RoleAgent}},
		{"listen refused after a later barge", participantFlags{Coaching: true, CoachRole: flow.RoleAgent}, func(r *run, a *flow.Action) error {
			return r.roleAction(a, flow.RoleSupervisor)
		}, "listen", func(p *participantFacts) { p.Muted, p.Coaching = false, false }, participantFlags{CoachRole: flow.RoleAgent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newSessionData()
			d.CallSid, d.TaskSid, d.ConferenceSid = "CA1", "WT1", "CF1"
			d.Roles[flow.RoleCustomer] = &participantFacts{Participant: flow.Participant{CallSid: "CA1", Joined: true}}
			d.Roles[flow.RoleAgent] = &participantFacts{Participant: flow.Participant{CallSid: "CA2", Joined: true}}
			sup := &participantFacts{Participant: flow.Participant{CallSid: "CA3", Joined: true,
				Muted: tc.before.Muted, Coaching: tc.before.Coaching}, CoachRole: tc.before.CoachRole}
			d.Roles[flow.RoleSupervisor] = sup
			r := &run{fl: &flow.Flow{}, d: d, sess: &store.Session{ID: "CA1"}, ev: &Event{Name: tc.kind}}
			if err := tc.action(r, &flow.Action{Kind: tc.kind}); err != nil {
				t.Fatal(err)
			}
			if len(r.ops) != 1 || r.ops[0].Before == nil {
				t.Fatalf("ops %+v: want one participant update that remembers the supervisor before it", r.ops)
			}
			if tc.later != nil {
				tc.later(sup)
			}
			op := r.ops[0]
			r = &run{fl: &flow.Flow{}, d: d, sess: &store.Session{ID: "CA1"}, ev: &Event{Source: SourceOutbox, Name: "action.failed",
				Fields: map[string]any{"action": tc.kind, "role": flow.RoleSupervisor, "participant": "CA3", "op": string(twilio.OpUpdateParticipant), "code": 16000},
				failed: &op}}
			r.failedActionFacts()
			if got := (participantFlags{Muted: sup.Muted, Coaching: sup.Coaching, CoachRole: sup.CoachRole}); got != tc.want {
				t.Fatalf("supervisor after the refusal: %+v, want %+v", got, tc.want)
			}
		})
	}
}
