// Package twilio is flowd's only contact with Twilio: it renders TwiML and
// TaskRouter assignment instructions, parses and authenticates the webhooks
// Twilio posts, and performs REST operations described as data (Op) so that
// an outbox can store them and send them later, possibly from another process.
//
// Everything on the wire goes through twilio-go (github.com/twilio/twilio-go):
// TwiML through its twiml package, REST calls through its rest packages and
// signatures through client.RequestValidator. This package never writes XML,
// form encodings or HMACs by hand, so it stays byte-compatible with what
// Twilio's own library sends and accepts.
//
// The package imports nothing else of flowd.
package twilio
