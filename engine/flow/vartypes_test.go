package flow

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// varsFlow is a flow whose variables are declared by vars, set by sets (on
// call.gather), entry (in the entry of next, where no event is known) and
// cmd (in the handler of the rate command), and compared in guard.
func varsFlow(vars, sets, entry, cmd, guard string) string {
	if vars == "" {
		vars = "{}"
	}
	return fmt.Sprintf(`flow: t
initial: start
vars: %s
commands:
  rate:
    params:
      stars: { type: number }
      note: {}
states:
  start:
    entry: [{ gather: { say: Press a key., num_digits: 1 } }]
    on:
      call.gather: { do: [%s], to: next }
  next:
    entry: [%s]
    on:
      call.status: { if: %q, to: done }
      rate: { do: [%s] }
  done: { final: true }
`, vars, sets, entry, guard, cmd)
}

// TestVarTypeMismatch: a comparison of vars.NAME with a constant is
// reported only when every value the flow gives the variable has one
// known type, and the constant another.
func TestVarTypeMismatch(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		vars, sets, entry, cmd string
		guard                  string
		want                   string   // the type-mismatch message, "" for none
		codes                  []string // the other codes reported
	}{
		{name: "declared number, compared with a string", vars: "{ n: 0 }", guard: `vars.n == "1"`,
			want: `vars.n is a number and "1" a string: this comparison is never true (compare with 1)`},
		{name: "constant on the left", vars: "{ n: 0 }", guard: `"1" == vars.n`,
			want: `vars.n is a number and "1" a string: this comparison is never true (compare with 1)`},
		{name: "declared and incremented", vars: "{ n: 0 }", sets: `{ set: { n: "${{ vars.n + 1 }}" } }`, guard: `vars.n != "1"`,
			want: `vars.n is a number and "1" a string: this comparison is always true (compare with 1)`},
		{name: "int and float are both numbers", vars: "{ n: 1 }", sets: "{ set: { n: 1.5 } }", guard: "vars.n < 2.5 && vars.n != 1 && vars.n > -1"},
		{name: "int and float, compared with a string", vars: "{ n: 1 }", sets: "{ set: { n: 1.5 } }", guard: `vars.n >= "2"`,
			want: `vars.n is a number and "2" a string: this comparison fails when it runs (compare with 2)`},
		{name: "a string and a number: untyped", vars: "{ s: support }", sets: "{ set: { s: 2 } }", guard: `vars.s == 2 || vars.s == "sales"`},
		{name: "a quoted number is a string", vars: "{ s: support }", sets: `{ set: { s: "2" } }`, guard: "vars.s == 2",
			want: `vars.s is a string and 2 a number: this comparison is never true (compare with "2")`},
		{name: "list item", vars: "{ s: a }", guard: `vars.s in ["a", 1]`,
			want: `vars.s is a string and 1 a number: this list item never matches (compare with "1")`},
		{name: "booleans", vars: "{ vip: false }", sets: "{ set: { vip: true } }", guard: `vars.vip == "true"`,
			want: `vars.vip is a boolean and "true" a string: this comparison is never true (compare with true)`},
		{name: "negative number", vars: "{ n: -1 }", guard: `vars.n == "-1"`,
			want: `vars.n is a number and "-1" a string: this comparison is never true (compare with -1)`},
		{name: "text around a template is a string", vars: `{ g: "Hi ${{ call.from }}" }`, guard: "vars.g == 1",
			want: `vars.g is a string and 1 a number: this comparison is never true (compare with "1")`},
		{name: "one expression of unknown type", vars: `{ c: "${{ call.from }}" }`, guard: "vars.c == 1"},
		{name: "$env: untyped", vars: `{ c: "${{ $env.state }}" }`, guard: "vars.c == 1", codes: []string{CodeDynamicEnv}},
		{name: "env.NAME is a string", vars: `{ w: "${{ env.WORKFLOW_SID }}" }`, guard: "vars.w == 1",
			want: `vars.w is a string and 1 a number: this comparison is never true (compare with "1")`},
		{name: "?? of two strings", vars: `{ w: "${{ env.FLOWD_TEST_UNSET ?? 'x' }}" }`, guard: "vars.w == 1",
			want: `vars.w is a string and 1 a number: this comparison is never true (compare with "1")`},
		{name: "?? of a string and a number", vars: `{ w: "${{ env.FLOWD_TEST_UNSET ?? 1 }}" }`, guard: "vars.w == 1"},
		{name: "event field in its handler", sets: `{ set: { d: "${{ event.digits }}" } }`, guard: "vars.d == 1",
			want: `vars.d is a string and 1 a number: this comparison is never true (compare with "1")`},
		{name: "event field in entry: the event is not known", entry: `{ set: { d: "${{ event.digits }}" } }`, guard: "vars.d == 1"},
		{name: "number parameter", cmd: `{ set: { r: "${{ params.stars }}" } }`, guard: `vars.r == "5"`,
			want: `vars.r is a number and "5" a string: this comparison is never true (compare with 5)`},
		{name: "string parameter by default", cmd: `{ set: { r: "${{ params.note }}" } }`, guard: "vars.r == 5",
			want: `vars.r is a string and 5 a number: this comparison is never true (compare with "5")`},
		{name: "typed from another variable", vars: "{ n: 0 }", sets: `{ set: { m: "${{ vars.n * 2 }}" } }`, guard: `vars.m == "0"`,
			want: `vars.m is a number and "0" a string: this comparison is never true (compare with 0)`},
		{name: "number plus string: untyped", vars: "{ n: 0 }", sets: `{ set: { n: "${{ vars.n + 'x' }}" } }`, guard: `vars.n == "0"`},
		{name: "string concatenation", vars: "{ q: sales }", sets: `{ set: { q: "${{ vars.q + '-vip' }}" } }`, guard: "vars.q == 1",
			want: `vars.q is a string and 1 a number: this comparison is never true (compare with "1")`},
		{name: "a ternary of two strings", sets: `{ set: { t: "${{ call.from == '+44' ? 'uk' : 'other' }}" } }`, guard: "vars.t == true",
			want: `vars.t is a string and true a boolean: this comparison is never true (compare with "true")`},
		{name: "a ternary of a string and anything", sets: `{ set: { t: "${{ call.from == '+44' ? 'uk' : call.to }}" } }`, guard: "vars.t == 1"},
		{name: "a comparison is a boolean", sets: `{ set: { b: "${{ call.from == '+44' }}" } }`, guard: `vars.b == "true"`,
			want: `vars.b is a boolean and "true" a string: this comparison is never true (compare with true)`},
		{name: "a method's result type", vars: `{ h: "${{ now.Hour() }}" }`, guard: `vars.h == "9"`,
			want: `vars.h is a number and "9" a string: this comparison is never true (compare with 9)`},
		{name: "set only from itself: never a value", sets: `{ set: { x: "${{ vars.x + 1 }}" } }`, guard: `vars.x == "1"`},
		{name: "nil is never a mismatch", vars: "{ n: 0 }", guard: "vars.n == nil || nil != vars.n"},
		{name: "a nil value does not hide the type", vars: "{ n: 0 }", sets: `{ set: { n: "${{ nil }}" } }`, guard: `vars.n == "0"`,
			want: `vars.n is a number and "0" a string: this comparison is never true (compare with 0)`},
		{name: "never declared nor set: unknown-var only", guard: "vars.nope == 1", codes: []string{CodeUnknownVar}},
		{name: "a template that does not compile: untyped", vars: "{ n: 0 }", sets: `{ set: { n: "${{ vars.n + }}" } }`, guard: `vars.n == "0"`,
			codes: []string{CodeBadTemplate}},
		{name: "two variables compared: not checked", vars: "{ n: 0, s: a }", guard: "vars.n == vars.s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := varsFlow(tc.vars, tc.sets, tc.entry, tc.cmd, tc.guard)
			_, diags := Load("vars.yaml", []byte(src), opts())
			var got []string
			codes := []string{}
			for _, d := range diags {
				if d.Code == CodeTypeMismatch {
					got = append(got, d.Message)
				} else {
					codes = append(codes, d.Code)
				}
			}
			var want []string
			if tc.want != "" {
				want = []string{tc.want}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("type-mismatch: got %q, want %q\n%s", got, want, src)
			}
			sort.Strings(codes)
			if wantCodes := append([]string{}, tc.codes...); !reflect.DeepEqual(codes, wantCodes) {
				t.Errorf("other codes: got %v, want %v\n%s", codes, wantCodes, render(diags, "."))
			}
		})
	}
}

// TestValueTermMatchesRuntime: the type inferred for a template is the
// type of the value it renders (so a variable is typed only as what it
// holds).
func TestValueTermMatchesRuntime(t *testing.T) {
	env := &Env{
		Call:   map[string]any{"from": "+44", "to": "+1"},
		Event:  map[string]any{"name": "call.gather", "digits": "1", "confidence": 0.5},
		Vars:   map[string]any{"n": 2, "f": 1.5, "s": "a", "b": true},
		Params: map[string]any{"stars": 4.0},
		Now:    time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC),
		State:  "start",
		Participants: map[string]*Participant{
			"agent": {CallSid: "CA1", Joined: true},
		},
		EnvVars: map[string]any{"X": "x"},
	}
	varTypes := map[string]string{"n": jNumber, "f": jNumber, "s": jString, "b": jBool}
	gather := siteCtx{event: "call.gather", tr: &Transition{}}
	v := &validator{f: &Flow{}}
	for _, tc := range []struct {
		src  string
		want string // tyAny: unknown
	}{
		{"plain text", jString},
		{"", jString},
		{"${{ 1 }}", jNumber},
		{"${{ 1.5 }}", jNumber},
		{"${{ true }}", jBool},
		{"${{ 'x' }}", jString},
		{"n = ${{ vars.n }}", jString},
		{"${{ vars.n }} ", jString},
		{"${{ vars.n + 1 }}", jNumber},
		{"${{ vars.n + vars.f }}", jNumber},
		{"${{ vars.n / 2 }}", jNumber},
		{"${{ vars.n % 2 }}", jNumber},
		{"${{ vars.n ** 2 }}", jNumber},
		{"${{ -vars.f }}", jNumber},
		{"${{ vars.s + 'b' }}", jString},
		{"${{ vars.s + vars.n }}", tyAny},
		{"${{ vars.b }}", jBool},
		{"${{ !vars.b }}", jBool},
		{"${{ vars.n > 1 && vars.b }}", jBool},
		{"${{ vars.s in ['a', 'b'] }}", jBool},
		{"${{ event.digits }}", jString},
		{"${{ event.confidence }}", jNumber},
		{"${{ event.digits + '#' }}", jString},
		{"${{ call.from }}", tyAny},
		{"${{ call.from == '+44' ? 'uk' : 'other' }}", jString},
		{"${{ call.from == '+44' ? 'uk' : call.to }}", tyAny},
		{"${{ call.from == '+44' ? 1 : 2.5 }}", jNumber},
		{"${{ call.to ?? 'none' }}", tyAny},
		{"${{ env.X }}", jString},
		{"${{ env.X ?? 'y' }}", jString},
		{"${{ len(call.from) }}", jNumber},
		{"${{ upper(vars.s) }}", jString},
		{"${{ string(vars.n) }}", jString},
		{"${{ now.Hour() }}", jNumber},
		{"${{ now }}", tyAny},
		{"${{ now.Sub(now) }}", tyAny}, // a time.Duration
		{"${{ state }}", jString},
		{"${{ participants.agent.joined }}", jBool},
		{"${{ participants.agent.call_sid }}", jString},
		{"${{ $env.state }}", tyAny},
		{"${{ vars }}", tyAny},
	} {
		t.Run(tc.src, func(t *testing.T) {
			tmpl, err := CompileTemplate(tc.src, Pos{})
			if err != nil {
				t.Fatal(err)
			}
			got := v.evalTerm(tmpl.valueTerm(), gather, varTypes)
			if got != tc.want {
				t.Fatalf("inferred %q, want %q", got, tc.want)
			}
			val, err := tmpl.Value(env)
			if err != nil {
				if got != tyAny {
					t.Fatal(err)
				}
				return // string + int fails: no value at all
			}
			if got != tyAny {
				if rt := runtimeType(val); rt != got {
					t.Errorf("inferred %s, but it renders %#v (%s)", got, val, rt)
				}
			}
		})
	}
}

func runtimeType(v any) string {
	switch v.(type) {
	case string:
		return jString
	case bool:
		return jBool
	case int, int64, float64:
		return jNumber
	}
	return fmt.Sprintf("%T", v)
}

// TestVarTypesThroughAChain: a type reaches a variable through a chain of
// others, set in the order that makes each step wait for the next, and one
// value of another type at the end of the chain leaves them all untyped.
func TestVarTypesThroughAChain(t *testing.T) {
	const n = 300
	for _, tc := range []struct {
		last string // the values of the last variable of the chain
		want int    // type-mismatch diagnostics
	}{
		{"{ set: { v300: 1 } }", 1},
		{"{ set: { v300: 1 } }, { set: { v300: x } }", 0},
	} {
		var sets []string
		for i := 0; i < n; i++ {
			sets = append(sets, fmt.Sprintf(`{ set: { v%d: "${{ vars.v%d }}" } }`, i, i+1))
		}
		sets = append(sets, tc.last)
		src := varsFlow("", strings.Join(sets, ", "), "", "", `vars.v0 == "1"`)
		_, diags := Load("chain.yaml", []byte(src), opts())
		got := 0
		for _, d := range diags {
			if d.Code != CodeTypeMismatch {
				t.Errorf("%s: unexpected %v", tc.last, d)
			}
			got++
		}
		if got != tc.want {
			t.Errorf("%s: %d type-mismatch, want %d: %v", tc.last, got, tc.want, diags)
		}
	}
}
