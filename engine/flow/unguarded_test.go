package flow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A participant's field is safe to read only where a check that runs
// first — the left of &&, the left of || (negated), the condition of ?: —
// makes sure the role is there; a nil check elsewhere in the expression
// does not protect it.
func TestUnguardedParticipantReads(t *testing.T) {
	for code, want := range map[string]bool{
		// Read where the role may be nil: warned.
		`participants.supervisor.joined`:                                        true,
		`participants.supervisor == nil && participants.supervisor.joined`:      true,
		`participants.supervisor != nil || participants.supervisor.joined`:      true,
		`participants.supervisor.muted || participants.supervisor == nil`:       true,
		`participants.supervisor.muted && participants.supervisor != nil`:       true,
		`participants.agent != nil && participants.supervisor.joined`:           true,
		`participants.supervisor != nil ? "" : participants.supervisor.address`: true,
		// Checked first: not warned.
		`participants.supervisor != nil && participants.supervisor.joined`:                              false,
		`nil != participants.supervisor && participants.supervisor.joined`:                              false,
		`participants.supervisor == nil || participants.supervisor.joined`:                              false,
		`participants.supervisor != nil ? participants.supervisor.address : ""`:                         false,
		`participants.supervisor == nil ? "" : participants.supervisor.address`:                         false,
		`"supervisor" in participants && participants.supervisor.joined`:                                false,
		`participants.supervisor?.joined == true && participants.supervisor.muted`:                      false,
		`(participants.supervisor?.joined ?? false) && participants.supervisor.muted`:                   false,
		`participants.supervisor?.joined && participants.supervisor.muted`:                              false,
		`!(participants.supervisor == nil) && participants.supervisor.joined`:                           false,
		`participants.agent != nil && participants.supervisor != nil && participants.supervisor.joined`: false,
		`participants.supervisor?.joined ?? false`:                                                      false,
	} {
		c := doCompile(code, false)
		got := false
		for _, r := range c.refs {
			got = got || r.Unguarded
		}
		if got != want {
			t.Errorf("%s: unguarded %v, want %v", code, got, want)
		}
	}
}

// instruction-events is sure only when the conference instruction starts
// every conference of the flow: a flow that also answers reservations with
// the call instruction (flowd's own TwiML, subscribed to every event) may
// handle announcement.end for those calls, and is not warned.
func TestInstructionEventsOnlyWhenTheInstructionIsTheOnlyWay(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "invalid", "instruction-events.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	has := func(data string) bool {
		_, diags := Load("t.yaml", []byte(data), LoadOptions{Env: map[string]string{}})
		if diags.HasErrors() {
			t.Fatalf("the flow does not load:\n%v", diags)
		}
		for _, d := range diags {
			if d.Code == CodeInstructionEvents {
				return true
			}
		}
		return false
	}
	if !has(string(src)) {
		t.Fatal("the fixture is not warned")
	}
	withCall := strings.Replace(string(src), "      reservation.created:\n        do: [conference]\n        to: talking\n", `      reservation.created:
        - if: event.transfer
          do: [{ call: { role: agent, whisper: "A transfer" } }]
          to: talking
        - do: [conference]
          to: talking
`, 1)
	if withCall == string(src) {
		t.Fatal("the fixture changed: update the test")
	}
	if has(withCall) {
		t.Fatal("warned although the call instruction's conference sends every event")
	}
}
