// Package server is flowd's HTTP face: the webhooks Twilio calls (voice,
// gather, call status, TaskRouter assignment and workspace events,
// conference status, TwiML documents flowd handed out), the /v1 API the
// agent desktop and supervisor console use, and /healthz, /readyz and
// /metrics for orchestrators and Prometheus.
//
// # One way in
//
// Every handler is a thin translation: read and check the request, turn it
// into an engine.Event (engine/translate.go decides the names), call
// Engine.Handle, write the Reply. The server keeps no call state of its own,
// so any replica can answer any webhook.
//
// # Twilio webhooks
//
// /twilio/* requires a valid X-Twilio-Signature computed over the configured
// public URL (never the Host header: behind a proxy Twilio signed the URL it
// used, not ours) plus the path and query as received. The body is read once
// under a size limit, checked, then parsed as a form from the same bytes.
// Without an auth token nothing can be checked, so /twilio/* answers 503
// rather than trusting unsigned requests. I-Twilio-Idempotency-Token, scoped
// to the route, the request's SIDs and its signature (tokenOf), becomes
// Event.IdempotencyKey: the engine stores the reply with the new state, so a
// retried delivery gets the same answer and changes nothing.
//
// Callbacks about a Task or Call flowd does not know are answered 200 with a
// warning in the log: an error would make Twilio retry a request that can
// never succeed. An incoming call to a number no flow answers hears that the
// number is not in service, then <Hangup/>.
//
// # /v1
//
// Bearer-token protected (compared in constant time) when a token is
// configured. Errors are JSON with stable codes:
//
//	{"error": {"code": "not_allowed", "message": "...", "allowed": ["hold"]}}
//
// Codes: unauthorized (401), not_found, unknown_task, unknown_command,
// unknown_flow (404), not_allowed (409), too_large (413),
// unsupported_media_type (415), invalid_json, invalid_request (400),
// invalid_params (422), internal (500), unavailable (503).
//
// # Lifecycle
//
// Run wires everything from a Config (flows, store, Twilio client, engine,
// HTTP server; a store whose first write, the flows' revisions, fails
// stops it there), runs the outbox dispatcher, reloads flows on SIGHUP and
// when their files change (validated first; an invalid edit keeps the
// running revision), and shuts down gracefully: readiness fails first,
// in-flight requests finish, then the outbox is flushed under a deadline.
// /readyz also fails while the store's last write failed
// (store.WriteHealth). A second SIGINT or SIGTERM during the shutdown
// exits at once (cmd/flowd).
package server
