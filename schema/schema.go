// Package schema embeds flow.schema.json, the JSON Schema (draft-07) of flowd
// flow files. Editors use the file through the first line of a flow,
//
//	# yaml-language-server: $schema=../schema/flow.schema.json
//
// and `flowd validate` checks every file against these same bytes before its
// semantic checks.
//
// The file is generated, never edited by hand: package flow
// (engine/flow) generates it from the language model's struct tags and the
// actions registry (flow.GenerateSchema). A test fails when the checked-in
// file is stale; regenerate it with
//
//	go test ./engine/flow -run TestSchemaUpToDate -update
//
// This package is a leaf: it imports nothing of flowd, and package flow
// imports it for the embedded bytes (flow generates, schema stores).
package schema

import _ "embed"

// Flow is the JSON Schema of a flow file.
//
//go:embed flow.schema.json
var Flow []byte
