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
	root *jsonschema.Schema
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
	discriminateActions(doc)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(SchemaID, doc); err != nil {
		return nil, err
	}
	root, err := c.Compile(SchemaID)
	if err != nil {
		return nil, fmt.Errorf("schema/flow.schema.json: %w", err)
	}
	return &compiledSchema{root: root}, nil
}

// discriminateActions rewrites definitions/action, a oneOf of one-key
// objects (plus a string enum of bare action names), into its equivalent
// selected by key: if an object, then an object with exactly one
// property, each property's schema taken from the same action_NAME branch;
// else (a string) the enum.
// An object with one key K can only match branch K of the oneOf, so both
// accept exactly the same documents; the validator then checks one branch
// per item instead of all of them, which is most of validate's time on big
// files. Editors keep the oneOf of the file.
func discriminateActions(doc any) {
	root, _ := doc.(map[string]any)
	defs, _ := root["definitions"].(map[string]any)
	action, _ := defs["action"].(map[string]any)
	branches, _ := action["oneOf"].([]any)
	if len(branches) == 0 {
		return
	}
	var enum any
	props := map[string]any{}
	for _, b := range branches {
		bm, _ := b.(map[string]any)
		if bm["type"] == "string" {
			enum = bm["enum"]
			continue
		}
		ref, _ := bm["$ref"].(string)
		name := strings.TrimPrefix(ref, "#/definitions/action_")
		if name == ref {
			return // not the generated shape: leave it alone
		}
		props[name] = map[string]any{"$ref": ref + "/properties/" + name}
	}
	bare := map[string]any{"type": "string", "enum": enum}
	if enum == nil {
		bare = map[string]any{"type": "object"}
	}
	// "if object" rather than "if string": the common case then passes the
	// condition without building an error.
	defs["action"] = map[string]any{
		"if": map[string]any{"type": "object"},
		"then": map[string]any{
			"minProperties":        1,
			"maxProperties":        1,
			"additionalProperties": false,
			"properties":           props,
		},
		"else": bare,
	}
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
	switch e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf, *kind.AnyOf:
	default:
		if m.insideBadAction(path) {
			return // the item's own shape error says it all
		}
	}
	switch e.ErrorKind.(type) {
	case *kind.Type, *kind.Enum, *kind.MinProperties, *kind.MaxProperties, *kind.AdditionalProperties, *kind.OneOf, *kind.Not:
		if describePath(path).mode == modeActionItem {
			// The item's outer shape: say it in the words of an action.
			if _, _, dg, ok := m.src.actionItemDiag(node); !ok {
				m.diags = append(m.diags, dg)
			}
			return
		}
	}
	switch k := e.ErrorKind.(type) {
	case *kind.OneOf:
		m.oneOf(e, path, node, prefix)
	case *kind.AdditionalProperties:
		pi := describePath(path)
		for _, p := range k.Properties {
			kn := keyNode(node, p)
			switch {
			case kn == nil:
			case pi.keyPattern != "":
				m.diags = append(m.diags, m.src.badPattern(kn, keyNoun(pi.mapKey), p, pi.keyPattern))
			default:
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
	case *kind.MinLength:
		pi := describePath(path)
		fi, what := pi.field, pi.what
		if pi.scalar != nil && node != nil && resolve(node).Kind == yaml.ScalarNode {
			// The short form (`hold: ""`) fills the struct's scalar field.
			fi, what = pi.scalar, fieldWhat(pi.scalar.Key, pi.noun)
		}
		m.diags = append(m.diags, m.src.emptyValue(node, what, fi != nil && fi.Role))
	case *kind.Minimum, *kind.Maximum:
		pi := describePath(path)
		fi, what := pi.field, pi.what
		if pi.scalar != nil && node != nil && resolve(node).Kind == yaml.ScalarNode {
			// The short form (`pause: 0`) fills the struct's scalar field.
			fi, what = pi.scalar, fieldWhat(pi.scalar.Key, pi.noun)
		}
		if fi == nil || fi.Min == nil && fi.Max == nil {
			m.diags = append(m.diags, diag(m.src.nodePos(node), CodeBadValue, "%s: %s", what, e.ErrorKind.LocalizedString(nil)))
			return
		}
		m.diags = append(m.diags, m.src.outOfRange(node, what, fi.Min, fi.Max))
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf, *kind.AnyOf:
		for _, c := range e.Causes {
			m.mapErr(c, prefix)
		}
	default:
		m.diags = append(m.diags, diag(m.src.nodePos(node), CodeBadValue, "%s: %s", describePath(path).what, e.ErrorKind.LocalizedString(nil)))
	}
}

// insideBadAction reports whether path is inside an action item whose outer
// shape is wrong (the decoder does not look inside those either).
func (m *schemaMapper) insideBadAction(path []string) bool {
	for i := len(path) - 1; i >= 1; i-- {
		if describePath(path[:i]).mode != modeActionItem {
			continue
		}
		node, _ := nodeAt(m.root, path[:i])
		_, _, _, ok := m.src.actionItemDiag(node)
		return !ok
	}
	return false
}

// oneOf picks the alternative the author meant. Action items are told apart
// by their key; every other alternative in the schema by the value's type.
func (m *schemaMapper) oneOf(e *jsonschema.ValidationError, path []string, node *yaml.Node, prefix []string) {
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
	modeSlice
)

type pathInfo struct {
	mode       int
	keyPattern string     // for a map with a key rule: the rule
	mapKey     string     // and the map field's key
	noun       string     // for an object: what it is
	keys       []string   // for a struct: its keys
	what       string     // how messages name the value
	field      *fieldInfo // the last model field on the path, if any
	// scalar, for a struct: the field its short form fills (`pause: 2`).
	scalar *fieldInfo
}

// describePath follows a JSON pointer through the model's types, so schema
// errors are worded like the typed decoder's.
func describePath(path []string) pathInfo {
	t := tFlow
	mode := modeStruct
	noun := "flow"
	action := ""
	what := whatFile
	var fi *fieldInfo
	for _, tok := range path {
		switch mode {
		case modeStruct:
			si := infoOf(t)
			if si.inline != nil {
				fi = si.inline
				what = fieldWhat(tok, noun)
				t, mode = tTemplate, modeLeaf
				continue
			}
			fi = si.byKey[tok]
			if fi == nil {
				return pathInfo{mode: modeLeaf, what: tok}
			}
			what = fieldWhat(tok, noun)
			t = fi.Type
			switch {
			case t == tActions:
				mode = modeActions
			case t.Kind() == reflect.Map:
				mode = modeMap
			case t.Kind() == reflect.Struct:
				noun = nounOf(t, "")
			case t.Kind() == reflect.Slice:
				mode = modeSlice
			default:
				mode = modeLeaf
			}
		case modeMap:
			et := t.Elem()
			switch {
			case et == tTemplate:
				what = tok + " in " + what
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
			what = fieldWhat(tok, noun)
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
		case modeSlice:
			// An item of a list; the list itself (numbers: +1555…) is
			// the field.
			what = "item of " + what
			mode = modeLeaf
		case modeLeaf:
			return pathInfo{mode: modeLeaf, what: what}
		}
	}
	pi := pathInfo{mode: mode, noun: noun, what: what, field: fi}
	if mode == modeStruct {
		pi.scalar = infoOf(t).scalar
		pi.keys = infoOf(t).keys()
		if in := infoOf(t).inline; in != nil {
			pi.keyPattern = in.Keys
		}
	}
	if mode == modeMap && fi != nil {
		pi.keyPattern, pi.mapKey = fi.Keys, fi.Key
	}
	if mode == modeHandler {
		pi.noun = "transition"
		pi.keys = infoOf(reflect.TypeOf(Transition{})).keys()
	}
	return pi
}
