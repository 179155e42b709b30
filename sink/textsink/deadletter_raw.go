package textsink

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The encodings of Rejected.Raw other than text.
const (
	encBase64 = "base64"
	encJSON   = "json"
	encGo     = "go"
)

// maxText caps Rejected's Error and Item texts, which come from the error
// and the label and may quote input: 4 KiB each.
const maxText = 4 << 10

// evidence fills r's Raw, Encoding, Truncated and Size from item, keeping
// at most maxRaw bytes of it.
func (r *Rejected) evidence(item any, maxRaw int) {
	text, enc := textOf(item)
	t, ok := item.(Truncated)
	r.Truncated = ok && t.Truncated()
	head := text
	if len(text) > maxRaw {
		r.Truncated = true
		head = cutText(text, maxRaw)
	}
	if r.Truncated {
		r.Size = len(text)
	}
	// Bytes kept that are not UTF-8, which JSON would turn to U+FFFD, go
	// in base64, cut as bytes: the bytes past the cut do not matter.
	if enc == "" && !utf8.ValidString(head) {
		enc = encBase64
		head = text[:min(len(text), maxRaw)]
		head = base64.StdEncoding.EncodeToString([]byte(head))
	}
	r.Raw, r.Encoding = head, enc
}

// textOf returns item as text, and the encoding that text is in: "" for
// text as it was read or given, "json" or "go" for an item that is not text.
func textOf(item any) (string, string) {
	switch v := item.(type) {
	case Raw:
		return v.Raw(), ""
	case string:
		return v, ""
	case []byte:
		return string(v), ""
	}
	// The whole item is encoded, to cut only the head of it: encoding/json
	// cannot stop early. A batch costs its JSON once, for a moment.
	if b, err := json.Marshal(item); err == nil {
		return string(b), encJSON
	}
	return fmt.Sprintf("%v", item), encGo
}

// cutText returns the first n bytes of s, n < len(s), less the head of a
// rune the cut would split, so that valid UTF-8 stays valid.
func cutText(s string, n int) string {
	for j := n - 1; j >= 0 && j > n-utf8.UTFMax; j-- {
		if utf8.RuneStart(s[j]) {
			if !utf8.FullRuneInString(s[j:n]) {
				return s[:j]
			}
			break
		}
	}
	return s[:n]
}

// capText returns s, or when it is over maxText bytes its head and how
// long it was, so that one dead letter stays bounded whatever its error.
func capText(s string) string {
	if len(s) <= maxText {
		return s
	}
	return cutText(s, maxText) + "... (cut from " + strconv.Itoa(len(s)) + " bytes)"
}
