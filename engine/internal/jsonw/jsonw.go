// Package jsonw appends JSON to byte slices without reflection, for the
// engine's hot path (a session's facts and its history entry are encoded on
// every event). Its output is byte for byte what encoding/json.Marshal
// writes for the same value — sorted map keys, HTML-safe string escapes,
// ES6 number format — so documents written by either read the same, and
// the tests compare the two directly. Values of types it does not know are
// handed to encoding/json.
package jsonw

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// String appends s as a JSON string, escaped as encoding/json escapes it.
func String(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Runs of plain ASCII (nearly all of a SID, URL or phone number)
		// are skipped by table lookup and copied at once.
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plain marks the ASCII bytes written as they are inside a string
// (encoding/json's htmlSafeSet); every other byte takes the slow path.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// Float appends f as encoding/json writes a float64.
func Float(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// Bool appends true or false.
func Bool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// Value appends any value; the types JSON documents decode into
// (map[string]any, []any, string, float64, bool, nil) and a few common Go
// ones are written directly, the rest through encoding/json.
func Value(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return String(b, v), nil
	case bool:
		return Bool(b, v), nil
	case float64:
		return Float(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case map[string]any:
		return Map(b, v)
	case []any:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = Value(b, e); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case []string:
		return Strings(b, v), nil
	case map[string]string:
		return StringMap(b, v), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, enc...), nil
}

// Array appends a JSON array of n elements, each written by elem.
func Array(b []byte, n int, elem func(b []byte, i int) []byte) []byte {
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, i)
	}
	return append(b, ']')
}

// Strings appends a string slice (null when nil).
func Strings(b []byte, v []string) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = String(b, s)
	}
	return append(b, ']')
}

// sortedKeys puts a map's keys in encoding/json's order into buf (which
// the caller keeps on its stack for the usual small map).
func sortedKeys[V any](buf []string, m map[string]V) []string {
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	if len(keys) > 1 {
		slices.Sort(keys)
	}
	return keys
}

// Map appends a map[string]any with its keys sorted (null when nil).
func Map(b []byte, m map[string]any) ([]byte, error) {
	return MapOf(b, m, Value)
}

// MapOf appends a map whose values enc writes, keys sorted (null when nil).
func MapOf[V any](b []byte, m map[string]V, enc func([]byte, V) ([]byte, error)) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '{')
	var buf [16]string
	for i, k := range sortedKeys(buf[:], m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = String(b, k)
		b = append(b, ':')
		var err error
		if b, err = enc(b, m[k]); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// StringMap appends a map[string]string with its keys sorted.
func StringMap(b []byte, m map[string]string) []byte {
	b, _ = MapOf(b, m, func(b []byte, s string) ([]byte, error) { return String(b, s), nil })
	return b
}

// Object writes the members of one JSON object: Field adds the separator
// and the key, the caller appends the value to Object.B. Keys are constant
// ASCII names and are written as given.
type Object struct {
	B     []byte
	first bool
}

// Begin starts an object at the end of b.
func Begin(b []byte) Object { return Object{B: append(b, '{'), first: true} }

// Field appends `"name":` (after a comma unless it is the first member).
func (o *Object) Field(name string) {
	if !o.first {
		o.B = append(o.B, ',')
	}
	o.first = false
	o.B = append(o.B, '"')
	o.B = append(o.B, name...)
	o.B = append(o.B, '"', ':')
}

// String adds a string member; omitempty skips "".
func (o *Object) String(name, v string, omitempty bool) {
	if omitempty && v == "" {
		return
	}
	o.Field(name)
	o.B = String(o.B, v)
}

// Bool adds a boolean member; omitempty skips false.
func (o *Object) Bool(name string, v, omitempty bool) {
	if omitempty && !v {
		return
	}
	o.Field(name)
	o.B = Bool(o.B, v)
}

// BoolPtr adds an omitempty *bool member: skipped when nil, false written.
func (o *Object) BoolPtr(name string, v *bool) {
	if v == nil {
		return
	}
	o.Field(name)
	o.B = Bool(o.B, *v)
}

// Int adds an integer member; omitempty skips 0.
func (o *Object) Int(name string, v int64, omitempty bool) {
	if omitempty && v == 0 {
		return
	}
	o.Field(name)
	o.B = strconv.AppendInt(o.B, v, 10)
}

// Map adds a map[string]any member; omitempty skips an empty map.
func (o *Object) Map(name string, m map[string]any, omitempty bool) error {
	if omitempty && len(m) == 0 {
		return nil
	}
	o.Field(name)
	var err error
	o.B, err = Map(o.B, m)
	return err
}

// StringMap adds a map[string]string member; omitempty skips an empty map.
func (o *Object) StringMap(name string, m map[string]string, omitempty bool) {
	if omitempty && len(m) == 0 {
		return
	}
	o.Field(name)
	o.B = StringMap(o.B, m)
}

// End closes the object and returns the buffer.
func (o *Object) End() []byte { return append(o.B, '}') }
