package flow

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The language's shape is read from the model's struct tags once, here, and
// used by the typed decoder, the JSON Schema generator, the schema error
// mapper and the docs:
//
//	flow:"name[,required][,scalar][,inline]"  the YAML key ("-": not in YAML)
//	desc:"…"                                  schema description and docs
//	enum:"a,b,c"                              allowed string values
//	pattern:"re"                              a string (or each string of a list) must match
//	keys:"re"                                 each key of a map must match
//	role:"true"                               the string must be a known role (and not be empty)
//	nonempty:"true"                           the string (or template) must not be empty
//	min:"n" max:"n"                           an integer's bounds (when given)

var (
	tTemplate = reflect.TypeOf((*Template)(nil))
	tExpr     = reflect.TypeOf((*Expr)(nil))
	tActions  = reflect.TypeOf([]*Action(nil))
	tTransits = reflect.TypeOf([]*Transition(nil))
	tPos      = reflect.TypeOf(Pos{})
	tFlow     = reflect.TypeOf(Flow{})
	tState    = reflect.TypeOf(State{})
)

type fieldInfo struct {
	Key      string
	Index    int
	Type     reflect.Type
	Required bool
	Scalar   bool
	Inline   bool
	Role     bool
	// NonEmpty: "" is refused (schema minLength 1). Every role is: an
	// empty one would read as the action's default (`hangup: ""` would
	// end the call for everyone).
	NonEmpty bool
	Enum     []string
	Pattern  string
	Keys     string
	Desc     string
	GoName   string
	// Min and Max bound an integer field when it is given (nil: no bound).
	Min, Max *int64

	pattern *regexp.Regexp
	keys    *regexp.Regexp
}

type structInfo struct {
	Type   reflect.Type
	Fields []*fieldInfo // YAML fields, in declaration order
	byKey  map[string]*fieldInfo
	req    []string   // required keys
	scalar *fieldInfo // the field the short form fills, if any
	inline *fieldInfo // SetAction: the struct is this map
	// Loader-filled fields.
	nameField  int // index of Name (flow:"-"), or -1
	posField   int // index of Pos, or -1
	orderField map[int]int
}

var structInfos sync.Map // reflect.Type -> *structInfo

// Order fields the loader fills with the keys of a map field, in file order.
var orderFieldNames = map[string]string{
	"States": "StateOrder",
	"On":     "OnOrder",
	"Params": "ParamOrder",
	"Values": "Order",
}

func infoOf(t reflect.Type) *structInfo {
	if v, ok := structInfos.Load(t); ok {
		return v.(*structInfo)
	}
	si := &structInfo{Type: t, byKey: map[string]*fieldInfo{}, nameField: -1, posField: -1, orderField: map[int]int{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("flow")
		if !ok || tag == "-" || !sf.IsExported() {
			if sf.Name == "Name" && tag == "-" && sf.Type.Kind() == reflect.String {
				si.nameField = i
			}
			if sf.Name == "Pos" && sf.Type == tPos {
				si.posField = i
			}
			continue
		}
		parts := strings.Split(tag, ",")
		fi := &fieldInfo{Key: parts[0], Index: i, Type: sf.Type, GoName: sf.Name,
			Desc: sf.Tag.Get("desc"), Pattern: sf.Tag.Get("pattern"), Keys: sf.Tag.Get("keys"),
			Role: sf.Tag.Get("role") == "true"}
		fi.NonEmpty = fi.Role || sf.Tag.Get("nonempty") == "true"
		for _, o := range parts[1:] {
			switch o {
			case "required":
				fi.Required = true
			case "scalar":
				fi.Scalar = true
			case "inline":
				fi.Inline = true
			}
		}
		for tag, dst := range map[string]**int64{"min": &fi.Min, "max": &fi.Max} {
			if s, ok := sf.Tag.Lookup(tag); ok {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					panic(fmt.Sprintf("flow: %s.%s: bad %s tag %q", t.Name(), sf.Name, tag, s))
				}
				*dst = &n
			}
		}
		if e := sf.Tag.Get("enum"); e != "" {
			fi.Enum = strings.Split(e, ",")
		}
		if fi.Pattern != "" {
			fi.pattern = regexp.MustCompile(fi.Pattern)
		}
		if fi.Keys != "" {
			fi.keys = regexp.MustCompile(fi.Keys)
		}
		if fi.Inline {
			si.inline = fi
			continue
		}
		if fi.Scalar {
			si.scalar = fi
		}
		si.Fields = append(si.Fields, fi)
		si.byKey[fi.Key] = fi
		if fi.Required {
			si.req = append(si.req, fi.Key)
		}
		if of, ok := orderFieldNames[sf.Name]; ok {
			if osf, ok := t.FieldByName(of); ok {
				si.orderField[i] = osf.Index[0]
			}
		}
	}
	if si.inline != nil {
		if of, ok := orderFieldNames[si.inline.GoName]; ok {
			if osf, ok := t.FieldByName(of); ok {
				si.orderField[si.inline.Index] = osf.Index[0]
			}
		}
	}
	v, _ := structInfos.LoadOrStore(t, si)
	return v.(*structInfo)
}

func (si *structInfo) keys() []string {
	out := make([]string, len(si.Fields))
	for i, f := range si.Fields {
		out[i] = f.Key
	}
	return out
}

func (si *structInfo) required() []string { return si.req }

// bareAllowed reports whether an action may be written as its bare name
// (`- accept`, `- hangup`): it has no required parameter.
func bareAllowed(spec ActionSpec) bool {
	si := infoOf(reflect.TypeOf(spec.New()).Elem())
	return si.inline == nil && len(si.required()) == 0
}

// actionInfos caches each action's parameter struct info.
var actionInfos = func() map[string]*structInfo {
	m := map[string]*structInfo{}
	for _, a := range Actions {
		m[a.Name] = infoOf(reflect.TypeOf(a.New()).Elem())
	}
	return m
}()

// JSON types, as JSON Schema names them.
const (
	jNull   = "null"
	jBool   = "boolean"
	jInt    = "integer"
	jNumber = "number"
	jString = "string"
	jObject = "object"
	jArray  = "array"
)

// Type lists jsonTypes returns (shared, never modified).
var (
	typesString  = []string{jString}
	typesScalar  = []string{jString, jNumber, jBool}
	typesExpr    = []string{jString, jBool}
	typesInt     = []string{jInt}
	typesBool    = []string{jBool}
	typesObject  = []string{jObject}
	typesArray   = []string{jArray}
	typesNoValue = []string(nil)
)

// jsonTypes returns the JSON types a Go field type accepts. inMap is true for
// the values of a map (templates there may also be numbers or booleans).
func jsonTypes(t reflect.Type, inMap bool) []string {
	switch t {
	case tTemplate:
		if inMap {
			return typesScalar
		}
		return typesString
	case tExpr:
		return typesExpr
	}
	switch t.Kind() {
	case reflect.String:
		return typesString
	case reflect.Int, reflect.Int64:
		return typesInt
	case reflect.Bool:
		return typesBool
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Bool {
			return typesBool
		}
		return typesObject
	case reflect.Slice:
		return typesArray
	case reflect.Map, reflect.Struct:
		return typesObject
	}
	return typesNoValue
}

// typeMatches reports whether a YAML node kind (as a JSON type) is one of want.
func typeMatches(got string, want []string) bool {
	for _, w := range want {
		if w == got || (w == jNumber && got == jInt) {
			return true
		}
	}
	return false
}

// nounCache keeps nounOf's answers: it runs for every struct decoded, and
// building the string each time was 2 % of validate's allocations.
var nounCache struct {
	sync.RWMutex
	m map[nounKey]string
}

type nounKey struct {
	t      reflect.Type
	action string
}

// nounOf names what a struct is, for messages.
func nounOf(t reflect.Type, action string) string {
	k := nounKey{t, action}
	nounCache.RLock()
	n, ok := nounCache.m[k]
	nounCache.RUnlock()
	if ok {
		return n
	}
	n = makeNoun(t, action)
	nounCache.Lock()
	if nounCache.m == nil {
		nounCache.m = map[nounKey]string{}
	}
	nounCache.m[k] = n
	nounCache.Unlock()
	return n
}

func makeNoun(t reflect.Type, action string) string {
	if action != "" {
		return "action " + action
	}
	switch t {
	case tFlow:
		return "flow"
	case reflect.TypeOf(State{}):
		return "state"
	case reflect.TypeOf(Transition{}):
		return "transition"
	case reflect.TypeOf(Command{}):
		return "command"
	case reflect.TypeOf(Param{}):
		return "command parameter"
	case reflect.TypeOf(TaskRouter{}):
		return "taskrouter"
	}
	return strings.ToLower(t.Name())
}
