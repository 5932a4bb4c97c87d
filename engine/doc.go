// Package engine is flowd's runtime: Engine.Handle turns one event (a Twilio
// webhook, a TaskRouter callback, a conference callback, an agent or
// supervisor command) into the reply Twilio is waiting for (TwiML or a
// TaskRouter instruction) plus REST calls, and saves the result durably.
//
// # Sessions
//
// The unit of state is a session: one customer call, from the first voice
// webhook (keyed by the CallSid) through every TaskRouter Task it creates.
// The Task created by <Enqueue> adopts the session (its TaskSid becomes an
// alias), and so do the Tasks a transfer creates (create_task writes
// flowd_session into their attributes). Their events are delivered to the
// same state machine: an admin reads one flow file top to bottom, and the
// transfer states handle the new Task's reservation.created themselves
// (DESIGN.md's open question "transfers to a queue create a new Task",
// answered). /v1/tasks/{TaskSid} accepts any of the session's TaskSids.
//
// # One writer per session
//
// Events for one session are serialised in process by a keyed lock, and
// across replicas by the store's optimistic version check: a lost race
// re-runs the event on fresh state. Each event is saved in one store
// transaction: new state, history, outbox (REST calls), aliases and the
// webhook's idempotency token with the reply given, so a retried webhook gets
// the same answer and changes nothing.
//
// # State machine
//
// Each event builds a looplab/fsm machine at the session's stored state,
// holding only that state's transitions (one FSM event per candidate
// transition, since looplab/fsm has no guards and allows one destination per
// event and source). The engine evaluates the `if:` guards in order, fires
// the first that holds, and runs exit actions, the transition's `do`, then
// entry actions from the machine's callbacks. A transition without `to` is
// internal: only its `do` runs. An event no handler takes is recorded in the
// history as unhandled; it is not an error.
//
// # Facts and ordering
//
// Some events only update facts: which call SID plays which role, who is on
// hold, muted or coaching, the conference SID, task attributes. Conference
// callbacks are ordered by SequenceNumber per participant (per conference
// for conference.start/end): an event older than one already applied for the
// same participant changes nothing and is recorded as stale. Twilio's
// numbers are per conference, but ordering only matters within one leg, and
// a per-conference rule would drop a reordered join of one leg because
// another leg's later event arrived first.
//
// # Revisions
//
// A session is pinned to the revision (content hash) of the flow it started
// on: SetFlows makes new calls use new files and leaves running calls alone.
// SetFlows also saves each revision's source in the store
// (Store.SaveFlowRevision), so that after a restart with edited files, or on
// another replica that loaded different files, a session still runs the
// revision it started on: it is compiled again from the stored source the
// first time it is needed. Only a session whose revision no store ever saved
// (one started before flowd kept revisions), or whose stored revision this
// flowd no longer loads, runs the current flow of the same name, with a
// warning in its history; a store that cannot be asked fails the event, so
// Twilio redelivers it rather than the call changing flow.
//
// # Effects
//
// REST calls are written to the outbox in the same transaction as the state
// and sent afterwards by the dispatcher (dispatch.go), in order per session
// and lane (voice or TaskRouter: twilio.OpKind.Lane),
// with retries on 429, 5xx and network errors; after RetryFor the call is
// marked failed and an action.failed event is delivered to the flow so it can
// recover the caller.
package engine
