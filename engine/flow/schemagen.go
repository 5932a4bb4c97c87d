package flow

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// GenerateSchema returns the JSON Schema (draft-07) of flow files, generated
// from the model's struct tags and the [Actions] registry. The checked-in
// schema/flow.schema.json is this output; TestSchemaUpToDate compares them
// (go test ./engine/flow -run TestSchemaUpToDate -update rewrites the file).
func GenerateSchema() []byte {
	g := &schemaGen{defs: newObj()}
	root := g.structSchema(tFlow, "")
	doc := newObj()
	doc.set("$schema", "http://json-schema.org/draft-07/schema#")
	doc.set("$id", SchemaID)
	doc.set("title", "flowd flow")
	doc.set("description", "A flowd call flow: the states a call goes through and the transitions between them. Reference: docs/language.md.")
	for _, kv := range root.kvs {
		if kv.k == "description" {
			continue
		}
		doc.set(kv.k, kv.v)
	}
	doc.set("patternProperties", newObj().set("^"+extensionPrefix, newObj().
		set("description", "Extension keys (x-…) are ignored: a place to define YAML anchors that states reuse with aliases or merge keys (<<: *anchor).")))
	g.defineShared()
	doc.set("definitions", g.defs)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// extensionPrefix starts top-level keys the loader ignores (anchors live there).
const extensionPrefix = "x-"

// SchemaID is the $id of the generated schema.
const SchemaID = "https://github.com/flowd/flowd/schema/flow.schema.json"

// obj is a JSON object that keeps its keys in insertion order.
type obj struct{ kvs []objKV }

type objKV struct {
	k string
	v any
}

func newObj() *obj { return &obj{} }

func (o *obj) set(k string, v any) *obj {
	for i := range o.kvs {
		if o.kvs[i].k == k {
			o.kvs[i].v = v
			return o
		}
	}
	o.kvs = append(o.kvs, objKV{k, v})
	return o
}

func (o *obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range o.kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv.k)
		b.Write(k)
		b.WriteByte(':')
		var vb bytes.Buffer
		enc := json.NewEncoder(&vb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(kv.v); err != nil {
			return nil, err
		}
		b.Write(bytes.TrimRight(vb.Bytes(), "\n"))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type schemaGen struct{ defs *obj }

func ref(name, desc string) *obj {
	o := newObj().set("$ref", "#/definitions/"+name)
	if desc != "" {
		o.set("description", desc)
	}
	return o
}

// Definitions shared by several places.
var sharedDefs = map[reflect.Type]string{
	reflect.TypeOf(State{}):      "state",
	reflect.TypeOf(Transition{}): "transition",
	reflect.TypeOf(Command{}):    "command",
	reflect.TypeOf(Param{}):      "param",
}

func (g *schemaGen) defineShared() {
	g.defs.set("state", g.structSchema(reflect.TypeOf(State{}), "A state of the call."))
	g.defs.set("transition", g.structSchema(reflect.TypeOf(Transition{}), "A transition: an optional guard (if), actions (do) and a target state (to)."))
	g.defs.set("handler", newObj().
		set("description", "The reaction to an event: one transition, or a list of them of which the first whose if holds fires."+
			" An empty list handles the event by doing nothing (and hides a flow-level handler)").
		set("oneOf", []any{
			ref("transition", ""),
			newObj().set("type", "array").set("description", "Candidate transitions, tried in order.").set("items", ref("transition", "")),
		}))
	g.defs.set("command", g.structSchema(reflect.TypeOf(Command{}), "A command the agent desktop or supervisor console may send."))
	g.defs.set("param", g.structSchema(reflect.TypeOf(Param{}), "A command parameter."))
	item := []any{newObj().
		set("type", "string").
		set("description", "An action without parameters, by name alone.").
		set("enum", bareActionNames())}
	for _, a := range Actions {
		item = append(item, ref("action_"+a.Name, ""))
	}
	g.defs.set("action", newObj().
		set("description", "An action: a map with one key, the action's name, whose value holds its parameters (or the short form); or the bare name of an action without required parameters.").
		set("oneOf", item))
	for _, a := range Actions {
		g.defs.set("action_"+a.Name, newObj().
			set("type", "object").
			set("description", a.Desc).
			set("additionalProperties", false).
			set("required", []string{a.Name}).
			set("properties", newObj().set(a.Name, g.actionParams(a))))
	}
}

func bareActionNames() []string {
	var out []string
	for _, a := range Actions {
		if bareAllowed(a) {
			out = append(out, a.Name)
		}
	}
	return out
}

func (g *schemaGen) actionParams(a ActionSpec) *obj {
	t := reflect.TypeOf(a.New()).Elem()
	si := infoOf(t)
	o := g.structSchema(t, a.Desc)
	if si.inline != nil {
		return o
	}
	if len(si.required()) == 0 {
		o.set("type", []string{jObject, jNull})
	}
	if si.scalar == nil {
		return o
	}
	short := g.fieldSchema(si.scalar, false)
	short.set("description", "Short form: the "+si.scalar.Key+". "+si.scalar.Desc)
	o.set("description", "The parameters.")
	return newObj().set("description", a.Desc).set("oneOf", []any{short, o})
}

func (g *schemaGen) structSchema(t reflect.Type, desc string) *obj {
	si := infoOf(t)
	if si.inline != nil {
		o := g.mapSchema(si.inline, si.inline.Type)
		if desc != "" {
			o.set("description", desc)
		}
		return o
	}
	o := newObj().set("type", "object")
	if desc != "" {
		o.set("description", desc)
	}
	o.set("additionalProperties", false)
	if req := si.required(); len(req) > 0 {
		o.set("required", req)
	}
	props := newObj()
	for _, f := range si.Fields {
		props.set(f.Key, g.fieldSchema(f, false))
	}
	o.set("properties", props)
	return o
}

func (g *schemaGen) fieldSchema(f *fieldInfo, inMap bool) *obj {
	t := f.Type
	switch {
	case t == tActions:
		return newObj().set("type", "array").set("description", f.Desc).set("items", ref("action", ""))
	case t == tTemplate || t == tExpr || t.Kind() == reflect.String || t.Kind() == reflect.Int || t.Kind() == reflect.Bool ||
		t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool:
		o := newObj().set("type", typeValue(jsonTypes(t, inMap))).set("description", f.Desc)
		g.stringRules(o, f)
		return o
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		items := newObj().set("type", "string")
		g.stringRules(items, f)
		return newObj().set("type", "array").set("description", f.Desc).set("items", items)
	case t.Kind() == reflect.Map:
		o := g.mapSchema(f, t)
		return o
	case t.Kind() == reflect.Struct:
		if name, ok := sharedDefs[t]; ok {
			return ref(name, f.Desc)
		}
		return g.structSchema(t, f.Desc)
	}
	panic("flow: no schema for " + t.String())
}

func typeValue(ts []string) any {
	if len(ts) == 1 {
		return ts[0]
	}
	return ts
}

func (g *schemaGen) stringRules(o *obj, f *fieldInfo) {
	if len(f.Enum) > 0 {
		o.set("enum", f.Enum)
	}
	if f.Pattern != "" {
		o.set("pattern", f.Pattern)
	}
	if f.NonEmpty {
		o.set("minLength", 1)
	}
	if f.Min != nil {
		o.set("minimum", *f.Min)
	}
	if f.Max != nil {
		o.set("maximum", *f.Max)
	}
}

func (g *schemaGen) mapSchema(f *fieldInfo, t reflect.Type) *obj {
	o := newObj().set("type", "object").set("description", f.Desc)
	var value *obj
	et := t.Elem()
	switch {
	case et == tTemplate:
		value = newObj().set("type", typeValue(jsonTypes(et, true))).
			set("description", "A value: text (which may interpolate ${{ … }}), a number or a boolean.")
	case et == tTransits:
		value = ref("handler", "")
	case et.Kind() == reflect.Pointer:
		value = ref(sharedDefs[et.Elem()], "")
	default:
		panic("flow: no schema for map of " + et.String())
	}
	// Key rules are written as patternProperties rather than propertyNames:
	// editors complete values under them, and a bad key is reported at the
	// key.
	if f.Keys != "" {
		o.set("patternProperties", newObj().set(f.Keys, value))
		o.set("additionalProperties", false)
	} else {
		o.set("additionalProperties", value)
	}
	return o
}
