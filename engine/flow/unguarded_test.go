package flow

import "testing"

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
