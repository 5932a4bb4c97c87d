package flow

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowd/flowd/schema"
)

var update = flag.Bool("update", false, "rewrite golden files and schema/flow.schema.json")

const schemaFile = "../../schema/flow.schema.json"

// TestSchemaUpToDate regenerates the JSON Schema from the model and compares
// it with the checked-in (and embedded) file. -update rewrites it.
func TestSchemaUpToDate(t *testing.T) {
	got := GenerateSchema()
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./engine/flow -run TestSchemaUpToDate -update", filepath.Clean(schemaFile))
	}
	if !bytes.Equal(schema.Flow, want) {
		t.Fatalf("the embedded schema differs from %s (rebuild)", schemaFile)
	}
}

func TestSchemaShape(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(GenerateSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["$schema"] != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("$schema = %v", doc["$schema"])
	}
	var missing []string
	schemaHasDescriptions(doc, "#", &missing)
	if len(missing) > 0 {
		t.Errorf("properties without a description: %v", missing)
	}
	if _, err := compileSchema(GenerateSchema()); err != nil {
		t.Fatalf("generated schema does not compile: %v", err)
	}
}

// schemaHasDescriptions lists the properties without a description.
func schemaHasDescriptions(doc any, path string, missing *[]string) {
	m, ok := doc.(map[string]any)
	if !ok {
		return
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for k, v := range props {
			pm, _ := v.(map[string]any)
			if d, _ := pm["description"].(string); strings.TrimSpace(d) == "" {
				*missing = append(*missing, path+"/"+k)
			}
		}
	}
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			schemaHasDescriptions(x, path+"/"+k, missing)
		case []any:
			for _, it := range x {
				schemaHasDescriptions(it, path+"/"+k, missing)
			}
		}
	}
}
