//go:build !unix

package server

import "testing"

// sendHUP: no SIGHUP to send here.
func sendHUP(*testing.T) bool { return false }

// sendHUPSupported: sendHUP does nothing here.
const sendHUPSupported = false
