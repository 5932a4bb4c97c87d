package engine

import "testing"

// Wait music that is an audio file is fetched with GET, which Twilio can
// cache and which static hosts serve (many refuse POST, Twilio's default
// for wait URLs); TwiML keeps the default.
func TestAudioMethod(t *testing.T) {
	for u, want := range map[string]string{
		"https://cdn.example.com/music/queue.mp3":           "GET",
		"https://cdn.example.com/music/Queue.WAV?v=2":       "GET",
		"https://example.com/hold.xml":                      "",
		"https://example.com/twiml/wait?music=loop.mp3":     "",
		"http://twimlets.com/holdmusic?Bucket=com.twilio.m": "",
		"": "",
		"https://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3": "GET",
	} {
		if got := audioMethod(u); got != want {
			t.Errorf("audioMethod(%q) = %q, want %q", u, got, want)
		}
	}
}
