//go:build !unix

package server

import "testing"

// sendHUP: no SIGHUP to send here.
func sendHUP(*testing.T) bool { return false }
