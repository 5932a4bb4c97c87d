package scenario_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowd/flowd/engine/scenario"
)

// A scenario that expects the caller to hear a whisper fails, names the
// file and line of the step, and says what the caller hears instead.
func TestWrongScenarioFailsWithAnUnderstandableMessage(t *testing.T) {
	f, err := scenario.ParseFile(filepath.Join("testdata", "wrong.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs := scenario.RunFile(context.Background(), f, scenario.Options{FlowPaths: []string{filepath.Join("..", "..", "flows")}})
	if len(rs) != 1 || rs[0].Passed() {
		t.Fatalf("the wrong scenario passed: %+v", rs)
	}
	r := rs[0]
	if r.FailureLine != 15 {
		t.Errorf("failure at line %d, want 15 (the expect step)", r.FailureLine)
	}
	for _, want := range []string{"customer should hear supervisor, but does not", "customer hears: alice (client:alice)"} {
		if !strings.Contains(r.Failure, want) {
			t.Errorf("failure message %q does not say %q", r.Failure, want)
		}
	}
	if !strings.Contains(r.Timeline, "customer (+447700900123) heard:") {
		t.Errorf("no timeline in the failure:\n%s", r.Timeline)
	}
	// flowd's history says, for each event, what tells it apart (its
	// role, not its SIDs), the states it moved between and the flow line
	// that fired, or that nothing handled it: what one needs to see where
	// the flow went another way than the scenario expected.
	for _, want := range []string{
		"transition  reservation.created (role=agent): queued → connecting, line 142: conference\n",
		"transition  participant.join (role=agent): connecting → talking, line 149\n",
		"unhandled   participant.join (role=customer) in talking\n",
		"event       monitor (supervisor=client:sam) in talking, line 72: dial\n",
		"unhandled   call.status (role=supervisor status=ringing) in talking (no if: held, line 92)\n",
		"rest        coach: POST Conferences/CF",
	} {
		if !strings.Contains(r.Timeline, want) {
			t.Errorf("the timeline does not show %q:\n%s", want, r.Timeline)
		}
	}
}

// Anchors and aliases read as what they name: a list of steps shared by
// two scenarios runs in both.
func TestAliasedStepsAreRead(t *testing.T) {
	src := "flow: x\nx-common: &common\n  - call: {}\n  - hangup: customer\nscenarios:\n  - name: a\n    steps: *common\n  - name: b\n    steps: *common\n"
	f, err := scenario.Parse("x.test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range f.Scenarios {
		if len(sc.Steps) != 2 || sc.Steps[1].Party != "customer" {
			t.Errorf("scenario %s: steps %+v, want call and hangup", sc.Name, sc.Steps)
		}
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"YAML syntax", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - expect: { state: [\n", "x.test.yaml:5: YAML: did not find expected node content"},
		{"unknown step", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - dance: {}\n", "x.test.yaml:5: unknown step \"dance\""},
		{"misspelt step", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - anwser: alice\n", "x.test.yaml:5: unknown step \"anwser\" (did you mean answer?)"},
		{"unknown key", "flow: x\nscenarios: []\nextra: 1\n", "x.test.yaml:3: unknown key \"extra\""},
		{"no flow", "scenarios:\n  - name: a\n    steps: []\n", "missing flow"},
		{"bad wait", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - wait: soon\n", "x.test.yaml:5: wait takes a duration such as 30s"},
		// The key's own line, a suggestion, no Go type names.
		{"unknown expectation", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - expect:\n          state: s\n          hear: { customer: [alice] }\n",
			"x.test.yaml:7: expect: unknown key \"hear\" (did you mean hears?); allowed: state, hears,"},
		{"unknown worker key", "flow: x\nworkers:\n  alice: { queue: [support] }\nscenarios:\n  - name: a\n    steps: []\n",
			"x.test.yaml:3: workers: unknown key \"queue\" (did you mean queues?)"},
		{"wrong type", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - expect:\n          open_tasks: many\n",
			"x.test.yaml:6: expect: the text \"many\" where a whole number (written without quotes) is needed"},
		{"a party where a list is needed", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - expect: { on_hold: customer }\n",
			"x.test.yaml:5: expect: the text \"customer\" where a list, such as [alice] or [customer, alice] is needed"},
		{"a list where a map of parties is needed", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - expect: { hears: [customer, alice] }\n",
			"x.test.yaml:5: expect: a list where a map of a party to a list, such as { customer: [alice] } is needed"},
		{"a name where a step's map is needed", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - available: alice\n",
			"x.test.yaml:5: available: the text \"alice\" where a map (worker: …, available: …) is needed"},
		// Each of these used to run something other than what was written.
		{"a key twice", "flow: x\nscenarios:\n  - name: a\n    steps: [{ hangup: customer }]\n    steps: [{ call: {} }]\n",
			"x.test.yaml:5: \"steps\" appears twice in this map (first at line 4)"},
		{"scenarios twice", "flow: x\nscenarios: []\nscenarios: []\n", "x.test.yaml:3: \"scenarios\" appears twice"},
		{"a second document", "flow: x\nscenarios:\n  - name: a\n    steps: [{ call: {} }]\n---\nflow: y\n",
			"x.test.yaml:6: a scenario file holds one YAML document"},
		{"an alias as a key", "flow: x\nx-k: &k hangup\nscenarios:\n  - name: a\n    steps:\n      - *k : customer\n",
			"x.test.yaml:6: an alias (*k) cannot be a key"},
		{"a null party", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - call: {}\n      - hangup: ~\n", "x.test.yaml:6: hangup needs a value"},
		{"a null command", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - command:\n", "x.test.yaml:5: command needs a value"},
		{"a null expectation", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - expect: null\n", "x.test.yaml:5: expect needs a value"},
		{"an empty expectation", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - expect: {}\n", "x.test.yaml:5: expect: {} checks nothing"},
		// These ran once, or never fired, instead of failing.
		{"no copies", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - command:\n          name: hold\n          times: 0\n",
			"x.test.yaml:7: command: times must be at least 2"},
		{"more successes than copies", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - command: { name: hold, times: 2, expect_ok: 3 }\n",
			"x.test.yaml:5: command: expect_ok must be between 0 and times (2)"},
		{"no failures", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - fail_rest: { path: Calls, status: 500, times: 0 }\n",
			"x.test.yaml:5: fail_rest: times must be at least 1"},
		{"a glob that matches nothing", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - fail_rest:\n          path: \"Calls/[\"\n          status: 500\n",
			"x.test.yaml:6: fail_rest: path \"Calls/[\" is not a valid glob"},
		{"a status that is no failure", "flow: x\nscenarios:\n  - name: a\n    steps:\n      - fail_rest: { path: Calls, status: 200 }\n",
			"x.test.yaml:5: fail_rest: status must be an HTTP error status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenario.Parse("x.test.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// runAgainstShippedFlows parses a scenario file's text and runs it against
// the flows in flows/.
func runAgainstShippedFlows(t *testing.T, src string) []scenario.Result {
	t.Helper()
	f, err := scenario.Parse("typo.test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return scenario.RunFile(context.Background(), f, scenario.Options{FlowPaths: []string{filepath.Join("..", "..", "flows")}})
}

// runWithFlow writes flowSrc as the only flow of a directory and runs the
// scenario file src against it; a failure is reported with its timeline.
func runWithFlow(t *testing.T, flowSrc, src string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(flowSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := scenario.Parse("flow.test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs := scenario.RunFile(context.Background(), f, scenario.Options{FlowPaths: []string{dir}})
	if len(rs) == 0 {
		t.Fatal("no scenario ran")
	}
	for _, r := range rs {
		if !r.Passed() {
			t.Errorf("%s: line %d: %s\n%s", r.Scenario, r.FailureLine, r.Failure, r.Timeline)
		}
	}
}

// A misspelt party would make every negative expectation about it pass; it
// fails the step instead, naming the party.
func TestUnknownPartyFailsTheStep(t *testing.T) {
	src := `flow: support
workers:
  alice: { contact_uri: "client:alice", queues: [support] }
scenarios:
  - name: typo
    steps:
      - call: {}
      - expect: { not_hears: { customer: [alcie] }, absent: [supervisr], not_heard: { "@custmer": ["x"] } }
`
	rs := runAgainstShippedFlows(t, src)
	if len(rs) != 1 || rs[0].Passed() || rs[0].FailureLine != 8 {
		t.Fatalf("%+v", rs)
	}
	for _, name := range []string{`"alcie"`, `"supervisr"`, `"@custmer"`} {
		if !strings.Contains(rs[0].Failure, "unknown party "+name) {
			t.Errorf("failure does not name %s: %s", name, rs[0].Failure)
		}
	}
	for _, hint := range []string{"(did you mean alice?)", "(did you mean supervisor?)"} {
		if !strings.Contains(rs[0].Failure, hint) {
			t.Errorf("failure does not suggest %s: %s", hint, rs[0].Failure)
		}
	}
}

// A step that acts for a party (answer, decline, no_answer, hangup, press)
// names an unknown one the same way, rather than saying the stand-in has
// no call for it.
func TestUnknownPartyInAStep(t *testing.T) {
	for _, step := range []string{"answer: alicia", "decline: alicia", "no_answer: alicia", "hangup: alicia", `press: { party: alicia, digits: "1" }`} {
		src := `flow: support
workers:
  alice: { contact_uri: "client:alice", queues: [support] }
scenarios:
  - name: typo
    steps:
      - call: {}
      - ` + step + "\n"
		rs := runAgainstShippedFlows(t, src)
		if len(rs) != 1 || rs[0].Passed() || rs[0].FailureLine != 8 {
			t.Fatalf("%s: %+v", step, rs)
		}
		if want := `unknown party "alicia": not a worker of this file`; !strings.Contains(rs[0].Failure, want) || !strings.Contains(rs[0].Failure, "(did you mean alice?)") {
			t.Errorf("%s: failure %q, want %q and a suggestion", step, rs[0].Failure, want)
		}
	}
}

// A scenario file naming a flow that is not there says which flows are,
// and the closest name.
func TestUnknownFlowNamesTheFlows(t *testing.T) {
	rs := runAgainstShippedFlows(t, "flow: suport\nscenarios:\n  - name: a\n    steps: [{ call: {} }]\n")
	if len(rs) != 1 || rs[0].Passed() {
		t.Fatalf("%+v", rs)
	}
	for _, want := range []string{`no flow named "suport"`, "(flows there: contact-center, precall-whisper, support)", "did you mean support?"} {
		if !strings.Contains(rs[0].Failure, want) {
			t.Errorf("failure %q does not say %q", rs[0].Failure, want)
		}
	}
}

// task_status names a role: one that never held a task (a typo, or a role
// the flow does not have) fails the step, where it used to read the call's
// first task and pass. A role that left the call names its last task.
func TestTaskStatusOfAnUnknownRoleFails(t *testing.T) {
	src := `flow: support
queues: [support]
workers:
  alice: { contact_uri: "client:alice", queues: [support] }
scenarios:
  - name: typo
    steps:
      - call: {}
      - press: "2"
      - answer: alice
      - hangup: customer
      - expect: { state: wrapup, task_status: { agnet: wrapping } }
  - name: the role's last task
    steps:
      - call: {}
      - press: "2"
      - answer: alice
      - hangup: customer
      - expect: { state: wrapup, task_status: { agent: wrapping, customer: wrapping } }
`
	rs := runAgainstShippedFlows(t, src)
	if len(rs) != 2 {
		t.Fatalf("%+v", rs)
	}
	if rs[0].Passed() || rs[0].FailureLine != 12 || !strings.Contains(rs[0].Failure, "no agnet role ever held a task (roles with a task: agent, customer)") {
		t.Errorf("typo: line %d: %s", rs[0].FailureLine, rs[0].Failure)
	}
	if !rs[1].Passed() {
		t.Errorf("the role's last task: %s", rs[1].Failure)
	}
}

// The `faults: {duplicate_webhooks: true}` step (docs/testing.md) runs: it
// crashed the harness, and every duplicate is answered as the original.
func TestFaultsStepDuplicatesWebhooks(t *testing.T) {
	f, err := scenario.ParseFile(filepath.Join("testdata", "duplicates.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range scenario.RunFile(context.Background(), f, scenario.Options{FlowPaths: []string{filepath.Join("..", "..", "flows")}}) {
		if !r.Passed() {
			t.Errorf("%s: %s\n%s", r.Scenario, r.Failure, r.Timeline)
		}
	}
}

// flowd test finds a scenario file whatever the letter case of its
// extension, as flowd validate skips it: a file is always one or the other.
func TestFindFilesIgnoresCase(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"Support.Test.yaml", "b.test.yml", "flow.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := scenario.FindFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "Support.Test.yaml"), filepath.Join(dir, "b.test.yml")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("FindFiles = %v, want %v", got, want)
	}
}

// A path that does not exist suggests the closest name beside it.
func TestFindFilesSuggestsANeighbour(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "flows"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := scenario.FindFiles([]string{filepath.Join(dir, "flow")})
	if want := "no such file or directory (did you mean " + filepath.Join(dir, "flows") + "?)"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("err %v, want …%s", err, want)
	}
}

// A state the flow does not have fails the scenario before the call
// starts, at its line, with the closest name: reached, it read as if the
// flow were in the wrong state.
func TestUnknownExpectedStateFailsFirst(t *testing.T) {
	src := `flow: support
queues: [support]
workers:
  alice: { contact_uri: "client:alice", queues: [support] }
scenarios:
  - name: typo
    steps:
      - call: {}
      - press: "2"
      - answer: alice
      - expect: { state: talkin }
`
	rs := runAgainstShippedFlows(t, src)
	if len(rs) != 1 || rs[0].Passed() || rs[0].FailureLine != 11 ||
		!strings.Contains(rs[0].Failure, `state "talkin" is not a state of flow support (did you mean talking?)`) {
		t.Fatalf("%+v", rs)
	}
}

// A broken flow in the directory fails every scenario run against the
// directory, naming the flow at fault: flowd serve would not start on it,
// so a green run would say nothing about production.
func TestABrokenFlowFailsTheScenarios(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "flows", "support.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"support.yaml": string(src), "broken.yaml": "flow: broken\ninitial: nowhere\nstates: {}\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(flowName string) []scenario.Result {
		f, err := scenario.Parse("x.test.yaml", []byte("flow: "+flowName+`
queues: [support]
workers:
  alice: { contact_uri: "client:alice", queues: [support] }
scenarios:
  - name: a call
    steps:
      - call: {}
      - expect: { heard: { customer: ["press"] } }
`))
		if err != nil {
			t.Fatal(err)
		}
		return scenario.RunFile(context.Background(), f, scenario.Options{FlowPaths: []string{dir}})
	}
	for _, name := range []string{"support", "broken"} {
		if rs := run(name); len(rs) != 1 || rs[0].Passed() || !strings.Contains(rs[0].Failure, "broken.yaml") {
			t.Fatalf("%s's scenario beside a broken flow: %+v", name, rs)
		}
	}
}

// A wait lets what its timers set off run its course within the wait: alice
// does not answer within the conference instruction's 30 s, TaskRouter
// offers the call to bob, whose phone rings out too — all inside the two
// minutes. flowd used to hear of alice's timeout only when the wait was
// over, so bob's phone was still ringing after it.
func TestWaitRunsTimersInTheirTurn(t *testing.T) {
	src := `flow: contact-center
queues: [support, billing]
workers:
  alice: { contact_uri: "client:alice", queues: [support] }
  bob: { contact_uri: "client:bob", queues: [support] }
scenarios:
  - name: two agents miss the call within one wait
    steps:
      - call: {}
      - wait: 2m
      - expect:
          state: queued
          call_ended: [alice, bob]
          hears_music: [customer]
`
	rs := runAgainstShippedFlows(t, src)
	if len(rs) != 1 || !rs[0].Passed() {
		t.Fatalf("%s\n%s", rs[0].Failure, rs[0].Timeline)
	}
}
