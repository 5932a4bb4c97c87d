package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/schema"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	validDir   = "../../testdata/flows/valid"
	invalidDir = "../../testdata/flows/invalid"
)

// runCmd runs flowd with args, a test environment and GITHUB_ACTIONS as given.
func runCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	oldEnviron, oldGetenv := environ, getenv
	defer func() { environ, getenv = oldEnviron, oldGetenv }()
	environ = func() map[string]string { return env }
	getenv = func(k string) string { return env[k] }
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

var testEnv = map[string]string{"TEST_WORKFLOW_SID": "WW0123"}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/flowd -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./cmd/flowd -update if right)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestValidateFormats(t *testing.T) {
	for _, format := range []string{"text", "json", "github"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runCmd(t, testEnv, "validate", "--format", format, validDir, invalidDir)
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr %s", code, errOut)
			}
			golden(t, "validate."+format, out)
			if format == "json" {
				var v []map[string]any
				if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) == 0 {
					t.Errorf("not a JSON array: %v", err)
				}
				if !strings.Contains(errOut, "errors") {
					t.Errorf("json summary belongs on stderr, got %q", errOut)
				}
			}
		})
	}
}

func TestValidateClean(t *testing.T) {
	code, out, _ := runCmd(t, testEnv, "validate", validDir)
	if code != 0 || out != "2 flows OK\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
	code, out, _ = runCmd(t, testEnv, "validate", "--format", "json", validDir)
	if code != 0 || out != "[]\n" {
		t.Errorf("json: exit %d, output %q", code, out)
	}
}

func TestValidateWarningsAndStrict(t *testing.T) {
	// Without TEST_WORKFLOW_SID: an env-unset warning, still exit 0.
	code, out, _ := runCmd(t, map[string]string{}, "validate", validDir)
	if code != 0 || !strings.Contains(out, "warning[env-unset]") || !strings.HasSuffix(out, "0 errors, 1 warning in 1 file\n") {
		t.Errorf("exit %d, output %q", code, out)
	}
	// --strict, after the path: warnings fail.
	code, _, _ = runCmd(t, map[string]string{}, "validate", validDir, "--strict")
	if code != 1 {
		t.Errorf("--strict: exit %d, want 1", code)
	}
}

func TestValidateGitHubActionsDefault(t *testing.T) {
	env := map[string]string{"GITHUB_ACTIONS": "true"}
	code, out, _ := runCmd(t, env, "validate", validDir)
	if code != 0 || !strings.HasPrefix(out, "::warning file=../../testdata/flows/valid/queue.yaml,line=5,col=21,title=env-unset::") {
		t.Errorf("exit %d, output %q", code, out)
	}
	_, out, _ = runCmd(t, env, "validate", "--format", "text", validDir)
	if strings.HasPrefix(out, "::") {
		t.Errorf("--format text must win over GITHUB_ACTIONS: %q", out)
	}
}

func TestValidateUsageAndIO(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{"unknown flag", []string{"validate", "--nope"}, 2},
		{"unknown format", []string{"validate", "--format", "xml", validDir}, 2},
		{"missing file", []string{"validate", "no/such/dir"}, 2},
		{"glob matching nothing", []string{"validate", "../../testdata/flows/*.json"}, 2},
		{"default flows/ missing here", []string{"validate"}, 2},
		{"help", []string{"validate", "-h"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if code, _, _ := runCmd(t, testEnv, c.args...); code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
		})
	}
}

func TestGitHubEscaping(t *testing.T) {
	d := flow.Diagnostic{Pos: flow.Pos{File: "a,b:c%.yaml", Line: 3, Col: 4}, Severity: flow.SeverityError, Code: "unknown-key",
		Message: "100% wrong,\r\nreally: yes"}
	want := "::error file=a%2Cb%3Ac%25.yaml,line=3,col=4,title=unknown-key::100%25 wrong,%0D%0Areally: yes"
	if got := githubAnnotation(d); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestGraph(t *testing.T) {
	code, out, _ := runCmd(t, testEnv, "graph", validDir+"/queue.yaml")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	golden(t, "graph.mmd", out)
	code, out, _ = runCmd(t, testEnv, "graph", validDir+"/queue.yaml", "--format", "dot")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	golden(t, "graph.dot", out)
	if code, _, errOut := runCmd(t, testEnv, "graph", invalidDir+"/typos.yaml"); code != 1 || !strings.Contains(errOut, "unknown-key") {
		t.Errorf("invalid flow: exit %d, stderr %q", code, errOut)
	}
	for _, args := range [][]string{{"graph"}, {"graph", "a.yaml", "b.yaml"}, {"graph", "--format", "png", "a.yaml"}, {"graph", "missing.yaml"}} {
		if code, _, _ := runCmd(t, testEnv, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	// What is wrong with the arguments is said, not only the usage.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"graph", "a.yaml", "b.yaml"}, "flowd graph: draws one flow file, got 2 arguments\n"},
		{[]string{"graph", "../../flows/support.test.yaml"}, "flowd graph: ../../flows/support.test.yaml is a scenario file (flowd test runs it); name the flow file it tests\n"},
		{[]string{"schema", "flows/"}, "flowd schema: takes no arguments (got flows/); it prints the flow file schema to stdout\n"},
	} {
		if code, _, errOut := runCmd(t, testEnv, c.args...); code != 2 || !strings.HasPrefix(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q first", c.args, code, errOut, c.want)
		}
	}
}

func TestSchemaCommand(t *testing.T) {
	code, out, _ := runCmd(t, nil, "schema")
	if code != 0 || out != string(schema.Flow) {
		t.Errorf("exit %d; output is not the embedded schema", code)
	}
	if code, _, _ := runCmd(t, nil, "schema", "extra"); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "flowd ") {
		t.Errorf("exit %d, %q", code, out)
	}
	info := func(v string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: v}}, true }
	}
	if v := version(info("v1.2.3")); v != "v1.2.3" {
		t.Errorf("version = %q", v)
	}
	if v := version(info("(devel)")); v != "devel" {
		t.Errorf("version = %q", v)
	}
	if v := version(func() (*debug.BuildInfo, bool) { return nil, false }); v != "devel" {
		t.Errorf("version = %q", v)
	}
}

func TestDispatch(t *testing.T) {
	if code, _, errOut := runCmd(t, nil); code != 2 || !strings.Contains(errOut, "Usage: flowd") {
		t.Errorf("no args: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, nil, "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown: %d %q", code, errOut)
	}
	code, out, _ := runCmd(t, nil, "help")
	if code != 0 {
		t.Errorf("help: %d", code)
	}
	for name := range commands {
		if !strings.Contains(out, "  "+name) {
			t.Errorf("help does not list %s", name)
		}
		// `flowd help NAME` is asked for: the command's usage on stdout, 0.
		if code, out, _ := runCmd(t, nil, "help", name); code != 0 || !strings.Contains(out, "Usage: flowd "+name) {
			t.Errorf("help %s: exit %d, stdout %q", name, code, out)
		}
	}
	if code, _, errOut := runCmd(t, nil, "help", "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("help of an unknown command: %d %q", code, errOut)
	}
}

// TestServeRetentionSettings: a retention setting flowd cannot read stops
// `flowd serve` before it opens anything, naming the flag and variable.
func TestServeRetentionSettings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"serve", "-retain", "forever"}, "-retain (FLOWD_RETAIN)"},
		{map[string]string{"FLOWD_RETAIN_KEYS": "0"}, []string{"serve"}, "-retain-keys (FLOWD_RETAIN_KEYS)"},
	} {
		code, _, stderr := runCmd(t, tc.env, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 and %q", tc.env, tc.args, code, stderr, tc.want)
		}
	}
}

// TestServeUsageHidesPasswords: the usage text a typo or -h prints shows
// each flag's default from the environment, but never a password in it.
func TestServeUsageHidesPasswords(t *testing.T) {
	env := map[string]string{
		"FLOWD_STORE":          "postgres://flowd:hunter2@db/flowd?sslmode=disable",
		"FLOWD_TWILIO_API_URL": "http://proxy:pr0xypass@egress:3128",
	}
	for _, args := range [][]string{{"serve", "-h"}, {"serve", "-stor", "x"}, {"help", "serve"}} {
		_, stdout, stderr := runCmd(t, env, args...)
		out := stdout + stderr
		if strings.Contains(out, "hunter2") || strings.Contains(out, "pr0xypass") {
			t.Errorf("%v prints a password:\n%s", args, out)
		}
		if !strings.Contains(out, `postgres://flowd:xxxxx@db/flowd`) || !strings.Contains(out, "proxy:xxxxx@egress") {
			t.Errorf("%v: want the redacted defaults in the usage:\n%s", args, out)
		}
	}
	env = map[string]string{"FLOWD_STORE": "postgres://flowd@db/flowd?password=hunter2"}
	if _, _, stderr := runCmd(t, env, "serve", "-h"); strings.Contains(stderr, "hunter2") || !strings.Contains(stderr, "password=xxxxx") {
		t.Errorf("a password parameter is printed:\n%s", stderr)
	}
}

// A scenario file that does not parse is reported and the others still run:
// the summary counts both, and the exit status is 2.
func TestTestCommandKeepsGoingPastABrokenFile(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("..", "..", "flows", "support.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// a.test.yaml sorts first: the good file must run after it.
	if err := os.WriteFile(filepath.Join(dir, "a.test.yaml"), []byte("flow: support\nscenarios: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.test.yaml"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, nil, "test", "--flows", filepath.Join("..", "..", "flows"), dir)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	summary := lines[len(lines)-1]
	if !strings.Contains(out, "a.test.yaml") || !regexp.MustCompile(`^[1-9][0-9]* scenarios passed; 1 scenario file could not be read$`).MatchString(summary) {
		t.Errorf("output:\n%s", out)
	}
}

// A TWILIO_OPENAPI_DIR that cannot be read is an error, not a run that
// passes without the spec check it asked for.
func TestTestCommandRefusesAnUnreadableOpenAPIDir(t *testing.T) {
	code, out, errOut := runCmd(t, map[string]string{"TWILIO_OPENAPI_DIR": filepath.Join(t.TempDir(), "nope")}, "test", filepath.Join("..", "..", "flows"))
	if code != 2 || !strings.Contains(errOut, "TWILIO_OPENAPI_DIR") || strings.Contains(out, "passed") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
