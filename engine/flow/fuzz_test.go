package flow

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad: Load never panics (panics are not recovered here), and the JSON
// Schema and the typed decoder agree on the shape of whatever they are given.
// Seeds: testdata/fuzz/FuzzLoad and every testdata flow.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"testdata/valid/*.yaml", "testdata/invalid/*.yaml", "testdata/shape/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := opts()
		o.noRecover = true
		fl, diags := Load("fuzz.yaml", data, o)
		o.schemaFirst = true
		schemaFl, schemaFirst := Load("fuzz.yaml", data, o)
		if !reflect.DeepEqual(diags, schemaFirst) || (fl == nil) != (schemaFl == nil) {
			t.Fatalf("the schema pass changes the outcome\nafter the decoder: %v\nfirst:              %v", diags, schemaFirst)
		}
		o.schemaFirst = false
		if fl != nil && diags.HasErrors() {
			t.Fatal("a flow returned with errors")
		}
		for _, d := range diags {
			if d.Code == CodeInternal || d.Pos.Line < 0 || d.Pos.Col < 0 {
				t.Fatalf("bad diagnostic %v", d)
			}
		}
		o.skipSchema = true
		_, decoderOnly := Load("fuzz.yaml", data, o)
		if a, b := onlyShape(diags), onlyShape(decoderOnly); !reflect.DeepEqual(a, b) {
			t.Fatalf("schema and decoder disagree\nschema:  %v\ndecoder: %v", a, b)
		}
	})
}

// FuzzTemplate: compiling and rendering templates and guards never panics.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"Hello ${{ call.from }}", "${{ vars.count + 1 }}", "${{", "${{ }}", "}}${{x}}", "${{ participants.customer.hold }}",
		"${{ env[params.x] }}", "a ${{ 'b' }} c ${{ 1/0 }}", "${{ now.Year() }}", "${{ len(vars) > 2 ? 'a' : 'b' }}",
		"${{ event.role == \"agent\" }}", "${{ {a: 1}.a }}", "\n${{\n call.from\n}}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		env := &Env{Call: map[string]any{"from": "+1"}, Vars: map[string]any{"count": 1}, Participants: map[string]*Participant{}}
		if tpl, err := CompileTemplate(src, Pos{}); err == nil {
			_, _ = tpl.String(env)
			_, _ = tpl.Value(env)
			_ = tpl.IsLiteral()
		} else if _, ok := err.(*exprError); !ok {
			t.Fatalf("error of type %T", err)
		}
		if e, err := CompileExpr(src, Pos{}); err == nil {
			_, _ = e.Bool(env)
		}
	})
}
