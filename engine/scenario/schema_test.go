package scenario_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/flowd/flowd/engine/scenario"
	"github.com/flowd/flowd/schema"
)

// The scenario schema (for editors) and the parser (for flowd test) agree:
// every shipped scenario file passes both, and broken ones fail both.
func TestScenarioSchemaAgreesWithParser(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.Scenario))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("scenario.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("scenario.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	check := func(src []byte) error {
		var v any
		if err := yaml.Unmarshal(src, &v); err != nil {
			return err
		}
		// Round-trip through JSON: the validator wants JSON types.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return err
		}
		return sch.Validate(inst)
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "flows", "*.test.yaml"))
	files = append(files, filepath.Join("testdata", "wrong.test.yaml"))
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := check(src); err != nil {
			t.Errorf("%s does not pass the scenario schema: %v", f, err)
		}
		if _, err := scenario.Parse(f, src); err != nil {
			t.Errorf("%s does not parse: %v", f, err)
		}
	}
	for name, src := range map[string]string{
		"unknown step":     "flow: x\nscenarios:\n  - name: a\n    steps:\n      - dance: {}\n",
		"unknown top key":  "flow: x\nscenarios:\n  - name: a\n    steps: []\nextra: 1\n",
		"no flow":          "scenarios:\n  - name: a\n    steps: []\n",
		"unknown expect":   "flow: x\nscenarios:\n  - name: a\n    steps:\n      - expect: { sate: talking }\n",
		"call with junk":   "flow: x\nscenarios:\n  - name: a\n    steps:\n      - call: { form: x }\n",
		"two keys in step": "flow: x\nscenarios:\n  - name: a\n    steps:\n      - { answer: alice, hangup: bob }\n",
	} {
		if check([]byte(src)) == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
		if _, err := scenario.Parse("x.test.yaml", []byte(src)); err == nil {
			t.Errorf("%s: the parser accepts it", name)
		}
	}
}
