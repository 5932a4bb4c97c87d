package flow

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// testEnv is the environment the testdata flows are validated with.
var testEnv = map[string]string{
	"WORKSPACE_SID": "WS0123", "WORKFLOW_SID": "WW0123", "WRAPUP_SID": "WA0123",
	"OFFLINE_SID": "WA0456", "EXPERT_WORKER": "WK0123",
	"TWILIO_WORKSPACE_SID": "WS0123", "TWILIO_WORKFLOW_SID": "WW0123", "TWILIO_POST_WORK_ACTIVITY_SID": "WA0123",
	"SUPPORT_WORKFLOW_SID": "WW0123", "WRAPUP_ACTIVITY_SID": "WA0123",
}

func opts() LoadOptions { return LoadOptions{Env: testEnv} }

func render(diags Diagnostics, dir string) string {
	var b strings.Builder
	for _, d := range diags {
		file := d.Pos.File
		if rel, err := filepath.Rel(dir, file); err == nil {
			file = filepath.ToSlash(rel)
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s[%s]: %s\n", file, d.Pos.Line, d.Pos.Col, d.Severity, d.Code, d.Message)
	}
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update if the change is right)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func validFiles(t *testing.T) []string {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid testdata: %v", err)
	}
	return append(files, "../../flows/support.yaml")
}

func TestValidFlows(t *testing.T) {
	for _, file := range validFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, diags := LoadFile(file, opts())
			if f == nil || len(diags) > 0 {
				t.Fatalf("want a clean flow, got:\n%s", render(diags, "."))
			}
		})
	}
}

// invalidCases lists testdata/invalid: one file (or directory, for the
// cross-file checks) per check, named after the code it must produce.
func invalidCases(t *testing.T) []string {
	entries, err := os.ReadDir("testdata/invalid")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, e.Name())
		}
	}
	return out
}

func loadCase(name string, o LoadOptions) Diagnostics {
	p := filepath.Join("testdata/invalid", name)
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		_, diags := LoadSet([]string{p}, o)
		return diags
	}
	_, diags := LoadFile(p, o)
	return diags
}

// TestInvalidGolden checks every invalid fixture against its golden file
// (code, line, column and message of every diagnostic), and that it
// produces the code it is named after.
func TestInvalidGolden(t *testing.T) {
	for _, name := range invalidCases(t) {
		code := strings.TrimSuffix(name, ".yaml")
		t.Run(code, func(t *testing.T) {
			diags := loadCase(name, opts())
			found := false
			for _, d := range diags {
				if d.Code == code {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s diagnostic:\n%s", code, render(diags, "testdata/invalid"))
			}
			golden(t, filepath.Join("testdata/invalid", code+".golden"), render(diags, "testdata/invalid"))
		})
	}
}

// TestEveryCheckHasAFixture: one invalid fixture per diagnostic code, except
// the codes that need the file system or a bug to happen (tested below).
func TestEveryCheckHasAFixture(t *testing.T) {
	have := map[string]bool{}
	for _, name := range invalidCases(t) {
		have[strings.TrimSuffix(name, ".yaml")] = true
	}
	elsewhere := map[string]bool{CodeIO: true, CodeNoFiles: true, CodeInternal: true, CodeFileTooLarge: true}
	for _, c := range Codes {
		if !have[c.Code] && !elsewhere[c.Code] {
			t.Errorf("no testdata/invalid/%s.yaml", c.Code)
		}
		delete(have, c.Code)
	}
	for name := range have {
		t.Errorf("testdata/invalid/%s is named after no code", name)
	}
}

// TestSchemaModelAgreement: the JSON Schema and the typed decoder, both built
// from the model's tags, accept the same files and reject the same ones at
// the same places.
func TestSchemaModelAgreement(t *testing.T) {
	shape := func(ds Diagnostics) []string {
		var out []string
		for _, d := range ds {
			if d.Severity == SeverityError {
				out = append(out, fmt.Sprintf("%d:%d %s", d.Pos.Line, d.Pos.Col, d.Code))
			}
		}
		return out
	}
	var files []string
	files = append(files, validFiles(t)...)
	for _, name := range invalidCases(t) {
		if strings.HasSuffix(name, ".yaml") {
			files = append(files, filepath.Join("testdata/invalid", name))
		}
	}
	more, _ := filepath.Glob("testdata/shape/*.yaml")
	files = append(files, more...)
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			so := opts()
			so.schemaFirst = true
			_, withSchema := LoadFile(file, so)
			// What validate does: the schema pass only after a shape error.
			_, shipped := LoadFile(file, opts())
			if a, b := onlyShape(withSchema), onlyShape(shipped); !reflect.DeepEqual(a, b) {
				t.Errorf("the schema pass, run only after the decoder's shape error, reports otherwise\nfirst: %v\nafter: %v", a, b)
			}
			o := opts()
			o.skipSchema = true
			_, decoderOnly := LoadFile(file, o)
			a, b := shape(withSchema), shape(decoderOnly)
			if hasShapeErrors(withSchema) {
				// The decoder may also report expression errors met before
				// the shape error; compare shape codes only.
				a, b = onlyShape(withSchema), onlyShape(decoderOnly)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("schema and decoder disagree\nschema:  %v\ndecoder: %v\n%s%s", a, b, render(withSchema, "."), render(decoderOnly, "."))
			}
		})
	}
}

func onlyShape(ds Diagnostics) []string {
	var out []string
	for _, d := range ds {
		if hasShapeErrors(Diagnostics{d}) {
			out = append(out, fmt.Sprintf("%d:%d %s", d.Pos.Line, d.Pos.Col, d.Code))
		}
	}
	sort.Strings(out)
	return out
}

func TestFileTooLarge(t *testing.T) {
	data := bytes.Repeat([]byte("# padding\n"), MaxFileSize/10+1)
	_, diags := Load("big.yaml", data, opts())
	if len(diags) != 1 || diags[0].Code != CodeFileTooLarge {
		t.Fatalf("got %v", diags)
	}
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags = LoadFile(p, opts())
	if len(diags) != 1 || diags[0].Code != CodeFileTooLarge {
		t.Fatalf("got %v", diags)
	}
}

func TestInternalErrorIsReported(t *testing.T) {
	testHook = func(string) { panic("boom") }
	defer func() { testHook = nil }()
	f, diags := Load("x.yaml", []byte("flow: x\n"), opts())
	if f != nil || len(diags) != 1 || diags[0].Code != CodeInternal || diags[0].Pos.File != "x.yaml" ||
		!strings.Contains(diags[0].Message, "boom") {
		t.Fatalf("got %v", diags)
	}
}

func TestLoadFileIOError(t *testing.T) {
	_, diags := LoadFile("testdata/nope.yaml", opts())
	if len(diags) != 1 || diags[0].Code != CodeIO {
		t.Fatalf("got %v", diags)
	}
}

func TestLoadSet(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flowYAML := func(name, number string) string {
		return fmt.Sprintf("flow: %s\nnumbers: [%q]\ninitial: a\nstates:\n  a:\n    on:\n      call.status: { to: b }\n  b: { final: true }\n", name, number)
	}
	write("b.yaml", flowYAML("beta", "+15550000002"))
	write("a.yml", flowYAML("alpha", "+15550000001"))
	write("a.test.yaml", "not: a flow\n")
	write("notes.txt", "ignored\n")

	set, diags := LoadSet([]string{dir}, opts())
	if len(diags) > 0 {
		t.Fatalf("diags: %v", diags)
	}
	if len(set.Flows) != 2 || set.Flows[0].Name != "alpha" || set.Flows[1].Name != "beta" {
		t.Fatalf("flows: %v", set.Flows)
	}
	if set.ByName("beta") == nil || set.ByNumber("+15550000001").Name != "alpha" || set.ByNumber("+1") != nil || set.ByName("x") != nil {
		t.Fatal("lookups")
	}
	// A glob, and the same file twice, load each file once.
	set, diags = LoadSet([]string{filepath.Join(dir, "*.y*ml"), filepath.Join(dir, "b.yaml")}, opts())
	if len(diags) > 0 || len(set.Flows) != 2 {
		t.Fatalf("glob: %v %v", set.Flows, diags)
	}
	// Paths that match nothing.
	_, diags = LoadSet([]string{filepath.Join(dir, "*.json"), filepath.Join(dir, "missing.yaml"), t.TempDir()}, opts())
	var codes []string
	for _, d := range diags {
		codes = append(codes, d.Code)
	}
	sort.Strings(codes)
	if !reflect.DeepEqual(codes, []string{CodeIO, CodeNoFiles, CodeNoFiles}) {
		t.Fatalf("codes %v: %v", codes, diags)
	}
	var nilSet *Set
	if nilSet.ByName("x") != nil || (&Set{}).ByNumber("+1") != nil {
		t.Fatal("nil sets")
	}
}

func TestModelFilled(t *testing.T) {
	f, diags := LoadFile("testdata/valid/all-actions.yaml", opts())
	if f == nil {
		t.Fatal(diags)
	}
	if want := []string{"menu", "queued", "talking", "on_hold", "consulting", "transferring", "wrapup", "done"}; !reflect.DeepEqual(f.StateOrder, want) {
		t.Errorf("StateOrder = %v", f.StateOrder)
	}
	if want := []string{"monitor", "whisper", "barge", "listen", "priority", "call.status"}; !reflect.DeepEqual(f.OnOrder, want) {
		t.Errorf("OnOrder = %v", f.OnOrder)
	}
	if got := f.Commands["transfer"].ParamOrder; !reflect.DeepEqual(got, []string{"to", "mode"}) {
		t.Errorf("ParamOrder = %v", got)
	}
	if p := f.Commands["transfer"].Params["to"]; p.Name != "to" || !p.Required || p.Type != "string" || p.Pos.Line == 0 {
		t.Errorf("param = %+v", p)
	}
	if len(f.Revision) != 64 || f.File != "testdata/valid/all-actions.yaml" {
		t.Errorf("revision %q file %q", f.Revision, f.File)
	}
	if !reflect.DeepEqual(f.EnvVars, map[string]any{"WORKSPACE_SID": "WS0123", "WORKFLOW_SID": "WW0123", "WRAPUP_SID": "WA0123", "OFFLINE_SID": "WA0456", "EXPERT_WORKER": "WK0123"}) {
		t.Errorf("EnvVars = %v", f.EnvVars)
	}
	menu := f.States["menu"]
	if menu.Name != "menu" || menu.Pos.Line == 0 || len(menu.Entry) != 4 {
		t.Fatalf("menu = %+v", menu)
	}
	if p, ok := menu.Entry[1].Params.(*PauseAction); !ok || p.Seconds != 1 || menu.Entry[1].Kind != "pause" {
		t.Errorf("pause short form: %#v", menu.Entry[1])
	}
	say := menu.Entry[2].Params.(*SayAction)
	if say.Voice != "Polly.Amy" || say.Text.Source != "${{ vars.greeting }}, caller from ${{ call.from }}." {
		t.Errorf("say: %+v", say)
	}
	s, err := say.Text.String(&Env{Vars: map[string]any{"greeting": "Hi"}, Call: map[string]any{"from": "+44"}})
	if err != nil || s != "Hi, caller from +44." {
		t.Errorf("say renders %q, %v", s, err)
	}
	gs := menu.On["call.gather"]
	if len(gs) != 3 || gs[0].Event != "call.gather" || gs[0].FlowLevel || gs[0].To != "queued" || gs[2].If != nil {
		t.Errorf("transitions: %+v", gs)
	}
	set := gs[1].Do[0].Params.(*SetAction)
	if !reflect.DeepEqual(set.Order, []string{"attempts"}) {
		t.Errorf("set order %v", set.Order)
	}
	if v, err := set.Values["attempts"].Value(&Env{Vars: map[string]any{"attempts": 1}}); err != nil || v != 2 {
		t.Errorf("set value %v %v", v, err)
	}
	if v, err := f.Vars["attempts"].Value(&Env{}); err != nil || v != 0 {
		t.Errorf("vars.attempts initial value = %#v, %v (want the integer 0)", v, err)
	}
	if hangup := gs[2].Do[1]; hangup.Kind != "hangup" || hangup.Params.(*HangupAction).Role != "" {
		t.Errorf("bare hangup: %#v", hangup)
	}
	hold := f.States["talking"].On["hold"][0].Do[0].Params.(*HoldAction)
	if hold.Role != RoleCustomer || hold.Music.Source != "https://example.com/hold2.mp3" {
		t.Errorf("hold: %+v", hold)
	}
	short := f.States["talking"].On["transfer"][0].Do[0].Params.(*HoldAction)
	if short.Role != RoleCustomer || short.Music != nil {
		t.Errorf("hold short form: %+v", short)
	}
	conf := f.States["queued"].On["reservation.created"][0].Do[0].Params.(*ConferenceAction)
	if conf.EndOnCustomerExit == nil || !*conf.EndOnCustomerExit || conf.EndOnExit == nil || *conf.EndOnExit || conf.MaxParticipants != 10 || conf.Beep != "false" {
		t.Errorf("conference: %+v", conf)
	}
	if ts := f.On["whisper"]; len(ts) != 1 || !ts[0].FlowLevel || ts[0].If == nil {
		t.Errorf("flow-level: %+v", ts)
	}
	ok, err := f.On["whisper"][0].If.Bool(&Env{Participants: map[string]*Participant{"supervisor": {CallSid: "CA1"}}})
	if err != nil || !ok {
		t.Errorf("guard: %v %v", ok, err)
	}
}

func TestMergeKeysAndBlockScalars(t *testing.T) {
	f, diags := LoadFile("testdata/valid/syntax.yaml", opts())
	if f == nil {
		t.Fatal(diags)
	}
	for _, s := range []string{"talking", "held"} {
		if ts := f.States[s].On["participant.leave"]; len(ts) != 1 || ts[0].To != "done" {
			t.Errorf("%s: merged participant.leave = %+v", s, ts)
		}
	}
	if ts := f.States["talking"].On["call.status"]; ts == nil || len(ts) != 0 {
		t.Errorf("empty handler list = %#v", ts)
	}
	if f.Handlers(f.States["talking"], "call.status") == nil {
		t.Error("an empty list must still hide flow-level handlers")
	}
}

func TestEventsCatalog(t *testing.T) {
	want := strings.Fields(`call.incoming call.gather call.status
		reservation.created reservation.accepted reservation.rejected reservation.timeout reservation.canceled
		reservation.rescinded reservation.completed reservation.wrapup reservation.failed
		task.created task.updated task.canceled task.wrapup task.completed task.deleted task.system-deleted
		task.transfer-initiated task.transfer-attempt-failed task.transfer-failed task.transfer-canceled task.transfer-completed
		conference.start conference.end
		participant.join participant.leave participant.hold participant.unhold participant.mute participant.unmute participant.modify
		announcement.end announcement.fail action.failed`)
	var got []string
	for _, e := range Events {
		got = append(got, e.Name)
		if e.Desc == "" || e.Source == "" || len(e.Fields) == 0 {
			t.Errorf("%s: incomplete spec", e.Name)
		}
		for _, f := range e.Fields {
			if f.Desc == "" || (f.Type != "string" && f.Type != "number" && f.Type != "boolean") {
				t.Errorf("%s.%s: bad field spec", e.Name, f.Name)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n got %v\nwant %v", got, want)
	}
	fields := func(name string) (out []string) {
		e, _ := EventByName(name)
		for _, f := range e.Fields {
			out = append(out, f.Name)
		}
		return out
	}
	for name, want := range map[string]string{
		"call.incoming":        "from to call_sid",
		"call.gather":          "digits speech confidence",
		"call.status":          "status role call_sid duration",
		"reservation.rejected": "task_sid reservation_sid worker_sid worker_name role transfer",
		"task.transfer-failed": "task_sid reason assignment_status transfer",
		"conference.end":       "conference_sid reason ended_by",
		"participant.modify":   "role call_sid label hold muted coaching reason",
		"announcement.fail":    "role call_sid",
		"action.failed":        "action role error code status participant",
	} {
		if got := strings.Join(fields(name), " "); got != want {
			t.Errorf("%s fields = %s, want %s", name, got, want)
		}
	}
	if _, ok := EventByName("nope"); ok {
		t.Error("EventByName(nope)")
	}
}

// TestShapeGolden locks the wording of shape errors (testdata/shape).
func TestShapeGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/shape/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/shape")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, diags := LoadFile(file, opts())
			if !diags.HasErrors() {
				t.Fatal("no errors")
			}
			golden(t, strings.TrimSuffix(file, ".yaml")+".golden", render(diags, "testdata/shape"))
		})
	}
}

// env.NAME with a `??` fallback is not reported when the variable is unset;
// without one it is.
func TestEnvUnsetSkipsDefaultedReads(t *testing.T) {
	src := func(tmpl string) []byte {
		return []byte(`flow: envcheck
numbers: ["+15550009999"]
hold_music: ` + tmpl + `
initial: start
states:
  start:
    on:
      call.incoming: { do: [{ say: hi }], to: done }
  done: { final: true }
`)
	}
	for _, tc := range []struct {
		tmpl string
		warn bool
	}{
		{`"${{ env.FLOWD_TEST_UNSET_X ?? 'https://example.com/a.mp3' }}"`, false},
		{`"${{ env.FLOWD_TEST_UNSET_X }}"`, true},
		{`"${{ env.FLOWD_TEST_UNSET_X ?? env.FLOWD_TEST_UNSET_Y }}"`, true},
	} {
		_, diags := Load("envcheck.yaml", src(tc.tmpl), LoadOptions{Env: map[string]string{}})
		got := false
		for _, d := range diags {
			if d.Code == CodeEnvUnset {
				got = true
			}
		}
		if got != tc.warn {
			t.Errorf("%s: env-unset reported %v, want %v (%v)", tc.tmpl, got, tc.warn, diags)
		}
	}
}

// A path that is not a regular file (a FIFO would block, /dev/zero never
// ends) is refused at once as an I/O error, not read.
func TestLoadFileRefusesWhatIsNotAFile(t *testing.T) {
	for path, why := range map[string]string{"/dev/zero": "not a regular file", t.TempDir(): "is a directory"} {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		f, diags := LoadFile(path, opts())
		if f != nil || len(diags) != 1 || diags[0].Code != CodeIO || !strings.Contains(diags[0].Message, why) {
			t.Errorf("%s: %v", path, diags)
		}
	}
}

// Scenario files are never flows, however they are named: a shell expands
// `flows/*.yaml` into file names before validate sees them.
func TestExpandPathsSkipsScenarioFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.yaml", "a.test.yaml", "b.yml", "b.test.yml"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("flow: x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(dir, n))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		paths []string
		want  []string
		code  string
	}{
		{"directory", []string{dir}, in("a.yaml", "b.yml"), ""},
		{"glob", []string{filepath.Join(dir, "*.y*ml")}, in("a.yaml", "b.yml"), ""},
		{"names, as a shell expands a glob", in("a.test.yaml", "a.yaml", "b.test.yml", "b.yml"), in("a.yaml", "b.yml"), ""},
		{"only scenario files", in("a.test.yaml"), nil, CodeNoFiles},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, diags := ExpandPaths(tc.paths)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("files %v, want %v", got, tc.want)
			}
			if tc.code == "" && len(diags) > 0 || tc.code != "" && (len(diags) != 1 || diags[0].Code != tc.code) {
				t.Errorf("diagnostics %v, want %q", diags, tc.code)
			}
		})
	}
}

// A directory with no flow file says what it does hold that an admin may
// have meant: scenario files only, or flows one level down (directories
// are not read recursively).
func TestEmptyDirectorySaysWhy(t *testing.T) {
	root := t.TempDir()
	write := func(name string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte("flow: x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tests/a.test.yaml")
	write("nested/inner/a.yaml")
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{
		"tests":  "holds no *.yaml or *.yml flow file, only scenario files (a.test.yaml), which flowd test runs",
		"nested": "holds no *.yaml or *.yml flow file; subdirectories are not read: name them (" + filepath.Join(root, "nested", "inner") + ")",
		"empty":  "holds no *.yaml or *.yml flow file",
	} {
		_, diags := ExpandPaths([]string{filepath.Join(root, dir)})
		if len(diags) != 1 || diags[0].Code != CodeNoFiles || !strings.HasSuffix(diags[0].Message, want) {
			t.Errorf("%s: %v, want …%s", dir, diags, want)
		}
	}
}

// A path that does not exist suggests the closest name beside it: flow/
// for flows/, suport.yaml for support.yaml.
func TestMissingPathSuggestsANeighbour(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "flows"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "flows", "support.yaml"), []byte("flow: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(root, "flow") + "/":              "(did you mean " + filepath.Join(root, "flows") + "/?)",
		filepath.Join(root, "flows", "suport.yaml"):    "(did you mean " + filepath.Join(root, "flows", "support.yaml") + "?)",
		filepath.Join(root, "flows", "billing.yaml"):   "no such file or directory",
		filepath.Join(root, "elsewhere", "sales.yaml"): "no such file or directory",
	} {
		_, diags := ExpandPaths([]string{path})
		if len(diags) != 1 || diags[0].Code != CodeIO || !strings.HasSuffix(diags[0].Message, want) {
			t.Errorf("%s: %v, want …%s", path, diags, want)
		}
	}
}

func TestUnquotedTemplateInFlow(t *testing.T) {
	for line, want := range map[string]bool{
		`    entry: [{ say: ${{ call.from }} }]`:                 true,
		`    entry: [{ say: "Hi ${{ call.from }}" }, { say: x ]`: false,
		`    entry: [{ say: 'Hi ${{ call.from }}' }]`:            false,
		`    say: ${{ call.from }}`:                              false,
		`    entry: [{ say: hi }] # ${{ call.from }}`:            false,
	} {
		if got := unquotedTemplateInFlow(line); got != want {
			t.Errorf("%q: %v, want %v", line, got, want)
		}
	}
}
