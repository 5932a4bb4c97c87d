// Package twiliosim is a stateful stand-in for Twilio Programmable Voice and
// TaskRouter, for tests and for running flowd without Twilio. It imports
// nothing of flowd.
//
// The Sim serves the REST calls twilio-go sends (Calls, Conferences,
// Participants, TaskRouter Tasks, Reservations, Workers, Activities) with
// Twilio's JSON shapes and error JSON, and sends signed webhooks
// (X-Twilio-Signature, I-Twilio-Idempotency-Token) from a single delivery
// goroutine, never while holding its lock. When TWILIO_OPENAPI_DIR (or
// Options.OpenAPIDir) names Twilio's OpenAPI files, every REST request is
// validated against them; a nonconforming request gets a 400 and, under
// NewTest, fails the test.
//
// Modelled: phone numbers with a voice URL; calls with Twilio's status
// lifecycle and status callbacks; a TwiML interpreter (Say, Play, Pause,
// Gather with scripted digits, Enqueue with workflowSid and <Task>, Dial
// with Conference/Number/Client/Sip/Queue, Redirect, Hangup, Reject, Leave);
// named queues; conferences that start on startConferenceOnEnter and end on
// endConferenceOnExit or when the last participant leaves, with hold (audio
// URL = music, otherwise TwiML whose Say/Play the held party hears), mute,
// coaching, unique labels, announcements and status callbacks (the first
// participant's statusCallback wins; SequenceNumber per conference);
// TaskRouter with one workspace, workflows routing on requested_agent,
// desired_queue or a default queue, workers with activities and
// contact_uri, reservations with timeouts, the accept, reject, conference,
// call, redirect, dequeue and supervise instructions, assignment callbacks
// and workspace events. Time is virtual: Advance fires timers.
//
// Not modelled: media, recordings, AMD, SIP details, regions, pricing,
// multi-channel capacity, workflow expressions beyond the three routing
// keys, fallback URLs, and connection-override fragments. Audio is
// instantaneous: a Say is "heard" at the virtual instant it runs.
//
// Who hears whom (Hears): a queued caller hears wait music and nobody hears
// them; a held participant hears hold music only and nobody hears them; a
// muted participant is heard by nobody; a coach (coaching with
// callSidToCoach) is heard only by the coached call while hearing everyone;
// before the conference starts, or alone in it, a participant hears the
// wait music; the two legs of a <Dial> bridge hear each other; an
// announcement to one participant appears only in that party's Timeline.
//
// Parties are addresses — the caller of an inbound call, the callee of an
// outbound leg ("+15551230000", "client:alice", "sip:bob@x") — or CallSids;
// when an address has had several calls the latest live one counts.
package twiliosim
