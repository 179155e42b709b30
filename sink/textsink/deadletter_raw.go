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
	if enc == "" && !utf8.ValidString(text) {
		enc = encBase64 // text that JSON would turn to U+FFFD: keep its bytes
	}
	size := len(text)
	t, ok := item.(Truncated)
	r.Truncated = ok && t.Truncated()
	if size > maxRaw {
		r.Truncated = true
		if enc == encBase64 {
			text = text[:maxRaw] // bytes: no boundary to respect
		} else {
			text = cutText(text, maxRaw)
		}
	}
	if r.Truncated {
		r.Size = size
	}
	r.Encoding = enc
	if enc == encBase64 {
		text = base64.StdEncoding.EncodeToString([]byte(text))
	}
	r.Raw = text
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

// cutText returns the head of s, at most n bytes, ending on a rune
// boundary; n must be less than len(s).
func cutText(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
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
