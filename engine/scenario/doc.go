// Package scenario runs flow scenario files (`flowd test`): each scenario
// places calls into the Twilio stand-in (engine/twiliosim), which reaches a
// real flowd server (engine/server over HTTP, signed webhooks) whose REST
// calls go back to the stand-in through twilio-go, and after every step
// asserts what a caller cares about: who hears whom, who is on hold, what
// each party heard, the flow's state, and the REST calls and history that
// explain it.
//
// Time is the stand-in's virtual clock, shared with the engine, so `wait`
// steps fire reservation timeouts, ring timeouts and REST retries without
// sleeping. After each step the harness settles: it lets the stand-in
// deliver every webhook and flowd send every due outbox item, until neither
// has work.
//
// Parties in steps and expectations are worker names (from the file's
// workers), roles of the call (customer, agent, consultee, supervisor, or a
// role the flow declares: resolved through flowd's role map), or raw
// addresses (+E.164, client:ID, sip:URI).
package scenario
