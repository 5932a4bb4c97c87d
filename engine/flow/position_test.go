package flow

import (
	"strings"
	"testing"
)

// TestExpressionPositions: a diagnostic inside an expression or template
// points at the offending text in the file, whatever the scalar style.
// Each case marks the expected place with the word "cuont" (an unknown
// variable) or, for compile errors, names the expected column text.
func TestExpressionPositions(t *testing.T) {
	const head = "flow: t\nvars: { count: 0 }\ninitial: s\nstates:\n  s:\n"
	const tail = "  done: { final: true }\n"
	cases := []struct {
		name, body string
		code       string
		at         string // the text the diagnostic must point at (first occurrence after "on:" or "entry:")
	}{
		{"plain guard", "    on:\n      call.status:\n        if: event.status == \"completed\" && vars.cuont > 1\n        to: done\n", CodeUnknownVar, "cuont"},
		{"double-quoted guard", "    on:\n      call.status:\n        if: \"vars.count > 1 && vars.cuont > 1\"\n        to: done\n", CodeUnknownVar, "cuont"},
		{"single-quoted guard", "    on:\n      call.status:\n        if: 'event.status == ''x'' || vars.cuont > 1'\n        to: done\n", CodeUnknownVar, "cuont"},
		{"literal block guard", "    on:\n      call.status:\n        if: |\n          event.status == \"completed\" &&\n            vars.cuont > 1\n        to: done\n", CodeUnknownVar, "cuont"},
		{"folded block guard", "    on:\n      call.status:\n        if: >-\n          event.status == \"completed\"\n          && vars.cuont > 1\n        to: done\n", CodeUnknownVar, "cuont"},
		{"flow mapping guard", "    on:\n      call.status: { if: vars.cuont > 1, to: done }\n", CodeUnknownVar, "cuont"},
		{"plain template", "    entry:\n      - say: Hello ${{ vars.cuont }}, welcome.\n    on:\n      call.status: { to: done }\n", CodeUnknownVar, "cuont"},
		{"quoted template", "    entry:\n      - say: \"It's ${{ vars.count }} and ${{ vars.cuont }}\"\n    on:\n      call.status: { to: done }\n", CodeUnknownVar, "cuont"},
		{"escaped single-quoted template", "    entry:\n      - say: 'It''s ${{ vars.cuont }}'\n    on:\n      call.status: { to: done }\n", CodeUnknownVar, "cuont"},
		{"multi-line plain template", "    entry:\n      - say: Hello and\n          welcome ${{ vars.cuont }}\n    on:\n      call.status: { to: done }\n", CodeUnknownVar, "cuont"},
		{"literal block template", "    entry:\n      - say: |\n          Hello.\n          Count ${{ vars.cuont }}.\n    on:\n      call.status: { to: done }\n", CodeUnknownVar, "cuont"},
		{"syntax error in guard", "    on:\n      call.status:\n        if: vars.count > 1 && && true\n        to: done\n", CodeBadExpr, "&& true"},
		{"unknown member in guard", "    on:\n      call.status:\n        if: participants.customer.hlod\n        to: done\n", CodeBadExpr, "hlod"},
		{"unclosed template", "    entry:\n      - say: \"Hi ${{ call.from \"\n    on:\n      call.status: { to: done }\n", CodeBadTemplate, "${{"},
		{"template syntax error on line 2", "    entry:\n      - say: |\n          Hi\n          ${{ call.from + }}\n    on:\n      call.status: { to: done }\n", CodeBadTemplate, " }}"},
		{"unknown role in participants", "    on:\n      call.status:\n        if: participants.custmer != nil\n        to: done\n", CodeUnknownRole, "custmer"},
		{"double-quoted guard with escapes", "    on:\n      call.status:\n        if: \"event.status == \\\"x\\\" &&\\n\\tvars.cuont > 1\"\n        to: done\n", CodeUnknownVar, "cuont"},
		{"double-quoted template with hex escapes", "    entry:\n      - say: \"\\x41\\u00e9\\t${{ vars.cuont }}\"\n    on:\n      call.status: { to: done }\n", CodeUnknownVar, "cuont"},
		{"unknown role compared", "    on:\n      call.status:\n        if: event.role == \"custmer\"\n        to: done\n", CodeUnknownRole, "custmer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := head + c.body + tail
			_, diags := Load("p.yaml", []byte(src), opts())
			var got *Diagnostic
			for i := range diags {
				if diags[i].Code == c.code {
					got = &diags[i]
					break
				}
			}
			if got == nil {
				t.Fatalf("no %s in %v", c.code, diags)
			}
			// Expected: first occurrence of c.at in the states part.
			start := len(head)
			off := strings.Index(src[start:], c.at)
			if off < 0 {
				t.Fatal("marker not found")
			}
			p := newSource("p.yaml", []byte(src)).posOfOffset(start + off)
			if got.Pos.Line != p.Line || got.Pos.Col != p.Col {
				lines := strings.Split(src, "\n")
				t.Errorf("%s at %d:%d, want %d:%d (%q)\n%s", c.code, got.Pos.Line, got.Pos.Col, p.Line, p.Col, c.at, lines[p.Line-1])
			}
		})
	}
}

// TestYAMLSyntaxPositions: yaml.v3 often names the line where a block
// starts; flowd reports the line that breaks it.
func TestYAMLSyntaxPositions(t *testing.T) {
	cases := []struct {
		name, src string
		line, col int
	}{
		{"bad dedent", "flow: t\ninitial: s\nstates:\n  s:\n    final: true\n   done:\n    final: true\n", 6, 4},
		{"list item in a map", "flow: t\n- s\n", 2, 1},
		{"under-indented key", "flow: t\nstates:\n  s:\n    final: true\n x: 1\n", 5, 2},
		{"mapping in a plain scalar", "flow: t\ninitial: a: b\n", 2, 11},
		{"unclosed flow mapping", "flow: t\nstates:\n  s: { final: true\n  d: {}\n", 3, 3},
		{"unclosed quote", "flow: t\ndescription: \"oops\ninitial: s\n", 2, 1},
		{"tab indentation", "flow: t\nstates:\n\ts: {}\n", 3, 1},
		{"unknown alias", "flow: t\ninitial: *nope\n", 2, 1},
		{"second document", "flow: t\n---\nflow: u\n", 2, 1},
		{"a document after an empty one", "flow: t\n---\n---\nflow: u\nbogus: 1\n", 3, 1},
		{"a colon in a plain value", "flow: t\nstates:\n  s:\n    entry:\n      - say: Press 1: sales\n", 5, 21},
		{"an alias as a key", "flow: t\nx-ev: &ev call.incoming\nstates:\n  s:\n    on:\n      *ev : { to: s }\n", 6, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags := Load("s.yaml", []byte(c.src), opts())
			if len(diags) != 1 || diags[0].Code != CodeYAMLSyntax {
				t.Fatalf("got %v", diags)
			}
			if d := diags[0]; d.Pos.Line != c.line || d.Pos.Col != c.col {
				t.Errorf("at %d:%d, want %d:%d: %s", d.Pos.Line, d.Pos.Col, c.line, c.col, d.Message)
			}
		})
	}
}
