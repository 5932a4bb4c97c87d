package flow

import (
	"errors"
	"maps"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Compiling an expression costs tens of microseconds, most of it building
// expr's configuration from the Env type. flowd keeps configurations in a
// pool and caches compiled programs by source: flows repeat the same guards
// (`event.role == "customer"`) again and again, and a vm.Program is
// immutable, safe to share between flows and goroutines.

// exprRef is something an expression reads that validation checks:
// participants.NAME (Field: the field read of it, if any), vars.NAME,
// env.NAME, event.NAME, params.NAME, task.NAME, worker.NAME, call.NAME
// (Name is "" when the member is computed), or a constant compared with a field of the
// event, a command parameter or a session variable (Root "event", "params"
// or "vars", Field the field, Const the constant's type, Name its text, Off
// its offset).
type exprRef struct {
	Root  string
	Name  string
	Off   int // rune offset of the name (or of the access) in the source
	Field string
	// Const is the JSON type of the constant a field is compared with
	// ("string", "number" or "boolean"); "" for a plain read.
	Const string
	// Op is the comparison's operator (==, !=, <, in …) when Const is set.
	Op string
	// Defaulted: the read has a fallback (env.NAME ?? "default"), so an
	// unset variable is not a problem.
	Defaulted bool
	// Unguarded: a field of participants.NAME is read (Field) without ?.
	// and the expression never compares participants.NAME with nil (nor
	// looks NAME up with in): with the role absent, the read fails.
	Unguarded bool
}

type compiled struct {
	prog *vm.Program
	refs []exprRef
	// term is the type of the expression's value (vartypes.go).
	term *typeTerm
	// constant is the value of a guard that reads nothing (1 == 2, "true"),
	// as expr's optimizer folds it; nil when it depends on the call.
	constant *bool
	// nonNil are the roles whose participants.NAME the expression, when
	// true, makes sure are there: a guard's protect its transition's do:.
	nonNil map[string]bool
	err    *exprError
}

const maxCachedPrograms = 20000

var (
	codeCache  sync.Map // codeKey -> *compiled
	codeCached atomic.Int64
	confPool   = sync.Pool{New: func() any {
		c := conf.CreateNew()
		c.WithEnv(Env{})
		c.MaxNodes = MaxExprNodes
		c.Check()
		return c
	}}
)

type codeKey struct {
	code   string
	asBool bool
}

func (e *exprError) clone() *exprError { c := *e; return &c }

// compileCode compiles one expression exactly as expr.Compile would with
// expr.Env(Env{}), expr.MaxNodes(MaxExprNodes) (and expr.AsBool() for
// guards), and lists what it reads.
func compileCode(code string, asBool bool) *compiled {
	key := codeKey{code, asBool}
	if v, ok := codeCache.Load(key); ok {
		return v.(*compiled)
	}
	c := doCompile(code, asBool)
	if codeCached.Load() < maxCachedPrograms {
		if _, loaded := codeCache.LoadOrStore(key, c); !loaded {
			codeCached.Add(1)
		}
	}
	return c
}

func doCompile(code string, asBool bool) (out *compiled) {
	out = &compiled{}
	defer func() {
		if r := recover(); r != nil {
			out = &compiled{err: &exprError{Line: 1, Col: 0, Msg: "expression cannot be compiled"}}
		}
	}()
	cfg := confPool.Get().(*conf.Config)
	defer confPool.Put(cfg)
	if asBool {
		cfg.Expect, cfg.ExpectAny = reflect.Bool, true
	} else {
		cfg.Expect, cfg.ExpectAny = reflect.Invalid, false
	}
	tree, err := parser.ParseWithConfig(code, cfg)
	if err != nil {
		out.err = toExprError(err)
		return out
	}
	out.refs = analyze(tree.Node, code)
	out.nonNil = nonNilRoles(tree.Node)
	if _, err := new(checker.Checker).PatchAndCheck(tree, cfg); err != nil {
		out.err = toExprError(err)
		return out
	}
	out.term = termOf(tree.Node)
	for _, r := range out.refs {
		if r.Root == "env" && r.Name == "" {
			// $env or env[…]: what it reads is not known.
			out.term = anyTerm
		}
	}
	if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			out.err = toExprError(fe.Bind(tree.Source))
		} else {
			out.err = toExprError(err)
		}
		return out
	}
	if b, ok := tree.Node.(*ast.BoolNode); ok && asBool {
		v := b.Value
		out.constant = &v
	}
	prog, err := compiler.Compile(tree, cfg)
	if err != nil {
		out.err = toExprError(err)
		return out
	}
	out.prog = prog
	return out
}

var refRoots = map[string]bool{"participants": true, "vars": true, "env": true, "event": true, "params": true,
	"task": true, "worker": true, "call": true}

// CallFields are the call.* names of the parameters Twilio sends with a voice
// call (snake_case), and sid. Twilio may add others, so a name not here is
// reported only when it is a near miss of one (CodeCallField).
var CallFields = []string{"sid", "call_sid", "from", "to", "status", "direction", "caller_name", "forwarded_from",
	"parent_call_sid", "call_token", "from_city", "from_state", "from_zip", "from_country", "to_city", "to_state",
	"to_zip", "to_country", "stir_verstat", "stir_passport_token", "called", "caller", "called_city", "called_state",
	"called_zip", "called_country", "caller_city", "caller_state", "caller_zip", "caller_country"}

// TaskFields and WorkerFields are the fields of task and worker in
// expressions; the engine fills exactly these, and validate refuses any
// other name (a typo there read as nil during a live call).
var (
	TaskFields   = []string{"sid", "attributes", "status", "queue_sid", "workflow_sid", "priority", "age", "reservation_sid"}
	WorkerFields = []string{"sid", "name", "attributes", "contact_uri"}
)

type refVisitor struct {
	refs []exprRef
	// seq numbers the nodes in the order Walk visits them (children before
	// their parent), so a subtree is a range of numbers: what lies in the
	// right side of a && is numbered after its left side and up to it.
	seq int
	idx map[ast.Node]int
	// fieldReads are the reads of a field of participants.NAME without ?.
	fieldReads []fieldRead
}

// fieldRead is one participants.NAME.FIELD read: its ref, its node number,
// and whether a check that runs before it (the left of a &&, a ?: 's
// condition) makes sure participants.NAME is not nil there.
type fieldRead struct {
	ref, at int
	guarded bool
}

func analyze(n ast.Node, code string) []exprRef {
	v := &refVisitor{idx: map[ast.Node]int{}}
	ast.Walk(&n, v)
	for _, r := range v.fieldReads {
		v.refs[r.ref].Unguarded = !r.guarded
	}
	// A string constant's location is its opening quote: point inside.
	var runes []rune
	for i, r := range v.refs {
		if r.Name == "" {
			continue
		}
		if runes == nil {
			runes = []rune(code)
		}
		if r.Off < len(runes) && (runes[r.Off] == '"' || runes[r.Off] == '\'' || runes[r.Off] == '`') {
			v.refs[i].Off++
		}
	}
	return v.refs
}

// member returns root and the constant member name of root.NAME / root["NAME"].
func member(n ast.Node) (root, name string, nameNode ast.Node, ok bool) {
	m, isMember := n.(*ast.MemberNode)
	if !isMember {
		return "", "", nil, false
	}
	id, isID := m.Node.(*ast.IdentifierNode)
	if !isID || !refRoots[id.Value] {
		return "", "", nil, false
	}
	if s, isStr := m.Property.(*ast.StringNode); isStr {
		return id.Value, s.Value, s, true
	}
	return id.Value, "", m, true
}

func (v *refVisitor) Visit(np *ast.Node) {
	v.seq++
	v.idx[*np] = v.seq
	switch n := (*np).(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" {
			// expr's whole environment: env read through it escapes the
			// checks on env.NAME, so it counts as a computed read.
			v.refs = append(v.refs, exprRef{Root: "env", Off: n.Location().From})
		}
	case *ast.MemberNode:
		if root, name, nn, ok := member(n); ok {
			v.refs = append(v.refs, exprRef{Root: root, Name: name, Off: nn.Location().From})
		} else if root, name, nn, ok := member(n.Node); ok && root == "participants" && name != "" && !n.Optional {
			// participants.NAME.FIELD: children are visited first, so
			// participants.NAME's ref is the last one recorded at nn.
			field := ""
			if s, isStr := n.Property.(*ast.StringNode); isStr {
				field = s.Value
			}
			for i := len(v.refs) - 1; i >= 0; i-- {
				if v.refs[i].Root == root && v.refs[i].Name == name && v.refs[i].Off == nn.Location().From {
					v.refs[i].Field = field
					v.fieldReads = append(v.fieldReads, fieldRead{ref: i, at: v.seq})
					break
				}
			}
		}
	case *ast.ConditionalNode:
		v.guard(nonNilRoles(n.Cond), v.idx[n.Cond], v.idx[n.Exp1])
		v.guard(nonNilIfFalse(n.Cond), v.idx[n.Exp1], v.idx[n.Exp2])
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			v.guard(nonNilRoles(n.Left), v.idx[n.Left], v.idx[n.Right])
		case "||", "or":
			v.guard(nonNilIfFalse(n.Left), v.idx[n.Left], v.idx[n.Right])
		}
		switch n.Operator {
		case "??":
			// Children are visited first: the left side's ref is recorded.
			if root, name, nn, ok := member(n.Left); ok && root == "env" && name != "" {
				for i := range v.refs {
					if v.refs[i].Root == "env" && v.refs[i].Name == name && v.refs[i].Off == nn.Location().From {
						v.refs[i].Defaulted = true
					}
				}
			}
		case "==", "!=", "<", "<=", ">", ">=":
			v.compared(n.Operator, n.Left, n.Right)
			v.compared(n.Operator, n.Right, n.Left)
		case "in":
			// `a not in b` is parsed as `not (a in b)`: either way an item
			// of another type never matches.
			if arr, ok := n.Right.(*ast.ArrayNode); ok {
				for _, e := range arr.Nodes {
					v.compared(n.Operator, n.Left, e)
				}
			}
		}
	}
}

// guard marks the participant field reads numbered in (from, to] — one
// side of a && or ||, a branch of ?: — as safe for the roles in roles.
func (v *refVisitor) guard(roles map[string]bool, from, to int) {
	if len(roles) == 0 {
		return
	}
	for i, r := range v.fieldReads {
		if r.at > from && r.at <= to && roles[v.refs[r.ref].Name] {
			v.fieldReads[i].guarded = true
		}
	}
}

// nonNilRoles are the roles whose participants.NAME is not nil whenever
// e is true: participants.NAME != nil, "NAME" in participants,
// participants.NAME?.FIELD (?? false) or compared with a constant, and
// && of those.
func nonNilRoles(e ast.Node) map[string]bool {
	switch n := e.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			return union(nonNilRoles(n.Left), nonNilRoles(n.Right))
		case "!=":
			return nilComparedRole(n)
		case "==":
			for _, side := range [][2]ast.Node{{n.Left, n.Right}, {n.Right, n.Left}} {
				if role := optionalRole(side[0]); role != "" && isConstant(side[1]) {
					return map[string]bool{role: true}
				}
			}
		case "in":
			if s, isStr := n.Left.(*ast.StringNode); isStr {
				if id, isID := n.Right.(*ast.IdentifierNode); isID && id.Value == "participants" {
					return map[string]bool{s.Value: true}
				}
			}
		case "??":
			if b, isBool := n.Right.(*ast.BoolNode); isBool && !b.Value {
				return nonNilRoles(n.Left)
			}
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			return nonNilIfFalse(n.Node)
		}
	default:
		if role := optionalRole(e); role != "" {
			return map[string]bool{role: true} // participants.NAME?.joined, true
		}
	}
	return nil
}

// nonNilIfFalse are the roles not nil whenever e is false:
// participants.NAME == nil, and || of those.
func nonNilIfFalse(e ast.Node) map[string]bool {
	switch n := e.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "||", "or":
			return union(nonNilIfFalse(n.Left), nonNilIfFalse(n.Right))
		case "==":
			return nilComparedRole(n)
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			return nonNilRoles(n.Node)
		}
	}
	return nil
}

// nilComparedRole is {NAME} for participants.NAME compared with nil.
func nilComparedRole(n *ast.BinaryNode) map[string]bool {
	for _, side := range [][2]ast.Node{{n.Left, n.Right}, {n.Right, n.Left}} {
		if _, isNil := side[1].(*ast.NilNode); isNil {
			if root, name, _, ok := member(side[0]); ok && root == "participants" && name != "" {
				return map[string]bool{name: true}
			}
		}
	}
	return nil
}

// optionalRole is NAME for participants.NAME?.FIELD, else "".
func optionalRole(e ast.Node) string {
	if c, isChain := e.(*ast.ChainNode); isChain {
		e = c.Node
	}
	m, isMember := e.(*ast.MemberNode)
	if !isMember || !m.Optional {
		return ""
	}
	if root, name, _, ok := member(m.Node); ok && root == "participants" {
		return name
	}
	return ""
}

func isConstant(e ast.Node) bool {
	switch e.(type) {
	case *ast.BoolNode, *ast.StringNode, *ast.IntegerNode, *ast.FloatNode:
		return true
	}
	return false
}

func union(a, b map[string]bool) map[string]bool {
	if len(a) == 0 {
		return b
	}
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// compared records a comparison of event.NAME, params.NAME or vars.NAME
// with a constant, whose type validation checks against the field's (the
// variable's, when it has one).
func (v *refVisitor) compared(op string, field, constant ast.Node) {
	if id, isID := field.(*ast.IdentifierNode); isID && id.Value == "state" {
		// state == "on_hold": the name must be one of the flow's states.
		if typ, text, ok := constantOf(constant); ok && typ == "string" {
			v.refs = append(v.refs, exprRef{Root: "state", Name: text, Off: constant.Location().From, Const: typ, Op: op})
		}
		return
	}
	root, name, _, ok := member(field)
	if !ok || (root != "event" && root != "params" && root != "vars") || name == "" {
		return
	}
	typ, text, ok := constantOf(constant)
	if !ok {
		return
	}
	v.refs = append(v.refs, exprRef{Root: root, Field: name, Name: text, Off: constant.Location().From, Const: typ, Op: op})
}

// constantOf returns the JSON type and the text of a literal (nil is not
// one: comparing anything with nil is meaningful).
func constantOf(n ast.Node) (typ, text string, ok bool) {
	switch c := n.(type) {
	case *ast.StringNode:
		return "string", c.Value, true
	case *ast.IntegerNode:
		return "number", strconv.Itoa(c.Value), true
	case *ast.FloatNode:
		return "number", strconv.FormatFloat(c.Value, 'g', -1, 64), true
	case *ast.BoolNode:
		return "boolean", strconv.FormatBool(c.Value), true
	case *ast.UnaryNode:
		if c.Operator == "-" {
			if typ, text, ok := constantOf(c.Node); ok && typ == "number" {
				return typ, "-" + text, true
			}
		}
	}
	return "", "", false
}

// resetExprCache empties the compiled-program cache (benchmarks).
func resetExprCache() {
	codeCache.Clear()
	codeCached.Store(0)
}
