package scenario_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowd/flowd/engine/scenario"
)

// FuzzParse: reading a scenario file never panics (Parse turns a panic into
// an "internal error", which fails here), every error is a *scenario.Error
// with a line, and a file that parses has a flow, scenarios and steps of a
// known kind. Seeds: testdata/fuzz/FuzzParse (the shipped scenario files and
// broken ones) and every *.test.yaml in flows/ and testdata/, as they are now.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"../../flows/*.test.yaml", "testdata/*.test.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := scenario.Parse("fuzz.test.yaml", data)
		if err != nil {
			var se *scenario.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *scenario.Error: %v", err, err)
			}
			if strings.HasPrefix(se.Msg, "internal error") {
				t.Fatalf("Parse panicked: %v", err)
			}
			if se.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			if file != nil {
				t.Fatal("a file returned with an error")
			}
			return
		}
		if file == nil || file.Flow == "" || len(file.Scenarios) == 0 {
			t.Fatalf("parsed without error but incomplete: %+v", file)
		}
		for _, sc := range file.Scenarios {
			if sc.Name == "" {
				t.Fatal("a scenario without a name parsed")
			}
			for _, st := range sc.Steps {
				if st == nil || st.Kind == "" {
					t.Fatalf("scenario %q has a step without a kind", sc.Name)
				}
			}
		}
		for name, w := range file.Workers {
			if w == nil {
				t.Fatalf("worker %q is nil", name)
			}
		}
	})
}
