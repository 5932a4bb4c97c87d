package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flowd/flowd/engine/flow"
)

// File is one scenario file: the flow it tests, the stand-in's TaskRouter
// set-up, and the scenarios.
type File struct {
	Path      string
	Flow      string                 `yaml:"flow"`
	Queues    []string               `yaml:"queues"`
	Workers   map[string]*WorkerSpec `yaml:"workers"`
	Env       map[string]string      `yaml:"env"`
	Scenarios []*Scenario            `yaml:"-"`
}

// WorkerSpec is a TaskRouter worker in the stand-in.
type WorkerSpec struct {
	Name       string         `yaml:"-"`
	ContactURI string         `yaml:"contact_uri"`
	Queues     []string       `yaml:"queues"`
	Available  *bool          `yaml:"available"`
	Attributes map[string]any `yaml:"attributes"`
}

// Scenario is a named list of steps.
type Scenario struct {
	Name  string
	Line  int
	Steps []*Step
}

// Step is one action or expectation. Exactly one of the pointers is set.
type Step struct {
	Line int
	Kind string

	Call      *CallStep
	Party     string // answer, decline, no_answer, hangup, press
	Digits    string // press
	Command   *CommandStep
	Wait      time.Duration
	Available *AvailableStep
	FailREST  *FailRESTStep
	Expect    *Expect
	Faults    *FaultsStep
}

// CallStep places an inbound call.
type CallStep struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// CommandStep is what an agent desktop sends.
type CommandStep struct {
	Name   string         `yaml:"name"`
	Params map[string]any `yaml:"params"`
	// ExpectStatus is the HTTP status the command must get (default 200).
	ExpectStatus int `yaml:"expect_status"`
	// Times sends that many copies at once; exactly ExpectOK of them must
	// succeed and the rest get 409.
	Times    int `yaml:"times"`
	ExpectOK int `yaml:"expect_ok"`
	// Task is which SID the command is sent through: "" the task of the
	// agent on the call now (the call's first task before anyone took
	// it), "first" the call's first task, "call" the caller's CallSid, or
	// a role's task (current, or the last it had).
	Task string `yaml:"task"`
}

// AvailableStep changes a worker's availability.
type AvailableStep struct {
	Worker    string `yaml:"worker"`
	Available bool   `yaml:"available"`
}

// FailRESTStep makes the stand-in answer matching REST calls with an error.
type FailRESTStep struct {
	Method string `yaml:"method"`
	Path   string `yaml:"path"`
	Status int    `yaml:"status"`
	Times  int    `yaml:"times"`
	// Applied: the stand-in carries the request out and then answers the
	// error, as when Twilio's answer is lost on the way back.
	Applied bool `yaml:"applied"`
}

// FaultsStep turns on delivery faults for the rest of the scenario.
type FaultsStep struct {
	DuplicateWebhooks bool `yaml:"duplicate_webhooks"`
}

// Expect is checked against the stand-in and flowd after the call settles.
type Expect struct {
	State string `yaml:"state"`
	// Hears maps a party to the parties it must hear; NotHears to those it
	// must not.
	Hears    map[string][]string `yaml:"hears"`
	NotHears map[string][]string `yaml:"not_hears"`
	// HearsMusic lists parties hearing hold, wait or queue music.
	HearsMusic []string `yaml:"hears_music"`
	OnHold     []string `yaml:"on_hold"`
	NotOnHold  []string `yaml:"not_on_hold"`
	Muted      []string `yaml:"muted"`
	Coaching   []string `yaml:"coaching"`
	// Present lists roles in the conference now; Absent roles that are not.
	Present []string `yaml:"present"`
	Absent  []string `yaml:"absent"`
	// Heard maps a party to text it must have heard (said to it) so far;
	// NotHeard to text it must never have heard.
	Heard    map[string][]string `yaml:"heard"`
	NotHeard map[string][]string `yaml:"not_heard"`
	// HeardBefore: {party: [first, second, …]} in that order; an item is
	// text said to the party, or "@name": when the party started hearing
	// that party live (the pre-call whisper comes before "@customer").
	HeardBefore map[string][]string `yaml:"heard_before"`
	// Tasks: task status by role whose task it is ("agent", "consultee"),
	// or "all" for the number of tasks.
	TaskStatus map[string]string `yaml:"task_status"`
	// REST lists substrings of REST calls flowd must have sent (as
	// "METHOD path key=value …").
	REST []string `yaml:"rest"`
	// RESTCount: {substring: n}, exactly n REST requests matched the
	// substring, not counting temporary refusals (429, 5xx) flowd retries
	// by itself: a retry loop shows up here.
	RESTCount map[string]int `yaml:"rest_count"`
	// History lists substrings that must appear in the task's history.
	History []string `yaml:"history"`
	// CallEnded lists parties whose call is over.
	CallEnded []string `yaml:"call_ended"`
	// OpenTasks is how many TaskRouter tasks are still pending, reserved
	// or assigned (0 after a call ends: nothing waits in a queue and no
	// worker stays assigned for a call that is over).
	OpenTasks *int `yaml:"open_tasks"`
}

var stepKinds = []string{"call", "answer", "decline", "no_answer", "hangup", "press", "command", "wait", "available", "fail_rest", "faults", "expect"}

// ParseFile reads a scenario file.
func ParseFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Error is a problem in a scenario file, at a line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Parse reads a scenario file's bytes.
func Parse(path string, data []byte) (f *File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, &Error{File: path, Line: 1, Msg: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	if len(data) > 1<<20 {
		return nil, &Error{File: path, Line: 1, Msg: "file is larger than 1 MiB"}
	}
	yamlError := func(err error) *Error {
		// yaml.v3 names the line inside its message: report it as the
		// error's line, as every other scenario error is.
		line, msg := 1, err.Error()
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			msg = strings.TrimPrefix(msg, m[0])
			if n, aerr := strconv.Atoi(m[1]); aerr == nil && n > 0 {
				line = n
			}
		}
		return &Error{File: path, Line: line, Msg: "YAML: " + msg}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	for {
		// A stray --- is harmless; a second document would be ignored.
		var more yaml.Node
		err := dec.Decode(&more)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlError(err)
		}
		if len(more.Content) > 0 && more.Content[0].ShortTag() != "!!null" {
			return nil, &Error{File: path, Line: more.Content[0].Line, Msg: "a scenario file holds one YAML document; put these scenarios in the first one, or in a file of their own"}
		}
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: path, Line: 1, Msg: "a scenario file is a map with flow, workers and scenarios"}
	}
	if err := (&treeCheck{path: path}).walk(root.Content[0], 0); err != nil {
		return nil, err
	}
	doc := root.Content[0]
	f = &File{Path: path}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		var err error
		switch k.Value {
		case "flow":
			err = v.Decode(&f.Flow)
		case "queues":
			err = v.Decode(&f.Queues)
		case "env":
			err = v.Decode(&f.Env)
		case "workers":
			err = decodeStrict(v, &f.Workers)
		case "scenarios":
			err = f.parseScenarios(v)
		default:
			if strings.HasPrefix(k.Value, "x-") {
				continue // a place for anchors, as in flow files
			}
			return nil, &Error{File: path, Line: k.Line, Msg: fmt.Sprintf("unknown key %q (want flow, queues, workers, env, scenarios, or x-NAME for anchors)", k.Value)}
		}
		if err != nil {
			if se, ok := err.(*Error); ok {
				return nil, se
			}
			if le := (*lineError)(nil); errors.As(err, &le) {
				return nil, &Error{File: path, Line: le.line, Msg: fmt.Sprintf("%s: %s", k.Value, le.msg)}
			}
			return nil, &Error{File: path, Line: v.Line, Msg: fmt.Sprintf("%s: %v", k.Value, err)}
		}
	}
	if f.Flow == "" {
		return nil, &Error{File: path, Line: 1, Msg: "missing flow: name the flow under test"}
	}
	if len(f.Scenarios) == 0 {
		return nil, &Error{File: path, Line: 1, Msg: "no scenarios"}
	}
	for name, w := range f.Workers {
		if w == nil { // "alice:" with nothing after it: all defaults
			w = &WorkerSpec{}
			f.Workers[name] = w
		}
		w.Name = name
		if w.ContactURI == "" {
			w.ContactURI = "client:" + name
		}
	}
	return f, nil
}

// treeCheck prepares a scenario file's YAML for reading: it refuses a key
// twice in one map (which one counts would be a guess; some were read
// both, some the last) and an alias as a key, and replaces each alias
// value by the node it names, so that `steps: *common` reads as the list.
type treeCheck struct {
	path  string
	nodes int
}

// maxScenarioNodes bounds the walk when aliases nest (each use is walked).
const maxScenarioNodes = 1 << 20

func (c *treeCheck) walk(n *yaml.Node, depth int) error {
	if c.nodes++; c.nodes > maxScenarioNodes || depth > 64 {
		return &Error{File: c.path, Line: n.Line, Msg: "the file expands to too many YAML nodes, or nests too deep (are aliases nested inside aliases?)"}
	}
	if n.Kind == yaml.MappingNode {
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.AliasNode {
				return &Error{File: c.path, Line: k.Line, Msg: fmt.Sprintf("an alias (*%s) cannot be a key; write the key itself", k.Value)}
			}
			if k.Kind != yaml.ScalarNode {
				continue
			}
			if line, dup := first[k.Value]; dup {
				return &Error{File: c.path, Line: k.Line, Msg: fmt.Sprintf("%q appears twice in this map (first at line %d); keep one", k.Value, line)}
			}
			first[k.Value] = k.Line
		}
	}
	for i, child := range n.Content {
		for j := 0; child.Kind == yaml.AliasNode && child.Alias != nil && j < 64; j++ {
			child = child.Alias
		}
		n.Content[i] = child
		if err := c.walk(child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// lineError is a problem at a line of the file (a key, a value).
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return e.msg }

// decodeStrict decodes n into out, a pointer to a struct (or to a map of
// structs), refusing keys the struct does not have: at the key's line, with
// the keys it does have and the closest one, in the file's words rather
// than Go's.
func decodeStrict(n *yaml.Node, out any) error {
	if err := checkKeys(n, reflect.TypeOf(out)); err != nil {
		return err
	}
	if err := n.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg := te.Errors[0]
			line := n.Line
			if m := typeErrLineRe.FindStringSubmatch(msg); m != nil {
				msg = strings.TrimPrefix(msg, m[0])
				if l, aerr := strconv.Atoi(m[1]); aerr == nil && l > 0 {
					line = l
				}
			}
			return &lineError{line: line, msg: typeErrMsg(out, msg)}
		}
		return err
	}
	return nil
}

// checkKeys refuses mapping keys that t (a struct, or a pointer to or a map
// of structs) has no yaml field for.
func checkKeys(n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		for i := 1; i < len(n.Content); i += 2 {
			if err := checkKeys(n.Content[i], t.Elem()); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
	default:
		return nil
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		fields[name] = sf.Type
		names = append(names, name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", k.Value)
			if s := flow.Suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			return &lineError{line: k.Line, msg: msg + "; allowed: " + strings.Join(names, ", ")}
		}
		if err := checkKeys(n.Content[i+1], ft); err != nil {
			return err
		}
	}
	return nil
}

func (f *File) parseScenarios(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return &Error{File: f.Path, Line: n.Line, Msg: "scenarios must be a list"}
	}
	for _, sn := range n.Content {
		if sn.Kind != yaml.MappingNode {
			return &Error{File: f.Path, Line: sn.Line, Msg: "a scenario is a map with name and steps"}
		}
		sc := &Scenario{Line: sn.Line}
		for i := 0; i+1 < len(sn.Content); i += 2 {
			k, v := sn.Content[i], sn.Content[i+1]
			switch k.Value {
			case "name":
				sc.Name = v.Value
			case "steps":
				if v.Kind != yaml.SequenceNode {
					return &Error{File: f.Path, Line: v.Line, Msg: "steps must be a list"}
				}
				for _, stn := range v.Content {
					st, err := f.parseStep(stn)
					if err != nil {
						return err
					}
					sc.Steps = append(sc.Steps, st)
				}
			default:
				return &Error{File: f.Path, Line: k.Line, Msg: fmt.Sprintf("unknown key %q in a scenario (want name, steps)", k.Value)}
			}
		}
		if sc.Name == "" {
			return &Error{File: f.Path, Line: sn.Line, Msg: "scenario without a name"}
		}
		f.Scenarios = append(f.Scenarios, sc)
	}
	return nil
}

func (f *File) parseStep(n *yaml.Node) (*Step, error) {
	fail := func(line int, format string, args ...any) (*Step, error) {
		return nil, &Error{File: f.Path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return fail(n.Line, "a step is a map with one key, one of: %s", strings.Join(stepKinds, ", "))
	}
	k, v := n.Content[0], n.Content[1]
	st := &Step{Line: k.Line, Kind: k.Value}
	if k.Value != "call" && v.ShortTag() == "!!null" {
		// It would read as the text "null", or as nothing to check.
		return fail(k.Line, "%s needs a value (it is empty or null)", k.Value)
	}
	if k.Value == "expect" && v.Kind == yaml.MappingNode && len(v.Content) == 0 {
		return fail(k.Line, "expect: {} checks nothing; name at least one expectation")
	}
	var err error
	switch k.Value {
	case "call":
		st.Call = &CallStep{}
		err = decodeStrict(v, st.Call)
	case "answer", "decline", "no_answer", "hangup":
		st.Party = v.Value
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			return fail(v.Line, "%s takes a party: a worker name, a role or an address", k.Value)
		}
	case "press":
		var p struct {
			Party  string `yaml:"party"`
			Digits string `yaml:"digits"`
		}
		if v.Kind == yaml.ScalarNode {
			p.Digits = v.Value
		} else {
			err = decodeStrict(v, &p)
		}
		st.Party, st.Digits = p.Party, p.Digits
		if st.Party == "" {
			st.Party = "customer"
		}
	case "command":
		st.Command = &CommandStep{}
		if v.Kind == yaml.ScalarNode {
			st.Command.Name = v.Value
		} else {
			err = decodeStrict(v, st.Command)
		}
		if err == nil && st.Command.Name == "" {
			return fail(v.Line, "command needs a name")
		}
		if n := mapValue(v, "times"); err == nil && n != nil && st.Command.Times < 2 {
			return fail(n.Line, "command: times must be at least 2 (it is how many copies are sent at once; leave it out for one)")
		}
		if n := mapValue(v, "expect_ok"); err == nil && n != nil && (st.Command.ExpectOK < 0 || st.Command.ExpectOK > max(st.Command.Times, 1)) {
			return fail(n.Line, "command: expect_ok must be between 0 and times (%d)", max(st.Command.Times, 1))
		}
	case "wait":
		st.Wait, err = time.ParseDuration(v.Value)
		if err != nil {
			return fail(v.Line, "wait takes a duration such as 30s, 5m or 2h (units s, m, h), not %q", v.Value)
		}
		if st.Wait <= 0 {
			return fail(v.Line, "wait must be positive")
		}
	case "available":
		st.Available = &AvailableStep{}
		err = decodeStrict(v, st.Available)
	case "fail_rest":
		st.FailREST = &FailRESTStep{}
		err = decodeStrict(v, st.FailREST)
		if err != nil {
			break
		}
		if n := mapValue(v, "times"); n != nil && st.FailREST.Times < 1 {
			return fail(n.Line, "fail_rest: times must be at least 1 (leave it out for 1)")
		}
		if st.FailREST.Times == 0 {
			st.FailREST.Times = 1
		}
		if st.FailREST.Status < 400 || st.FailREST.Status > 599 {
			line := v.Line
			if n := mapValue(v, "status"); n != nil {
				line = n.Line
			}
			return fail(line, "fail_rest: status must be an HTTP error status, 400 to 599 (429 for rate limiting, 500 or 503 for Twilio failing)")
		}
		if p := st.FailREST.Path; strings.ContainsAny(p, "*?[") {
			if _, merr := path.Match(p, ""); merr != nil {
				return fail(mapValue(v, "path").Line, "fail_rest: path %q is not a valid glob (%v): it would match nothing", p, merr)
			}
		}
	case "faults":
		st.Faults = &FaultsStep{}
		err = decodeStrict(v, st.Faults)
	case "expect":
		st.Expect = &Expect{}
		err = decodeStrict(v, st.Expect)
	default:
		if s := flow.Suggest(k.Value, stepKinds); s != "" {
			return fail(k.Line, "unknown step %q (did you mean %s?); steps: %s", k.Value, s, strings.Join(stepKinds, ", "))
		}
		return fail(k.Line, "unknown step %q (want one of: %s)", k.Value, strings.Join(stepKinds, ", "))
	}
	if le := (*lineError)(nil); errors.As(err, &le) {
		return fail(le.line, "%s: %s", k.Value, le.msg)
	}
	if err != nil {
		return fail(v.Line, "%s: %v", k.Value, err)
	}
	return st, nil
}

// mapValue is the value node of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// sortedParties returns map keys in order, for stable messages.
func sortedParties(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): `)

// typeErrRe reads yaml.v3's "cannot unmarshal !!str `x` into []string".
var typeErrRe = regexp.MustCompile("^cannot unmarshal !!(\\w+) (?:`(.*)` )?into (.+)$")

// typeErrMsg rewords a yaml.v3 type error without Go's type names: what
// was written, and what the key takes, with an example.
func typeErrMsg(out any, msg string) string {
	m := typeErrRe.FindStringSubmatch(msg)
	if m == nil {
		return strings.ReplaceAll(msg, "scenario.", "")
	}
	got := map[string]string{"str": "the text", "int": "the number", "float": "the number", "bool": "the boolean",
		"map": "a map", "seq": "a list", "null": "nothing", "timestamp": "the date"}[m[1]]
	if got == "" {
		got = "a " + m[1]
	}
	if m[2] != "" {
		got += " " + strconv.Quote(m[2])
	}
	want := ""
	switch goType := strings.TrimPrefix(m[3], "scenario."); goType {
	case "int", "int64":
		want = "a whole number (written without quotes)"
	case "bool":
		want = "true or false"
	case "string":
		want = "text"
	case "[]string":
		want = "a list, such as [alice] or [customer, alice]"
	case "map[string][]string":
		want = "a map of a party to a list, such as { customer: [alice] }"
	case "map[string]string":
		want = "a map of names to text, such as { agent: completed }"
	case "map[string]int":
		want = "a map of text to a number, such as { \"Hold=true\": 1 }"
	default:
		want = "a map (" + strings.Join(yamlKeys(goType, out), ", ") + ")"
	}
	return fmt.Sprintf("%s where %s is needed", got, want)
}

// yamlKeys lists the yaml keys of the struct named goType among out's
// types (out itself, or a struct field of it), for a message.
func yamlKeys(goType string, out any) []string {
	t := reflect.TypeOf(out)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var find func(t reflect.Type, depth int) reflect.Type
	find = func(t reflect.Type, depth int) reflect.Type {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || depth > 3 {
			return nil
		}
		if t.Name() == goType {
			return t
		}
		for i := range t.NumField() {
			if f := find(t.Field(i).Type, depth+1); f != nil {
				return f
			}
		}
		return nil
	}
	st := find(t, 0)
	if st == nil {
		return []string{"see docs/testing.md"}
	}
	var keys []string
	for i := range st.NumField() {
		if k, _, _ := strings.Cut(st.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k+": …")
		}
	}
	return keys
}

// typeErrLineRe: the line in one of a yaml.TypeError's messages.
var typeErrLineRe = regexp.MustCompile(`^line (\d+): `)
