package textsink_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// wire is a dead letter as a reader of the file sees it: the tests decode
// into it rather than into textsink.Rejected so that they check the JSON
// names, which are the contract.
type wire struct {
	Stage     string `json:"stage"`
	Item      string `json:"item"`
	Error     string `json:"error"`
	Raw       string `json:"raw"`
	Encoding  string `json:"encoding"`
	Truncated bool   `json:"truncated"`
	Size      int    `json:"size"`
}

// rejectOne runs v through a sink that fails it, under DeadLetters, and
// returns its one dead letter as written and as decoded.
func rejectOne[T any](t *testing.T, v T, err error, opts ...textsink.DeadLetterOption) (string, wire) {
	t.Helper()
	var rejects syncbuf.Buffer
	fail := sink.Func(func(context.Context, T) error { return err })
	st := pipeline.New(source.Slice([]T{v}), pipeline.OnError(textsink.DeadLetters(&rejects, opts...))).
		Sink(fail).Run(context.Background())
	require.True(t, st.OK(), st.Message)
	return decodeOne(t, rejects.String())
}

// decodeOne decodes out, which must be exactly one JSON line.
func decodeOne(t *testing.T, out string) (string, wire) {
	t.Helper()
	require.Equal(t, 1, strings.Count(out, "\n"), "one dead letter, one line")
	var w wire
	require.NoError(t, json.Unmarshal([]byte(out), &w))
	return out, w
}

var errBad = errors.New("bad")

// A line that is not valid UTF-8 keeps its bytes: base64, flagged, where
// encoding/json would have put U+FFFD in their place.
func TestDeadLettersKeepInvalidUTF8AsBase64(t *testing.T) {
	bad := "{\"id\":\xff\xfe1}\x00\xc3"
	var rejects syncbuf.Buffer
	st := pipeline.New(textsrc.Lines(strings.NewReader("{\"id\":1}\n"+bad+"\n"), "in.jsonl"),
		pipeline.OnError(textsink.DeadLetters(&rejects))).
		Via(textsrc.DecodeJSON[csvRow]()).Sink(sink.Discard[csvRow]()).Run(context.Background())
	require.True(t, st.OK(), st.Message)
	_, w := decodeOne(t, rejects.String())
	assert.Equal(t, "in.jsonl:2", w.Item)
	require.Equal(t, "base64", w.Encoding)
	got, err := base64.StdEncoding.DecodeString(w.Raw)
	require.NoError(t, err)
	assert.Equal(t, []byte(bad), got, "the bytes as read")
	assert.False(t, w.Truncated)
}

func TestDeadLettersOfStringsAndBytes(t *testing.T) {
	t.Run("a string is its text", func(t *testing.T) {
		_, w := rejectOne(t, "héllo \"you\"", errBad)
		assert.Equal(t, "héllo \"you\"", w.Raw)
		assert.Empty(t, w.Encoding, "text is the default: no encoding named")
	})
	t.Run("a string of invalid UTF-8 is base64", func(t *testing.T) {
		_, w := rejectOne(t, "a\x80b", errBad)
		assert.Equal(t, "base64", w.Encoding)
		assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("a\x80b")), w.Raw)
	})
	t.Run("bytes of valid UTF-8 are their text", func(t *testing.T) {
		_, w := rejectOne(t, []byte("id,amount\n"), errBad)
		assert.Equal(t, "id,amount\n", w.Raw, "not [105 100 ...]")
		assert.Empty(t, w.Encoding)
	})
	t.Run("other bytes are base64", func(t *testing.T) {
		b := []byte{0x1f, 0x8b, 0x08, 0x00, 0xff}
		_, w := rejectOne(t, b, errBad)
		assert.Equal(t, "base64", w.Encoding)
		assert.Equal(t, base64.StdEncoding.EncodeToString(b), w.Raw)
	})
}

type point struct {
	X, Y int
	Tag  string `json:"tag"`
}

func TestDeadLettersOfItemsThatAreNotText(t *testing.T) {
	t.Run("a struct is JSON", func(t *testing.T) {
		_, w := rejectOne(t, point{1, 2, "a"}, errBad)
		assert.Equal(t, "json", w.Encoding)
		assert.JSONEq(t, `{"X":1,"Y":2,"tag":"a"}`, w.Raw)
	})
	t.Run("a number is JSON", func(t *testing.T) {
		_, w := rejectOne(t, 42, errBad)
		assert.Equal(t, "json", w.Encoding)
		assert.Equal(t, "42", w.Raw)
	})
	t.Run("what JSON cannot encode is its %v", func(t *testing.T) {
		_, w := rejectOne(t, math.Inf(1), errBad)
		assert.Equal(t, "go", w.Encoding)
		assert.Equal(t, "+Inf", w.Raw)
	})
}

// sale is a row of a sales table, about 70 bytes as %v: a batch of
// 10,000 of them is the 730 KB dead letter of issue 14.
type sale struct {
	ID        int64
	Customer  string
	Country   string
	Product   string
	Quantity  int64
	UnitPrice float64
	CreatedAt time.Time
}

func sales(n int) []sale {
	out := make([]sale, n)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range out {
		out[i] = sale{ID: int64(i), Customer: fmt.Sprintf("customer-%05d", i%1000), Country: "DE",
			Product: "gadget-7", Quantity: 3, UnitPrice: 12.5, CreatedAt: at.Add(time.Duration(i) * time.Second)}
	}
	return out
}

// bigBatch is the batch the tests dead-letter, 10,000 rows.
const bigBatch = 10_000

// checkCapped checks a dead letter of batch under the default cap: one
// line not much over 64 KiB, the head of the batch's JSON, flagged.
func checkCapped(t *testing.T, line string, w wire, batch []sale) {
	t.Helper()
	whole, err := json.Marshal(batch)
	require.NoError(t, err)
	t.Logf("dead letter of %d rows: %d bytes a line (%d bytes as %%v, %d as JSON)",
		len(batch), len(line), len(fmt.Sprintf("%v", batch)), len(whole))
	assert.Equal(t, "json", w.Encoding)
	assert.True(t, w.Truncated)
	assert.Equal(t, len(whole), w.Size, "the size before the cut")
	assert.Equal(t, 64<<10, len(w.Raw), "the default cap, 64 KiB")
	assert.True(t, strings.HasPrefix(string(whole), w.Raw), "the head of the batch's JSON")
	// The line holds raw with each quote escaped (22 of the 141 bytes of a
	// row), and short fields.
	assert.LessOrEqual(t, len(line), 64<<10+strings.Count(w.Raw, `"`)+1<<10, "the cap, its escapes, and the rest of the line")
}

func TestADeadLetterOfABigBatchIsCapped(t *testing.T) {
	line, w := rejectOne(t, sales(bigBatch), errBad)
	checkCapped(t, line, w, sales(bigBatch))
}

// oversized is an item whose raw text is only the head of what was read,
// as textsrc gives for a line over its limit.
type oversized struct{ head string }

func (o oversized) Raw() string     { return o.head }
func (o oversized) Truncated() bool { return true }

func TestAnItemThatSaysItIsTruncatedIsFlagged(t *testing.T) {
	_, w := rejectOne(t, oversized{"the head of a long line"}, errBad)
	assert.Equal(t, "the head of a long line", w.Raw)
	assert.True(t, w.Truncated)
	assert.Equal(t, len("the head of a long line"), w.Size, "the bytes it gave")
}

func TestTheErrorTextIsCapped(t *testing.T) {
	long := errors.New(strings.Repeat("é", 50_000)) // 100,000 bytes
	line, w := rejectOne(t, "x", long)
	assert.Less(t, len(line), 5<<10)
	head, tail, cut := strings.Cut(w.Error, "... (cut from ")
	require.True(t, cut, "the cut is said")
	assert.Contains(t, head, strings.Repeat("é", 2000), "the head of the error")
	assert.LessOrEqual(t, len(head), 4<<10)
	assert.True(t, utf8.ValidString(head), "cut on a rune boundary")
	n, err := strconv.Atoi(strings.TrimSuffix(tail, " bytes)"))
	require.NoError(t, err, tail)
	assert.Greater(t, n, 100_000, "the length of the whole error")
	assert.Equal(t, "x", w.Raw)
}

func TestTheLabelIsCapped(t *testing.T) {
	name := strings.Repeat("d/", 5000) + "in.jsonl" // a path of 10 KB
	var rejects syncbuf.Buffer
	st := pipeline.New(textsrc.Lines(strings.NewReader("not json\n"), name),
		pipeline.OnError(textsink.DeadLetters(&rejects))).
		Via(textsrc.DecodeJSON[csvRow]()).Sink(sink.Discard[csvRow]()).Run(context.Background())
	require.True(t, st.OK(), st.Message)
	line, w := decodeOne(t, rejects.String())
	assert.Less(t, len(line), 9<<10+200, "4 KiB of label, 4 KiB of error naming it, the rest")
	assert.True(t, strings.HasPrefix(w.Item, "d/d/d/"))
	assert.True(t, strings.HasSuffix(w.Item, fmt.Sprintf("... (cut from %d bytes)", len(name+":1"))), "the label, and how long it was")
	assert.Equal(t, "not json", w.Raw)
}

func TestMaxRaw(t *testing.T) {
	t.Run("text is cut on a rune boundary", func(t *testing.T) {
		_, w := rejectOne(t, "ab€cd", errBad, textsink.MaxRaw(4)) // € is 3 bytes, at 2..4
		assert.Equal(t, "ab", w.Raw)
		assert.True(t, w.Truncated)
		assert.Equal(t, 7, w.Size)
	})
	t.Run("bytes are cut before base64", func(t *testing.T) {
		_, w := rejectOne(t, []byte{0xff, 1, 2, 3, 4, 5}, errBad, textsink.MaxRaw(4))
		assert.Equal(t, "base64", w.Encoding)
		assert.Equal(t, base64.StdEncoding.EncodeToString([]byte{0xff, 1, 2, 3}), w.Raw)
		assert.True(t, w.Truncated)
		assert.Equal(t, 6, w.Size)
	})
	t.Run("a rune that ends at the cut is kept", func(t *testing.T) {
		_, w := rejectOne(t, "a€\x80d", errBad, textsink.MaxRaw(4))
		assert.Equal(t, "a€", w.Raw)
		assert.Empty(t, w.Encoding)
	})
	t.Run("bytes past the cut do not make it base64", func(t *testing.T) {
		_, w := rejectOne(t, "abcd\xff", errBad, textsink.MaxRaw(4))
		assert.Equal(t, "abcd", w.Raw)
		assert.Empty(t, w.Encoding)
		assert.Equal(t, 5, w.Size)
	})
	t.Run("JSON is cut as text", func(t *testing.T) {
		_, w := rejectOne(t, point{1, 2, "a"}, errBad, textsink.MaxRaw(8))
		assert.Equal(t, `{"X":1,"`, w.Raw)
		assert.Equal(t, "json", w.Encoding)
		assert.Equal(t, len(`{"X":1,"Y":2,"tag":"a"}`), w.Size)
	})
	t.Run("what fits is not cut", func(t *testing.T) {
		_, w := rejectOne(t, "abcd", errBad, textsink.MaxRaw(4))
		assert.Equal(t, "abcd", w.Raw)
		assert.False(t, w.Truncated)
		assert.Zero(t, w.Size, "size only with a cut")
	})
	t.Run("an item that says it is truncated and is cut too", func(t *testing.T) {
		_, w := rejectOne(t, oversized{"0123456789"}, errBad, textsink.MaxRaw(4))
		assert.Equal(t, "0123", w.Raw)
		assert.True(t, w.Truncated)
		assert.Equal(t, 10, w.Size)
	})
}

// DeadLetters that cannot work makes the pipeline invalid, saying why,
// before anything runs.
func TestDeadLettersThatCannotWork(t *testing.T) {
	for _, c := range []struct {
		name   string
		policy stage.Policy
		want   string
	}{
		{"MaxRaw(0)", textsink.DeadLetters(io.Discard, textsink.MaxRaw(0)), "textsink.DeadLetters: MaxRaw must be positive, got 0"},
		{"MaxRaw(-1)", textsink.DeadLetters(io.Discard, textsink.MaxRaw(-1)), "MaxRaw must be positive, got -1"},
		{"a nil writer", textsink.DeadLetters(nil), "textsink.DeadLetters: nil writer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Invalid before anything runs, whether an item would fail or not.
			for _, s := range []sink.Sink{sink.Discard[string](), sink.Func(func(context.Context, string) error { return errBad })} {
				st := pipeline.New(source.Slice([]string{"a", "b"}), pipeline.OnError(c.policy)).
					Sink(s).Run(context.Background())
				assert.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
				assert.Contains(t, st.Message, c.want)
				assert.EqualValues(t, 0, st.Counts.In, "nothing ran")
			}
		})
	}
}

func TestRawBytesDecodesRaw(t *testing.T) {
	for _, item := range []any{"text", "not \xff UTF-8", []byte{0, 0xc3}, oversized{"head"}} {
		_, w := rejectOne(t, item, errBad)
		r := textsink.Rejected{Raw: w.Raw, Encoding: w.Encoding}
		b, err := r.RawBytes()
		require.NoError(t, err)
		want := fmt.Sprint(item)
		switch v := item.(type) {
		case []byte:
			want = string(v)
		case oversized:
			want = v.head
		}
		assert.Equal(t, want, string(b))
	}
}
