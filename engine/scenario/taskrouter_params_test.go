package scenario_test

import "testing"

// A transfer's task goes on the voice channel, as the call's own task does:
// on TaskRouter's "default" channel, a multitasking workspace would reserve
// the agent who is on the call for it, and ring their phone again. Here
// alice, on the call, is in the transfer's queue too; the transfer must
// wait for carol.
func TestTransferTaskIsOnTheVoiceChannel(t *testing.T) {
	src := `flow: contact-center
queues: [support, billing]
workers:
  alice: { contact_uri: "client:alice", queues: [support, billing] }
  carol: { contact_uri: "client:carol", queues: [billing], available: false }
scenarios:
  - name: warm transfer to a queue the agent is in
    steps:
      - call: {}
      - answer: alice
      - command: { name: transfer, params: { mode: warm, queue: billing } }
      - expect:
          state: consult_queued
          on_hold: [customer]
          rest: ["TaskChannel=voice"]
      - available: { worker: carol, available: true }
      - answer: carol
      - expect:
          state: consulting
          hears: { alice: [carol], carol: [alice] }
`
	rs := runAgainstShippedFlows(t, src)
	if len(rs) != 1 || !rs[0].Passed() {
		t.Fatalf("%+v", rs)
	}
}

// Wrap-up sends no Reason: Twilio takes a Reason only with completed or
// canceled, and with it queues the task for deletion while the agent is
// still wrapping up. The completion after wrap-up carries it.
func TestWrapUpSendsNoReason(t *testing.T) {
	src := `flow: support
queues: [support]
workers:
  alice: { contact_uri: "client:alice", queues: [support] }
scenarios:
  - name: the caller hangs up, the agent wraps up
    steps:
      - call: {}
      - press: "2"
      - answer: alice
      - hangup: customer
      - expect:
          state: wrapup
          task_status: { agent: wrapping }
          rest: ["AssignmentStatus=wrapping"]
          rest_count: { "AssignmentStatus=wrapping Reason=": 0 }
`
	rs := runAgainstShippedFlows(t, src)
	if len(rs) != 1 || !rs[0].Passed() {
		t.Fatalf("%+v", rs)
	}
}

// TaskRouter takes a workflow by SID only: a flow configured with the
// workflow's friendly name ("flowd", in the stand-in) must fail in tests as
// its <Enqueue workflowSid> fails live — the caller hears Twilio's
// application error — instead of passing because the stand-in was lenient.
func TestWorkflowByFriendlyNameFails(t *testing.T) {
	runWithFlow(t, `flow: byname
numbers: ["+15550100802"]
taskrouter: { workspace: "${{ env.TWILIO_WORKSPACE_SID }}", workflow: flowd }
initial: start
states:
  start:
    on:
      call.incoming: { do: [enqueue], to: queued }
  queued:
    on:
      reservation.created: { do: [conference] }
      call.status: { if: event.role == "customer", to: done }
      task.canceled: { do: [hangup], to: done }
  done:
    final: true
`, `flow: byname
queues: [support]
workers: { alice: { contact_uri: "client:alice", queues: [support] } }
scenarios:
  - name: a workflow named, not given by SID
    steps:
      - call: {}
      - expect:
          heard: { customer: ["application error"] }
          call_ended: [customer]
`)
}
