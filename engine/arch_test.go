package engine_test

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// TestArrows keeps the architecture's arrows one way (DESIGN.md):
// server → engine → {flow, store, twilio}; flow, store and twilio import
// no other flowd package (flow only the schema bytes); twiliosim imports
// nothing of flowd — it is Twilio, not us. engine/internal/jsonw is a leaf
// utility (it imports no flowd package) any engine package may use.
func TestArrows(t *testing.T) {
	const mod = "github.com/flowd/flowd/"
	allowed := map[string][]string{
		"engine":                {"engine/flow", "engine/store", "engine/twilio", "engine/internal/jsonw"},
		"engine/internal/jsonw": {},
		"engine/flow":           {"schema"},
		"engine/store":          {},
		"engine/twilio":         {"engine/internal/jsonw"},
		"engine/twiliosim":      {},
		"schema":                {},
		"engine/server":         {"engine", "engine/flow", "engine/store", "engine/twilio"},
	}
	for pkg, ok := range allowed {
		// The test runs in engine/: map the package to its directory.
		dir := filepath.Join("..", filepath.FromSlash(pkg))
		p, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			target := strings.TrimPrefix(imp, mod)
			permitted := false
			for _, a := range ok {
				if a == target {
					permitted = true
				}
			}
			if !permitted {
				t.Errorf("%s imports %s: against the arrows (allowed: %v)", pkg, target, ok)
			}
		}
	}
}
