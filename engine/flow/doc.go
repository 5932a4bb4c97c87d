// Package flow is the flowd flow language: it turns flow YAML into a
// validated, compiled [Flow] whose every element keeps its source position,
// and reports problems as [Diagnostic] values pointing at file:line:col with a
// stable code.
//
// One description drives everything: the Go types in model.go (with their
// `flow` and `desc` tags) are what the loader fills, what the JSON Schema in
// schema/flow.schema.json is generated from, and what the runtime executes.
// Expressions (`if:` guards) and templates (`${{ … }}` inside strings) are
// compiled once at load against the typed environment [Env], so a typo is a
// validation error, not a failure during a live call.
//
// The package imports nothing else of flowd: the runtime (package engine)
// depends on it, never the other way round.
package flow
