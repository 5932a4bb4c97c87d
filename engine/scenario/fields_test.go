package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/flowd/flowd/engine/flow"
)

// TestEventFieldsHaveTheirDocumentedTypes plays the shipped flows'
// scenarios and checks every event the flows were handed: each field the
// catalog documents has the documented JSON type. validate rejects
// `event.digits == 1` because the digits are a string; that is only right
// if the runtime really hands the flow a string.
func TestEventFieldsHaveTheirDocumentedTypes(t *testing.T) {
	files, err := FindFiles([]string{filepath.Join("..", "..", "flows")})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, path := range files {
		f, err := ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range f.Scenarios {
			for _, problem := range eventFieldTypes(t, f, sc, seen) {
				t.Errorf("%s / %s: %s", filepath.Base(path), sc.Name, problem)
			}
		}
	}
	// The scenarios must reach the events whose fields are not all strings.
	for _, name := range []string{"call.gather", "call.status", "reservation.created", "participant.join", "participant.leave", "task.canceled"} {
		if !seen[name] {
			t.Errorf("no scenario delivered %s", name)
		}
	}
}

func eventFieldTypes(t *testing.T, f *File, sc *Scenario, seen map[string]bool) []string {
	t.Helper()
	ctx := context.Background()
	h, err := newHarness(ctx, f, Options{FlowPaths: []string{filepath.Join("..", "..", "flows")}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	for _, st := range sc.Steps {
		h.step = st
		if err := h.run(st); err != nil {
			return []string{fmt.Sprintf("step %s: %v", st.Kind, err)}
		}
		if err := h.settle(); err != nil {
			return []string{fmt.Sprintf("after step %s: %v", st.Kind, err)}
		}
	}
	if h.session == "" {
		return nil
	}
	v, err := h.view(true)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, entry := range v.History {
		var rec struct {
			Event  string         `json:"event"`
			Fields map[string]any `json:"fields"`
		}
		if err := json.Unmarshal(entry.Data, &rec); err != nil || rec.Event == "" {
			continue
		}
		spec, ok := flow.EventByName(rec.Event)
		if !ok {
			continue // a command
		}
		seen[rec.Event] = true
		for name, value := range rec.Fields {
			fs, ok := spec.Field(name)
			if !ok {
				continue
			}
			if got := jsonType(value); got != fs.Type {
				problems = append(problems, fmt.Sprintf("%s: event.%s is a %s (%#v), the catalog says %s", rec.Event, name, got, value, fs.Type))
			}
		}
	}
	return problems
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
