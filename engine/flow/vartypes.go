package flow

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
)

// Session variables have no declared type, and a set action may give one
// another type: vars.NAME is type-checked only when the flow itself shows
// what it holds. Every value a variable can get comes from its vars:
// declaration or a set action; when each of them has a type known before
// the call runs, and all agree, the variable has that type (int and float
// are both "number"), and a comparison with a constant of another type can
// never hold (type-mismatch). A value of unknown type (call.from, a
// computed read, $env, a template that does not compile) or values of two
// types leave the variable untyped, and untyped variables are never
// reported.
//
// A value's type is worked out from its expression (typeTerm), and may
// depend on other variables (`vars.attempts + 1`); the types are found by
// iterating to a fixed point from "no value yet".

// The type lattice: tyNone (no value yet, or nil: a nil value never makes a
// mismatched comparison hold) < "string" | "number" | "boolean" < tyAny.
const (
	tyNone = ""
	tyAny  = "any"
)

func joinTypes(a, b string) string {
	switch {
	case a == tyNone:
		return b
	case b == tyNone || a == b:
		return a
	}
	return tyAny
}

// typeTerm describes the type of an expression's value in terms of what
// is only known once the flow is validated as a whole: the types of
// variables, and of the fields of the event being handled.
type typeTerm struct {
	op   termOp
	typ  string      // termConst
	name string      // termVar, termEvent, termParam
	args []*typeTerm // termPlus, termArith, termNeg, termJoin
}

type termOp int

const (
	termAny   termOp = iota // unknown
	termConst               // typ
	termNil                 // the nil literal
	termVar                 // vars.NAME
	termEvent               // event.NAME
	termParam               // params.NAME
	termPlus                // a + b: numbers add, strings concatenate
	termArith               // a - b, a * b, …: numbers only
	termNeg                 // -a, +a
	termJoin                // a ?? b, c ? a : b: either
)

var (
	anyTerm    = &typeTerm{op: termAny}
	stringTerm = &typeTerm{op: termConst, typ: jString}
)

// termOf describes the type of a checked expression. Where expr's checker
// knows a plain string, number or boolean type it is used, except for ?:
// and ?? (the checker types `c ? "a" : vars.x` as a string, because a
// string is assignable to any).
func termOf(n ast.Node) *typeTerm {
	switch n := n.(type) {
	case *ast.NilNode:
		return &typeTerm{op: termNil}
	case *ast.ConditionalNode:
		return &typeTerm{op: termJoin, args: []*typeTerm{termOf(n.Exp1), termOf(n.Exp2)}}
	case *ast.BinaryNode:
		if n.Operator == "??" {
			return &typeTerm{op: termJoin, args: []*typeTerm{termOf(n.Left), termOf(n.Right)}}
		}
	}
	if t := basicType(n.Type()); t != "" {
		return &typeTerm{op: termConst, typ: t}
	}
	switch n := n.(type) {
	case *ast.MemberNode:
		root, name, _, ok := member(n)
		if !ok || name == "" {
			break
		}
		switch root {
		case "vars":
			return &typeTerm{op: termVar, name: name}
		case "event":
			return &typeTerm{op: termEvent, name: name}
		case "params":
			return &typeTerm{op: termParam, name: name}
		case "env":
			return stringTerm // the environment's values are strings
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "+":
			return &typeTerm{op: termPlus, args: []*typeTerm{termOf(n.Left), termOf(n.Right)}}
		case "-", "*", "/", "%", "**", "^":
			return &typeTerm{op: termArith, args: []*typeTerm{termOf(n.Left), termOf(n.Right)}}
		}
	case *ast.UnaryNode:
		if n.Operator == "-" || n.Operator == "+" {
			return &typeTerm{op: termNeg, args: []*typeTerm{termOf(n.Node)}}
		}
	}
	return anyTerm
}

// basicType is the JSON type of a Go type expr's checker found: only the
// predeclared string, bool and number types (not time.Duration, nor any).
func basicType(t reflect.Type) string {
	if t == nil || t.PkgPath() != "" {
		return ""
	}
	switch t.Kind() {
	case reflect.String:
		return jString
	case reflect.Bool:
		return jBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return jNumber
	}
	return ""
}

// valueTerm is the type of the value a template renders to: an expression's
// when the template is exactly one ${{ … }}, else a string; nil (unknown)
// for a template that did not compile.
func (t *Template) valueTerm() *typeTerm {
	if t == nil || t.result == nil {
		return anyTerm
	}
	return t.result
}

// varAssign is one value a variable may get, and where (for the event).
type varAssign struct {
	name string
	term *typeTerm
	ctx  siteCtx
}

// varTypes returns the variables whose every value has one known type,
// with that type.
func (v *validator) varTypes() map[string]string {
	f := v.f
	var assigns []varAssign
	for name, t := range f.Vars {
		assigns = append(assigns, varAssign{name, t.valueTerm(), siteCtx{}})
	}
	for _, l := range v.d.lists {
		for _, a := range l.actions {
			if p, ok := a.Params.(*SetAction); ok {
				for _, name := range p.Order {
					assigns = append(assigns, varAssign{name, p.Values[name].valueTerm(), l.ctx})
				}
			}
		}
	}
	// A worklist: an assignment is evaluated again when a variable it reads
	// changed. Types only go up the lattice (joined with what they were),
	// so each variable changes at most twice, and the work is linear in
	// the size of the flow whatever the order of the assignments.
	readers := map[string][]int{}
	for i, as := range assigns {
		for _, name := range as.term.vars(nil) {
			readers[name] = append(readers[name], i)
		}
	}
	types := map[string]string{}
	queue := make([]int, len(assigns))
	queued := make([]bool, len(assigns))
	for i := range assigns {
		queue[i], queued[i] = i, true
	}
	for len(queue) > 0 {
		i := queue[0]
		queue, queued[i] = queue[1:], false
		as := assigns[i]
		t := joinTypes(types[as.name], v.evalTerm(as.term, as.ctx, types))
		if t == types[as.name] {
			continue
		}
		types[as.name] = t
		for _, j := range readers[as.name] {
			if !queued[j] {
				queue, queued[j] = append(queue, j), true
			}
		}
	}
	out := map[string]string{}
	for name, t := range types {
		if t != tyNone && t != tyAny {
			out[name] = t
		}
	}
	return out
}

// vars appends the variables a term reads to out.
func (t *typeTerm) vars(out []string) []string {
	if t.op == termVar {
		out = append(out, t.name)
	}
	for _, a := range t.args {
		out = a.vars(out)
	}
	return out
}

// evalTerm is the type of a term in ctx, given the variables' types so far.
func (v *validator) evalTerm(t *typeTerm, ctx siteCtx, vars map[string]string) string {
	switch t.op {
	case termConst:
		return t.typ
	case termNil:
		return tyNone
	case termVar:
		return vars[t.name]
	case termEvent:
		// Only in a handler of a catalog event: entry and exit actions run
		// on any event, commands have no event fields.
		if ev, ok := EventByName(ctx.event); ok && ctx.tr != nil {
			if fs, ok := ev.Field(t.name); ok {
				return fs.Type
			}
		}
	case termParam:
		if cmd := v.f.Commands[ctx.event]; cmd != nil && ctx.tr != nil && cmd.Params[t.name] != nil {
			if typ := cmd.Params[t.name].Type; typ != "" {
				return typ
			}
			return jString
		}
	case termPlus, termArith:
		a, b := v.evalTerm(t.args[0], ctx, vars), v.evalTerm(t.args[1], ctx, vars)
		switch {
		case a == tyAny || b == tyAny:
			return tyAny
		case a == tyNone || b == tyNone:
			return tyNone // nil + 1 fails: the variable keeps its value
		case a == b && (a == jNumber || a == jString && t.op == termPlus):
			return a
		}
	case termNeg:
		switch a := v.evalTerm(t.args[0], ctx, vars); a {
		case jNumber, tyNone:
			return a
		}
	case termJoin:
		out := tyNone
		for _, a := range t.args {
			out = joinTypes(out, v.evalTerm(a, ctx, vars))
		}
		return out
	}
	return tyAny
}
