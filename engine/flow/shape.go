package flow

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Shape diagnostics are built here, both by the JSON Schema error mapper and
// by the typed decoder, so the two report the same code, place and words.

var typePhrase = map[string]string{
	jNull:   "nothing",
	jBool:   "true or false",
	jInt:    "an integer",
	jNumber: "a number",
	jString: "a string",
	jObject: "a map",
	jArray:  "a list",
}

var typeOrder = []string{jString, jInt, jNumber, jBool, jObject, jArray, jNull}

func phraseTypes(want []string) string {
	var ps []string
	seen := map[string]bool{}
	for _, w := range typeOrder {
		if !contains(want, w) {
			continue
		}
		p := typePhrase[w]
		if p == "" {
			p = w
		}
		if w == jInt && contains(want, jNumber) {
			continue
		}
		if !seen[p] {
			seen[p] = true
			ps = append(ps, p)
		}
	}
	switch len(ps) {
	case 0:
		return "something else"
	case 1:
		return ps[0]
	}
	return strings.Join(ps[:len(ps)-1], ", ") + " or " + ps[len(ps)-1]
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func (src *source) wrongType(n *yaml.Node, want []string, what string) Diagnostic {
	got := jsonKind(n)
	msg := fmt.Sprintf("%s must be %s, not %s", what, phraseTypes(want), typePhrase[got])
	rn := resolve(n)
	if got == jInt && contains(want, jString) && rn != nil && strings.HasPrefix(rn.Value, "+") {
		msg += fmt.Sprintf(`: YAML reads +%s as an integer; quote phone numbers ("%s")`, strings.TrimPrefix(rn.Value, "+"), rn.Value)
	} else if got == jNumber && contains(want, jInt) && rn != nil && strings.Trim(strings.TrimPrefix(rn.Value, "-"), "0123456789") == "" {
		msg += fmt.Sprintf(": %s is too large for an integer", rn.Value)
	} else if (got == jInt || got == jNumber) && strings.HasPrefix(what, "if ") {
		// Quoting would only turn it into a guard that is not boolean.
		msg += fmt.Sprintf(`: a guard is a condition, such as event.digits == "%s"`, rn.Value)
	} else if (got == jInt || got == jNumber || got == jBool) && contains(want, jString) {
		msg += fmt.Sprintf(`; quote it if you mean the text ("%s")`, rn.Value)
	} else if what == whatFile && got != jObject && got != jNull {
		// An XML or TOML file, or prose, saved as .yaml.
		msg = fmt.Sprintf("a flow file must be a map of keys (flow: NAME, initial: STATE, states: …), but YAML reads this one as %s: is it a flow file?", typePhrase[got])
	} else if got == jNull && what == whatFile {
		msg = "the file is empty: a flow needs at least flow:, initial: and states:"
	} else if got == jNull && len(want) > 0 {
		msg += " (is a value missing after the colon?)"
	} else if len(want) == 1 && want[0] == jArray && rn != nil && rn.Kind == yaml.ScalarNode {
		// numbers: +1555…, do: hangup: one value where a list is needed.
		item := rn.Value
		if got == jInt && strings.HasPrefix(item, "+") || got == jString && strings.ContainsAny(item, ",:#{}[]") {
			item = fmt.Sprintf("%q", item)
		}
		msg += fmt.Sprintf(": write a list, [%s]", item)
	} else if len(want) == 1 && want[0] == jArray && got == jObject {
		// entry: { say: Hi } or entry:\n  say: Hi, for a list of one action.
		msg += ": start each item with - (or write [ … ])"
	}
	if key, ok := strings.CutPrefix(what, "the handler of "); ok && contains(transitionKeys, key) {
		// on: { participant.join: { if: … }, to: talking }: a transition's
		// key one level too far left reads as an event.
		msg += fmt.Sprintf(" — %s: is a key of a transition, not an event: indent it under the event above it", key)
	} else if name, ok := strings.CutPrefix(what, "state "); ok && contains(stateKeys, name) {
		msg += fmt.Sprintf(" — %s: is a key of a state, not a state: indent it under the state above it", name)
	}
	return diag(src.nodePos(n), CodeWrongType, "%s", msg)
}

// transitionKeys and stateKeys are the keys of a transition and of a
// state, which a wrong indentation turns into an event or a state name.
var (
	transitionKeys = infoOf(reflect.TypeOf(Transition{})).keys()
	stateKeys      = infoOf(reflect.TypeOf(State{})).keys()
)

func (src *source) unknownKey(k *yaml.Node, noun string, allowed []string) Diagnostic {
	msg := fmt.Sprintf("unknown key %q in %s", k.Value, noun)
	if k.Kind == yaml.MappingNode || k.Kind == yaml.SequenceNode {
		what := "list"
		if k.Kind == yaml.MappingNode {
			what = "map"
		}
		msg = fmt.Sprintf("a %s cannot be a key in %s (a `? ` complex key)", what, noun)
	}
	if s := suggest(k.Value, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	} else if len(allowed) > 0 && len(allowed) <= 12 {
		msg += "; allowed: " + strings.Join(allowed, ", ")
	}
	return diag(src.nodePos(k), CodeUnknownKey, "%s", msg)
}

func (src *source) missingKey(n *yaml.Node, noun, key string) Diagnostic {
	return diag(src.nodePos(n), CodeMissingKey, "%s needs %s:", noun, key)
}

func (src *source) badEnum(n *yaml.Node, what string, allowed []string) Diagnostic {
	rn := resolve(n)
	msg := fmt.Sprintf("%s must be one of %s, not %q", what, strings.Join(allowed, ", "), rn.Value)
	if s := suggest(rn.Value, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return diag(src.nodePos(n), CodeBadValue, "%s", msg)
}

// outOfRange: an integer outside its field's bounds (min and max may be nil).
func (src *source) outOfRange(n *yaml.Node, what string, min, max *int64) Diagnostic {
	var want string
	switch {
	case min != nil && max != nil:
		want = fmt.Sprintf("between %d and %d", *min, *max)
	case min != nil:
		want = fmt.Sprintf("at least %d", *min)
	case max != nil:
		want = fmt.Sprintf("at most %d", *max)
	default:
		want = "in range"
	}
	return diag(src.nodePos(n), CodeBadValue, "%s must be %s, not %s", what, want, resolve(n).Value)
}

func patternHint(pattern string) string {
	switch pattern {
	case `^[+][1-9][0-9]{1,14}$`:
		return "an E.164 phone number such as \"+447903546100\""
	case `^[A-Za-z_][A-Za-z0-9_]*$`:
		return "a name of letters, digits and _ that does not start with a digit"
	case `^[A-Za-z_][A-Za-z0-9_-]*$`:
		return "a name of letters, digits, _ and - that does not start with a digit or -"
	case `^[A-Za-z0-9_][A-Za-z0-9_-]*$`:
		return "a name of letters, digits, _ and - that does not start with -"
	}
	return "a string matching " + pattern
}

// whatFile names the whole document in messages.
const whatFile = "a flow file"

// keyNoun names the keys of a map field, for messages about bad names.
func keyNoun(key string) string {
	switch key {
	case "states":
		return "state name"
	case "commands":
		return "command name"
	case "params":
		return "parameter name"
	}
	return "variable name"
}

// fieldWhat names a struct field's value in messages.
func fieldWhat(key, noun string) string {
	if noun == "flow" {
		return key
	}
	return key + " (in " + noun + ")"
}

// emptyValue: "" where a role or an address is needed.
func (src *source) emptyValue(n *yaml.Node, what string, role bool) Diagnostic {
	if role {
		return diag(src.nodePos(n), CodeBadValue, "%s is empty; it names a role (customer, agent, consultee, supervisor, or one declared under roles:)", what)
	}
	return diag(src.nodePos(n), CodeBadValue, "%s must not be empty", what)
}

func (src *source) badPattern(n *yaml.Node, what string, value, pattern string) Diagnostic {
	msg := fmt.Sprintf("%s %q must be %s", what, value, patternHint(pattern))
	if strings.HasPrefix(pattern, "^[A-Za-z") && strings.ContainsAny(value, " .") {
		// on hold: → on_hold
		if fixed := strings.NewReplacer(" ", "_", ".", "_").Replace(strings.TrimSpace(value)); regexp.MustCompile(pattern).MatchString(fixed) {
			msg += fmt.Sprintf(" (%s?)", fixed)
		}
	}
	return diag(src.nodePos(n), CodeBadValue, "%s", msg)
}

var actionNames = func() []string {
	out := make([]string, len(Actions))
	for i, a := range Actions {
		out[i] = a.Name
	}
	return out
}()

// actionItemDiag explains why an action item is not a well-formed action,
// or returns ok when its outer shape (not its parameters) is right, with the
// action's name.
func (src *source) actionItemDiag(n *yaml.Node) (name string, params *yaml.Node, d Diagnostic, ok bool) {
	rn := resolve(n)
	switch jsonKind(n) {
	case jString:
		spec, found := ActionSpecByName(rn.Value)
		if !found {
			return "", nil, src.unknownAction(n, rn.Value), false
		}
		if !bareAllowed(spec) {
			return "", nil, diag(src.nodePos(n), CodeBadAction,
				"action %s needs parameters, e.g. `- %s`", spec.Name, actionExample(spec)), false
		}
		return spec.Name, nil, Diagnostic{}, true
	case jObject:
		ps := pairs(rn)
		if len(ps) == 0 {
			return "", nil, diag(src.nodePos(n), CodeBadAction, "empty action: write `- ACTION: parameters`"), false
		}
		if len(ps) > 1 {
			names := make([]string, len(ps))
			for i, p := range ps {
				names[i] = p.k.Value
			}
			msg := fmt.Sprintf("an action item has exactly one key, the action's name; this one has %s", strings.Join(names, ", "))
			if _, known := ActionSpecByName(ps[0].k.Value); known {
				if rn.Style&yaml.FlowStyle != 0 {
					// { say: Hello, world }: the comma starts a key.
					msg += fmt.Sprintf(" (inside { }, a comma starts another key: quote text with commas, { %s: \"…, …\" })", names[0])
				} else {
					msg += fmt.Sprintf(" (indent %s under %s, or start another item with -)", names[1], names[0])
				}
			}
			return "", nil, diag(src.nodePos(ps[1].k), CodeBadAction, "%s", msg), false
		}
		if _, found := ActionSpecByName(ps[0].k.Value); !found {
			return "", nil, src.unknownAction(ps[0].k, ps[0].k.Value), false
		}
		return ps[0].k.Value, ps[0].v, Diagnostic{}, true
	}
	return "", nil, src.wrongType(n, []string{jObject}, "an action"), false
}

func (src *source) unknownAction(n *yaml.Node, name string) Diagnostic {
	msg := fmt.Sprintf("unknown action %q", name)
	if s := suggest(name, actionNames); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	} else {
		msg += "; the actions are " + strings.Join(actionNames, ", ")
	}
	return diag(src.nodePos(n), CodeUnknownAction, "%s", msg)
}

func actionExample(spec ActionSpec) string {
	si := infoOf(reflect.TypeOf(spec.New()).Elem())
	if si.scalar != nil {
		return spec.Name + ": …"
	}
	var req []string
	for _, k := range si.required() {
		req = append(req, k+": …")
	}
	return spec.Name + ": { " + strings.Join(req, ", ") + " }"
}

// Suggest returns the closest of candidates to s, or "": the "did you
// mean" of flow diagnostics, for other files flowd reads (scenarios).
func Suggest(s string, candidates []string) string { return suggest(s, candidates) }

// suggest returns the closest of candidates to s, or "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if len(s) <= 3 {
		limit = 1
	}
	if bestD <= limit && best != s {
		return best
	}
	// A prefix match for names with a dot: "participant.joined" → "participant.join".
	for _, c := range candidates {
		if len(c) > 4 && strings.HasPrefix(s, c) || len(s) > 4 && strings.HasPrefix(c, s) {
			return c
		}
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
