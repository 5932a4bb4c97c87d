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

// A syntax error an admin makes by hand says how to fix it, at the place
// to fix.
func TestYAMLSyntaxHints(t *testing.T) {
	for _, c := range []struct {
		name, src string
		line, col int
		want      string
	}{
		{"?. in a flow map", "flow: t\ninitial: s\nstates:\n  s:\n    on:\n      call.incoming: { if: participants.agent?.joined ?? false, to: s }\n", 6, 46,
			`a "?" (as in ?. and ??) is YAML syntax; quote the value`},
		{"?? in a flow map", "flow: t\ninitial: s\nstates:\n  s:\n    on:\n      call.incoming: { if: vars.x ?? false }\n", 6, 35,
			`a "?" (as in ?. and ??) is YAML syntax`},
		{"a colon in a flow map", "flow: t\ninitial: s\nstates:\n  s:\n    on:\n      call.incoming: { if: a: b }\n", 6, 7,
			`inside { } or [ ], quote a value that contains ", ", ": ", "?" or "#"`},
		{"to: deeper than if:", "flow: t\ninitial: s\nstates:\n  s:\n    on:\n      call.incoming:\n        if: event.digits == \"1\"\n          to: s\n", 8, 11,
			"this line is indented deeper than if: on line 7, so YAML reads it as the rest of that value; indent it like if:"},
		{"list items in two columns", "flow: t\ninitial: s\nstates:\n  s:\n    entry:\n    - say: a\n      - say: b\n", 7, 7,
			"check this line's indentation against the lines above it"},
		{"a tab YAML names", "flow: t\nstates:\n  s:\n    on:\n\tto: s\n", 5, 1,
			"YAML indents with spaces only: replace the tab with spaces"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, diags := Load("s.yaml", []byte(c.src), opts())
			if len(diags) != 1 || diags[0].Code != CodeYAMLSyntax {
				t.Fatalf("got %v", diags)
			}
			d := diags[0]
			if d.Pos.Line != c.line || d.Pos.Col != c.col || !strings.Contains(d.Message, c.want) {
				t.Errorf("%d:%d: %s\nwant %d:%d: …%s…", d.Pos.Line, d.Pos.Col, d.Message, c.line, c.col, c.want)
			}
		})
	}
}

// An expression written the way people write conditions elsewhere says
// what to write instead.
func TestExprMistakeHints(t *testing.T) {
	for _, c := range []struct{ guard, want string }{
		{`event.role == agent`, `unknown name agent: text is quoted, "agent"`},
		{`"event.role == agent"`, `unknown name agent: text is quoted, 'agent' inside a "…" value`},
		{`event.status in ["completed", busy]`, `unknown name busy: text is quoted, "busy"`},
		{`evnt.role == "agent"`, `unknown name evnt (did you mean event?)`},
		{`caller == "x"`, `unknown name caller (did you mean call?)`},
		{`sid == "x"`, `unknown name sid: an expression reads call, task, worker, event, params, participants, vars, env, now, state; text is quoted ("sid")`},
		{`event.role == "agent" &&`, `the expression ends too early: is something missing after the last operator, or a ( or [ not closed?`},
		{`(event.role == "agent"`, `the expression ends too early`},
		{`event.role == "agent" AND event.status == "busy"`, `unexpected AND: write and, or and not in lower case, or &&, || and !`},
		{`event.role == "agent" event.status`, `unexpected event after a complete value: is an operator missing before it, or is it text to quote?`},
	} {
		guard := "'" + strings.ReplaceAll(c.guard, "'", "''") + "'"
		if strings.HasPrefix(c.guard, `"`) {
			guard = c.guard // written double-quoted in the YAML
		}
		src := "flow: t\ninitial: s\nstates:\n  s:\n    on:\n      call.status:\n        if: " + guard + "\n        to: d\n  d: { final: true }\n"
		_, diags := Load("s.yaml", []byte(src), opts())
		if len(diags) != 1 || diags[0].Code != CodeBadExpr || !strings.Contains(diags[0].Message, c.want) {
			t.Errorf("if: %s\ngot  %v\nwant …%s…", c.guard, diags, c.want)
		}
	}
}

// A file saved by a Windows editor as "Unicode" (UTF-16 with a byte order
// mark) is read with columns in characters, as its UTF-8 twin; one saved as
// Latin-1 is an error at the first byte that is not UTF-8, saying so.
func TestFileEncodings(t *testing.T) {
	src := "flow: t\nhold_music: https://example.com/${{ evnt }}.mp3\ninitial: s\nstates:\n  s:\n    on:\n      call.status: { to: done }\n  done: { final: true }\n"
	utf16 := func(bigEndian bool) []byte {
		out := []byte{0xFF, 0xFE}
		if bigEndian {
			out = []byte{0xFE, 0xFF}
		}
		for _, r := range src {
			if bigEndian {
				out = append(out, byte(r>>8), byte(r))
			} else {
				out = append(out, byte(r), byte(r>>8))
			}
		}
		return out
	}
	for name, data := range map[string][]byte{"utf-16le": utf16(false), "utf-16be": utf16(true)} {
		_, diags := Load("s.yaml", data, opts())
		if len(diags) != 1 || diags[0].Code != CodeBadTemplate || diags[0].Pos.Line != 2 || diags[0].Pos.Col != 37 {
			t.Errorf("%s: %v, want bad-template at 2:37", name, diags)
		}
	}
	latin1 := []byte("flow: t\ninitial: s\nstates:\n  s:\n    entry: [{ say: \"caf\xe9\" }]\n    final: true\n")
	_, diags := Load("s.yaml", latin1, opts())
	want := "the file is not UTF-8 text (byte 0xE9 here; saved as Latin-1 or Windows-1252?): save it as UTF-8"
	if len(diags) != 1 || diags[0].Code != CodeYAMLSyntax || diags[0].Pos.Line != 5 || diags[0].Pos.Col != 24 || diags[0].Message != want {
		t.Errorf("latin-1: %v, want yaml-syntax at 5:24: %s", diags, want)
	}
}
