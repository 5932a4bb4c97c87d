package scenario_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowd/flowd/engine/scenario"
)

// TestShippedFlowsUnderFaults runs every shipped scenario again with
// Twilio's delivery faults: every webhook twice (same idempotency token),
// conference callbacks shuffled, REST calls answered 429 and 500 first.
// Each must still pass, and Twilio must have accepted exactly the same REST
// calls as in the clean run: nothing lost, nothing done twice.
func TestShippedFlowsUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite skipped in -short mode")
	}
	flows := filepath.Join("..", "..", "flows")
	files, err := scenario.FindFiles([]string{flows})
	if err != nil {
		t.Fatal(err)
	}
	modes := []struct {
		name   string
		faults scenario.Faults
	}{
		{"duplicate webhooks", scenario.Faults{DuplicateWebhooks: true}},
		{"shuffled conference callbacks", scenario.Faults{ShuffleConference: true, Seed: 7}},
		{"transient 429 and 500", scenario.Faults{TransientREST: 3}},
	}
	for _, path := range files {
		f, err := scenario.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range f.Scenarios {
			one := *f
			one.Scenarios = []*scenario.Scenario{sc}
			base := scenario.RunFile(context.Background(), &one, scenario.Options{FlowPaths: []string{flows}})[0]
			if !base.Passed() {
				t.Errorf("%s: clean run failed: %s", sc.Name, base.Failure)
				continue
			}
			for _, m := range modes {
				t.Run(filepath.Base(path)+"/"+sc.Name+"/"+m.name, func(t *testing.T) {
					r := scenario.RunFile(context.Background(), &one, scenario.Options{FlowPaths: []string{flows}, Faults: m.faults,
						OpenAPIDir: os.Getenv("TWILIO_OPENAPI_DIR")})[0]
					if !r.Passed() {
						t.Fatalf("%s:%d: %s\n%s", r.File, r.FailureLine, r.Failure, r.Timeline)
					}
					if got, want := strings.Join(r.Effects, "\n"), strings.Join(base.Effects, "\n"); got != want {
						t.Errorf("REST effects differ from the clean run:\n%s", diffLines(base.Effects, r.Effects))
					}
				})
			}
		}
	}
}

// diffLines shows lines only in a (-) or only in b (+), as multisets.
func diffLines(a, b []string) string {
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
	}
	var out []string
	for s, n := range count {
		for ; n > 0; n-- {
			out = append(out, "- "+s)
		}
		for ; n < 0; n++ {
			out = append(out, "+ "+s)
		}
	}
	return strings.Join(out, "\n")
}
