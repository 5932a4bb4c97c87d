package scenario_test

import "testing"

// An action that cannot even be asked for at run time — here a dial whose
// number is read from a participant who is not in the call — is reported
// to the flow as action.failed, in its turn after the hold queued before
// it: the flow's recovery takes the caller off hold. It used to be skipped
// in silence, the caller left on hold with nobody dialed, and the history
// showed reflect's error text.
func TestActionThatCannotRunIsActionFailed(t *testing.T) {
	runWithFlow(t, `flow: escalation
numbers: ["+15550100801"]
taskrouter:
  workspace: ${{ env.TWILIO_WORKSPACE_SID }}
  workflow: ${{ env.TWILIO_WORKFLOW_SID }}
commands:
  escalate: {}
initial: start
on:
  participant.leave: { if: event.role == "customer", to: done }
  action.failed:
    if: participants.customer?.hold ?? false
    do: [{ unhold: customer }]
    to: talking
states:
  start:
    on:
      call.incoming: { do: [enqueue], to: queued }
  queued:
    on:
      reservation.created: { do: [conference] }
      participant.join: { if: event.role == "agent", to: talking }
      task.canceled: { do: [hangup], to: done }
  talking:
    on:
      escalate:
        do:
          - hold: customer
          - dial: { role: consultee, to: "${{ participants.supervisor.address }}" }
        to: consult_ringing
  consult_ringing:
    on:
      participant.join: { if: event.role == "consultee", to: talking }
  done:
    final: true
`, `flow: escalation
queues: [support]
workers: { alice: { contact_uri: "client:alice", queues: [support] } }
scenarios:
  - name: a dial to a participant who is not in the call
    steps:
      - call: {}
      - answer: alice
      - command: escalate
      - expect:
          state: talking
          not_on_hold: [customer]
          hears: { customer: [alice], alice: [customer] }
          history: ["action.failed", "a participant who is not in the call", "\"role\":\"consultee\""]
`)
}
