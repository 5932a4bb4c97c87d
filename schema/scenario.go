package schema

import _ "embed"

// Scenario is the JSON Schema of scenario files (*.test.yaml, run by
// `flowd test`). It is written by hand; engine/scenario's tests check that
// every shipped scenario file passes it and that the parser agrees with it.
//
//go:embed scenario.schema.json
var Scenario []byte
