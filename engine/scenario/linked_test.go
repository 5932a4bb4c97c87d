package scenario_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowd/flowd/engine/scenario"
)

// A flow that answers a transfer's Task with the conference instruction
// (which TaskRouter refuses for a task no <Enqueue> holds a call for) gets
// the reason in the call's history instead of a reservation that times out
// in silence.
func TestConferenceInstructionOnATransferTaskSaysWhy(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "flows", "contact-center.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const call = `  requeued:
    description: "The caller waits on hold in the conference while a new Task finds an agent."
    on:
      reservation.created:
        if: event.transfer
        do: [{ call: { role: agent } }]`
	if !strings.Contains(string(src), call) {
		t.Fatal("contact-center.yaml no longer has the lines this test edits")
	}
	dir := t.TempDir()
	edited := strings.Replace(string(src), call, strings.Replace(call, "call: { role: agent }", "conference: {}", 1), 1)
	if err := os.WriteFile(filepath.Join(dir, "contact-center.yaml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	test := filepath.Join(dir, "linked.test.yaml")
	if err := os.WriteFile(test, []byte(`flow: contact-center
queues: [support, billing]
workers:
  alice: { contact_uri: "client:alice", queues: [support] }
  bob: { contact_uri: "client:bob", queues: [billing] }
scenarios:
  - name: cold transfer to a queue answered with the conference instruction
    steps:
      - call: {}
      - answer: alice
      - command: { name: transfer, params: { mode: cold, queue: billing } }
      - expect:
          state: requeued
          history: ["works only for a task created by"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := scenario.ParseFile(test)
	if err != nil {
		t.Fatal(err)
	}
	rs := scenario.RunFile(context.Background(), f, scenario.Options{FlowPaths: []string{dir}})
	if len(rs) != 1 || !rs[0].Passed() {
		t.Fatalf("%+v", rs)
	}
}
