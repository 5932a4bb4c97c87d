package flow

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The typed decoder fills the model from the node tree by reflection over
// the `flow` tags. It checks the same shape rules as the JSON Schema (the
// schema is generated from the same tags), so that the two agree; in normal
// loading it only runs after the schema found no error, and its shape
// diagnostics then never appear.

// siteCtx is where in the flow the decoder is.
type siteCtx struct {
	state     *State      // nil at flow level
	tr        *Transition // the transition being decoded, if any
	event     string      // the transition's event
	where     string      // "entry", "exit", "do", "if" or "" (flow settings)
	flowLevel bool
}

// exprSite is one compiled expression or template with its context.
type exprSite struct {
	node  *yaml.Node
	refs  []exprRef
	ctx   siteCtx
	guard bool
}

// roleRef is a role named by an action parameter.
type roleRef struct {
	value string
	node  *yaml.Node
}

// actionList is one list of actions with its context.
type actionList struct {
	actions []*Action
	ctx     siteCtx
}

type decoder struct {
	src     *source
	diags   Diagnostics
	ctx     siteCtx
	exprs   []exprSite
	roles   []roleRef
	lists   []actionList
	setVars map[string]bool
	// positions kept for checks
	initialNode *yaml.Node
	nameNode    *yaml.Node
	numberNodes []*yaml.Node
	stateKeys   map[string]*yaml.Node
	statesKey   *yaml.Node
	eventKeys   []eventKey
	badGuards   map[*Transition]bool
	failed      bool
}

// eventKey is one `EVENT:` key under a state's (or the flow's) on:.
type eventKey struct {
	state *State // nil at flow level
	name  string
	node  *yaml.Node
}

func (d *decoder) add(dg Diagnostic) {
	d.diags = append(d.diags, dg)
	if dg.Severity == SeverityError {
		d.failed = true
	}
}

// decodeFlow fills f from the root node.
func (d *decoder) decodeFlow(root *yaml.Node, f *Flow) {
	d.setVars = map[string]bool{}
	d.badGuards = map[*Transition]bool{}
	d.stateKeys = map[string]*yaml.Node{}
	if jsonKind(root) != jObject {
		d.add(d.src.wrongType(root, []string{jObject}, whatFile))
		return
	}
	f.Pos = d.src.nodePos(root)
	d.decodeStruct(root, reflect.ValueOf(f).Elem(), "")
	for p := range pairSeq(root) {
		switch p.k.Value {
		case "initial":
			d.initialNode = p.v
		case "flow":
			d.nameNode = p.v
		case "numbers":
			if rv := resolve(p.v); rv.Kind == yaml.SequenceNode {
				d.numberNodes = rv.Content
			}
		case "states":
			d.statesKey = p.k
			for sp := range pairSeq(p.v) {
				d.stateKeys[sp.k.Value] = sp.k
			}
		}
	}
}

// decodeStruct fills struct v from mapping n. action is the action name when
// v is an action's parameters.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, action string) {
	si := infoOf(v.Type())
	noun := nounOf(v.Type(), action)
	if si.posField >= 0 && v.Field(si.posField).IsZero() {
		v.Field(si.posField).Set(reflect.ValueOf(d.src.nodePos(n)))
	}
	if si.inline != nil {
		keys := d.decodeValue(n, v.Field(si.inline.Index), si.inline, noun)
		if oi, ok := si.orderField[si.inline.Index]; ok {
			v.Field(oi).Set(reflect.ValueOf(keys))
		}
		return
	}
	seen := map[string]bool{}
	for p := range pairSeq(n) {
		fi := si.byKey[p.k.Value]
		if fi == nil && si.Type == tFlow && strings.HasPrefix(p.k.Value, extensionPrefix) {
			continue // x-…: a place for anchors, ignored
		}
		if fi == nil {
			d.add(d.src.unknownKey(p.k, noun, si.keys()))
			continue
		}
		seen[fi.Key] = true
		saved := d.ctx.where
		if si.Type == tState && (fi.Key == "entry" || fi.Key == "exit") {
			d.ctx.where = fi.Key
		}
		keys := d.decodeValue(p.v, v.Field(fi.Index), fi, noun)
		d.ctx.where = saved
		if oi, ok := si.orderField[fi.Index]; ok {
			v.Field(oi).Set(reflect.ValueOf(keys))
		}
	}
	for _, k := range si.required() {
		if !seen[k] {
			d.add(d.src.missingKey(n, noun, k))
		}
	}
}

func (d *decoder) what(fi *fieldInfo, noun string) string {
	if fi.Key == "" {
		return noun
	}
	return fieldWhat(fi.Key, noun)
}

// decodeValue fills v (a field described by fi) from n. It returns the keys
// of a map in file order.
func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, fi *fieldInfo, noun string) []string {
	t := v.Type()
	want := jsonTypes(t, false)
	if t.Kind() != reflect.Map {
		if !typeMatches(jsonKind(n), want) {
			d.add(d.src.wrongType(n, want, d.what(fi, noun)))
			return nil
		}
	}
	rn := resolve(n)
	switch {
	case t == tTemplate:
		if fi.NonEmpty && rn.Value == "" {
			d.add(d.src.emptyValue(n, d.what(fi, noun), fi.Role))
		}
		v.Set(reflect.ValueOf(d.template(n, false)))
	case t == tExpr:
		v.Set(reflect.ValueOf(d.guard(n)))
	case t == tActions:
		v.Set(reflect.ValueOf(d.actions(rn)))
	case t.Kind() == reflect.String:
		d.checkString(n, fi, "", noun)
		if fi.Role && rn.Value != "" {
			d.roles = append(d.roles, roleRef{rn.Value, n})
		}
		v.SetString(rn.Value)
	case t.Kind() == reflect.Int:
		i, ok := intValue(rn)
		if !ok {
			d.add(d.src.wrongType(n, want, d.what(fi, noun)))
			return nil
		}
		if (fi.Min != nil && i < *fi.Min) || (fi.Max != nil && i > *fi.Max) {
			d.add(d.src.outOfRange(n, d.what(fi, noun), fi.Min, fi.Max))
		}
		v.SetInt(i)
	case t.Kind() == reflect.Bool:
		v.SetBool(scalarValue(rn) == true)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool:
		b := scalarValue(rn) == true
		v.Set(reflect.ValueOf(&b))
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		out := make([]string, 0, len(rn.Content))
		for _, c := range rn.Content {
			if !typeMatches(jsonKind(c), []string{jString}) {
				d.add(d.src.wrongType(c, []string{jString}, "item of "+d.what(fi, noun)))
				continue
			}
			d.checkString(c, fi, "item of ", noun)
			out = append(out, resolve(c).Value)
		}
		v.Set(reflect.ValueOf(out))
	case t.Kind() == reflect.Map:
		return d.decodeMap(n, v, fi, noun)
	case t.Kind() == reflect.Struct:
		d.decodeStruct(rn, v, "")
	default:
		panic(fmt.Sprintf("flow: no decoder for %s", t))
	}
	return nil
}

func intValue(n *yaml.Node) (int64, bool) {
	switch x := scalarValue(n).(type) {
	case int64:
		return x, true
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	}
	return 0, false
}

func (d *decoder) checkString(n *yaml.Node, fi *fieldInfo, prefix, noun string) {
	val := resolve(n).Value
	if len(fi.Enum) > 0 && !contains(fi.Enum, val) {
		d.add(d.src.badEnum(n, prefix+d.what(fi, noun), fi.Enum))
	}
	if fi.pattern != nil && !fi.pattern.MatchString(val) {
		d.add(d.src.badPattern(n, prefix+d.what(fi, noun), val, fi.Pattern))
	}
	if fi.NonEmpty && val == "" {
		d.add(d.src.emptyValue(n, prefix+d.what(fi, noun), fi.Role))
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, fi *fieldInfo, noun string) []string {
	what := d.what(fi, noun)
	if jsonKind(n) != jObject {
		d.add(d.src.wrongType(n, []string{jObject}, what))
		return nil
	}
	t := v.Type()
	m := reflect.MakeMap(t)
	var keys []string
	for p := range pairSeq(n) {
		key := p.k.Value
		if fi.keys != nil && !fi.keys.MatchString(key) {
			d.add(d.src.badPattern(p.k, keyNoun(fi.Key), key, fi.Keys))
			continue
		}
		keys = append(keys, key)
		et := t.Elem()
		switch {
		case et == tTemplate:
			if !typeMatches(jsonKind(p.v), jsonTypes(et, true)) {
				d.add(d.src.wrongType(p.v, jsonTypes(et, true), key+" in "+what))
				continue
			}
			m.SetMapIndex(reflect.ValueOf(key), reflect.ValueOf(d.template(p.v, true)))
		case et == tTransits:
			m.SetMapIndex(reflect.ValueOf(key), reflect.ValueOf(d.transitions(p.k, p.v)))
		case et.Kind() == reflect.Pointer && et.Elem().Kind() == reflect.Struct:
			if jsonKind(p.v) != jObject {
				d.add(d.src.wrongType(p.v, []string{jObject}, nounOf(et.Elem(), "")+" "+key))
				continue
			}
			ev := reflect.New(et.Elem())
			si := infoOf(et.Elem())
			if si.nameField >= 0 {
				ev.Elem().Field(si.nameField).SetString(key)
			}
			if si.posField >= 0 {
				ev.Elem().Field(si.posField).Set(reflect.ValueOf(d.src.nodePos(p.k)))
			}
			if st, ok := ev.Interface().(*State); ok {
				saved := d.ctx
				d.ctx = siteCtx{state: st}
				d.decodeStruct(resolve(p.v), ev.Elem(), "")
				d.ctx = saved
			} else {
				d.decodeStruct(resolve(p.v), ev.Elem(), "")
				d.keepPositions(ev.Interface(), p.v)
			}
			m.SetMapIndex(reflect.ValueOf(key), ev)
		default:
			panic(fmt.Sprintf("flow: no decoder for map of %s", et))
		}
	}
	v.Set(m)
	return keys
}

// keepPositions records where the values the semantic checks report on
// are, so they point at the value at fault rather than at its struct.
func (d *decoder) keepPositions(v any, n *yaml.Node) {
	items := func(key string) []Pos {
		var out []Pos
		if seq := nodeValue(n, key); seq != nil {
			for _, it := range resolve(seq).Content {
				out = append(out, d.src.nodePos(it))
			}
		}
		return out
	}
	switch x := v.(type) {
	case *Command:
		x.oneOfPos = items("one_of")
	case *Param:
		x.enumPos = items("enum")
		if pn := nodeValue(n, "pattern"); pn != nil {
			x.patternPos = d.src.nodePos(pn)
		}
	}
}

// transitions decodes `EVENT: transition` or `EVENT: [transition, …]`.
func (d *decoder) transitions(k, n *yaml.Node) []*Transition {
	d.eventKeys = append(d.eventKeys, eventKey{state: d.ctx.state, name: k.Value, node: k})
	rn := resolve(n)
	var items []*yaml.Node
	switch jsonKind(n) {
	case jObject:
		items = []*yaml.Node{n}
	case jArray:
		items = rn.Content
	default:
		d.add(d.src.wrongType(n, []string{jObject, jArray}, "the handler of "+k.Value))
		return nil
	}
	out := make([]*Transition, 0, len(items))
	for _, it := range items {
		if jsonKind(it) != jObject {
			d.add(d.src.wrongType(it, []string{jObject}, "a transition"))
			continue
		}
		tr := &Transition{Event: k.Value, FlowLevel: d.ctx.state == nil, Pos: d.src.nodePos(it), eventPos: d.src.nodePos(k)}
		saved := d.ctx
		d.ctx.tr, d.ctx.event, d.ctx.flowLevel = tr, k.Value, d.ctx.state == nil
		d.decodeStruct(resolve(it), reflect.ValueOf(tr).Elem(), "")
		if to := keyNode(it, "to"); to != nil {
			tr.toPos = d.src.nodePos(nodeValue(it, "to"))
		}
		d.ctx = saved
		out = append(out, tr)
	}
	return out
}

func nodeValue(n *yaml.Node, key string) *yaml.Node {
	for p := range pairSeq(n) {
		if p.k.Value == key {
			return p.v
		}
	}
	return nil
}

// actions decodes an action list; the list's context is the decoder's.
func (d *decoder) actions(seq *yaml.Node) []*Action {
	out := make([]*Action, 0, len(seq.Content))
	for _, it := range seq.Content {
		name, params, dg, ok := d.src.actionItemDiag(it)
		if !ok {
			d.add(dg)
			continue
		}
		spec, _ := ActionSpecByName(name)
		p := spec.New()
		keyPos := d.src.nodePos(it)
		if kn := keyNode(it, name); kn != nil {
			keyPos = d.src.nodePos(kn)
		}
		a := &Action{Kind: name, Params: p, Pos: keyPos}
		pv := reflect.ValueOf(p).Elem()
		si := infoOf(pv.Type())
		switch kind := jsonKind(params); {
		case params == nil:
			// bare name
		case kind == jObject:
			if name == "set" {
				for kv := range pairSeq(params) {
					d.setVars[kv.k.Value] = true
				}
			}
			d.decodeStruct(resolve(params), pv, name)
		case kind == jNull && si.inline == nil && len(si.required()) == 0:
			// `- hangup:` is the bare form
		case si.scalar != nil && typeMatches(kind, jsonTypes(si.scalar.Type, false)):
			d.decodeValue(params, pv.Field(si.scalar.Index), si.scalar, nounOf(pv.Type(), name))
		default:
			d.add(d.src.wrongType(params, actionParamTypes(spec), "the parameters of "+name))
			continue
		}
		out = append(out, a)
	}
	where := d.ctx.where
	if d.ctx.tr != nil {
		where = "do"
	}
	d.lists = append(d.lists, actionList{actions: out, ctx: withWhere(d.ctx, where)})
	return out
}

func withWhere(c siteCtx, where string) siteCtx { c.where = where; return c }

// actionParamTypes are the JSON types an action's parameters may have.
func actionParamTypes(spec ActionSpec) []string {
	si := infoOf(reflect.TypeOf(spec.New()).Elem())
	var out []string
	if si.scalar != nil {
		out = append(out, jsonTypes(si.scalar.Type, false)...)
	}
	out = append(out, jObject)
	if si.inline == nil && len(si.required()) == 0 {
		out = append(out, jNull)
	}
	return out
}

func (d *decoder) template(n *yaml.Node, inMap bool) *Template {
	rn := resolve(n)
	src := rn.Value
	pos := d.src.nodePos(n)
	if k := jsonKind(n); k != jString {
		// A number or boolean keeps its type: compile it as an expression.
		v := scalarValue(rn)
		if (k == jInt || k == jNumber) && looksLikeText(rn) {
			d.add(diag(pos, CodeNumberAsText, "YAML reads %s as the number %v%s; quote it to keep the text (\"%s\")",
				rn.Value, v, numberLoss(rn.Value), rn.Value))
		}
		lit := fmt.Sprint(v)
		if f, ok := v.(float64); ok {
			lit = strconv.FormatFloat(f, 'g', -1, 64)
		}
		if t, err := CompileTemplate("${{ "+lit+" }}", pos); err == nil {
			return t
		}
		return &Template{Source: src, Pos: pos, parts: []templatePart{{lit: src}}}
	}
	t, err := CompileTemplate(src, pos)
	if err != nil {
		if off, msg, ok := dollarEnv(src); ok {
			d.add(diag(d.src.valuePos(rn, off), CodeDynamicEnv, "%s", msg))
			return Literal(src)
		}
		ee := err.(*exprError)
		d.add(diag(d.src.valuePos(rn, runeOffset(src, ee.Line, ee.Col)), CodeBadTemplate, "%s", exprMsg(ee.Msg, src, runeOffset(src, ee.Line, ee.Col))))
		return Literal(src)
	}
	if len(t.refs) > 0 {
		d.exprs = append(d.exprs, exprSite{node: rn, refs: t.refs, ctx: d.ctx})
	}
	return t
}

// dollarEnvRe finds expr's $env.NAME, which fails to compile as an
// unknown name, where env.NAME was meant.
var dollarEnvRe = regexp.MustCompile(`\$env\.([A-Za-z_][A-Za-z0-9_]*)`)

// dollarEnv explains a $env.NAME in src: its rune offset and the message.
func dollarEnv(src string) (off int, msg string, ok bool) {
	m := dollarEnvRe.FindStringSubmatchIndex(src)
	if m == nil {
		return 0, "", false
	}
	name := src[m[2]:m[3]]
	return utf8.RuneCountInString(src[:m[0]]), fmt.Sprintf("the environment is read as env.%s, not through $env (flows read only the variables they name)", name), true
}

// singleEquals finds a lone = (not ==, !=, <=, >=), outside quotes
// being too much to ask of a hint.
var singleEquals = regexp.MustCompile(`(^|[^=!<>])=([^=~]|$)`)

// looksLikeText reports whether a plain scalar YAML resolved to a number
// was written as text: a phone number (+447700900123) or a code with a
// leading zero (02134). Hex (0x1F), octal written 0o17, 0 and 0.5 are
// numbers on purpose.
func looksLikeText(n *yaml.Node) bool {
	if n.Style != 0 { // quoted, or tagged (!!int 0123) on purpose
		return false
	}
	v := n.Value
	if digits, ok := strings.CutPrefix(v, "+"); ok {
		// A phone number, not a signed offset (+5).
		return len(digits) >= 7 && strings.Trim(digits, "0123456789") == ""
	}
	return len(v) > 1 && v[0] == '0' && v[1] >= '0' && v[1] <= '9'
}

// numberLoss says what reading text as a number changed.
func numberLoss(text string) string {
	if strings.HasPrefix(text, "+") {
		return " (the + is lost)"
	}
	if strings.Trim(text, "01234567") == "" {
		return " (YAML reads a leading zero as octal)"
	}
	return " (the leading zero is lost)"
}

func (d *decoder) guard(n *yaml.Node) *Expr {
	rn := resolve(n)
	src := rn.Value
	pos := d.src.nodePos(n)
	e, err := CompileExpr(src, pos)
	if err != nil {
		if off, msg, ok := dollarEnv(src); ok {
			d.add(diag(d.src.valuePos(rn, off), CodeDynamicEnv, "%s", msg))
			if d.ctx.tr != nil {
				d.badGuards[d.ctx.tr] = true
			}
			return nil
		}
		ee := err.(*exprError)
		if strings.HasPrefix(ee.Msg, "expected bool") {
			d.add(diag(pos, CodeGuardNotBool, "if: must be a boolean expression; %s", strings.TrimPrefix(ee.Msg, "expected bool, but got ")+" is not boolean"))
		} else if t := strings.TrimSpace(src); strings.HasPrefix(t, "${{") && strings.HasSuffix(t, "}}") {
			d.add(diag(pos, CodeBadExpr, "if: takes a bare expression, not a template: write %s without ${{ and }}",
				strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(t, "${{"), "}}"))))
		} else {
			msg := exprMsg(ee.Msg, src, runeOffset(src, ee.Line, ee.Col))
			if rn.Style == yaml.DoubleQuotedStyle {
				// if: "event.role == agent": "agent" would end the YAML
				// string; the expression's own quotes are '…'.
				if i := strings.Index(msg, `: text is quoted, "`); i >= 0 {
					name := strings.TrimSuffix(msg[i+len(`: text is quoted, "`):], `"`)
					msg = msg[:i] + fmt.Sprintf(`: text is quoted, '%s' inside a "…" value`, name)
				}
			}
			switch {
			case strings.Contains(src, "=~"):
				msg += ` (a regular expression match is written: call.from matches "^\\+44")`
			case strings.Contains(src, "=<") || strings.Contains(src, "=>"):
				msg += " (comparisons are written <= and >=)"
			case singleEquals.MatchString(src):
				msg += ` (equality is written ==: event.role == "customer")`
			}
			d.add(diag(d.src.valuePos(rn, runeOffset(src, ee.Line, ee.Col)), CodeBadExpr, "%s", msg))
		}
		if d.ctx.tr != nil {
			d.badGuards[d.ctx.tr] = true
		}
		return nil
	}
	if len(e.refs) > 0 {
		ctx := d.ctx
		ctx.where = "if"
		d.exprs = append(d.exprs, exprSite{node: rn, refs: e.refs, ctx: ctx, guard: true})
	}
	return e
}

// exprMsg rewords expr's messages where they name Go types, and says how
// to fix the mistakes people make most.
func exprMsg(m, src string, off int) string {
	m = strings.ReplaceAll(m, "flow.Participant", "participant")
	m = strings.ReplaceAll(m, "interface {}", "any")
	if i := strings.Index(m, "\n"); i >= 0 {
		m = m[:i]
	}
	switch {
	case m == "unexpected token EOF":
		// event.role == "agent" &&, or a ( never closed.
		return "the expression ends too early: is something missing after the last operator, or a ( or [ not closed?"
	case strings.HasPrefix(m, "unknown name "):
		name := strings.TrimPrefix(m, "unknown name ")
		before := ""
		if r := []rune(src); off >= 0 && off <= len(r) {
			before = strings.TrimRight(string(r[:off]), " ")
		}
		compared := false
		for _, op := range []string{"==", "!=", "[", ",", " in", "("} {
			compared = compared || strings.HasSuffix(before, op) && op != "(" || op == "(" && strings.HasSuffix(before, "in (")
		}
		if compared {
			// event.role == agent: the text the field is compared with.
			return fmt.Sprintf(`%s: text is quoted, "%s"`, m, name)
		}
		if s := suggest(name, envNames); s != "" {
			return fmt.Sprintf("%s (did you mean %s?)", m, s)
		}
		return fmt.Sprintf(`%s: an expression reads %s; text is quoted ("%s")`, m, strings.Join(envNames, ", "), name)
	case strings.HasPrefix(m, `unexpected token Identifier("`):
		word := strings.TrimSuffix(strings.TrimPrefix(m, `unexpected token Identifier("`), `")`)
		switch strings.ToLower(word) {
		case "and", "or", "not":
			return fmt.Sprintf("unexpected %s: write and, or and not in lower case, or &&, || and !", word)
		}
		return fmt.Sprintf("unexpected %s after a complete value: is an operator missing before it, or is it text to quote?", word)
	}
	return m
}

// envNames are the names an expression reads (call, event, vars …).
var envNames = func() []string {
	var out []string
	t := reflect.TypeOf(Env{})
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("expr"); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}()

// runeOffset turns expr's 1-based line and 0-based column into a rune offset.
func runeOffset(s string, line, col int) int {
	off, l := 0, 1
	for _, r := range s {
		if l >= line {
			break
		}
		off++
		if r == '\n' {
			l++
		}
	}
	return off + col
}
