package flow

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"

	"github.com/flowd/flowd/schema"
)

// The loader checks the shape of a file against the embedded JSON Schema
// (the very file editors use) and maps each error's instance location, a
// JSON pointer, back to the YAML node it came from.

type compiledSchema struct {
	root    *jsonschema.Schema
	actions map[string]*jsonschema.Schema
}

var (
	schemaOnce sync.Once
	schemaC    *compiledSchema
	schemaErr  error
)

func loadSchema() (*compiledSchema, error) {
	schemaOnce.Do(func() {
		schemaC, schemaErr = compileSchema(schema.Flow)
	})
	return schemaC, schemaErr
}

func compileSchema(b []byte) (*compiledSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("schema/flow.schema.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(SchemaID, doc); err != nil {
		return nil, err
	}
	root, err := c.Compile(SchemaID)
	if err != nil {
		return nil, fmt.Errorf("schema/flow.schema.json: %w", err)
	}
	out := &compiledSchema{root: root, actions: map[string]*jsonschema.Schema{}}
	for _, a := range Actions {
		s, err := c.Compile(SchemaID + "#/definitions/action_" + a.Name)
		if err != nil {
			return nil, fmt.Errorf("schema/flow.schema.json is stale (run go test ./engine/flow -run TestSchemaUpToDate -update): %w", err)
		}
		out.actions[a.Name] = s
	}
	return out, nil
}

// checkSchema validates root against the schema.
func checkSchema(src *source, root *yaml.Node) Diagnostics {
	cs, err := loadSchema()
	if err != nil {
		return Diagnostics{diag(src.pos(1, 1), CodeInternal, "%v", err)}
	}
	m := &schemaMapper{src: src, root: root, cs: cs}
	m.validate(cs.root, toJSON(root), nil)
	return m.diags
}

type schemaMapper struct {
	src   *source
	root  *yaml.Node
	cs    *compiledSchema
	diags Diagnostics
}

func (m *schemaMapper) validate(s *jsonschema.Schema, inst any, prefix []string) {
	err := s.Validate(inst)
	if err == nil {
		return
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		m.diags = append(m.diags, diag(m.src.pos(1, 1), CodeInternal, "schema validation: %v", err))
		return
	}
	m.mapErr(ve, prefix)
}

func joinPath(prefix, loc []string) []string {
	if len(prefix) == 0 {
		return loc
	}
	out := make([]string, 0, len(prefix)+len(loc))
	return append(append(out, prefix...), loc...)
}

func (m *schemaMapper) mapErr(e *jsonschema.ValidationError, prefix []string) {
	path := joinPath(prefix, e.InstanceLocation)
	node, _ := nodeAt(m.root, path)
	switch k := e.ErrorKind.(type) {
	case *kind.OneOf:
		m.oneOf(e, path, node, prefix)
	case *kind.AdditionalProperties:
		pi := describePath(path)
		for _, p := range k.Properties {
			if kn := keyNode(node, p); kn != nil {
				m.diags = append(m.diags, m.src.unknownKey(kn, pi.noun, pi.keys))
			}
		}
	case *kind.Required:
		pi := describePath(path)
		for _, r := range k.Missing {
			m.diags = append(m.diags, m.src.missingKey(node, pi.noun, r))
		}
	case *kind.Type:
		m.diags = append(m.diags, m.src.wrongType(node, k.Want, describePath(path).what))
	case *kind.Enum:
		var want []string
		for _, w := range k.Want {
			want = append(want, fmt.Sprint(w))
		}
		m.diags = append(m.diags, m.src.badEnum(node, describePath(path).what, want))
	case *kind.Pattern:
		m.diags = append(m.diags, m.src.badPattern(node, describePath(path).what, k.Got, k.Want))
	case *kind.PropertyNames:
		pattern := ""
		for _, c := range e.Causes {
			if p, ok := c.ErrorKind.(*kind.Pattern); ok {
				pattern = p.Want
			}
		}
		if kn := keyNode(node, k.Property); kn != nil {
			m.diags = append(m.diags, m.src.badPattern(kn, "name", k.Property, pattern))
		}
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf, *kind.AnyOf:
		for _, c := range e.Causes {
			m.mapErr(c, prefix)
		}
	default:
		m.diags = append(m.diags, diag(m.src.nodePos(node), CodeBadValue, "%s: %s", describePath(path).what, e.ErrorKind.LocalizedString(nil)))
	}
}

// oneOf picks the alternative the author meant. Action items are told apart
// by their key; every other alternative in the schema by the value's type.
func (m *schemaMapper) oneOf(e *jsonschema.ValidationError, path []string, node *yaml.Node, prefix []string) {
	if describePath(path).mode == modeActionItem {
		name, _, dg, ok := m.src.actionItemDiag(node)
		if !ok {
			m.diags = append(m.diags, dg)
			return
		}
		if s := m.cs.actions[name]; s != nil {
			m.validate(s, toJSON(node), path)
		}
		return
	}
	loc := strings.Join(e.InstanceLocation, "/")
	var fit []*jsonschema.ValidationError
	var want []string
	for _, c := range e.Causes {
		if w, rejected := typeRejected(c, loc); rejected {
			want = append(want, w...)
			continue
		}
		fit = append(fit, c)
	}
	if len(fit) == 0 {
		m.diags = append(m.diags, m.src.wrongType(node, want, describePath(path).what))
		return
	}
	m.mapErr(fit[0], prefix)
}

// typeRejected reports whether an alternative failed on the value's type
// itself, and which types it wanted.
func typeRejected(e *jsonschema.ValidationError, loc string) ([]string, bool) {
	if strings.Join(e.InstanceLocation, "/") != loc {
		return nil, false
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		return k.Want, true
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		for _, c := range e.Causes {
			if w, ok := typeRejected(c, loc); ok {
				return w, true
			}
		}
	}
	return nil, false
}

// Path modes for describePath.
const (
	modeStruct = iota
	modeMap
	modeHandler
	modeActions
	modeActionItem
	modeLeaf
)

type pathInfo struct {
	mode int
	noun string   // for an object: what it is
	keys []string // for a struct: its keys
	what string   // how messages name the value
}

// describePath follows a JSON pointer through the model's types, so schema
// errors are worded like the typed decoder's.
func describePath(path []string) pathInfo {
	t := tFlow
	mode := modeStruct
	noun := "flow"
	action := ""
	what := "a flow file"
	var fi *fieldInfo
	for _, tok := range path {
		switch mode {
		case modeStruct:
			si := infoOf(t)
			if si.inline != nil {
				fi = si.inline
				what = tok + " (in " + noun + ")"
				t, mode = tTemplate, modeLeaf
				continue
			}
			fi = si.byKey[tok]
			if fi == nil {
				return pathInfo{mode: modeLeaf, what: tok}
			}
			what = tok + " (in " + noun + ")"
			t = fi.Type
			switch {
			case t == tActions:
				mode = modeActions
			case t.Kind() == reflect.Map:
				mode = modeMap
			case t.Kind() == reflect.Struct:
				noun = nounOf(t, "")
			case t.Kind() == reflect.Slice:
				mode = modeLeaf
				what = "item of " + what
			default:
				mode = modeLeaf
			}
		case modeMap:
			et := t.Elem()
			switch {
			case et == tTemplate:
				what = tok + " (in " + what + ")"
				mode = modeLeaf
			case et == tTransits:
				what = "the handler of " + tok
				mode = modeHandler
			default:
				t = et.Elem()
				noun = nounOf(t, "")
				what = noun + " " + tok
				mode = modeStruct
			}
		case modeHandler:
			t = reflect.TypeOf(Transition{})
			noun = nounOf(t, "")
			if _, err := strconv.Atoi(tok); err == nil {
				what = "a transition"
				mode = modeStruct
				continue
			}
			si := infoOf(t)
			fi = si.byKey[tok]
			if fi == nil {
				return pathInfo{mode: modeLeaf, what: tok}
			}
			what = tok + " (in " + noun + ")"
			t = fi.Type
			mode = modeLeaf
			if t == tActions {
				mode = modeActions
			}
		case modeActions:
			what = "an action"
			mode = modeActionItem
		case modeActionItem:
			spec, ok := ActionSpecByName(tok)
			if !ok {
				return pathInfo{mode: modeLeaf, what: tok}
			}
			action = tok
			t = reflect.TypeOf(spec.New()).Elem()
			noun = nounOf(t, action)
			what = "the parameters of " + action
			mode = modeStruct
		case modeLeaf:
			return pathInfo{mode: modeLeaf, what: what}
		}
	}
	pi := pathInfo{mode: mode, noun: noun, what: what}
	if mode == modeStruct {
		pi.keys = infoOf(t).keys()
	}
	if mode == modeHandler {
		pi.noun = "transition"
		pi.keys = infoOf(reflect.TypeOf(Transition{})).keys()
	}
	return pi
}
