package flow

import (
	"fmt"
	"go.yaml.in/yaml/v3"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const languageDoc = "../../docs/language.md"

// actionExamples are shown in docs/language.md; TestActionExamples checks
// that each one loads.
var actionExamples = map[string][]string{
	"say":           {"- say: Thanks for calling.", "- say: { text: \"Hello ${{ call.from }}\", voice: Polly.Amy, language: en-GB }"},
	"play":          {"- play: https://example.com/welcome.mp3"},
	"pause":         {"- pause: 2"},
	"gather":        {"- gather: { say: \"For sales, press 1. For support, press 2.\", num_digits: 1, timeout: 6 }"},
	"enqueue":       {"- enqueue: { attributes: { skill: \"${{ vars.skill }}\" }, wait_music: https://example.com/wait.xml }"},
	"conference":    {"- conference: { end_conference_on_customer_exit: true, timeout: 20 }"},
	"accept":        {"- accept"},
	"reject":        {"- reject: ${{ env.OFFLINE_ACTIVITY_SID }}"},
	"call":          {"- call: { role: consultee, whisper: \"Transfer from ${{ worker.name }}\" }"},
	"redirect":      {"- redirect: { role: consultee, url: https://example.com/goodbye.xml }"},
	"hold":          {"- hold: customer", "- hold: { role: customer, music: https://example.com/hold.mp3 }"},
	"unhold":        {"- unhold: customer"},
	"mute":          {"- mute: agent"},
	"unmute":        {"- unmute: agent"},
	"dial":          {"- dial: { role: supervisor, to: \"${{ params.supervisor }}\", muted: true }"},
	"remove":        {"- remove: agent"},
	"coach":         {"- coach: { who: supervisor, whom: agent }"},
	"barge":         {"- barge: supervisor"},
	"listen":        {"- listen: supervisor"},
	"announce":      {"- announce: { role: agent, say: \"VIP caller ${{ call.from }}\" }"},
	"create_task":   {"- create_task: { queue: billing, role: consultee, attributes: { reason: transfer } }"},
	"update_task":   {"- update_task: { attributes: { escalated: true } }"},
	"complete_task": {"- complete_task: { reason: resolved }", "- complete_task: { role: agent, wrapup: true }"},
	"handover":      {"- handover: { from: consultee, to: agent }"},
	"set":           {"- set: { attempts: \"${{ vars.attempts + 1 }}\", skill: sales }"},
	"hangup":        {"- hangup", "- hangup: consultee"},
}

func TestActionExamples(t *testing.T) {
	for _, a := range Actions {
		exs := actionExamples[a.Name]
		if len(exs) == 0 {
			t.Errorf("no example for %s", a.Name)
		}
		for _, ex := range exs {
			src := "flow: t\nvars: { attempts: 0, skill: x }\ninitial: s\nstates:\n  s:\n    entry:\n      " + ex + "\n    on:\n      call.status: { to: done }\n  done: { final: true }\n"
			_, diags := Load("example.yaml", []byte(src), opts())
			for _, d := range diags {
				switch d.Code {
				// The examples run in the initial state's entry: where they
				// may stand (TwiML, instructions, a conference, params from
				// a command) is not what this test checks.
				case CodeTwiMLContext, CodeInstructionContext, CodeNeedsConference, CodeEnvUnset, CodeUnknownParam:
				default:
					t.Errorf("%s: %v", ex, d)
				}
			}
		}
	}
}

// TestLanguageDoc regenerates the tables of docs/language.md between
// <!-- generated:NAME --> and <!-- end:NAME --> markers from the registries
// (-update rewrites them), and checks the doc mentions every action, event
// and code.
func TestLanguageDoc(t *testing.T) {
	data, err := os.ReadFile(languageDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	out := doc
	for name, gen := range map[string]func() string{
		"keys": docKeys, "events": docEvents, "actions": docActions, "codes": docCodes, "env": docEnv,
	} {
		re := regexp.MustCompile(`(?s)(<!-- generated:` + name + ` -->\n).*?(<!-- end:` + name + ` -->)`)
		if !re.MatchString(out) {
			t.Fatalf("docs/language.md lacks the %s markers", name)
		}
		body := gen()
		out = re.ReplaceAllStringFunc(out, func(m string) string {
			sub := re.FindStringSubmatch(m)
			return sub[1] + body + sub[2]
		})
	}
	if *update {
		if out != doc {
			if err := os.WriteFile(languageDoc, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	if out != doc {
		t.Fatal("docs/language.md tables are stale: go test ./engine/flow -run TestLanguageDoc -update")
	}
	for _, a := range Actions {
		if !strings.Contains(doc, "`"+a.Name+"`") {
			t.Errorf("doc does not mention action %s", a.Name)
		}
	}
	for _, e := range Events {
		if !strings.Contains(doc, "`"+e.Name+"`") {
			t.Errorf("doc does not mention event %s", e.Name)
		}
	}
	for _, c := range Codes {
		if !strings.Contains(doc, "`"+c.Code+"`") {
			t.Errorf("doc does not mention code %s", c.Code)
		}
	}
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func docType(f *fieldInfo, inMap bool) string {
	t := f.Type
	switch {
	case f.Role:
		return "role"
	case t == tTemplate && inMap:
		return "value"
	case t == tTemplate:
		return "text ${{ }}"
	case t == tExpr:
		return "expression"
	case t == tActions:
		return "list of actions"
	case len(f.Enum) > 0:
		// Text YAML would read as a boolean or a null is shown quoted, as
		// it must be written.
		vals := make([]string, len(f.Enum))
		for i, v := range f.Enum {
			vals[i] = v
			var n yaml.Node
			if yaml.Unmarshal([]byte(v), &n) == nil && len(n.Content) == 1 && n.Content[0].ShortTag() != "!!str" {
				vals[i] = `"` + v + `"`
			}
		}
		return "one of " + strings.Join(vals, ", ")
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Int:
		return "integer"
	case t.Kind() == reflect.Bool, t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() == reflect.Slice:
		return "list of strings"
	case t.Kind() == reflect.Map && t.Elem() == tTemplate:
		return "map of values"
	case t.Kind() == reflect.Map && t.Elem() == tTransits:
		return "map: event → transition(s)"
	case t.Kind() == reflect.Map:
		return "map: name → " + nounOf(t.Elem().Elem(), "")
	case t.Kind() == reflect.Struct:
		return "map"
	}
	return t.String()
}

func fieldTable(t reflect.Type) string {
	var b strings.Builder
	b.WriteString("| key | type | required | description |\n| --- | --- | --- | --- |\n")
	for _, f := range infoOf(t).Fields {
		req := ""
		if f.Required {
			req = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Key, mdEscape(docType(f, false)), req, mdEscape(f.Desc))
	}
	return b.String()
}

func docKeys() string {
	var b strings.Builder
	for _, s := range []struct {
		title string
		t     reflect.Type
	}{
		{"Top level", tFlow}, {"`taskrouter:`", reflect.TypeOf(TaskRouter{})},
		{"A command (`commands: NAME:`)", reflect.TypeOf(Command{})}, {"A command parameter (`params: NAME:`)", reflect.TypeOf(Param{})},
		{"A state (`states: NAME:`)", tState}, {"A transition (`on: EVENT:`)", reflect.TypeOf(Transition{})},
	} {
		fmt.Fprintf(&b, "#### %s\n\n%s\n", s.title, fieldTable(s.t))
	}
	return b.String()
}

func docEvents() string {
	var b strings.Builder
	b.WriteString("Every event also has `event.name`.\n\n")
	b.WriteString("| event | from | when | fields (`event.NAME`) |\n| --- | --- | --- | --- |\n")
	for _, e := range Events {
		var fs []string
		for _, f := range e.Fields {
			s := "`" + f.Name + "` " + f.Type
			if f.Role {
				s += " (a role)"
			}
			if len(f.Values) > 0 {
				s += ": " + strings.Join(f.Values, ", ")
			}
			fs = append(fs, s)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", e.Name, e.Source, mdEscape(e.Desc), mdEscape(strings.Join(fs, "; ")))
	}
	b.WriteString("\nField descriptions:\n\n")
	seen := map[string]bool{}
	for _, e := range Events {
		for _, f := range e.Fields {
			key := f.Name + f.Desc
			if seen[key] {
				continue
			}
			seen[key] = true
			fmt.Fprintf(&b, "- `%s` (%s…): %s\n", f.Name, strings.SplitN(e.Name, ".", 2)[0], f.Desc)
		}
	}
	return b.String()
}

var replyDoc = map[string]string{
	ReplyTwiML:       "TwiML reply to the voice webhook",
	ReplyInstruction: "TaskRouter instruction (reservation answer)",
	ReplyREST:        "REST call, sent after the state is saved",
	ReplyNone:        "no Twilio call: changes the session only",
}

func docActions() string {
	var b strings.Builder
	b.WriteString("| action | what it does | how | needs a conference |\n| --- | --- | --- | --- |\n")
	for _, a := range Actions {
		nc := ""
		if a.NeedsConference {
			nc = "yes"
		}
		fmt.Fprintf(&b, "| [`%s`](#action-%s) | %s | %s | %s |\n", a.Name, a.Name, mdEscape(a.Desc), replyDoc[a.Reply], nc)
	}
	b.WriteString("\n")
	for _, a := range Actions {
		si := actionInfos[a.Name]
		fmt.Fprintf(&b, "<a id=\"action-%s\"></a>\n#### `%s`\n\n%s (%s.)\n\n", a.Name, a.Name, a.Desc, replyDoc[a.Reply])
		switch {
		case si.inline != nil:
			b.WriteString("Parameters: a map of variable name → value (text with `${{ }}`, a number or a boolean).\n\n")
		case len(si.Fields) == 0:
			b.WriteString("No parameters: write the bare name.\n\n")
		default:
			b.WriteString(fieldTable(si.Type))
			b.WriteString("\n")
			if si.scalar != nil {
				fmt.Fprintf(&b, "Short form: `%s: VALUE` sets `%s`.", a.Name, si.scalar.Key)
				if bareAllowed(a) {
					b.WriteString(" Without parameters, the bare name (`- " + a.Name + "`) is enough.")
				}
				b.WriteString("\n\n")
			} else if bareAllowed(a) {
				fmt.Fprintf(&b, "Every parameter is optional: the bare name (`- %s`) is enough.\n\n", a.Name)
			}
		}
		b.WriteString("```yaml\n")
		for _, ex := range actionExamples[a.Name] {
			b.WriteString(ex + "\n")
		}
		b.WriteString("```\n\n")
	}
	return b.String()
}

func docCodes() string {
	var b strings.Builder
	b.WriteString("| code | severity | meaning |\n| --- | --- | --- |\n")
	for _, c := range Codes {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.Code, c.Severity, mdEscape(c.Desc))
	}
	return b.String()
}

func docEnv() string {
	var b strings.Builder
	b.WriteString("| variable | type | what |\n| --- | --- | --- |\n")
	docs := map[string]string{
		"call":         "The customer's call: `sid`, `from`, `to`, `status`, and the caller details Twilio sends (`from_country`, `caller_city`, …) in snake_case.",
		"task":         "The call's primary TaskRouter task: `sid`, `attributes`, `status` (`pending`, `reserved`, `assigned`, then TaskRouter's `completed`, `canceled`, …), `queue_sid`, `workflow_sid`, `priority` and `age` (seconds) as TaskRouter's latest callback gave them, `reservation_sid`. Another name is an error (`unknown-field`).",
		"worker":       "The worker of the current reservation: `sid`, `name`, `attributes`, `contact_uri`. Another name is an error (`unknown-field`).",
		"event":        "The event being handled: `name` and its fields (see Events). Empty in entry/exit actions of a state entered without an event.",
		"params":       "The parameters of the command being handled (`params.NAME`); empty for Twilio events.",
		"participants": "Role → participant in the conference (absent, i.e. nil, when the role is not in the call). Fields below.",
		"vars":         "The session variables (`vars:` and `set`).",
		"env":          "Environment variables, by constant name only (`env.NAME`), read when the flow is loaded.",
		"now":          "The engine clock's current time, in UTC (a Go time.Time: `now.Hour()`, `now.Weekday().String()`; local time: `now.In(timezone(\"America/New_York\")).Hour()`).",
		"state":        "The name of the current state.",
	}
	et := reflect.TypeOf(Env{})
	for i := 0; i < et.NumField(); i++ {
		f := et.Field(i)
		name := f.Tag.Get("expr")
		var typ string
		switch name {
		case "participants":
			typ = "map of participant"
		case "env":
			typ = "map of string"
		case "now":
			typ = "time"
		case "state":
			typ = "string"
		default:
			typ = "map"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, typ, docs[name])
	}
	b.WriteString("\nA participant (`participants.customer.hold`):\n\n| field | type | what |\n| --- | --- | --- |\n")
	pdocs := map[string]string{
		"call_sid": "The participant's call (CA…).", "label": "Its participant label: the role it was dialed as and a number (`consultee-7`), or the role for a leg TaskRouter or TwiML brought in.",
		"address": "+E.164 number, client:ID or sip:URI, when known.", "task_sid": "The task that brought it into the call.",
		"joined": "In the conference now.", "hold": "On hold.", "muted": "Muted.", "coaching": "Coaching (whispering to) another participant.",
	}
	pt := reflect.TypeOf(Participant{})
	for i := 0; i < pt.NumField(); i++ {
		f := pt.Field(i)
		typ := "string"
		if f.Type.Kind() == reflect.Bool {
			typ = "boolean"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Tag.Get("expr"), typ, pdocs[f.Tag.Get("expr")])
	}
	return b.String()
}
