package flow

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// genFlow writes a flow of n states: an IVR-like chain where every state has
// entry actions, a guarded transition with templates, a command, and ways
// back and to the end — the shape of real flows, at size.
func genFlow(idx, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "flow: gen_%d\nnumbers: [\"+1555%07d\"]\n", idx, idx)
	b.WriteString("taskrouter:\n  workflow: ${{ env.WORKFLOW_SID }}\n")
	b.WriteString("vars:\n  count: 0\n  skill: support\n")
	b.WriteString("commands:\n  hold: {}\n  unhold: {}\n  transfer:\n    params:\n      to: { type: string, required: true }\n")
	b.WriteString("initial: s0\n")
	b.WriteString("on:\n  call.status:\n    if: event.role == \"customer\" && event.status == \"completed\"\n    to: done\n")
	b.WriteString("states:\n")
	b.WriteString("  s0:\n    entry:\n      - say: Welcome to flow " + fmt.Sprint(idx) + ".\n      - enqueue: { attributes: { skill: \"${{ vars.skill }}\" } }\n")
	b.WriteString("    on:\n      reservation.created:\n        do: [{ conference: { end_conference_on_customer_exit: true } }]\n")
	b.WriteString("      participant.join: { if: event.role == \"agent\", to: s1 }\n")
	for i := 1; i < n-1; i++ {
		fmt.Fprintf(&b, "  s%d:\n", i)
		fmt.Fprintf(&b, "    description: Step %d of flow %d.\n", i, idx)
		fmt.Fprintf(&b, "    entry:\n      - set: { count: \"${{ vars.count + %d }}\" }\n", i)
		fmt.Fprintf(&b, "      - announce: { role: agent, say: \"Step %d for ${{ call.from }}\" }\n", i)
		b.WriteString("    on:\n")
		fmt.Fprintf(&b, "      hold: { do: [{ hold: customer }], to: s%d }\n", i)
		fmt.Fprintf(&b, "      unhold: { do: [{ unhold: customer }] }\n")
		fmt.Fprintf(&b, "      transfer:\n        - if: params.to != \"\" && vars.count > %d\n          do: [{ dial: { role: consultee, to: \"${{ params.to }}\" } }]\n          to: s%d\n", i, i+1)
		fmt.Fprintf(&b, "        - do: [{ say_nothing: {} }]\n")
		fmt.Fprintf(&b, "      participant.leave:\n        if: event.role == \"customer\" || participants.agent == nil\n        to: s%d\n", n-1)
	}
	fmt.Fprintf(&b, "  s%d:\n    entry: [{ complete_task: { reason: \"done ${{ now }}\" } }]\n    on:\n      task.completed: { to: done }\n", n-1)
	b.WriteString("  done:\n    final: true\n")
	return []byte(strings.Replace(b.String(), "        - do: [{ say_nothing: {} }]\n", "        - do: [{ unhold: customer }]\n", -1))
}

func genFlows() [][]byte {
	out := make([][]byte, 100)
	for i := range out {
		out[i] = genFlow(i, 50)
	}
	return out
}

func TestGeneratedFlowsAreValid(t *testing.T) {
	f, diags := Load("gen.yaml", genFlow(1, 50), LoadOptions{Env: map[string]string{"WORKFLOW_SID": "WW1"}})
	if f == nil || len(diags) > 0 {
		t.Fatalf("generated flow: %v", diags)
	}
	if len(f.States) != 51 {
		t.Fatalf("states = %d", len(f.States))
	}
}

// BenchmarkValidate100x50 validates 100 generated flows of 50 states each
// (one op = all 100). Each op starts with an empty expression cache, as a
// fresh `flowd validate` process does.
func BenchmarkValidate100x50(b *testing.B) {
	flows := genFlows()
	opts := LoadOptions{Env: map[string]string{"WORKFLOW_SID": "WW1"}}
	if _, err := loadSchema(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		resetExprCache()
		for i, data := range flows {
			if _, diags := Load(fmt.Sprintf("gen_%d.yaml", i), data, opts); diags.HasErrors() {
				b.Fatal(diags)
			}
		}
	}
	// CPU time is steadier than wall time on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkYAMLParse100x50 is the floor under BenchmarkValidate100x50: only
// yaml.v3 parsing the same 100 files into node trees.
func BenchmarkYAMLParse100x50(b *testing.B) {
	flows := genFlows()
	b.ReportAllocs()
	for b.Loop() {
		for _, data := range flows {
			var n yaml.Node
			if err := yaml.Unmarshal(data, &n); err != nil {
				b.Fatal(err)
			}
		}
	}
}
