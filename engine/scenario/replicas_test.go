package scenario_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowd/flowd/engine/scenario"
)

// postgresDSN gives each scenario its own schema on the test server.
func postgresDSN(t *testing.T) func() (string, func(), error) {
	base := os.Getenv("FLOWD_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("FLOWD_TEST_POSTGRES_DSN not set: the two-replica tests need PostgreSQL (.ci/run sets it)")
	}
	return scenario.PostgresSchema(base, "flowd_scenario")
}

// TestTwoReplicasOnPostgres runs every shipped scenario through two flowd
// replicas sharing one PostgreSQL database behind a round-robin, with every
// webhook delivered twice (so the two copies of one callback hit both
// replicas) and both replicas dispatching the outbox at once. Each scenario
// passes with exactly the REST effects of a single in-memory replica.
func TestTwoReplicasOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	flows := filepath.Join("..", "..", "flows")
	files, err := scenario.FindFiles([]string{flows})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		f, err := scenario.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range f.Scenarios {
			one := *f
			one.Scenarios = []*scenario.Scenario{sc}
			t.Run(filepath.Base(path)+"/"+sc.Name, func(t *testing.T) {
				base := scenario.RunFile(context.Background(), &one, scenario.Options{FlowPaths: []string{flows}})[0]
				if !base.Passed() {
					t.Fatalf("clean run failed: %s", base.Failure)
				}
				r := scenario.RunFile(context.Background(), &one, scenario.Options{FlowPaths: []string{flows}, Replicas: 2, StoreDSN: dsn,
					Faults: scenario.Faults{DuplicateWebhooks: true}})[0]
				if !r.Passed() {
					t.Fatalf("%s:%d: %s\n%s", r.File, r.FailureLine, r.Failure, r.Timeline)
				}
				if got, want := strings.Join(r.Effects, "\n"), strings.Join(base.Effects, "\n"); got != want {
					t.Errorf("REST effects differ from one replica:\n%s", diffLines(base.Effects, r.Effects))
				}
			})
		}
	}
}
