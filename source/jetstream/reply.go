package jetstream

import "strings"

// parseReply reads a message's deliveries so far and the consumer's
// pending count from its reply subject, as Metadata does, without the
// allocations of Metadata (a struct and its strings). Two formats exist:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
//	$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>[.<token>...]
//
// ok is false for a subject of neither format: the caller then asks
// Metadata.
func parseReply(reply string) (delivered, pending uint64, ok bool) {
	const prefix = "$JS.ACK."
	if !strings.HasPrefix(reply, prefix) {
		return 0, 0, false
	}
	// The tokens after the prefix: 7 in the old format, 9 or more in the
	// new one (the server may add tokens at the end).
	var tok [9]string
	n, rest := 0, reply[len(prefix):]
	for n < len(tok) {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			tok[n] = rest
			n++
			rest = ""
			break
		}
		tok[n], rest = rest[:i], rest[i+1:]
		n++
	}
	switch {
	case n == 7 && rest == "":
		delivered, ok = parseNum(tok[2])
		if !ok {
			return 0, 0, false
		}
		pending, ok = parseNum(tok[6])
	case n == 9:
		delivered, ok = parseNum(tok[4])
		if !ok {
			return 0, 0, false
		}
		pending, ok = parseNum(tok[8])
	}
	return delivered, pending, ok
}

// parseNum parses a decimal number without sign.
func parseNum(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
