package flow

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// MaxExprNodes bounds the size of one compiled expression; a flow is
// configuration, and a giant expression is a mistake or an attack.
const MaxExprNodes = 500

// MaxExprLen bounds the source length of one expression or template.
const MaxExprLen = 4096

// Env is the typed environment every guard and template is compiled against
// and evaluated with. Field names are what flows write (`call.from`,
// `participants.customer.hold`, …).
type Env struct {
	// Call holds the customer's call: sid, from, to, status, and the caller
	// details Twilio sends (from_country, caller_city, …) in snake_case.
	Call map[string]any `expr:"call"`
	// Task is the session's primary TaskRouter task: sid, attributes, status,
	// queue_sid, workflow_sid, age, priority.
	Task map[string]any `expr:"task"`
	// Worker is the worker of the current reservation: sid, name, attributes,
	// contact_uri.
	Worker map[string]any `expr:"worker"`
	// Event is the event being handled: name, role, and the event's fields.
	Event map[string]any `expr:"event"`
	// Params are a command's parameters (empty for Twilio events).
	Params map[string]any `expr:"params"`
	// Participants maps a role to its conference participant; a role that
	// is not in the call is absent (nil).
	Participants map[string]*Participant `expr:"participants"`
	// Vars are the session's variables (declared under `vars:`, changed by `set`).
	Vars map[string]any `expr:"vars"`
	// EnvVars are the process environment read at load (`env.NAME`). Values
	// are strings; an unset variable is absent, so it reads as nil and
	// `env.NAME ?? "default"` falls back (a map of strings would read "").
	EnvVars map[string]any `expr:"env"`
	// Now is the engine clock's current time.
	Now time.Time `expr:"now"`
	// State is the name of the current state.
	State string `expr:"state"`
}

// SecretEnv lists the environment variables flows never see (flowd serve
// leaves them out of env): a template could otherwise say a token out loud.
var SecretEnv = []string{"TWILIO_AUTH_TOKEN", "TWILIO_API_SECRET", "FLOWD_API_TOKEN", "FLOWD_STORE"}

// Participant is what a flow can know about one role's leg in the conference.
type Participant struct {
	CallSid  string `expr:"call_sid" json:"call_sid"`
	Label    string `expr:"label" json:"label,omitempty"`
	Address  string `expr:"address" json:"address,omitempty"` // +E.164, client:ID or sip:URI when known
	TaskSid  string `expr:"task_sid" json:"task_sid,omitempty"`
	Joined   bool   `expr:"joined" json:"joined"` // in the conference now
	Hold     bool   `expr:"hold" json:"hold"`
	Muted    bool   `expr:"muted" json:"muted"`
	Coaching bool   `expr:"coaching" json:"coaching"`
}

// exprPos is a position inside an expression's source, as expr reports it
// (1-based line, 0-based column).
type exprError struct {
	Line, Col int
	Msg       string
}

func (e *exprError) Error() string { return e.Msg }

// Expr is a compiled boolean guard.
type Expr struct {
	Source   string
	Pos      Pos
	program  *vm.Program
	refs     []exprRef // what the expression reads, for validation
	constant *bool     // the value of a guard that reads nothing
	nonNil   map[string]bool
}

// refsOrNil is what the guard reads (nil for no guard).
func (e *Expr) refsOrNil() []exprRef {
	if e == nil {
		return nil
	}
	return e.refs
}

// Constant reports the guard's value when it reads nothing from the call
// (1 == 2, "true"): it always or never holds.
func (e *Expr) Constant() (value, ok bool) {
	if e == nil || e.constant == nil {
		return false, false
	}
	return *e.constant, true
}

// CompileExpr compiles a guard; it must be boolean.
func CompileExpr(src string, pos Pos) (*Expr, error) {
	if len(src) > MaxExprLen {
		return nil, &exprError{Line: 1, Col: 0, Msg: fmt.Sprintf("expression is %d bytes long, the limit is %d", len(src), MaxExprLen)}
	}
	c := compileCode(src, true)
	if c.err != nil {
		return nil, c.err.clone()
	}
	return &Expr{Source: src, Pos: pos, program: c.prog, refs: c.refs, constant: c.constant, nonNil: c.nonNil}, nil
}

// Bool evaluates the guard. A runtime error (say, a field of a role that is
// not in the call) is returned so the engine can record it; the guard is then
// false.
func (e *Expr) Bool(env *Env) (bool, error) {
	if e == nil {
		return true, nil
	}
	v, err := expr.Run(e.program, env)
	if err != nil {
		return false, err
	}
	b, _ := v.(bool)
	return b, nil
}

// Template is a string that may interpolate `${{ expression }}` parts.
type Template struct {
	Source string
	Pos    Pos
	parts  []templatePart
	refs   []exprRef // what the expressions read (offsets in runes of Source)
	// result is the type of what Value returns (nil: unknown).
	result *typeTerm
}

type templatePart struct {
	lit     string
	program *vm.Program // nil for a literal part
}

// Literal makes a template with no expressions.
func Literal(s string) *Template {
	return &Template{Source: s, parts: []templatePart{{lit: s}}}
}

// CompileTemplate parses `${{ … }}` parts and compiles each expression.
// Errors carry the line and column of the failing part inside src.
func CompileTemplate(src string, pos Pos) (*Template, error) {
	if len(src) > MaxExprLen*4 {
		return nil, &exprError{Line: 1, Col: 0, Msg: fmt.Sprintf("template is %d bytes long, the limit is %d", len(src), MaxExprLen*4)}
	}
	t := &Template{Source: src, Pos: pos}
	rest := src
	offset := 0
	for {
		i := strings.Index(rest, "${{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, templatePart{lit: rest})
			}
			if len(t.parts) != 1 || t.parts[0].program == nil {
				t.result = stringTerm // Value renders it as text
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, templatePart{lit: rest[:i]})
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			line, col := lineCol(src, offset+i)
			return nil, &exprError{Line: line, Col: col, Msg: "unclosed ${{: add the closing }}"}
		}
		code := rest[i+3 : i+j]
		if strings.TrimSpace(code) == "" {
			line, col := lineCol(src, offset+i)
			return nil, &exprError{Line: line, Col: col, Msg: "empty ${{ }}"}
		}
		c := compileCode(code, false)
		if c.err != nil {
			ee := c.err.clone()
			// Shift the position from inside the expression to inside src.
			l0, c0 := lineCol(src, offset+i+3)
			if ee.Line <= 1 {
				ee.Line, ee.Col = l0, c0+ee.Col
			} else {
				ee.Line = l0 + ee.Line - 1
			}
			return nil, ee
		}
		t.parts = append(t.parts, templatePart{program: c.prog})
		t.result = c.term // kept if this is the only part
		if len(c.refs) > 0 {
			base := utf8.RuneCountInString(src[:offset+i+3])
			for _, r := range c.refs {
				r.Off += base
				t.refs = append(t.refs, r)
			}
		}
		offset += i + j + 2
		rest = rest[i+j+2:]
	}
}

// IsLiteral reports whether the template has no expressions.
func (t *Template) IsLiteral() bool {
	for _, p := range t.parts {
		if p.program != nil {
			return false
		}
	}
	return true
}

// String renders the template; values are formatted with fmt's %v, nil as "".
func (t *Template) String(env *Env) (string, error) {
	if t == nil {
		return "", nil
	}
	if len(t.parts) == 1 && t.parts[0].program == nil {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.program == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := expr.Run(p.program, env)
		if err != nil {
			return "", err
		}
		if v != nil && !(reflect.ValueOf(v).Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil()) {
			fmt.Fprint(&b, v)
		}
	}
	return b.String(), nil
}

// Value renders the template keeping the type when the whole template is one
// `${{ expression }}` (so `set: {count: "${{ vars.count + 1 }}"}` stays a number).
func (t *Template) Value(env *Env) (any, error) {
	if t == nil {
		return nil, nil
	}
	if len(t.parts) == 1 && t.parts[0].program != nil {
		return expr.Run(t.parts[0].program, env)
	}
	return t.String(env)
}

func toExprError(err error) *exprError {
	if fe, ok := err.(*file.Error); ok {
		return &exprError{Line: fe.Line, Col: fe.Column, Msg: fe.Message}
	}
	return &exprError{Line: 1, Col: 0, Msg: err.Error()}
}

// lineCol turns a byte offset in s into a 1-based line and 0-based column.
func lineCol(s string, off int) (int, int) {
	line, col := 1, 0
	for i, r := range s {
		if i >= off {
			break
		}
		if r == '\n' {
			line++
			col = 0
		} else {
			col++
		}
	}
	return line, col
}
