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
// # Loading
//
// [Load] (and [LoadFile], [LoadSet]) go through these steps, each reporting
// with its own codes (codes.go, documented in docs/language.md):
//
//  1. YAML into a yaml.Node tree (positions kept), refusing files over
//     1 MiB, more than one document, nesting deeper than 64 and more than
//     100,000 nodes once aliases are expanded; duplicate keys are errors.
//     Syntax errors are placed on the line that breaks the file, which
//     yaml.v3 often does not name (yaml.go).
//  2. Shape: the tree, as JSON values, against the embedded JSON Schema; each
//     error's instance location is mapped back to its node (schemacheck.go).
//     When the shape is wrong, loading stops there.
//  3. The typed decoder fills the model by reflection over the tags
//     (spec.go, decode.go) and compiles every guard and template; its shape
//     rules are the schema's (a test and a fuzz target hold them together).
//  4. Semantic checks on the model: states, events, roles, variables,
//     reachability, where actions may run, conferences, holds (validate.go).
//  5. [LoadSet]: files in parallel, then the checks across files (flow
//     names, numbers).
//
// Load never panics: a bug is reported as an `internal` diagnostic naming the
// file.
//
// # The schema
//
// [GenerateSchema] writes the schema from the model and the [Actions]
// registry; package schema (a leaf that imports nothing of flowd) embeds the
// generated file, and this package imports it to validate with the very bytes
// editors use. TestSchemaUpToDate fails when they differ:
//
//	go test ./engine/flow -run TestSchemaUpToDate -update
//
// # Dependencies
//
// The package imports nothing else of flowd but the schema bytes: the
// runtime (package engine) depends on it, never the other way round.
package flow
