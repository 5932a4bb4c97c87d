package scenario_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowd/flowd/engine/scenario"
)

// TestShippedFlows runs every scenario file beside the shipped flows; with
// TWILIO_OPENAPI_DIR set, every REST call flowd makes is checked against
// Twilio's OpenAPI specs.
func TestShippedFlows(t *testing.T) {
	flows := filepath.Join("..", "..", "flows")
	files, err := scenario.FindFiles([]string{flows})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario files in flows/")
	}
	for _, path := range files {
		f, err := scenario.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range f.Scenarios {
			t.Run(filepath.Base(path)+"/"+sc.Name, func(t *testing.T) {
				one := *f
				one.Scenarios = []*scenario.Scenario{sc}
				for _, r := range scenario.RunFile(context.Background(), &one, scenario.Options{FlowPaths: []string{flows}, OpenAPIDir: os.Getenv("TWILIO_OPENAPI_DIR")}) {
					if os.Getenv("TWILIO_OPENAPI_DIR") != "" && !r.SpecChecked {
						t.Errorf("TWILIO_OPENAPI_DIR is set but REST calls were not checked against the spec")
					}
					if !r.Passed() {
						t.Errorf("%s:%d: %s\n%s", r.File, r.FailureLine, r.Failure, r.Timeline)
					}
				}
			})
		}
	}
}
