package scenario_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowd/flowd/engine/scenario"
)

// The first flow docs/language.md gives to copy runs: the caller reaches an
// agent, and when the caller hangs up the agent's task is completed (a
// worker left assigned gets no more calls).
func TestFirstFlowInTheDocsWorks(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "language.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## A first flow")
	if !ok {
		t.Fatal("docs/language.md has no \"A first flow\" section")
	}
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	flowYAML, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the first flow's YAML block is not closed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.yaml"), []byte(flowYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	scenarios := `flow: hello
queues: [support]
workers:
  alice: { contact_uri: "client:alice", queues: [support] }
scenarios:
  - name: the caller talks to an agent and hangs up
    steps:
      - call: {}
      - expect: { state: queued, heard: { customer: ["Thanks for calling"] } }
      - answer: alice
      - expect: { state: talking, hears: { customer: [alice], alice: [customer] } }
      - hangup: customer
      - expect: { state: done, open_tasks: 0 }
`
	f, err := scenario.Parse(filepath.Join(dir, "hello.test.yaml"), []byte(scenarios))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range scenario.RunFile(context.Background(), f, scenario.Options{FlowPaths: []string{dir}}) {
		if !r.Passed() {
			t.Errorf("%s: %s\n%s", r.Scenario, r.Failure, r.Timeline)
		}
	}
}
